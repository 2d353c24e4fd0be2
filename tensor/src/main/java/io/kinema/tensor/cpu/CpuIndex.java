package io.kinema.tensor.cpu;

import io.kinema.tensor.Tensor;

/** index_select, gather, scatter_add. */
final class CpuIndex {
  private CpuIndex() {}

  static void indexSelect(Tensor x, int dim, Tensor index, Tensor out) {
    throw new UnsupportedOperationException("not implemented yet");
  }

  static void gather(Tensor x, int dim, Tensor index, Tensor out) {
    throw new UnsupportedOperationException("not implemented yet");
  }

  static void scatterAdd(Tensor self, int dim, Tensor index, Tensor src) {
    throw new UnsupportedOperationException("not implemented yet");
  }
}
