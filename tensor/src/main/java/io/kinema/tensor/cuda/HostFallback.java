package io.kinema.tensor.cuda;

import io.kinema.tensor.Device;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.cpu.CpuBackend;

/**
 * index_select, gather and scatter_add on CUDA tensors, run by the CPU backend on host copies:
 * there are no CUDA kernels for them yet. Exact CPU semantics (including the range check of the
 * indices and its message), at the price of copying the operands to the host and the result back —
 * fine for index tensors and activations, slow for a large embedding table.
 */
final class HostFallback {
  private final CudaBackend cuda;

  HostFallback(CudaBackend cuda) {
    this.cuda = cuda;
  }

  void indexSelect(Tensor x, int dim, Tensor index, Tensor out) {
    try (Tensor hx = toHost(x);
        Tensor hi = toHost(index);
        Tensor ho = Tensor.empty(out.dtype(), Device.CPU, out.shape())) {
      CpuBackend.INSTANCE.indexSelect(hx, dim, hi, ho);
      fromHost(ho, out);
    }
  }

  void gather(Tensor x, int dim, Tensor index, Tensor out) {
    try (Tensor hx = toHost(x);
        Tensor hi = toHost(index);
        Tensor ho = Tensor.empty(out.dtype(), Device.CPU, out.shape())) {
      CpuBackend.INSTANCE.gather(hx, dim, hi, ho);
      fromHost(ho, out);
    }
  }

  void scatterAdd(Tensor self, int dim, Tensor index, Tensor src) {
    try (Tensor hs = toHost(self);
        Tensor hi = toHost(index);
        Tensor hsrc = toHost(src)) {
      CpuBackend.INSTANCE.scatterAdd(hs, dim, hi, hsrc);
      fromHost(hs, self);
    }
  }

  /** A contiguous host copy of device tensor {@code t}. */
  private Tensor toHost(Tensor t) {
    Tensor host = Tensor.empty(t.dtype(), Device.CPU, t.shape());
    if (t.isContiguous()) {
      cuda.transfer(t, host);
      return host;
    }
    try (Tensor dense = Tensor.empty(t.dtype(), t.device(), t.shape())) {
      cuda.copy(t, dense);
      cuda.transfer(dense, host);
    }
    return host;
  }

  /** Writes contiguous host tensor {@code h} into device tensor {@code t} (any strides). */
  private void fromHost(Tensor h, Tensor t) {
    if (t.isContiguous()) {
      cuda.transfer(h, t);
      return;
    }
    try (Tensor dense = Tensor.empty(t.dtype(), t.device(), t.shape())) {
      cuda.transfer(h, dense);
      cuda.copy(dense, t);
    }
  }
}
