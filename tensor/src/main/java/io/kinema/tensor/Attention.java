package io.kinema.tensor;

/**
 * The pieces of fused attention that autograd rules (and hand-written training code) need beyond
 * {@link Tensor#scaledDotProductAttention}: the forward with each row's log-sum-exp, and the
 * blockwise (FlashAttention-2) backward, which never stores an Sq x Sk matrix. Same shapes, masks
 * and leading-dim broadcasting as {@link Tensor#scaledDotProductAttention}; neither method is
 * recorded by autograd.
 */
public final class Attention {
  private Attention() {}

  /**
   * The forward's results: {@code out} [..., Sq, Dv] in q's dtype, and {@code lse} [..., Sq] (the
   * broadcast leading dims), F64 for F64 inputs and F32 otherwise; a row that sees no key has out 0
   * and lse -inf.
   */
  public record Forward(Tensor out, Tensor lse) {}

  /**
   * Gradients with respect to q, k and v, shaped like them after broadcasting the leading dims:
   * {@code [..., Sq, D]}, {@code [..., Sk, D]}, {@code [..., Sk, Dv]} (sum over the broadcast dims
   * to get an input's own shape). F64 for F64 inputs, F32 otherwise (BF16/F16 are computed in f32).
   */
  public record Grads(Tensor q, Tensor k, Tensor v) {}

  /** {@code softmax(q k^T * scale, masked) v} and its log-sum-exp. */
  public static Forward forward(Tensor q, Tensor k, Tensor v, AttentionMask mask, double scale) {
    Tensor[] r = AttentionOps.forward(q, k, v, mask, scale, true);
    return new Forward(r[0], r[1]);
  }

  /**
   * The gradients of {@link #forward} given the output's gradient {@code gradOut}: {@code out} and
   * {@code lse} must be that call's results for the same q, k, v, mask and scale.
   */
  public static Grads backward(
      Tensor q,
      Tensor k,
      Tensor v,
      Tensor out,
      Tensor lse,
      Tensor gradOut,
      AttentionMask mask,
      double scale) {
    Tensor[] g = AttentionOps.backward(q, k, v, out, lse, gradOut, mask, scale);
    return new Grads(g[0], g[1], g[2]);
  }
}
