package io.kinema.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * {@link ActivationGrad#geluTanh} on the CPU: the raw bits of the tensor ops it replaces
 * (autograd's former rule) in F32 and F64, and in BF16/F16 those ops on the widened inputs rounded
 * once (the linear rule's path), over magnitudes from subnormal to overflowing, signed zeros, sizes
 * around the vector width and the chunk, and strided operands; and a double-precision reference.
 */
class ActivationGradTest {
  /** The derivative as autograd composed it from tensor ops, {@code g * gelu_tanh'(x)}. */
  private static Tensor composed(Tensor g, Tensor x) {
    double c = Math.sqrt(2 / Math.PI), a = 0.044715;
    Tensor t = x.add(x.pow(3).mul(a)).mul(c).tanh();
    Tensor inner = x.square().mul(3 * a).add(1).mul(c);
    return g.mul(t.add(1).mul(0.5).add(x.mul(0.5).mul(t.square().neg().add(1)).mul(inner)));
  }

  /** Sizes below, at and around the vector widths (4 to 16 f32) and the 1024-element chunk. */
  private static final int[] SIZES = {1, 3, 7, 8, 15, 17, 63, 1023, 1024, 1025, 2049, 3001};

  /**
   * Values of every scale: tiny, subnormal, ordinary, where tanh saturates, where x^3 overflows.
   */
  private static double[] values(Random r, int n) {
    double[] scales = {1e-40, 1e-20, 1e-3, 0.3, 1, 2.5, 6, 12, 1e3, 1e13, 1e20};
    double[] v = new double[n];
    for (int i = 0; i < n; i++) {
      v[i] =
          switch (r.nextInt(16)) {
            case 0 -> 0.0;
            case 1 -> -0.0;
            default -> r.nextGaussian() * scales[r.nextInt(scales.length)];
          };
    }
    return v;
  }

  private static Tensor tensor(double[] v, DType dt, long... shape) {
    return Tensor.of(v, shape).to(dt);
  }

  private static void assertSameBits(Tensor want, Tensor got, String what) {
    assertEquals(want.dtype(), got.dtype(), what);
    if (want.dtype() == DType.F64) {
      double[] w = want.toDoubleArray(), o = got.toDoubleArray();
      for (int i = 0; i < w.length; i++) {
        long wb = Double.doubleToRawLongBits(w[i]), ob = Double.doubleToRawLongBits(o[i]);
        if (wb != ob) throw new AssertionError(what + " [" + i + "]: " + w[i] + " vs " + o[i]);
      }
    } else {
      // BF16/F16 widen exactly, so F32 bits compare the 16-bit values.
      float[] w = want.to(DType.F32).toFloatArray(), o = got.to(DType.F32).toFloatArray();
      for (int i = 0; i < w.length; i++) {
        int wb = Float.floatToRawIntBits(w[i]), ob = Float.floatToRawIntBits(o[i]);
        if (wb != ob) throw new AssertionError(what + " [" + i + "]: " + w[i] + " vs " + o[i]);
      }
    }
  }

  /** The composed ops in F32 (F64 for F64) on the widened inputs, rounded once to the dtype. */
  private static Tensor expected(Tensor g, Tensor x) {
    DType wide = x.dtype() == DType.F64 ? DType.F64 : DType.F32;
    return composed(g.to(wide), x.to(wide)).to(x.dtype());
  }

  @Test
  void bitsOfTheComposedOps() {
    Random r = new Random(2026);
    for (DType dt : new DType[] {DType.F32, DType.F64, DType.BF16, DType.F16}) {
      for (int n : SIZES) {
        try (Scope s = Scope.open()) {
          Tensor x = tensor(values(r, n), dt, n), g = tensor(values(r, n), dt, n);
          assertSameBits(expected(g, x), ActivationGrad.geluTanh(g, x), dt + " n=" + n);
        }
      }
    }
  }

  @Test
  void bitsOfTheComposedOpsOnStridedOperands() {
    Random r = new Random(7);
    for (DType dt : new DType[] {DType.F32, DType.F64, DType.BF16}) {
      try (Scope s = Scope.open()) {
        // x a transposed view, g a column broadcast along rows, the result dense.
        Tensor x = tensor(values(r, 61 * 37), dt, 61, 37).transpose(0, 1);
        Tensor g = tensor(values(r, 61), dt, 1, 61).expand(37, 61);
        assertSameBits(expected(g, x), ActivationGrad.geluTanh(g, x), dt + " strided");
        Tensor y = tensor(values(r, 2 * 1100), dt, 2, 1100).narrow(1, 3, 1050);
        Tensor gy = tensor(values(r, 2 * 1050), dt, 2, 1050);
        assertSameBits(expected(gy, y), ActivationGrad.geluTanh(gy, y), dt + " narrow");
      }
    }
  }

  /** d/dx of x/2 (1 + tanh u), u = c (x + a x^3), written with sech^2 u = 1 / cosh^2 u. */
  private static double reference(double x) {
    double c = Math.sqrt(2 / Math.PI), a = 0.044715;
    double u = c * (x + a * x * x * x), ch = Math.cosh(u);
    return 0.5 * (1 + Math.tanh(u)) + 0.5 * x * c * (1 + 3 * a * x * x) / (ch * ch);
  }

  @Test
  void matchesADoublePrecisionReference() {
    Random r = new Random(11);
    int n = 4001;
    double[] x = new double[n], g = new double[n];
    for (int i = 0; i < n; i++) {
      x[i] = (r.nextDouble() * 2 - 1) * 9; // the whole curve: tail, dip below 0, overshoot, 1
      g[i] = r.nextGaussian();
    }
    try (Scope s = Scope.open()) {
      for (DType dt : new DType[] {DType.F64, DType.F32}) {
        double tol = dt == DType.F64 ? 1e-14 : 2e-6;
        // The reference sees the inputs as rounded to dt.
        double[] xr = Tensor.of(x, n).to(dt).toDoubleArray();
        double[] gr = Tensor.of(g, n).to(dt).toDoubleArray();
        double[] got = ActivationGrad.geluTanh(tensor(g, dt, n), tensor(x, dt, n)).toDoubleArray();
        for (int i = 0; i < n; i++) {
          double want = gr[i] * reference(xr[i]);
          assertTrue(
              Math.abs(got[i] - want) <= tol * (1 + Math.abs(gr[i])),
              dt + " x=" + xr[i] + ": " + got[i] + " vs " + want);
        }
      }
    }
  }

  @Test
  void rejectsMismatchedOperands() {
    try (Scope s = Scope.open()) {
      Tensor x = Tensor.zeros(DType.F32, 2, 3);
      var e =
          assertThrows(
              IllegalArgumentException.class,
              () -> ActivationGrad.geluTanh(Tensor.zeros(DType.F64, 2, 3), x));
      assertTrue(e.getMessage().contains("gelu_tanh backward"), e.getMessage());
      assertThrows(
          IllegalArgumentException.class,
          () -> ActivationGrad.geluTanh(Tensor.zeros(DType.F32, 3, 2), x));
      assertThrows(
          IllegalArgumentException.class,
          () ->
              ActivationGrad.geluTanh(
                  Tensor.zeros(DType.I64, 2, 3), Tensor.zeros(DType.I64, 2, 3)));
    }
  }
}
