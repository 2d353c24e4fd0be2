package io.kinema.tensor;

/** Front-end of matmul and bmm: PyTorch's shape rules, then one batched backend call. */
final class LinalgOps {
  private LinalgOps() {}

  static Tensor matmul(Tensor a, Tensor b) {
    throw new UnsupportedOperationException("not implemented yet");
  }

  static Tensor bmm(Tensor a, Tensor b) {
    throw new UnsupportedOperationException("not implemented yet");
  }
}
