package io.kinema.nn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import io.kinema.tensor.DType;
import io.kinema.tensor.Tensor;
import java.util.Arrays;
import java.util.Random;

/** Random inputs and comparisons shared by the nn tests. */
final class TestUtil {
  private TestUtil() {}

  static double[] gaussian(Random rnd, int n) {
    double[] v = new double[n];
    for (int i = 0; i < n; i++) v[i] = rnd.nextGaussian();
    return v;
  }

  static int numel(long... shape) {
    long n = 1;
    for (long d : shape) n *= d;
    return Math.toIntExact(n);
  }

  /** A tensor of standard normal values (from the double values, converted to {@code dtype}). */
  static Tensor randn(Random rnd, DType dtype, long... shape) {
    try (Tensor t = Tensor.of(gaussian(rnd, numel(shape)), shape)) {
      return t.to(dtype).contiguous();
    }
  }

  /** Elementwise |a - e| <= atol + rtol |e|, naming the first failing element. */
  static void assertClose(double[] expected, double[] actual, double rtol, double atol) {
    assertEquals(expected.length, actual.length, "length");
    for (int i = 0; i < expected.length; i++) {
      double e = expected[i], a = actual[i];
      if (!(Math.abs(a - e) <= atol + rtol * Math.abs(e))) {
        fail("element " + i + ": expected " + e + ", got " + a + " (rtol " + rtol + ")");
      }
    }
  }

  static void assertClose(double[] expected, Tensor actual, double rtol, double atol) {
    assertClose(expected, actual.toDoubleArray(), rtol, atol);
  }

  static void assertShape(Tensor t, long... shape) {
    assertEquals(Arrays.toString(shape), Arrays.toString(t.shape()), t.describe());
  }

  static double mean(double[] v) {
    double s = 0;
    for (double x : v) s += x;
    return s / v.length;
  }

  static double std(double[] v) {
    double m = mean(v), s = 0;
    for (double x : v) s += (x - m) * (x - m);
    return Math.sqrt(s / (v.length - 1));
  }

  static double maxAbs(double[] v) {
    double m = 0;
    for (double x : v) m = Math.max(m, Math.abs(x));
    return m;
  }
}
