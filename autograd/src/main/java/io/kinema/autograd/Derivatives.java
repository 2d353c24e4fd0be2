package io.kinema.autograd;

import io.kinema.tensor.ActivationGrad;
import io.kinema.tensor.Attention;
import io.kinema.tensor.AttentionMask;
import io.kinema.tensor.Convolution;
import io.kinema.tensor.DType;
import io.kinema.tensor.LinearGrad;
import io.kinema.tensor.Normalization;
import io.kinema.tensor.Shapes;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.backend.BinaryOp;
import io.kinema.tensor.backend.Epilogue;
import io.kinema.tensor.backend.ReduceOp;
import io.kinema.tensor.grad.OpCall;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * The derivative rule of every differentiable op, in one table (PyTorch's derivatives.yaml,
 * tinygrad's gradient.py): for each {@link OpCall} family, what to save in forward and how to turn
 * the output's gradient {@code g} into the inputs' gradients, written with tensor ops. Rules run
 * with grad mode off inside the engine's scope, so their temporaries are freed for them.
 */
final class Derivatives {
  private Derivatives() {}

  /** A node for {@code call}, with what its rule needs saved. */
  static Node node(OpCall call, Tensor out) {
    return switch (call) {
      case OpCall.Unary c -> unary(c, out);
      case OpCall.Binary c -> binary(c, out);
      case OpCall.BinaryScalar c -> binaryScalar(c, out);
      case OpCall.Where c -> where(c, out);
      case OpCall.Reduce c -> reduce(c, out);
      case OpCall.Matmul c -> matmul(c, out);
      case OpCall.Linear c -> linear(c, out);
      case OpCall.Softmax c -> softmax(c, out);
      case OpCall.LayerNorm c -> layerNorm(c, out);
      case OpCall.RmsNorm c -> rmsNorm(c, out);
      case OpCall.Rotary c -> rotary(c, out);
      case OpCall.Attention c -> attention(c, out);
      case OpCall.Conv3d c -> conv3d(c, out);
      case OpCall.IndexSelect c -> indexSelect(c, out);
      case OpCall.Gather c -> gather(c, out);
      case OpCall.ScatterAdd c -> scatterAdd(c, out);
      case OpCall.Cat c -> cat(c, out);
      case OpCall.Convert c -> convert(c, out);
      case OpCall.Reshape c -> reshape(c, out);
      case OpCall.Permute c -> permute(c, out);
      case OpCall.Expand c -> expand(c, out);
      case OpCall.Slice c -> slice(c, out);
      case OpCall.Select c -> select(c, out);
    };
  }

  private static Node make(String name, OpCall call, Tensor out, Node.Backward backward) {
    return new Node(name, call.inputs(), backward, out.shape());
  }

  private static Tensor[] grads(Tensor... g) {
    return g;
  }

  private static String lower(Enum<?> e) {
    return e.name().toLowerCase(Locale.ROOT);
  }

  // ---------------------------------------------------------------- precision

  /**
   * {@code t} in F32 when it is BF16/F16 (else itself): rules made of several ops compute in F32,
   * as the kernels do, instead of rounding to 8 bits of mantissa after every op; the engine rounds
   * each gradient back to its input's dtype once.
   */
  static Tensor wide(Tensor t) {
    return t != null && t.dtype().isHalf() ? t.to(DType.F32) : t;
  }

  // ---------------------------------------------------------------- broadcasting helpers

  /** Sums a broadcast gradient back to {@code shape} (leading dims, then size-1 dims). */
  static Tensor sumTo(Tensor g, long[] shape) {
    long[] gs = g.shape();
    if (Arrays.equals(gs, shape)) return g;
    int lead = gs.length - shape.length;
    List<Integer> dims = new ArrayList<>();
    for (int d = 0; d < gs.length; d++) {
      if (d < lead || (shape[d - lead] == 1 && gs[d] != 1)) dims.add(d);
    }
    Tensor s =
        dims.isEmpty() ? g : g.sum(dims.stream().mapToInt(Integer::intValue).toArray(), true);
    return reshapeTo(s, shape);
  }

  /**
   * {@code t} itself when it has {@code shape} already: a fresh gradient nobody else holds can then
   * become a leaf's gradient without a copy (see {@code Engine.accumulateLeaf}).
   */
  private static Tensor reshapeTo(Tensor t, long[] shape) {
    return Arrays.equals(t.shape(), shape) ? t : t.reshape(shape);
  }

  /** Re-inserts reduced dims (size 1) into a gradient computed with keepdim=false. */
  private static Tensor keepDims(Tensor g, int[] dims, boolean keepdim) {
    if (keepdim) return g;
    Tensor t = g;
    for (int d : dims) t = t.unsqueeze(d); // dims are sorted ascending
    return t;
  }

  private static long count(long[] shape, int[] dims) {
    long n = 1;
    for (int d : dims) n *= shape[d];
    return n;
  }

  // ---------------------------------------------------------------- elementwise

  private static Node unary(OpCall.Unary c, Tensor out) {
    Tensor xo = c.x();
    double p1 = c.p1(), p2 = c.p2();
    boolean needsOutput =
        switch (c.op()) {
          case EXP, SQRT, RSQRT, TANH, SIGMOID, RECIPROCAL -> true;
          default -> false;
        };
    // Rules that are one exact or singly-rounded op stay in the input's dtype.
    boolean widen =
        switch (c.op()) {
          case NEG, ABS, SIGN, RELU, CLAMP, EXP, LOG, SQUARE -> false;
          default -> true;
        };
    Node n =
        make(
            lower(c.op()),
            c,
            out,
            (node, g0) -> {
              Tensor g = widen ? wide(g0) : g0;
              Tensor x = needsOutput ? null : node.saved(xo);
              Tensor y = needsOutput ? node.output() : null;
              if (widen) {
                x = wide(x);
                y = wide(y);
              }
              Tensor gx =
                  switch (c.op()) {
                    case NEG -> g.neg();
                    case ABS -> g.mul(x.sign());
                    case EXP -> g.mul(y);
                    case LOG -> g.div(x);
                    case SQRT -> g.div(y).mul(0.5);
                    case RSQRT -> g.mul(y.pow(3)).mul(-0.5);
                    case SIN -> g.mul(x.cos());
                    case COS -> g.mul(x.sin()).neg();
                    case TANH -> g.mul(y.square().neg().add(1));
                    case SIGMOID -> g.mul(y).mul(y.neg().add(1));
                    case RELU -> g.mul(x.gt(0).to(g.dtype()));
                    case GELU -> g.mul(geluGrad(x));
                    case GELU_TANH -> ActivationGrad.geluTanh(g, x);
                    case SILU -> {
                      Tensor s = x.sigmoid();
                      yield g.mul(s.mul(x.mul(s.neg().add(1)).add(1)));
                    }
                    case SQUARE -> g.mul(x).mul(2);
                    case RECIPROCAL -> g.mul(y.square()).neg();
                    case ERF -> g.mul(x.square().neg().exp()).mul(2 / Math.sqrt(Math.PI));
                    case SIGN -> Tensor.zerosLike(g);
                    case POW -> p1 == 0 ? Tensor.zerosLike(g) : g.mul(x.pow(p1 - 1)).mul(p1);
                    case CLAMP -> g.mul(clampMask(x, p1, p2).to(g.dtype()));
                    case NOT ->
                        throw new IllegalStateException("autograd bug: NOT is not differentiable");
                  };
              return grads(gx);
            });
    if (needsOutput) n.saveOutput(out);
    else n.save(xo);
    return n;
  }

  /** d/dx of x * Phi(x) = Phi(x) + x * phi(x). */
  private static Tensor geluGrad(Tensor x) {
    Tensor cdf = x.mul(1 / Math.sqrt(2)).erf().add(1).mul(0.5);
    Tensor pdf = x.square().mul(-0.5).exp().mul(1 / Math.sqrt(2 * Math.PI));
    return cdf.add(x.mul(pdf));
  }

  /** Where the clamp let x through (NaN bounds are open); ties with a bound pass, as PyTorch. */
  private static Tensor clampMask(Tensor x, double min, double max) {
    Tensor m = Tensor.onesLike(x).to(DType.BOOL);
    if (!Double.isNaN(min)) m = m.logicalAnd(x.ge(min));
    if (!Double.isNaN(max)) m = m.logicalAnd(x.le(max));
    return m;
  }

  private static Node binary(OpCall.Binary c, Tensor out) {
    Tensor ao = c.a(), bo = c.b();
    long[] as = ao.shape(), bs = bo.shape();
    BinaryOp op = c.op();
    boolean needsOutput = op == BinaryOp.DIV || op == BinaryOp.POW;
    Node n =
        make(
            lower(op),
            c,
            out,
            (node, g) ->
                switch (op) {
                  case ADD -> grads(sumTo(g, as), sumTo(g, bs));
                  case SUB -> grads(sumTo(g, as), sumTo(g.neg(), bs));
                  case MUL -> {
                    Tensor a = node.saved(ao), b = node.saved(bo);
                    yield grads(sumTo(g.mul(b), as), sumTo(g.mul(a), bs));
                  }
                  case DIV -> {
                    Tensor gw = wide(g), b = wide(node.saved(bo)), y = wide(node.output());
                    yield grads(sumTo(gw.div(b), as), sumTo(gw.mul(y).div(b).neg(), bs));
                  }
                  case POW -> {
                    Tensor gw = wide(g), y = wide(node.output());
                    Tensor a = wide(node.saved(ao)), b = wide(node.saved(bo));
                    Tensor zero = Tensor.zerosLike(y);
                    // PyTorch's conventions: d/da a^b is 0 where b == 0 (not NaN = 0 * 0^-1 at
                    // a = 0), and d/db a^b = a^b log a is 0 where a == 0, b >= 0 (not 0 * -inf).
                    Tensor ga = Tensor.where(b.eq(0), zero, gw.mul(b).mul(a.pow(b.sub(1))));
                    Tensor gb =
                        Tensor.where(a.eq(0).logicalAnd(b.ge(0)), zero, gw.mul(y).mul(a.log()));
                    yield grads(sumTo(ga, as), sumTo(gb, bs));
                  }
                  case MAXIMUM, MINIMUM -> {
                    Tensor a = node.saved(ao), b = node.saved(bo);
                    // Ties share the gradient equally, as PyTorch does.
                    Tensor wins = (op == BinaryOp.MAXIMUM ? a.gt(b) : a.lt(b)).to(g.dtype());
                    Tensor ties = a.eq(b).to(g.dtype()).mul(0.5);
                    Tensor wa = wins.add(ties);
                    Tensor wb = wa.neg().add(1);
                    yield grads(sumTo(g.mul(wa), as), sumTo(g.mul(wb), bs));
                  }
                  default ->
                      throw new IllegalStateException(
                          "autograd bug: " + op + " is not differentiable");
                });
    switch (op) {
      case MUL, MAXIMUM, MINIMUM -> {
        n.save(ao);
        n.save(bo);
      }
      case DIV -> n.save(bo);
      case POW -> {
        n.save(ao);
        n.save(bo);
      }
      default -> {}
    }
    if (needsOutput) n.saveOutput(out);
    return n;
  }

  private static Node binaryScalar(OpCall.BinaryScalar c, Tensor out) {
    Tensor ao = c.a();
    double s = c.s();
    BinaryOp op = c.op();
    Node n =
        make(
            lower(op),
            c,
            out,
            (node, g) ->
                switch (op) {
                  case ADD, SUB -> grads(g);
                  case MUL -> grads(g.mul(s));
                  case DIV -> grads(g.div(s));
                  case POW ->
                      grads(s == 0 ? Tensor.zerosLike(g) : g.mul(node.saved(ao).pow(s - 1)).mul(s));
                  case MAXIMUM, MINIMUM -> {
                    Tensor a = node.saved(ao);
                    Tensor wins = (op == BinaryOp.MAXIMUM ? a.gt(s) : a.lt(s)).to(g.dtype());
                    yield grads(g.mul(wins.add(a.eq(s).to(g.dtype()).mul(0.5))));
                  }
                  default ->
                      throw new IllegalStateException(
                          "autograd bug: " + op + " is not differentiable");
                });
    if (op == BinaryOp.POW || op == BinaryOp.MAXIMUM || op == BinaryOp.MINIMUM) n.save(ao);
    return n;
  }

  private static Node where(OpCall.Where c, Tensor out) {
    Tensor condO = c.cond();
    long[] as = c.a().shape(), bs = c.b().shape();
    Node n =
        make(
            "where",
            c,
            out,
            (node, g) -> {
              Tensor cond = node.saved(condO);
              Tensor zero = Tensor.zerosLike(g);
              return grads(
                  sumTo(Tensor.where(cond, g, zero), as), sumTo(Tensor.where(cond, zero, g), bs));
            });
    n.save(condO);
    return n;
  }

  // ---------------------------------------------------------------- reductions

  private static Node reduce(OpCall.Reduce c, Tensor out) {
    Tensor xo = c.x();
    long[] xs = xo.shape();
    int[] dims = c.dims();
    boolean keep = c.keepdim();
    double p = c.param();
    ReduceOp op = c.op();
    boolean widen =
        switch (op) {
          case PROD, NORM, VAR, STD -> true;
          default -> false; // a division at most, or routing
        };
    Node n =
        make(
            lower(op),
            c,
            out,
            (node, g0) -> {
              Tensor g = widen ? wide(g0) : g0;
              Tensor gk = keepDims(g, dims, keep);
              return switch (op) {
                case SUM -> grads(gk.expand(xs));
                case MEAN -> grads(gk.div((double) count(xs, dims)).expand(xs));
                case MAX, MIN -> {
                  Tensor x = node.saved(xo), y = keepDims(node.output(), dims, keep);
                  Tensor hit = x.eq(y).to(g.dtype());
                  Tensor hits = hit.sum(dims, true);
                  yield grads(hit.div(hits).mul(gk));
                }
                case PROD ->
                    grads(
                        prodGrad(
                            wide(node.saved(xo)),
                            wide(keepDims(node.output(), dims, keep)),
                            gk,
                            dims));
                case NORM ->
                    grads(
                        normGrad(
                            wide(node.saved(xo)),
                            wide(keepDims(node.output(), dims, keep)),
                            gk,
                            p,
                            dims));
                case VAR, STD -> {
                  Tensor x = wide(node.saved(xo));
                  double denom = Math.max(0, count(xs, dims) - p);
                  Tensor centered = x.sub(x.mean(dims, true));
                  Tensor gv = centered.mul(gk).mul(2 / denom);
                  if (op == ReduceOp.VAR) yield grads(gv);
                  Tensor sd = wide(keepDims(node.output(), dims, keep));
                  yield grads(gv.div(sd.mul(2)));
                }
              };
            });
    n.save(xo);
    if (op != ReduceOp.SUM && op != ReduceOp.MEAN && op != ReduceOp.VAR) n.saveOutput(out);
    return n;
  }

  /** Gradient of a product, right also when the reduced group holds zeros. */
  private static Tensor prodGrad(Tensor x, Tensor y, Tensor gk, int[] dims) {
    Tensor isZero = x.eq(0);
    Tensor zeros = isZero.to(x.dtype()).sum(dims, true);
    Tensor safeX = Tensor.where(isZero, Tensor.onesLike(x), x);
    Tensor noZero = y.div(safeX); // product of the others when the group has no zero
    Tensor othersOfZero = safeX.prod(dims, true).expand(x.shape()); // product of the non-zeros
    Tensor zero = Tensor.zerosLike(x);
    Tensor oneZeroHere = Tensor.where(isZero, othersOfZero, zero);
    Tensor oneZero = zeros.eq(1);
    Tensor none = zeros.eq(0);
    Tensor r = Tensor.where(none, noZero, Tensor.where(oneZero, oneZeroHere, zero));
    return r.mul(gk);
  }

  /** Gradient of a p-norm: sign(x) |x|^(p-1) / y^(p-1); infinity norms route to the extremes. */
  private static Tensor normGrad(Tensor x, Tensor y, Tensor gk, double p, int[] dims) {
    if (p == 0) return Tensor.zerosLike(x);
    if (Double.isInfinite(p)) {
      Tensor hit = x.abs().eq(y).to(x.dtype());
      return hit.div(hit.sum(dims, true)).mul(x.sign()).mul(gk);
    }
    Tensor safeY = Tensor.where(y.eq(0), Tensor.onesLike(y), y);
    Tensor r;
    if (p == 1) r = x.sign();
    else if (p == 2) r = x.div(safeY);
    else r = x.sign().mul(x.abs().pow(p - 1)).div(safeY.pow(p - 1));
    return Tensor.where(y.eq(0).expand(x.shape()), Tensor.zerosLike(x), r).mul(gk);
  }

  // ---------------------------------------------------------------- linear algebra

  private static Node matmul(OpCall.Matmul c, Tensor out) {
    Tensor ao = c.a(), bo = c.b();
    long[] as = ao.shape(), bs = bo.shape();
    Node n =
        make(
            "matmul",
            c,
            out,
            (node, g) -> {
              Tensor a = node.saved(ao), b = node.saved(bo);
              if (as.length == 1 && bs.length == 1) return grads(b.mul(g), a.mul(g));
              // Promote 1-d operands as matmul does, so both grads are plain batched products.
              Tensor a2 = as.length == 1 ? a.unsqueeze(0) : a;
              Tensor b2 = bs.length == 1 ? b.unsqueeze(1) : b;
              Tensor g2 = g;
              if (as.length == 1) g2 = g2.unsqueeze(-2);
              if (bs.length == 1) g2 = g2.unsqueeze(-1);
              Tensor ga = sumTo(g2.matmul(b2.mT()), a2.shape());
              Tensor gb = sumTo(a2.mT().matmul(g2), b2.shape());
              return grads(reshapeTo(ga, as), reshapeTo(gb, bs));
            });
    n.save(ao);
    n.save(bo);
    return n;
  }

  /**
   * {@code y = act(x W^T + b)}: with an activation (tanh GELU), first the pre-activation's gradient
   * {@code gp = g act'(pre)} from the pre-activation the forward kept (the ops of the GELU rule,
   * rounded to the dtype once as the engine rounds a gradient: the bits of a separately recorded
   * GELU); then dx = gp W, and dW = gp^T x with db = Σgp over the batch dims flattened into rows,
   * one backend op ({@link LinearGrad}: on CUDA the bias gradient comes out of the dW GEMM). Only
   * the gradients some input needs are computed (a frozen base weight under LoRA costs no dW).
   */
  private static Node linear(OpCall.Linear c, Tensor out) {
    Tensor xo = c.x(), wo = c.weight(), bo = c.bias(), preO = c.preActivation();
    long[] xs = xo.shape();
    boolean gelu = c.epilogue() == Epilogue.GELU_TANH;
    Node n =
        make(
            gelu ? "linear_gelu_tanh" : "linear",
            c,
            out,
            (node, g0) -> {
              Tensor g = g0;
              // One fused pass computing in f32 and rounding once, as wide(g0) * gelu'(wide(pre)).
              if (gelu) g = ActivationGrad.geluTanh(g0, node.saved(preO));
              Tensor gx = needs(node, 0) ? reshapeTo(g.matmul(node.saved(wo)), xs) : null;
              boolean wantsBias = bo != null && needs(node, 2);
              Tensor gw = null, gb = null;
              if (needs(node, 1)) {
                LinearGrad.Grads wb = LinearGrad.weightAndBias(g, node.saved(xo), wantsBias);
                gw = wb.weight();
                gb = wb.bias();
              } else if (wantsBias) {
                gb = sumTo(g, bo.shape());
              }
              return bo == null ? grads(gx, gw) : grads(gx, gw, gb);
            });
    // Each operand is kept only for the other's gradient: a frozen weight keeps no activation.
    if (wo.requiresGrad()) n.save(xo);
    if (xo.requiresGrad()) n.save(wo);
    if (gelu) n.save(preO);
    return n;
  }

  /** Whether input {@code i}'s gradient goes anywhere. */
  private static boolean needs(Node node, int i) {
    return !(node.edges[i] instanceof Node.Nowhere);
  }

  // ---------------------------------------------------------------- normalization

  /** The fused backward ({@link Normalization#softmaxBackward}) on the saved output. */
  private static Node softmax(OpCall.Softmax c, Tensor out) {
    int dim = c.dim();
    boolean log = c.log();
    Node n =
        make(
            log ? "log_softmax" : "softmax",
            c,
            out,
            (node, g0) -> {
              Tensor y = node.output();
              Tensor g = g0.dtype() == y.dtype() ? g0 : g0.to(y.dtype());
              return grads(Normalization.softmaxBackward(y, g, dim, log));
            });
    n.saveOutput(out);
    return n;
  }

  /**
   * The fused backward ({@link Normalization#layerNormBackward}) on x, the weight and the forward's
   * mean and rstd; only the wanted gradients are computed.
   */
  private static Node layerNorm(OpCall.LayerNorm c, Tensor out) {
    Tensor xo = c.x(), wo = c.weight(), bo = c.bias(), meanO = c.mean(), rstdO = c.rstd();
    long[] shape = c.normalizedShape();
    int biasEdge = wo == null ? 1 : 2;
    Node n =
        make(
            "layer_norm",
            c,
            out,
            (node, g0) -> {
              Tensor x = node.saved(xo);
              Tensor g = g0.dtype() == x.dtype() ? g0 : g0.to(x.dtype());
              var wanted =
                  new Normalization.Wanted(
                      needs(node, 0),
                      wo != null && needs(node, 1),
                      bo != null && needs(node, biasEdge));
              Normalization.Grads gr =
                  Normalization.layerNormBackward(
                      g, x, shape, node.saved(wo), node.saved(meanO), node.saved(rstdO), wanted);
              List<Tensor> r = new ArrayList<>(3);
              r.add(gr.x());
              if (wo != null) r.add(gr.weight());
              if (bo != null) r.add(gr.bias());
              return r.toArray(Tensor[]::new);
            });
    n.save(xo);
    n.save(wo);
    n.save(meanO);
    n.save(rstdO);
    return n;
  }

  /** The fused backward ({@link Normalization#rmsNormBackward}) on x, the weight and the rstd. */
  private static Node rmsNorm(OpCall.RmsNorm c, Tensor out) {
    Tensor xo = c.x(), wo = c.weight(), rstdO = c.rstd();
    long[] shape = c.normalizedShape();
    Node n =
        make(
            "rms_norm",
            c,
            out,
            (node, g0) -> {
              Tensor x = node.saved(xo);
              Tensor g = g0.dtype() == x.dtype() ? g0 : g0.to(x.dtype());
              var wanted =
                  new Normalization.Wanted(needs(node, 0), wo != null && needs(node, 1), false);
              Normalization.Grads gr =
                  Normalization.rmsNormBackward(
                      g, x, shape, node.saved(wo), node.saved(rstdO), wanted);
              return wo == null ? grads(gr.x()) : grads(gr.x(), gr.weight());
            });
    n.save(xo);
    n.save(wo);
    n.save(rstdO);
    return n;
  }

  private static Node rotary(OpCall.Rotary c, Tensor out) {
    Tensor cosO = c.cos(), sinO = c.sin();
    boolean interleaved = c.interleaved();
    Node n =
        make(
            "rotary",
            c,
            out,
            // A rotation's transpose is the rotation by the opposite angle.
            (node, g) -> grads(g.rotary(node.saved(cosO), node.saved(sinO).neg(), interleaved)));
    n.save(cosO);
    n.save(sinO);
    return n;
  }

  // ---------------------------------------------------------------- attention

  /**
   * The blockwise (FlashAttention-2) backward of {@link Attention}: q, k, v, the output and the
   * forward's row log-sum-exp are saved (nothing of size Sq x Sk), and the fused backward runs on
   * them. Gradients come back in the broadcast shapes and are summed to the inputs'.
   */
  private static Node attention(OpCall.Attention c, Tensor out) {
    Tensor qo = c.q(), ko = c.k(), vo = c.v();
    // A mask holding a tensor (explicit matrix or key ranges) is saved with q, k and v.
    Tensor maskO =
        switch (c.mask()) {
          case AttentionMask.Explicit(Tensor allowed) -> allowed;
          case AttentionMask.KeyRanges(Tensor ranges) -> ranges;
          case null, default -> null;
        };
    AttentionMask structured = c.mask();
    double scale = c.scale();
    Node n =
        make(
            "scaled_dot_product_attention",
            c,
            out,
            (node, g0) -> {
              Tensor q = node.saved(qo), k = node.saved(ko), v = node.saved(vo);
              AttentionMask mask =
                  switch (structured) {
                    case AttentionMask.Explicit e -> new AttentionMask.Explicit(node.saved(maskO));
                    case AttentionMask.KeyRanges r ->
                        new AttentionMask.KeyRanges(node.saved(maskO));
                    case null, default -> structured;
                  };
              Tensor g = g0.dtype() == q.dtype() ? g0 : g0.to(q.dtype());
              Tensor o = node.output(), lse = node.saved(c.lse());
              Attention.Grads gr = Attention.backward(q, k, v, o, lse, g, mask, scale);
              return grads(
                  sumTo(gr.q(), qo.shape()), sumTo(gr.k(), ko.shape()), sumTo(gr.v(), vo.shape()));
            });
    n.save(qo);
    n.save(ko);
    n.save(vo);
    n.save(maskO);
    n.save(c.lse());
    n.saveOutput(out);
    return n;
  }

  // ---------------------------------------------------------------- convolution

  /**
   * {@link Tensor#conv3d}: the input's gradient is {@link Convolution#conv3dInput} (needs the
   * weight), the weight's {@link Convolution#conv3dWeight} (needs the input), the bias's the sum of
   * g over every dim but the channels; only what a gradient is wanted for is saved and computed.
   */
  private static Node conv3d(OpCall.Conv3d c, Tensor out) {
    Tensor xo = c.x(), wo = c.weight(), bo = c.bias();
    long[] xs = xo.shape(), ws = wo.shape(), stride = c.stride(), padding = c.padding();
    boolean gx = xo.requiresGrad(), gw = wo.requiresGrad(), gb = bo != null && bo.requiresGrad();
    int channelDim = xs.length - 4;
    int[] others = channelDim == 0 ? new int[] {1, 2, 3} : new int[] {0, 2, 3, 4};
    Node n =
        make(
            "conv3d",
            c,
            out,
            (node, g0) -> {
              Tensor g = g0.dtype() == xo.dtype() ? g0 : g0.to(xo.dtype());
              List<Tensor> r = new ArrayList<>(3);
              r.add(gx ? Convolution.conv3dInput(xs, node.saved(wo), g, stride, padding) : null);
              r.add(gw ? Convolution.conv3dWeight(node.saved(xo), ws, g, stride, padding) : null);
              if (bo != null) r.add(gb ? g.sum(others, false) : null);
              return r.toArray(Tensor[]::new);
            });
    if (gw) n.save(xo);
    if (gx) n.save(wo);
    return n;
  }

  // ---------------------------------------------------------------- indexing and joining

  /** An index tensor for scatter: {@code index} along {@code dim}, broadcast to {@code shape}. */
  private static Tensor spreadIndex(Tensor index, int dim, long[] shape) {
    long[] view = new long[shape.length];
    Arrays.fill(view, 1);
    view[dim] = index.numel();
    return index.to(DType.I64).reshape(view).expand(shape);
  }

  private static Node indexSelect(OpCall.IndexSelect c, Tensor out) {
    Tensor xo = c.x(), io = c.index();
    long[] xs = xo.shape();
    int dim = Shapes.normalizeDim("index_select", c.dim(), Math.max(xs.length, 1));
    Node n =
        make(
            "index_select",
            c,
            out,
            (node, g) -> {
              if (xs.length == 0) return grads(g.sum().reshape(xs));
              Tensor idx = spreadIndex(node.saved(io), dim, g.shape());
              return grads(Tensor.zeros(g.dtype(), g.device(), xs).scatterAdd(dim, idx, g));
            });
    n.save(io);
    return n;
  }

  private static Node gather(OpCall.Gather c, Tensor out) {
    Tensor io = c.index();
    long[] xs = c.x().shape();
    int dim = Shapes.normalizeDim("gather", c.dim(), Math.max(xs.length, 1));
    Node n =
        make(
            "gather",
            c,
            out,
            (node, g) ->
                grads(Tensor.zeros(g.dtype(), g.device(), xs).scatterAdd(dim, node.saved(io), g)));
    n.save(io);
    return n;
  }

  private static Node scatterAdd(OpCall.ScatterAdd c, Tensor out) {
    Tensor io = c.index();
    long[] srcShape = c.src().shape();
    int dim = Shapes.normalizeDim("scatter_add", c.dim(), Math.max(srcShape.length, 1));
    Node n =
        make(
            "scatter_add",
            c,
            out,
            (node, g) -> {
              Tensor index = node.saved(io);
              Tensor picked = g.gather(dim, index);
              if (Arrays.equals(index.shape(), srcShape)) return grads(g, picked);
              // src may be larger than index: the rest of src was not used.
              Tensor gs = Tensor.zeros(g.dtype(), g.device(), srcShape);
              Tensor region = gs;
              for (int d = 0; d < srcShape.length; d++) region = region.narrow(d, 0, index.size(d));
              region.copyFrom(picked);
              return grads(g, gs);
            });
    n.save(io);
    return n;
  }

  private static Node cat(OpCall.Cat c, Tensor out) {
    int rank = c.tensors().get(0).dim();
    int dim = Shapes.normalizeDim("cat", c.dim(), rank);
    long[] sizes = c.tensors().stream().mapToLong(t -> t.size(dim)).toArray();
    DType[] types = c.tensors().stream().map(Tensor::dtype).toArray(DType[]::new);
    return make(
        "cat",
        c,
        out,
        (node, g) -> {
          List<Tensor> parts = g.split(sizes, dim);
          Tensor[] r = new Tensor[parts.size()];
          for (int i = 0; i < r.length; i++) r[i] = parts.get(i).to(types[i]);
          return r;
        });
  }

  // ---------------------------------------------------------------- views and conversions

  private static Node convert(OpCall.Convert c, Tensor out) {
    DType dtype = c.x().dtype();
    io.kinema.tensor.Device device = c.x().device();
    return make("to", c, out, (node, g) -> grads(g.to(dtype).to(device)));
  }

  private static Node reshape(OpCall.Reshape c, Tensor out) {
    long[] xs = c.x().shape();
    return make("reshape", c, out, (node, g) -> grads(g.reshape(xs)));
  }

  private static Node permute(OpCall.Permute c, Tensor out) {
    int[] order = c.order();
    int[] inverse = new int[order.length];
    for (int i = 0; i < order.length; i++) inverse[order[i]] = i;
    return make("permute", c, out, (node, g) -> grads(g.permute(inverse)));
  }

  private static Node expand(OpCall.Expand c, Tensor out) {
    long[] xs = c.x().shape();
    return make("expand", c, out, (node, g) -> grads(sumTo(g, xs)));
  }

  private static Node slice(OpCall.Slice c, Tensor out) {
    long[] xs = c.x().shape();
    int dim = c.dim();
    long start = c.start(), length = c.length(), step = c.step();
    return make(
        "slice",
        c,
        out,
        (node, g) -> {
          Tensor gx = Tensor.zeros(g.dtype(), g.device(), xs);
          if (length > 0) gx.slice(dim, start, start + (length - 1) * step + 1, step).copyFrom(g);
          return grads(gx);
        });
  }

  private static Node select(OpCall.Select c, Tensor out) {
    long[] xs = c.x().shape();
    int dim = c.dim();
    long index = c.index();
    return make(
        "select",
        c,
        out,
        (node, g) -> {
          Tensor gx = Tensor.zeros(g.dtype(), g.device(), xs);
          gx.select(dim, index).copyFrom(g);
          return grads(gx);
        });
  }
}
