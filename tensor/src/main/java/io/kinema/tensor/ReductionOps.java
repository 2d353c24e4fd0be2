package io.kinema.tensor;

import io.kinema.tensor.backend.ReduceOp;

/** Front-end of reductions: dims, keepdim, result dtype. */
final class ReductionOps {
  private ReductionOps() {}

  /** {@code dims} null or empty means all dims. */
  static Tensor reduce(ReduceOp op, Tensor x, int[] dims, boolean keepdim) {
    throw new UnsupportedOperationException("not implemented yet");
  }

  static Tensor argReduce(boolean max, Tensor x, int dim, boolean keepdim) {
    throw new UnsupportedOperationException("not implemented yet");
  }

  static Tensor var(Tensor x, int[] dims, int correction, boolean keepdim) {
    throw new UnsupportedOperationException("not implemented yet");
  }

  static Tensor std(Tensor x, int[] dims, int correction, boolean keepdim) {
    throw new UnsupportedOperationException("not implemented yet");
  }

  static Tensor norm(Tensor x, double p, int[] dims, boolean keepdim) {
    throw new UnsupportedOperationException("not implemented yet");
  }
}
