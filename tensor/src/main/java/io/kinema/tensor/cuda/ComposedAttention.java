package io.kinema.tensor.cuda;

import io.kinema.tensor.AttentionMask;
import io.kinema.tensor.DType;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.grad.GradMode;

/**
 * F32/F64 attention past the head dims of the fused kernels ({@link SimtAttention}: F32 above 256,
 * F64 above 128; and BF16/F16 above the flash kernels' 256, on F32 copies made by {@link
 * CudaAttention}), written with tensor ops that run on the device (cuBLAS products, elementwise and
 * reduction kernels): the scores {@code scale · q kᵀ} are materialized, masked with −∞, and
 * softmaxed with the row's log-sum-exp; the backward recomputes the probabilities from that
 * log-sum-exp (FlashAttention-2's formulas, unfused). The semantics are the CPU's ({@code
 * CpuAttention}): masks as key limits aligned to the end of the key sequence (or KeyRanges'
 * intervals, compared on the device), and a row that may attend to no key gets output 0 and
 * log-sum-exp −∞. Memory is {@code O(B·H·Sq·Sk)}.
 */
final class ComposedAttention {
  private ComposedAttention() {}

  /** Whether this path computes attention of {@code q}'s dtype. */
  static boolean handles(Tensor q) {
    return q.dtype() == DType.F32 || q.dtype() == DType.F64;
  }

  static void forward(
      Tensor q, Tensor k, Tensor v, AttentionMask mask, double scale, Tensor out, Tensor lseOut) {
    try (var ng = GradMode.noGrad();
        var s = Scope.open()) {
      Tensor scores = scores(q, k, mask, scale);
      Tensor max = scores.amax(-1, true);
      // Rows that see no key have max −∞: shift them by 0 so exp gives 0, not NaN.
      Tensor shift = Tensor.where(max.eq(Double.NEGATIVE_INFINITY), zero(max), max);
      Tensor e = scores.sub(shift).exp();
      Tensor sum = e.sum(-1, true);
      Tensor p = e.div(Tensor.where(sum.eq(0), one(sum), sum));
      out.copyFrom(p.matmul(v));
      if (lseOut != null) lseOut.copyFrom(sum.log().add(shift).reshape(lseOut.shape()));
    }
  }

  static void backward(
      Tensor q,
      Tensor k,
      Tensor v,
      Tensor out,
      Tensor lse,
      Tensor gradOut,
      AttentionMask mask,
      double scale,
      Tensor gradQ,
      Tensor gradK,
      Tensor gradV) {
    try (var ng = GradMode.noGrad();
        var s = Scope.open()) {
      DType dt = q.dtype();
      Tensor scores = scores(q, k, mask, scale);
      Tensor l = lse.reshape(q.size(0), q.size(1), q.size(2), 1).to(dt);
      // P = exp(S − lse); a row with lse −∞ saw no key: +∞ makes its P 0 instead of NaN.
      Tensor rowLse = Tensor.where(l.eq(Double.NEGATIVE_INFINITY), inf(l), l);
      Tensor p = scores.sub(rowLse).exp();
      Tensor go = gradOut.to(dt);
      Tensor delta = go.mul(out.to(dt)).sum(-1, true); // rowsum(dO ∘ O) = rowsum(P ∘ dP)
      Tensor dp = go.matmul(v.transpose(-2, -1));
      Tensor ds = p.mul(dp.sub(delta)).mul(scale);
      gradQ.copyFrom(ds.matmul(k));
      gradK.copyFrom(ds.transpose(-2, -1).matmul(q));
      gradV.copyFrom(p.transpose(-2, -1).matmul(go));
    }
  }

  /** {@code scale · q kᵀ} with the keys a query may not see set to −∞. */
  private static Tensor scores(Tensor q, Tensor k, AttentionMask mask, double scale) {
    Tensor scores = q.matmul(k.transpose(-2, -1)).mul(scale);
    Tensor allowed = allowed(mask, q.size(2), k.size(2), q);
    if (allowed == null) return scores;
    return Tensor.where(
        allowed, scores, Tensor.full(Double.NEGATIVE_INFINITY, q.dtype(), q.device()));
  }

  /**
   * The mask as BOOL broadcastable to the scores, or null for none. Query i sits at key position
   * {@code p = i + Sk − Sq}; Causal allows keys {@code j ≤ p}, BlockCausal keys in blocks up to
   * {@code p}'s.
   */
  private static Tensor allowed(AttentionMask mask, long sq, long sk, Tensor like) {
    return switch (mask) {
      case AttentionMask.None n -> null;
      case AttentionMask.Explicit e -> e.allowed().to(like.device());
      case AttentionMask.Causal c -> limits(sq, sk, 1, like);
      case AttentionMask.BlockCausal bc -> limits(sq, sk, bc.blockSize(), like);
      case AttentionMask.KeyRanges r -> inRanges(r.ranges(), sk);
    };
  }

  /**
   * {@code [Sq, Sk]}: key j lies in row i's {@code [lo1, hi1)} or {@code [lo2, hi2)}, compared on
   * the device (the ranges are already there).
   */
  private static Tensor inRanges(Tensor ranges, long sk) {
    Tensor j = Tensor.arange(0, sk, 1, DType.I32, ranges.device()).reshape(1, sk);
    Tensor lo1 = ranges.narrow(1, 0, 1), hi1 = ranges.narrow(1, 1, 1);
    Tensor lo2 = ranges.narrow(1, 2, 1), hi2 = ranges.narrow(1, 3, 1);
    Tensor first = j.ge(lo1).logicalAnd(j.lt(hi1));
    return first.logicalOr(j.ge(lo2).logicalAnd(j.lt(hi2)));
  }

  /** Keys {@code j < (floor(p / block) + 1) · block} for each query row (block 1: causal). */
  private static Tensor limits(long sq, long sk, long block, Tensor like) {
    int rows = Math.toIntExact(sq), cols = Math.toIntExact(sk);
    boolean[] allowed = new boolean[Math.multiplyExact(rows, cols)];
    for (int i = 0; i < rows; i++) {
      long p = i + sk - sq;
      long limit = Math.clamp((Math.floorDiv(p, block) + 1) * block, 0, sk);
      for (int j = 0; j < limit; j++) allowed[i * cols + j] = true;
    }
    return Tensor.of(allowed, sq, sk).to(like.device());
  }

  private static Tensor zero(Tensor like) {
    return Tensor.full(0, like.dtype(), like.device());
  }

  private static Tensor one(Tensor like) {
    return Tensor.full(1, like.dtype(), like.device());
  }

  private static Tensor inf(Tensor like) {
    return Tensor.full(Double.POSITIVE_INFINITY, like.dtype(), like.device());
  }
}
