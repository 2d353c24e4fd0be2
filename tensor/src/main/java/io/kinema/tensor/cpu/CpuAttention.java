package io.kinema.tensor.cpu;

import io.kinema.tensor.AttentionMask;
import io.kinema.tensor.Tensor;

/** Fused (flash-style) attention. */
final class CpuAttention {
  private CpuAttention() {}

  static void attention(
      Tensor q, Tensor k, Tensor v, AttentionMask mask, double scale, Tensor out, Tensor lseOut) {
    throw new UnsupportedOperationException("not implemented yet");
  }
}
