package io.kinema.tensor;

import io.kinema.tensor.backend.Epilogue;
import java.util.Arrays;

/** Front-end of matmul, bmm and linear: PyTorch's shape rules, then one batched backend call. */
final class LinalgOps {
  private LinalgOps() {}

  /**
   * PyTorch's {@code matmul}: 1-d x 1-d is a dot product (0-d result); a 1-d first operand is a row
   * vector (the 1 is removed from the result), a 1-d second operand a column vector; otherwise the
   * last two dims multiply as matrices and the leading (batch) dims broadcast.
   */
  static Tensor matmul(Tensor a, Tensor b) {
    String op = "matmul";
    checkOperands(op, a, b);
    if (a.dim() == 0 || b.dim() == 0) {
      throw new IllegalArgumentException(
          op + ": both operands need at least 1 dim, got " + a.describe() + " and " + b.describe());
    }
    boolean aVec = a.dim() == 1, bVec = b.dim() == 1;
    try (Tensor a2 = aVec ? a.unsqueeze(0) : a.alias();
        Tensor b2 = bVec ? b.unsqueeze(1) : b.alias()) {
      checkInner(op, a, b, a2, b2);
      long[] as = a2.shape(), bs = b2.shape();
      long[] batch =
          Shapes.broadcast(op, Arrays.copyOf(as, as.length - 2), Arrays.copyOf(bs, bs.length - 2));
      Tensor out = multiply(a2, b2, batch);
      long[] os = out.shape();
      int r = os.length;
      long[] result;
      if (aVec && bVec) result = new long[0];
      else if (aVec) result = remove(os, r - 2);
      else if (bVec) result = remove(os, r - 1);
      else return out;
      try (out) {
        return out.view(result);
      }
    }
  }

  /** {@code bmm}: [B, M, K] x [B, K, N] -> [B, M, N], no broadcasting. */
  static Tensor bmm(Tensor a, Tensor b) {
    String op = "bmm";
    checkOperands(op, a, b);
    if (a.dim() != 3 || b.dim() != 3) {
      throw new IllegalArgumentException(
          op + ": expected two rank-3 tensors, got " + a.describe() + " and " + b.describe());
    }
    if (a.size(0) != b.size(0)) {
      throw new IllegalArgumentException(
          op
              + ": batch sizes differ: "
              + a.describe()
              + " and "
              + b.describe()
              + " ("
              + a.size(0)
              + " vs "
              + b.size(0)
              + ")");
    }
    checkInner(op, a, b, a, b);
    return multiply(a, b, new long[] {a.size(0)});
  }

  /**
   * PyTorch's {@code linear}: x [..., in] (at least 1-d), weight [out, in], bias [out] or null ->
   * [..., out], with {@code epilogue} applied by the backend's fused store.
   */
  static Tensor linear(Tensor x, Tensor weight, Tensor bias, Epilogue epilogue) {
    Activated a = linear(x, weight, bias, epilogue, false);
    return a.out();
  }

  /**
   * A linear's result and, when {@code keepPre} and the epilogue is an activation, the activation's
   * input {@code x @ weight^T + bias} (shaped as the result; else null).
   */
  record Activated(Tensor out, Tensor pre) {}

  /** {@link #linear(Tensor, Tensor, Tensor, Epilogue)}, keeping the pre-activation if asked. */
  static Activated linear(
      Tensor x, Tensor weight, Tensor bias, Epilogue epilogue, boolean keepPre) {
    String op = "linear";
    Ops.sameDevice(op, x, weight, bias);
    DType dt = x.dtype();
    if (!dt.isFloatingPoint() || weight.dtype() != dt || (bias != null && bias.dtype() != dt)) {
      throw new IllegalArgumentException(
          op
              + ": expected input, weight and bias of one floating dtype, got input "
              + x.describe()
              + ", weight "
              + weight.describe()
              + (bias == null ? "" : ", bias " + bias.describe()));
    }
    if (x.dim() == 0) {
      throw new IllegalArgumentException(
          op + ": input needs at least 1 dim [..., in_features], got " + x.describe());
    }
    if (weight.dim() != 2) {
      throw new IllegalArgumentException(
          op + ": weight must be 2-d [out_features, in_features], got " + weight.describe());
    }
    long in = weight.size(1), outFeatures = weight.size(0);
    if (x.size(-1) != in) {
      throw new IllegalArgumentException(
          op
              + ": input "
              + x.describe()
              + " and weight "
              + weight.describe()
              + " cannot be multiplied (input's last dim "
              + x.size(-1)
              + " vs in_features "
              + in
              + ")");
    }
    if (bias != null && (bias.dim() != 1 || bias.size(0) != outFeatures)) {
      throw new IllegalArgumentException(
          op
              + ": bias must be 1-d [out_features] = ["
              + outFeatures
              + "] for weight "
              + weight.describe()
              + ", got "
              + bias.describe());
    }
    boolean vector = x.dim() == 1;
    try (Tensor x2 = vector ? x.unsqueeze(0) : x.alias()) {
      long[] shape = x2.shape();
      shape[shape.length - 1] = outFeatures;
      Tensor out = Tensor.empty(dt, x.device(), shape);
      Tensor pre =
          keepPre && epilogue != Epilogue.NONE ? Tensor.empty(dt, x.device(), shape) : null;
      try {
        x.backend().linear(x2, weight, bias, epilogue, out, pre);
      } catch (RuntimeException e) {
        out.close();
        if (pre != null) pre.close();
        throw e;
      }
      if (!vector) return new Activated(out, pre);
      try (out;
          pre) {
        return new Activated(out.view(outFeatures), pre == null ? null : pre.view(outFeatures));
      }
    }
  }

  /**
   * The weight gradient of {@code linear} (and the bias gradient when {@code withBias}) from the
   * output's gradient: g [..., out] and x [..., in] flattened to rows, one backend call.
   */
  static LinearGrad.Grads weightGrads(Tensor gradOutput, Tensor input, boolean withBias) {
    String op = "linear weight gradient";
    Ops.sameDevice(op, gradOutput, input);
    if (gradOutput.dtype() != input.dtype() || !input.dtype().isFloatingPoint()) {
      throw new IllegalArgumentException(
          op
              + ": expected gradient and input of one floating dtype, got "
              + gradOutput.describe()
              + " and "
              + input.describe());
    }
    if (input.dim() == 0
        || gradOutput.dim() != input.dim()
        || !Arrays.equals(
            Arrays.copyOf(gradOutput.shape(), input.dim() - 1),
            Arrays.copyOf(input.shape(), input.dim() - 1))) {
      throw new IllegalArgumentException(
          op
              + ": gradient "
              + gradOutput.describe()
              + " does not match input "
              + input.describe()
              + " (expected [..., out_features] with the input's leading dims)");
    }
    long outFeatures = gradOutput.size(-1), in = input.size(-1);
    long rows = 1;
    for (int d = 0; d < input.dim() - 1; d++) rows *= input.size(d);
    DType dt = input.dtype();
    Tensor gw = Tensor.empty(dt, input.device(), outFeatures, in);
    Tensor gb = withBias ? Tensor.empty(dt, input.device(), outFeatures) : null;
    try (Tensor g2 = gradOutput.reshape(rows, outFeatures);
        Tensor x2 = input.reshape(rows, in)) {
      input.backend().linearBackwardWeight(g2, x2, gw, gb);
    } catch (RuntimeException e) {
      gw.close();
      if (gb != null) gb.close();
      throw e;
    }
    return new LinearGrad.Grads(gw, gb);
  }

  private static void checkOperands(String op, Tensor a, Tensor b) {
    Ops.sameDevice(op, a, b);
    if (a.dtype() != b.dtype() || !a.dtype().isFloatingPoint()) {
      throw new IllegalArgumentException(
          op
              + ": expected both operands to have the same floating dtype, got "
              + a.describe()
              + " and "
              + b.describe());
    }
  }

  /** a2 [..., M, K] and b2 [..., K, N] must agree on K; the message shows the caller's operands. */
  private static void checkInner(String op, Tensor a, Tensor b, Tensor a2, Tensor b2) {
    if (a2.size(-1) != b2.size(-2)) {
      throw new IllegalArgumentException(
          op
              + ": inner dims do not match: "
              + a.describe()
              + " and "
              + b.describe()
              + " ("
              + a2.size(-1)
              + " vs "
              + b2.size(-2)
              + ")");
    }
  }

  /**
   * a [..., M, K] @ b [..., K, N] with both batch shapes broadcast to {@code batch}: the operands
   * go to the backend as (possibly stride-0, possibly transposed) views, never copied.
   */
  private static Tensor multiply(Tensor a, Tensor b, long[] batch) {
    long m = a.size(-2), k = a.size(-1), n = b.size(-1);
    int br = batch.length;
    long[] ash = Arrays.copyOf(batch, br + 2), bsh = Arrays.copyOf(batch, br + 2);
    long[] osh = Arrays.copyOf(batch, br + 2);
    ash[br] = m;
    ash[br + 1] = k;
    bsh[br] = k;
    bsh[br + 1] = n;
    osh[br] = m;
    osh[br + 1] = n;
    Tensor out = Tensor.empty(a.dtype(), a.device(), osh);
    try (Tensor ae = a.expand(ash);
        Tensor be = b.expand(bsh)) {
      a.backend().matmul(ae, be, out);
    } catch (RuntimeException e) {
      out.close();
      throw e;
    }
    return out;
  }

  private static long[] remove(long[] shape, int d) {
    long[] r = new long[shape.length - 1];
    for (int i = 0, j = 0; i < shape.length; i++) if (i != d) r[j++] = shape[i];
    return r;
  }
}
