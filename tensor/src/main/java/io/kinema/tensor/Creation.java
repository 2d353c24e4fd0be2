package io.kinema.tensor;

/** Factories that compute their values: ranges, identity, random draws. */
final class Creation {
  private Creation() {}

  static Tensor arange(double start, double end, double step, DType dtype, Device device) {
    throw new UnsupportedOperationException("not implemented yet");
  }

  static Tensor linspace(double start, double end, long steps, DType dtype, Device device) {
    throw new UnsupportedOperationException("not implemented yet");
  }

  static Tensor eye(long n, long m, DType dtype, Device device) {
    throw new UnsupportedOperationException("not implemented yet");
  }

  static Tensor rand(Generator gen, DType dtype, Device device, long[] shape) {
    throw new UnsupportedOperationException("not implemented yet");
  }

  static Tensor randn(Generator gen, DType dtype, Device device, long[] shape) {
    throw new UnsupportedOperationException("not implemented yet");
  }

  static Tensor randint(
      Generator gen, long low, long high, DType dtype, Device device, long[] shape) {
    throw new UnsupportedOperationException("not implemented yet");
  }
}
