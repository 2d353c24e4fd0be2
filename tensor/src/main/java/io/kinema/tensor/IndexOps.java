package io.kinema.tensor;

/** Front-end of index_select, gather and scatter_add. */
final class IndexOps {
  private IndexOps() {}

  static Tensor indexSelect(Tensor x, int dim, Tensor index) {
    throw new UnsupportedOperationException("not implemented yet");
  }

  static Tensor gather(Tensor x, int dim, Tensor index) {
    throw new UnsupportedOperationException("not implemented yet");
  }

  static Tensor scatterAdd(Tensor self, int dim, Tensor index, Tensor src, boolean inPlace) {
    throw new UnsupportedOperationException("not implemented yet");
  }
}
