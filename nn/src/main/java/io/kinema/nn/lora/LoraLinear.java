package io.kinema.nn.lora;

import io.kinema.nn.LinearLike;
import io.kinema.nn.Module;
import io.kinema.nn.Parameter;
import io.kinema.tensor.DType;
import io.kinema.tensor.Generator;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.grad.GradMode;

/**
 * A linear layer with a low-rank adapter (Hu et al., LoRA, 2021), laid out as PEFT's {@code
 * lora.Linear}: the wrapped layer is the child {@code base_layer} and the factors are the children
 * {@code lora_A} (weight A [rank, in]) and {@code lora_B} (weight B [out, rank]), so a wrapped
 * {@code blocks.0.attn1.to_q} has the state-dict keys {@code
 * blocks.0.attn1.to_q.base_layer.weight}, {@code ...to_q.lora_A.weight} and {@code
 * ...to_q.lora_B.weight} (PEFT's in-model names without the adapter name, which is also how
 * adapters are saved; this engine holds one adapter per layer).
 *
 * <p>{@code forward(x) = base(x) + scale * (dropout(x) A^T) B^T} with {@code scale = alpha / rank}.
 * A starts Kaiming-uniform with {@code a = sqrt(5)}, i.e. uniform on {@code ±1/sqrt(in)}, and B at
 * zero (PEFT's default {@code init_lora_weights=True}), so a fresh adapter leaves the layer's
 * output unchanged. The base layer's parameters are frozen; A and B train. The adapter may have its
 * own dtype (e.g. F32 factors over a BF16 base): the input is converted to it and the sum back to
 * the base output's dtype, as PEFT does.
 */
public final class LoraLinear extends Module implements LinearLike {
  private final Module base;
  private final LinearLike linear;
  private final LoraFactor loraA;
  private final LoraFactor loraB;
  private final int rank;
  private final double alpha;
  private final double dropout;
  private final Generator generator;

  /**
   * Wraps {@code base} with a fresh adapter of {@code rank} and {@code alpha}, factors in {@code
   * dtype} (null: the base weight's dtype), drawing A's initial values and the dropout masks from
   * {@code generator}; freezes the base layer's parameters.
   */
  public <L extends Module & LinearLike> LoraLinear(
      L base, int rank, double alpha, double dropout, DType dtype, Generator generator) {
    if (base instanceof LoraLinear)
      throw new IllegalArgumentException("LoraLinear: the layer already has a LoRA adapter");
    if (rank < 1) throw new IllegalArgumentException("LoraLinear: rank must be >= 1, got " + rank);
    if (!Double.isFinite(alpha))
      throw new IllegalArgumentException("LoraLinear: alpha must be finite, got " + alpha);
    if (!(dropout >= 0 && dropout < 1))
      throw new IllegalArgumentException("LoraLinear: dropout must be in [0, 1), got " + dropout);
    if (generator == null) throw new IllegalArgumentException("LoraLinear: null generator");
    Tensor w = base.weight().data();
    long in = base.inFeatures(), out = base.outFeatures();
    if (w.dim() != 2 || w.size(0) != out || w.size(1) != in) {
      throw new IllegalArgumentException(
          "LoraLinear: base weight "
              + w.describe()
              + " is not [outFeatures, inFeatures] = ["
              + out
              + ", "
              + in
              + "]");
    }
    DType dt = dtype == null ? w.dtype() : dtype;
    if (!dt.isFloatingPoint())
      throw new IllegalArgumentException("LoraLinear: adapter dtype must be floating, got " + dt);
    this.base = registerModule("base_layer", base);
    this.linear = base;
    this.rank = rank;
    this.alpha = alpha;
    this.dropout = dropout;
    this.generator = generator;
    base.requiresGrad(false);
    Tensor a, b;
    try (var scope = Scope.open();
        var ng = GradMode.noGrad()) {
      // kaiming_uniform_(a=sqrt(5)): gain sqrt(2 / (1 + 5)), bound gain * sqrt(3 / fan_in) =
      // 1 / sqrt(in). Drawn in F32 (F64 for F64 factors), then converted.
      DType draw = dt == DType.F64 ? DType.F64 : DType.F32;
      double bound = 1 / Math.sqrt(in);
      Tensor u = Tensor.rand(generator, draw, w.device(), rank, in);
      a = scope.keep(u.mul(2 * bound).sub(bound).to(dt).contiguous());
      b = scope.keep(Tensor.zeros(dt, w.device(), out, rank));
    }
    this.loraA = registerModule("lora_A", new LoraFactor(a));
    this.loraB = registerModule("lora_B", new LoraFactor(b));
  }

  /** {@code base(x) + scale * (dropout(x) A^T) B^T}; dropout only in training mode. */
  @Override
  public Tensor forward(Tensor x) {
    try (var scope = Scope.open()) {
      Tensor y = linear.forward(x);
      Tensor a = loraA.weight.data(), b = loraB.weight.data();
      Tensor h = x.to(a.dtype());
      if (dropout > 0 && isTraining()) h = dropout(h);
      Tensor d = h.linear(a, null).linear(b, null);
      if (scale() != 1) d = d.mul(scale());
      Tensor out = y.add(d);
      if (out.dtype() != y.dtype()) out = out.to(y.dtype());
      return scope.keep(out);
    }
  }

  /** Inverted dropout: zero each element with probability p, scale the rest by 1 / (1 - p). */
  private Tensor dropout(Tensor h) {
    DType draw = h.dtype() == DType.F64 ? DType.F64 : DType.F32;
    Tensor keep = Tensor.rand(generator, draw, h.device(), h.shape()).ge(dropout).to(h.dtype());
    return h.mul(keep.mul(1 / (1 - dropout)));
  }

  /**
   * {@code scale * B A} [out, in] in F64: what merging adds to the base weight (PEFT's {@code
   * get_delta_weight}). The caller owns the result.
   */
  public Tensor deltaWeight() {
    try (var scope = Scope.open();
        var ng = GradMode.noGrad()) {
      Tensor d = loraB.weight.data().to(DType.F64).matmul(loraA.weight.data().to(DType.F64));
      return scope.keep(d.mul(scale()));
    }
  }

  /** Folds the adapter into the base weight: {@code W <- W + scale B A}, computed in F64. */
  void mergeIntoBase() {
    try (var scope = Scope.open();
        var ng = GradMode.noGrad()) {
      Tensor w = linear.weight().data();
      Tensor merged = w.to(DType.F64).add(deltaWeight());
      w.copyFrom(merged.to(w.device()));
    }
  }

  /** Closes the adapter's factors, leaving the base layer open (for unwrapping). */
  void closeAdapter() {
    loraA.close();
    loraB.close();
  }

  /** The wrapped layer. */
  public Module base() {
    return base;
  }

  /** A [rank, in]. */
  public Parameter loraA() {
    return loraA.weight;
  }

  /** B [out, rank]. */
  public Parameter loraB() {
    return loraB.weight;
  }

  public int rank() {
    return rank;
  }

  public double alpha() {
    return alpha;
  }

  /** {@code alpha / rank}. */
  public double scale() {
    return alpha / rank;
  }

  public double dropout() {
    return dropout;
  }

  /** The base layer's weight (PEFT's {@code LoraLayer.weight} is the base layer's too). */
  @Override
  public Parameter weight() {
    return linear.weight();
  }

  @Override
  public Parameter bias() {
    return linear.bias();
  }

  @Override
  public long inFeatures() {
    return linear.inFeatures();
  }

  @Override
  public long outFeatures() {
    return linear.outFeatures();
  }
}
