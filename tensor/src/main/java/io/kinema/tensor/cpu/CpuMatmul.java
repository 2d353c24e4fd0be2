package io.kinema.tensor.cpu;

import io.kinema.tensor.Tensor;

/** Batched matmul on top of the GEMM kernels. */
final class CpuMatmul {
  private CpuMatmul() {}

  static void matmul(Tensor a, Tensor b, Tensor out) {
    throw new UnsupportedOperationException("not implemented yet");
  }
}
