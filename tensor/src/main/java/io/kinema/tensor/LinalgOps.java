package io.kinema.tensor;

import java.util.Arrays;

/** Front-end of matmul and bmm: PyTorch's shape rules, then one batched backend call. */
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
