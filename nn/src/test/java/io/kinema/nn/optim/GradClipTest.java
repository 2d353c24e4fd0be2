package io.kinema.nn.optim;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kinema.nn.Parameter;
import io.kinema.tensor.DType;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** Global-norm clipping against a double reference; non-finite norms; value clipping. */
class GradClipTest {
  private static final int[] SIZES = {1, 3, 17, 33, 1000};

  /** Parameters of the given dtype with random grads; returns the grads in double. */
  private static List<double[]> setUp(Params m, DType dt, Random r, List<Parameter> out) {
    List<double[]> grads = new ArrayList<>();
    try (var s = Scope.open()) {
      for (int i = 0; i < SIZES.length; i++) {
        Parameter p = m.add("p" + i, Tensor.zeros(dt, SIZES[i]));
        double[] g = new double[SIZES[i]];
        for (int j = 0; j < g.length; j++) g[j] = r.nextGaussian() * (i + 1);
        Params.grad(p, g);
        grads.add(p.grad().toDoubleArray()); // as rounded to dt
        out.add(p);
      }
      out.add(m.add("nograd", Tensor.zeros(dt, 4)));
    }
    return grads;
  }

  private static double norm(List<double[]> grads, double p) {
    double acc = 0;
    for (double[] g : grads)
      for (double v : g)
        acc = Double.isInfinite(p) ? Math.max(acc, Math.abs(v)) : acc + Math.pow(Math.abs(v), p);
    return Double.isInfinite(p) ? acc : Math.pow(acc, 1 / p);
  }

  @Test
  void normValueAndScaling() {
    for (DType dt : new DType[] {DType.F64, DType.F32, DType.BF16, DType.F16}) {
      double tol = dt == DType.F64 ? 1e-12 : dt == DType.F32 ? 1e-5 : 1e-2;
      for (double p : new double[] {2, 1, 3, Double.POSITIVE_INFINITY}) {
        try (Params m = new Params()) {
          List<Parameter> ps = new ArrayList<>();
          List<double[]> grads = setUp(m, dt, new Random(11), ps);
          double want = norm(grads, p);
          double maxNorm = want / 4;
          double got = GradClip.clipGradNorm(ps, maxNorm, p, false);
          assertEquals(want, got, tol * want, dt + " p=" + p);
          double coef = maxNorm / (got + 1e-6);
          for (int i = 0; i < grads.size(); i++) {
            double[] g = ps.get(i).grad().toDoubleArray();
            for (int j = 0; j < g.length; j++)
              assertEquals(grads.get(i)[j] * coef, g[j], tol * Math.abs(grads.get(i)[j]) + 1e-30);
          }
          // After clipping the norm is maxNorm (up to the 1e-6 and rounding).
          double after = GradClip.clipGradNorm(ps, maxNorm * 2, p, false);
          assertEquals(maxNorm, after, tol * maxNorm + 1e-6);
        }
      }
    }
  }

  @Test
  void belowTheLimitNothingChanges() {
    try (Params m = new Params()) {
      List<Parameter> ps = new ArrayList<>();
      List<double[]> grads = setUp(m, DType.F32, new Random(2), ps);
      double n = norm(grads, 2);
      assertEquals(n, GradClip.clipGradNorm(ps, n * 1.01), 1e-5 * n);
      for (int i = 0; i < grads.size(); i++)
        assertArrayEquals(grads.get(i), ps.get(i).grad().toDoubleArray(), 0);
    }
  }

  @Test
  void nonFiniteNormsAreReportedAndNeverApplied() {
    for (double bad : new double[] {Double.NaN, Double.POSITIVE_INFINITY}) {
      try (Params m = new Params()) {
        Parameter a = m.add("a", 1, 2, 3), b = m.add("b", 1, 2);
        Params.grad(a, 3, 4, 0);
        Params.grad(b, 1, bad);
        double n = GradClip.clipGradNorm(List.of(a, b), 1.0);
        // (An F64 sum over [1, inf] is NaN in the tensor kernels today, PyTorch gives inf.)
        assertTrue(Double.isNaN(bad) ? Double.isNaN(n) : !Double.isFinite(n), "" + n);
        assertArrayEquals(new double[] {3, 4, 0}, a.grad().toDoubleArray(), 0);
        var e =
            assertThrows(
                IllegalStateException.class,
                () -> GradClip.clipGradNorm(List.of(a, b), 1.0, 2, true));
        assertTrue(
            e.getMessage().contains("total norm of order 2.0 of the gradients of 2 parameters is"),
            e.getMessage());
        assertArrayEquals(new double[] {3, 4, 0}, a.grad().toDoubleArray(), 0);
      }
    }
    // A gradient whose F32 norm overflows reports an infinite norm and is left alone too.
    try (Params m = new Params();
        var s = Scope.open()) {
      Parameter a = m.add("a", Tensor.zeros(DType.F32, 2));
      Params.grad(a, 3e30, 4e30);
      assertEquals(Double.POSITIVE_INFINITY, GradClip.clipGradNorm(List.of(a), 1.0));
      assertArrayEquals(new double[] {3e30, 4e30}, a.grad().toDoubleArray(), 1e24);
    }
  }

  @Test
  void noGradsGiveZeroAndBadArgumentsThrow() {
    try (Params m = new Params()) {
      Parameter a = m.add("a", 1, 2);
      assertEquals(0, GradClip.clipGradNorm(List.of(a), 1.0));
      var e =
          assertThrows(
              IllegalArgumentException.class,
              () -> GradClip.clipGradNorm(List.of(a), 1.0, 0, false));
      assertTrue(e.getMessage().contains("normType must be > 0"), e.getMessage());
      e =
          assertThrows(
              IllegalArgumentException.class, () -> GradClip.clipGradNorm(List.of(a), -1.0));
      assertTrue(e.getMessage().contains("maxNorm must be >= 0"), e.getMessage());
    }
  }

  @Test
  void clipGradValue() {
    try (Params m = new Params()) {
      Parameter a = m.add("a", 0, 0, 0, 0);
      Params.grad(a, -3, -0.5, 0.25, 7);
      GradClip.clipGradValue(List.of(a), 1.0);
      assertArrayEquals(new double[] {-1, -0.5, 0.25, 1}, a.grad().toDoubleArray(), 0);
    }
  }
}
