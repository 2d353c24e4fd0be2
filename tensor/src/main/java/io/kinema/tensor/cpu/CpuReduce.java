package io.kinema.tensor.cpu;

import io.kinema.tensor.Tensor;
import io.kinema.tensor.backend.ReduceOp;

/** Reduction kernels. */
final class CpuReduce {
  private CpuReduce() {}

  static void reduce(ReduceOp op, Tensor x, int[] dims, double param, Tensor out) {
    throw new UnsupportedOperationException("not implemented yet");
  }

  static void argReduce(boolean max, Tensor x, int dim, Tensor out) {
    throw new UnsupportedOperationException("not implemented yet");
  }
}
