package io.kinema.tensor.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import io.kinema.tensor.DType;
import io.kinema.tensor.Device;
import io.kinema.tensor.Tensor;
import java.util.Random;

/** What the CUDA tests share: the device, random host tensors, comparisons with the CPU. */
final class CudaTesting {
  static final Device GPU = Device.cuda(0);

  private CudaTesting() {}

  /** A CPU tensor of normal values, rounded to {@code dt}. */
  static Tensor randn(Random r, DType dt, long... shape) {
    long n = 1;
    for (long s : shape) n *= s;
    float[] v = new float[(int) n];
    for (int i = 0; i < v.length; i++) v[i] = (float) r.nextGaussian();
    try (Tensor f = Tensor.of(v, shape)) {
      return f.to(dt);
    }
  }

  /** A CPU tensor of values uniform in [lo, hi), rounded to {@code dt}. */
  static Tensor uniform(Random r, DType dt, double lo, double hi, long... shape) {
    long n = 1;
    for (long s : shape) n *= s;
    double[] v = new double[(int) n];
    for (int i = 0; i < v.length; i++) v[i] = lo + (hi - lo) * r.nextDouble();
    try (Tensor f = Tensor.of(v, shape)) {
      return f.to(dt);
    }
  }

  /**
   * Relative (and equal absolute) tolerance between a GPU and a CPU result stored in {@code t}:
   * about two units in the last place for the 16-bit types (each side rounds its own f32 result),
   * f32 transcendentals differing by a few ulps, f64 by rounding only.
   */
  static double tol(DType t) {
    return switch (t) {
      case F64 -> 1e-12;
      case F32 -> 2e-5;
      case F16 -> 2e-3;
      case BF16 -> 1.6e-2;
      default -> 0;
    };
  }

  /** {@code gpu} (any device) equals {@code cpu} within {@code tol * (1 + |cpu|)}, NaN for NaN. */
  static void assertClose(Tensor cpu, Tensor gpu, double tol, String what) {
    assertEquals(
        java.util.Arrays.toString(cpu.shape()), java.util.Arrays.toString(gpu.shape()), what);
    assertEquals(cpu.dtype(), gpu.dtype(), what + ": dtype");
    double[] want = cpu.toDoubleArray(), got = gpu.toDoubleArray();
    for (int i = 0; i < want.length; i++) {
      double w = want[i], g = got[i];
      boolean ok =
          Double.isNaN(w)
              ? Double.isNaN(g)
              : Double.isInfinite(w) ? g == w : Math.abs(g - w) <= tol * (1 + Math.abs(w));
      if (!ok) {
        fail(
            what
                + ": element "
                + i
                + " is "
                + g
                + " on the GPU, "
                + w
                + " on the CPU (tol "
                + tol
                + ")");
      }
    }
  }

  /** {@link #assertClose} with the dtype's tolerance. */
  static void assertClose(Tensor cpu, Tensor gpu, String what) {
    assertClose(cpu, gpu, tol(cpu.dtype()), what);
  }

  /** Bit-for-bit equality of the values (as doubles, so -0 and NaN payloads of F16 aside). */
  static void assertSame(Tensor cpu, Tensor gpu, String what) {
    assertClose(cpu, gpu, 0, what);
  }
}
