package io.kinema.tensor;

import java.util.Arrays;

/**
 * Front-end of fused scaled dot-product attention. Checks q/k/v, broadcasts their leading dims
 * (PyTorch's rule), and hands the backend 4-d views {@code [B, H, S, D]}: rank 2 and 3 get leading
 * size-1 dims, rank &gt; 4 has its leading dims flattened into B (a view whenever the strides
 * allow).
 *
 * <p>A query row that its mask lets see no key at all (or any row when Sk = 0) gets output 0
 * (PyTorch gives NaN). The output has q's dtype and shape {@code [..., Sq, Dv]}.
 */
final class AttentionOps {
  private static final String OP = "scaledDotProductAttention";

  private AttentionOps() {}

  static Tensor sdpa(Tensor q, Tensor k, Tensor v, AttentionMask mask, double scale) {
    return forward(q, k, v, mask, scale, false)[0];
  }

  /** The checked operands of one call: broadcast batch dims and the sizes. */
  private record Shape(Device device, long[] batch, long sq, long sk, long d, long dv) {}

  /** {@code {out, lse or null}}; lse is [..., Sq], F64 for F64 inputs and F32 otherwise. */
  static Tensor[] forward(
      Tensor q, Tensor k, Tensor v, AttentionMask mask, double scale, boolean withLse) {
    if (mask == null) mask = AttentionMask.NONE;
    Shape sh = check(OP, q, k, v, mask, scale);
    long[] batch = sh.batch();
    Tensor allowed = mask instanceof AttentionMask.Explicit e ? e.allowed() : null;
    Tensor out = Tensor.empty(q.dtype(), sh.device(), concat(batch, sh.sq(), sh.dv()));
    Tensor lse = null;
    try {
      if (withLse) {
        long[] ls = Arrays.copyOf(batch, batch.length + 1);
        ls[batch.length] = sh.sq();
        lse = Tensor.empty(gradType(q), sh.device(), ls);
      }
      if (out.numel() == 0 && (lse == null || lse.numel() == 0)) return new Tensor[] {out, lse};
      try (Tensor q4 = as4d(q, batch, sh.sq(), sh.d());
          Tensor k4 = as4d(k, batch, sh.sk(), sh.d());
          Tensor v4 = as4d(v, batch, sh.sk(), sh.dv());
          Tensor m4 = allowed == null ? null : as4d(allowed, batch, sh.sq(), sh.sk());
          Tensor o4 = as4d(out, batch, sh.sq(), sh.dv());
          Tensor l4 = lse == null ? null : lse4d(lse, batch, sh.sq())) {
        AttentionMask m = m4 == null ? mask : new AttentionMask.Explicit(m4);
        Backends.of(sh.device()).attention(q4, k4, v4, m, scale, o4, l4);
      }
    } catch (RuntimeException | Error ex) {
      out.close();
      if (lse != null) lse.close();
      throw ex;
    }
    return new Tensor[] {out, lse};
  }

  /** F64 for F64 inputs, F32 otherwise: the dtype of lse and of the gradients. */
  static DType gradType(Tensor q) {
    return q.dtype() == DType.F64 ? DType.F64 : DType.F32;
  }

  /** [..., Sq] seen as [B, H, Sq, 1] (the kernels read the first three strides). */
  private static Tensor lse4d(Tensor lse, long[] batch, long sq) {
    try (Tensor u = lse.unsqueeze(-1)) {
      return as4d(u, batch, sq, 1);
    }
  }

  /**
   * {@code {dq, dk, dv}} of {@link #forward}, shaped {@code batch + [Sq, D]}, {@code batch + [Sk,
   * D]}, {@code batch + [Sk, Dv]} (the broadcast leading dims: the caller sums them back to its
   * inputs' shapes), F64 for F64 inputs and F32 otherwise.
   */
  static Tensor[] backward(
      Tensor q,
      Tensor k,
      Tensor v,
      Tensor out,
      Tensor lse,
      Tensor gradOut,
      AttentionMask mask,
      double scale) {
    String op = "scaledDotProductAttention backward";
    if (mask == null) mask = AttentionMask.NONE;
    Shape sh = check(op, q, k, v, mask, scale);
    long[] batch = sh.batch();
    long[] os = concat(batch, sh.sq(), sh.dv());
    long[] ls = Arrays.copyOf(batch, batch.length + 1);
    ls[batch.length] = sh.sq();
    Ops.sameDevice(op, q, out, lse, gradOut);
    for (Tensor t : new Tensor[] {out, gradOut}) {
      if (t == null || t.dtype() != q.dtype() || !Arrays.equals(t.shape(), os)) {
        throw new IllegalArgumentException(
            op
                + ": out and gradOut must be "
                + q.dtype()
                + Shapes.str(os)
                + " (q's dtype, [..., Sq, Dv]), got "
                + (t == null ? "null" : t.describe()));
      }
    }
    if (lse == null || lse.dtype() != gradType(q) || !Arrays.equals(lse.shape(), ls)) {
      throw new IllegalArgumentException(
          op
              + ": lse must be "
              + gradType(q)
              + Shapes.str(ls)
              + " (the forward's log-sum-exp, [..., Sq]), got "
              + (lse == null ? "null" : lse.describe()));
    }
    DType gt = gradType(q);
    Device device = sh.device();
    Tensor gq = Tensor.empty(gt, device, concat(batch, sh.sq(), sh.d()));
    Tensor gk = null, gv = null;
    try {
      gk = Tensor.empty(gt, device, concat(batch, sh.sk(), sh.d()));
      gv = Tensor.empty(gt, device, concat(batch, sh.sk(), sh.dv()));
      if (gq.numel() + gk.numel() + gv.numel() > 0) {
        Tensor allowed = mask instanceof AttentionMask.Explicit e ? e.allowed() : null;
        try (Tensor q4 = as4d(q, batch, sh.sq(), sh.d());
            Tensor k4 = as4d(k, batch, sh.sk(), sh.d());
            Tensor v4 = as4d(v, batch, sh.sk(), sh.dv());
            Tensor m4 = allowed == null ? null : as4d(allowed, batch, sh.sq(), sh.sk());
            Tensor o4 = as4d(out, batch, sh.sq(), sh.dv());
            Tensor g4 = as4d(gradOut, batch, sh.sq(), sh.dv());
            Tensor l4 = lse4d(lse, batch, sh.sq());
            Tensor gq4 = as4d(gq, batch, sh.sq(), sh.d());
            Tensor gk4 = as4d(gk, batch, sh.sk(), sh.d());
            Tensor gv4 = as4d(gv, batch, sh.sk(), sh.dv())) {
          AttentionMask m = m4 == null ? mask : new AttentionMask.Explicit(m4);
          Backends.of(device).attentionBackward(q4, k4, v4, o4, l4, g4, m, scale, gq4, gk4, gv4);
        }
      }
    } catch (RuntimeException | Error ex) {
      gq.close();
      if (gk != null) gk.close();
      if (gv != null) gv.close();
      throw ex;
    }
    return new Tensor[] {gq, gk, gv};
  }

  private static Shape check(
      String OP, Tensor q, Tensor k, Tensor v, AttentionMask mask, double scale) {
    if (q == null || k == null || v == null) {
      throw new IllegalArgumentException(OP + ": q, k and v must not be null");
    }
    if (mask == null) mask = AttentionMask.NONE;
    Tensor allowed = mask instanceof AttentionMask.Explicit e ? e.allowed() : null;
    if (mask instanceof AttentionMask.Explicit && allowed == null) {
      throw new IllegalArgumentException(OP + ": explicit mask tensor must not be null");
    }
    Tensor ranges = mask instanceof AttentionMask.KeyRanges r ? r.ranges() : null;
    Device device = Ops.sameDevice(OP, q, k, v, allowed, ranges);
    Ops.requireFloating(OP, q);
    if (k.dtype() != q.dtype() || v.dtype() != q.dtype()) {
      throw new IllegalArgumentException(
          OP
              + ": q, k and v must have one dtype, got q "
              + q.describe()
              + ", k "
              + k.describe()
              + ", v "
              + v.describe());
    }
    if (q.dim() < 2 || k.dim() < 2 || v.dim() < 2) {
      throw new IllegalArgumentException(
          OP
              + ": q, k and v need rank >= 2 ([..., S, D]), got q "
              + q.describe()
              + ", k "
              + k.describe()
              + ", v "
              + v.describe());
    }
    if (q.size(-1) != k.size(-1)) {
      throw new IllegalArgumentException(
          OP
              + ": q "
              + q.describe()
              + " and k "
              + k.describe()
              + " must have the same last dim (head size D: "
              + q.size(-1)
              + " vs "
              + k.size(-1)
              + ")");
    }
    if (k.size(-2) != v.size(-2)) {
      throw new IllegalArgumentException(
          OP
              + ": k "
              + k.describe()
              + " and v "
              + v.describe()
              + " must have the same sequence length (dim -2: "
              + k.size(-2)
              + " vs "
              + v.size(-2)
              + ")");
    }
    if (!Double.isFinite(scale)) {
      throw new IllegalArgumentException(OP + ": scale must be finite, got " + scale);
    }
    long[] batch;
    try {
      batch = Shapes.broadcast(OP, Shapes.broadcast(OP, lead(q), lead(k)), lead(v));
    } catch (IllegalArgumentException ex) {
      throw new IllegalArgumentException(
          OP
              + ": the leading dims of q "
              + q.describe()
              + ", k "
              + k.describe()
              + " and v "
              + v.describe()
              + " cannot be broadcast together",
          ex);
    }
    long sq = q.size(-2), sk = k.size(-2), d = q.size(-1), dv = v.size(-1);
    if (allowed != null) {
      if (allowed.dtype() != DType.BOOL) {
        throw new IllegalArgumentException(
            OP + ": explicit mask must be BOOL (true = may attend), got " + allowed.describe());
      }
      long[] full = concat(batch, sq, sk);
      if (allowed.dim() > full.length || !broadcastsTo(allowed.shape(), full)) {
        throw new IllegalArgumentException(
            OP
                + ": explicit mask "
                + allowed.describe()
                + " is not broadcastable to the scores' shape "
                + Shapes.str(full)
                + " ([..., Sq, Sk])");
      }
    }
    if (ranges != null) checkRanges(OP, ranges, sq);
    return new Shape(device, batch, sq, sk, d, dv);
  }

  /**
   * A KeyRanges mask has one row per query. Its values are not checked: any bound is meaningful
   * (clipped to the keys), and reading a device table back would cost a synchronisation per call.
   */
  private static void checkRanges(String op, Tensor ranges, long sq) {
    if (ranges.size(0) != sq) {
      throw new IllegalArgumentException(
          op
              + ": KeyRanges mask "
              + ranges.describe()
              + " must have one row per query (Sq = "
              + sq
              + ")");
    }
  }

  /** The dims before the last two. */
  private static long[] lead(Tensor t) {
    return Arrays.copyOf(t.shape(), t.dim() - 2);
  }

  private static long[] concat(long[] batch, long a, long b) {
    long[] s = Arrays.copyOf(batch, batch.length + 2);
    s[batch.length] = a;
    s[batch.length + 1] = b;
    return s;
  }

  private static boolean broadcastsTo(long[] shape, long[] target) {
    for (int i = 1; i <= shape.length; i++) {
      long s = shape[shape.length - i];
      if (s != 1 && s != target[target.length - i]) return false;
    }
    return true;
  }

  /** {@code t} expanded to {@code batch + [s, d]}, then seen as [B, H, s, d]. */
  private static Tensor as4d(Tensor t, long[] batch, long s, long d) {
    try (Tensor e = t.expand(concat(batch, s, d))) {
      int r = e.dim();
      return switch (r) {
        case 2 -> {
          try (Tensor u = e.unsqueeze(0)) {
            yield u.unsqueeze(0);
          }
        }
        case 3 -> e.unsqueeze(0);
        case 4 -> e.alias();
        default -> e.flatten(0, r - 4);
      };
    }
  }
}
