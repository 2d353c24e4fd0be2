package io.kinema.diffusion.wan;

import io.kinema.nn.Attention;
import io.kinema.nn.FeedForward;
import io.kinema.nn.Identity;
import io.kinema.nn.Init;
import io.kinema.nn.Layer;
import io.kinema.nn.LayerNorm;
import io.kinema.nn.Module;
import io.kinema.nn.Parameter;
import io.kinema.tensor.AttentionMask;
import io.kinema.tensor.DType;
import io.kinema.tensor.Generator;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;

/**
 * One Wan DiT block (diffusers' {@code WanTransformerBlock}), with its parameter names: {@code
 * scale_shift_table [1, 6, D]}, {@code norm1} (LayerNorm, no affine), {@code attn1}
 * (self-attention: q/k RMSNorm across heads, 3-d RoPE), {@code attn2} (cross-attention to the
 * text), {@code norm2} (affine LayerNorm before cross-attention, or identity), {@code ffn} (tanh
 * GELU MLP), {@code norm3} (LayerNorm, no affine):
 *
 * <pre>
 * (shift, scale, gate, c_shift, c_scale, c_gate) = scale_shift_table + timestep_proj   (6 rows)
 * x = x + attn1(norm1(x) * (1 + scale) + shift) * gate
 * x = x + attn2(norm2(x), context)
 * x = x + ffn(norm3(x) * (1 + c_scale) + c_shift) * c_gate
 * </pre>
 *
 * <p>Precision as diffusers (written for bf16 weights): the modulation, the three norms and the two
 * gated residual sums are computed in F32 ({@code hidden_states.float()}) and rounded back to the
 * activation dtype; the cross-attention residual is summed in the activation dtype. For F32 and F64
 * models these casts are no-ops (an F64 model computes everything in F64).
 */
public final class WanTransformerBlock extends Module {
  private final Parameter scaleShiftTable;
  private final long dim;
  private final double eps;

  WanTransformerBlock(WanConfig c, DType dtype, DType keepDtype, Generator gen) {
    long d = c.innerDim();
    this.dim = d;
    this.eps = c.eps();
    long[] shape = {d};
    scaleShiftTable = registerParameter("scale_shift_table", Tensor.zeros(keepDtype, 1, 6, d));
    if (gen != null) Init.normal(scaleShiftTable.data(), 0, 1 / Math.sqrt(d), gen);
    registerModule("norm1", new LayerNorm(shape, eps, false, false, dtype));
    Attention.QkNorm qk = Attention.QkNorm.RMS_ACROSS_HEADS;
    int heads = c.numAttentionHeads();
    long hd = c.attentionHeadDim();
    registerModule("attn1", new Attention(d, d, heads, hd, qk, eps, true, dtype, gen));
    registerModule("attn2", new Attention(d, d, heads, hd, qk, eps, true, dtype, gen));
    registerModule(
        "norm2",
        c.crossAttnNorm() ? new LayerNorm(shape, eps, true, true, keepDtype) : new Identity());
    registerModule(
        "ffn",
        new FeedForward(d, c.ffnDim(), FeedForward.Activation.GELU_TANH, 0, true, dtype, gen));
    registerModule("norm3", new LayerNorm(shape, eps, false, false, dtype));
  }

  /** The block's {@code scale_shift_table} slot ({@code [1, 6, D]}). */
  public Parameter scaleShiftTable() {
    return scaleShiftTable;
  }

  /**
   * How one of the block's attentions is run on its normalized input {@code h [B, L, D]}: the
   * default calls the {@link Attention} module; the causal model's streaming path uses its KV cache
   * instead.
   */
  @FunctionalInterface
  interface AttentionCall {
    Tensor apply(Attention attention, Tensor h);
  }

  /**
   * Runs the block, through {@link Module#checkpoint} (recomputed in backward) when gradient
   * checkpointing is on.
   *
   * @param x tokens {@code [B, L, D]} in the activation dtype
   * @param context text tokens {@code [B, S, D]} (the text embedder's output)
   * @param timestepProj {@code [B, 6, D]}, or {@code [B, F, 6, D]} for one modulation per frame
   *     (the L tokens are then F frames of L/F tokens, frame-major)
   * @param cos rotary table {@code [L, 1, headDim/2]} (see {@link WanRope})
   * @param sin rotary table, same shape
   * @param trace records intermediates under {@code prefix} (null: none)
   */
  public Tensor forward(
      Tensor x,
      Tensor context,
      Tensor timestepProj,
      Tensor cos,
      Tensor sin,
      WanTransformer3D.Trace trace,
      String prefix) {
    return forward(x, context, timestepProj, cos, sin, AttentionMask.NONE, trace, prefix);
  }

  /**
   * As {@link #forward(Tensor, Tensor, Tensor, Tensor, Tensor, WanTransformer3D.Trace, String)}
   * with a self-attention mask (the causal model's block-causal mask).
   */
  Tensor forward(
      Tensor x,
      Tensor context,
      Tensor timestepProj,
      Tensor cos,
      Tensor sin,
      AttentionMask mask,
      WanTransformer3D.Trace trace,
      String prefix) {
    // the tables and the mask's tensor are inputs (not captured) so a checkpoint keeps its own
    // handles on them: it recomputes the block in backward, after the caller's scope has closed
    Tensor maskTensor = maskTensor(mask);
    List<Tensor> inputs = new ArrayList<>(List.of(x, context, timestepProj, cos, sin));
    if (maskTensor != null) inputs.add(maskTensor);
    return checkpoint(
        in -> {
          Tensor ctx = in.get(1);
          Attention.Rotary rotary = Attention.Rotary.of(in.get(3), in.get(4), true);
          AttentionMask m = maskTensor == null ? mask : withTensor(mask, in.get(5));
          return body(
              in.get(0),
              in.get(2),
              (a, h) -> a.forward(h, m, rotary),
              (a, h) -> a.forward(h, ctx),
              trace,
              prefix);
        },
        inputs);
  }

  /** The tensor a mask holds (explicit matrix or key ranges), or null. */
  private static Tensor maskTensor(AttentionMask mask) {
    return switch (mask) {
      case AttentionMask.Explicit e -> e.allowed();
      case AttentionMask.KeyRanges r -> r.ranges();
      case null, default -> null;
    };
  }

  /** {@code mask} of the same kind holding {@code t} instead. */
  private static AttentionMask withTensor(AttentionMask mask, Tensor t) {
    return mask instanceof AttentionMask.Explicit
        ? new AttentionMask.Explicit(t)
        : new AttentionMask.KeyRanges(t);
  }

  /**
   * The block with caller-supplied attentions (no checkpointing): {@code selfAttention} receives
   * {@code attn1} and the modulated {@code norm1(x)}, {@code crossAttention} receives {@code attn2}
   * and {@code norm2(x)}.
   */
  Tensor body(
      Tensor x,
      Tensor timestepProj,
      AttentionCall selfAttention,
      AttentionCall crossAttention,
      WanTransformer3D.Trace trace,
      String prefix) {
    try (var s = Scope.open()) {
      DType act = x.dtype(), up = WanTransformer3D.upcast(act);
      // per-frame modulation [B, F, 6, D] (F = 1: one for the whole sequence)
      Tensor tp = timestepProj.dim() == 3 ? timestepProj.unsqueeze(1) : timestepProj;
      long b = x.size(0), l = x.size(1), frames = tp.size(1);
      long[] framed = {b, frames, l / frames, dim};
      List<Tensor> mod = scaleShiftTable.data().add(tp.to(up)).chunk(6, 2);
      Tensor shift = mod.get(0), scale = mod.get(1), gate = mod.get(2);
      Tensor cShift = mod.get(3), cScale = mod.get(4), cGate = mod.get(5);

      // 1. self-attention
      Tensor h =
          modulate(norm("norm1", x.to(up), up).reshape(framed), shift, scale)
              .reshape(b, l, dim)
              .to(act);
      WanTransformer3D.record(trace, prefix + "attn1.in", h);
      Tensor a = selfAttention.apply((Attention) getSubmodule("attn1"), h);
      WanTransformer3D.record(trace, prefix + "attn1.out", a);
      x = x.to(up).add(a.reshape(framed).mul(gate).reshape(b, l, dim)).to(act);

      // 2. cross-attention
      h = getSubmodule("norm2") instanceof LayerNorm ? norm("norm2", x.to(up), up).to(act) : x;
      WanTransformer3D.record(trace, prefix + "attn2.in", h);
      Tensor c = crossAttention.apply((Attention) getSubmodule("attn2"), h);
      WanTransformer3D.record(trace, prefix + "attn2.out", c);
      x = x.add(c);

      // 3. feed-forward
      h =
          modulate(norm("norm3", x.to(up), up).reshape(framed), cShift, cScale)
              .reshape(b, l, dim)
              .to(act);
      WanTransformer3D.record(trace, prefix + "ffn.in", h);
      Tensor f = ((Layer) getSubmodule("ffn")).forward(h);
      WanTransformer3D.record(trace, prefix + "ffn.out", f);
      x = x.to(up).add(f.to(up).reshape(framed).mul(cGate).reshape(b, l, dim)).to(act);
      WanTransformer3D.record(trace, prefix + "out", x);
      return s.keep(x);
    }
  }

  /** {@code n * (1 + scale) + shift}. */
  static Tensor modulate(Tensor n, Tensor shift, Tensor scale) {
    return n.mul(scale.add(1)).add(shift);
  }

  /** diffusers' {@code FP32LayerNorm}: the input and the affine parameters in {@code up}. */
  private Tensor norm(String name, Tensor x, DType up) {
    LayerNorm ln = (LayerNorm) getSubmodule(name);
    Tensor w = ln.weight() == null ? null : ln.weight().data().to(up);
    Tensor b = ln.bias() == null ? null : ln.bias().data().to(up);
    return x.layerNorm(new long[] {dim}, w, b, ln.eps());
  }

  @Override
  public String toString() {
    return "WanTransformerBlock(dim=" + dim + ", eps=" + eps + ")";
  }
}
