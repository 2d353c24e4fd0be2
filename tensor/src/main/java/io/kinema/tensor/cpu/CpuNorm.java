package io.kinema.tensor.cpu;

import io.kinema.tensor.Tensor;

/** Row-wise kernels: softmax, layer_norm, rms_norm, rotary embedding. */
final class CpuNorm {
  private CpuNorm() {}

  static void softmax(Tensor x, int dim, boolean log, Tensor out) {
    throw new UnsupportedOperationException("not implemented yet");
  }

  static void layerNorm(
      Tensor x,
      int normalizedDims,
      Tensor weight,
      Tensor bias,
      double eps,
      Tensor out,
      Tensor meanOut,
      Tensor rstdOut) {
    throw new UnsupportedOperationException("not implemented yet");
  }

  static void rmsNorm(
      Tensor x, int normalizedDims, Tensor weight, double eps, Tensor out, Tensor rstdOut) {
    throw new UnsupportedOperationException("not implemented yet");
  }

  static void rotary(Tensor x, Tensor cos, Tensor sin, boolean interleaved, Tensor out) {
    throw new UnsupportedOperationException("not implemented yet");
  }
}
