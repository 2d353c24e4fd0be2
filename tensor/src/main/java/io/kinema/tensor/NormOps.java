package io.kinema.tensor;

/** Front-end of softmax, layer_norm, rms_norm and rotary embedding. */
final class NormOps {
  private NormOps() {}

  static Tensor softmax(Tensor x, int dim, boolean log) {
    throw new UnsupportedOperationException("not implemented yet");
  }

  static Tensor layerNorm(
      Tensor x, long[] normalizedShape, Tensor weight, Tensor bias, double eps) {
    throw new UnsupportedOperationException("not implemented yet");
  }

  static Tensor rmsNorm(Tensor x, long[] normalizedShape, Tensor weight, double eps) {
    throw new UnsupportedOperationException("not implemented yet");
  }

  static Tensor rotary(Tensor x, Tensor cos, Tensor sin, boolean interleaved) {
    throw new UnsupportedOperationException("not implemented yet");
  }
}
