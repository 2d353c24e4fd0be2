package io.kinema.tensor;

/** Front-end of fused scaled dot-product attention. */
final class AttentionOps {
  private AttentionOps() {}

  static Tensor sdpa(Tensor q, Tensor k, Tensor v, AttentionMask mask, double scale) {
    throw new UnsupportedOperationException("not implemented yet");
  }
}
