package io.kinema.diffusion.flow;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kinema.diffusion.flow.FlowMatching.TimeShiftType;
import io.kinema.tensor.DType;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The forward process, conversions, shifts and sigma tables (spec flow-matching.md §1–§3). */
class FlowMatchingTest {
  private static double[] gaussian(Random rnd, int n) {
    double[] v = new double[n];
    for (int i = 0; i < n; i++) v[i] = rnd.nextGaussian();
    return v;
  }

  private static void assertClose(double[] e, double[] a, double tol, String what) {
    assertEquals(e.length, a.length, what);
    for (int i = 0; i < e.length; i++) {
      assertTrue(
          Math.abs(e[i] - a[i]) <= tol * Math.max(1, Math.abs(e[i])),
          what + " element " + i + ": expected " + e[i] + ", got " + a[i]);
    }
  }

  // ---------------------------------------------------------------- shifts

  @Test
  void staticShiftFormula() {
    for (double k : new double[] {1, 3, 5, 8, 0.5}) {
      assertEquals(0, FlowMatching.shift(0, k), 0);
      assertEquals(1, FlowMatching.shift(1, k), 1e-15);
      for (double s = 0.05; s < 1; s += 0.05) {
        double y = FlowMatching.shift(s, k);
        // s_k(σ)/(1 − s_k(σ)) = k·σ/(1 − σ): the shift scales the odds by k
        assertEquals(k * s / (1 - s), y / (1 - y), 1e-12 * k / (1 - s), "odds at " + s);
        // s_{1/k} inverts s_k
        assertEquals(s, FlowMatching.shift(y, 1 / k), 1e-14);
        assertEquals(y, FlowMatching.shiftF32((float) s, k), 2e-7);
        // exponential time shift with μ = ln k is the same map
        assertEquals(y, TimeShiftType.EXPONENTIAL.apply(Math.log(k), s), 1e-14);
        assertEquals(k / (k + (1 / s - 1)), TimeShiftType.LINEAR.apply(k, s), 1e-15);
      }
    }
    assertEquals(0.75, FlowMatching.shift(0.5, 3), 0);
    assertEquals(750, FlowMatching.shiftTimestep(500, 3, 1000), 1e-12);
    assertEquals(437.5, FlowMatching.shiftTimestep(437.5, 1, 1000), 0, "identity for k = 1");
    assertEquals(1000, FlowMatching.shiftAndClamp(1000, 5, 1000), 1e-12);
    assertEquals(0, FlowMatching.shiftAndClamp(0, 5, 1000), 0);
  }

  @Test
  void dynamicShift() {
    assertEquals(0.5, FlowMatching.dynamicShiftMu(256), 1e-15);
    assertEquals(1.15, FlowMatching.dynamicShiftMu(4096), 1e-15);
    assertEquals(0.825, FlowMatching.dynamicShiftMu((256 + 4096) / 2.0), 1e-15);
    assertEquals(TimeShiftType.EXPONENTIAL, TimeShiftType.of("exponential"));
    var e = assertThrows(IllegalArgumentException.class, () -> TimeShiftType.of("cubic"));
    assertTrue(e.getMessage().contains("cubic"), e.getMessage());
    assertEquals(0, TimeShiftType.EXPONENTIAL.apply(0.7, 0), 0, "σ = 0 stays 0");
  }

  @Test
  void stretchToTerminal() {
    double[] s = {1.0, 0.8, 0.4, 0.1};
    FlowMatching.stretchToTerminal(s, 0.02);
    assertEquals(1.0, s[0], 1e-15);
    assertEquals(0.02, s[3], 1e-15);
    // 1 − σ is scaled by one factor: (1 − 0.8)/(1 − 0.4) is kept
    assertEquals(0.2 / 0.6, (1 - s[1]) / (1 - s[2]), 1e-12);
  }

  // ---------------------------------------------------------------- forward process

  @Test
  void forwardProcessAndConversions() {
    Random rnd = new Random(7);
    int b = 3, n = 2 * 5 * 7;
    double[] x0 = gaussian(rnd, b * n), eps = gaussian(rnd, b * n);
    double[] sig = {0.9, 0.35, 0.02};
    double[] xt = new double[b * n], target = new double[b * n];
    for (int i = 0; i < b * n; i++) {
      double s = sig[i / n];
      xt[i] = (1 - s) * x0[i] + s * eps[i];
      target[i] = eps[i] - x0[i];
    }
    try (var sc = Scope.open()) {
      Tensor tx0 = Tensor.of(x0, b, 2, 5, 7), te = Tensor.of(eps, b, 2, 5, 7);
      Tensor ts = Tensor.of(sig);
      Tensor noisy = FlowMatching.addNoise(tx0, te, ts);
      assertEquals(DType.F64, noisy.dtype());
      assertClose(xt, noisy.toDoubleArray(), 1e-15, "addNoise");
      Tensor v = FlowMatching.velocityTarget(tx0, te);
      assertClose(target, v.toDoubleArray(), 0, "velocityTarget");
      assertClose(
          x0, FlowMatching.x0FromVelocity(noisy, v, ts, DType.F64).toDoubleArray(), 1e-14, "x0");
      assertClose(eps, FlowMatching.noiseFromX0(noisy, tx0, ts).toDoubleArray(), 1e-13, "noise");
      assertClose(target, FlowMatching.velocityFromX0(noisy, tx0, ts).toDoubleArray(), 1e-13, "v");

      // F32 latents: σ is converted to F32 first (FastVideo), the result stays F32
      Tensor n32 = FlowMatching.addNoise(tx0.to(DType.F32), te.to(DType.F32), ts);
      assertEquals(DType.F32, n32.dtype());
      assertClose(xt, n32.toDoubleArray(), 1e-6, "addNoise f32");
      // non-contiguous latents (a transposed view) and a scalar σ
      Tensor tT = tx0.transpose(1, 3), eT = te.transpose(1, 3);
      double[] ref = FlowMatching.addNoise(tT.contiguous(), eT.contiguous(), 0.25).toDoubleArray();
      assertClose(ref, FlowMatching.addNoise(tT, eT, 0.25).toDoubleArray(), 0, "strided");
      // x0 in F64 from F32 velocity comes back as F32
      Tensor x0f = FlowMatching.x0FromVelocity(n32, v.to(DType.F32), ts, DType.F64);
      assertEquals(DType.F32, x0f.dtype());
      assertClose(x0, x0f.toDoubleArray(), 1e-5, "x0 f32");
    }
  }

  @Test
  void forwardProcessErrors() {
    try (var sc = Scope.open()) {
      Tensor x = Tensor.zeros(DType.F32, 2, 3), e = Tensor.zeros(DType.F32, 2, 4);
      var ex =
          assertThrows(
              IllegalArgumentException.class, () -> FlowMatching.addNoise(x, e, Tensor.zeros(2)));
      assertTrue(
          ex.getMessage().contains("addNoise") && ex.getMessage().contains("[2, 4]"),
          ex.getMessage());
      Tensor e2 = Tensor.zeros(DType.F32, 2, 3);
      ex =
          assertThrows(
              IllegalArgumentException.class, () -> FlowMatching.addNoise(x, e2, Tensor.zeros(3)));
      assertTrue(ex.getMessage().contains("one sigma per sample"), ex.getMessage());
    }
  }

  // ---------------------------------------------------------------- tables

  @Test
  void flowMatchEulerTable() {
    SigmaTable t = SigmaTable.flowMatchEuler(3.0);
    assertEquals(1000, t.size());
    assertEquals(1.0f, t.sigma(0));
    assertEquals(1000f, t.timestep(0));
    assertEquals(0.002994012, t.sigma(999), 1e-9);
    assertEquals(2.994012, t.timestep(999), 1e-5);
    for (int i = 0; i < 1000; i++) {
      assertEquals(FlowMatching.shift((1000 - i) / 1000.0, 3), t.sigma(i), 1.2e-7, "σ_" + i);
    }
    // nearest lookup: integer DMD timesteps land on σ ≈ t/1000 (no second shift)
    assertEquals(500, t.nearestIndex(750));
    assertEquals(0.75, t.sigmaNearest(750), 1e-7);
    assertEquals(900, t.nearestIndex(250));
    assertEquals(0.25, t.sigmaNearest(250), 1e-7);
    assertEquals(0, t.nearestIndex(5000));
    assertEquals(999, t.nearestIndex(-3));
    assertEquals(123, t.exactIndex(t.timestep(123)));
    var e = assertThrows(IllegalArgumentException.class, () -> t.exactIndex(500.5));
    assertTrue(e.getMessage().contains("500.5"), e.getMessage());
    assertArrayEquals(new double[] {1000, 900, 750, 500}, t.warp(1000, 750, 500, 250), 1e-4);
    assertArrayEquals(new double[] {0}, t.warp(0), 0);
    e = assertThrows(IllegalArgumentException.class, () -> t.warp(1001));
    assertTrue(e.getMessage().contains("1001"), e.getMessage());
    try (var sc = Scope.open()) {
      Tensor s = t.sigmasFor(Tensor.of(new float[] {750f, 250f}), false);
      assertArrayEquals(new double[] {0.75, 0.25}, s.toDoubleArray(), 1e-7);
      assertEquals(DType.F32, t.sigmaTensor(DType.F32).dtype());
    }
  }

  @Test
  void selfForcingTable() {
    SigmaTable t = SigmaTable.selfForcing(5.0);
    assertEquals(1000, t.size());
    assertEquals(1.0f, t.sigma(0));
    for (int i = 0; i < 1000; i++) {
      assertEquals(FlowMatching.shift(1 - i / 1000.0, 5), t.sigma(i), 1.2e-7, "σ_" + i);
    }
    // spec causal-wan.md §4.3: t = 0 maps to the last entry, σ = s_5(0.001)
    assertEquals(999, t.nearestIndex(0));
    assertEquals(0.0049801, t.sigmaNearest(0), 1e-7);
    assertEquals(4.98, t.timestep(999), 1e-3);
    assertArrayEquals(new double[] {1000, 937.5, 833.333, 625}, t.warp(1000, 750, 500, 250), 1e-3);
  }

  @Test
  void linspaceRounding() {
    double[] y = Linspace.numpy(1, 0.001, 5);
    assertEquals(1, y[0]);
    assertEquals(0.001, y[4]);
    assertEquals(1 + 2 * ((0.001 - 1) / 4), y[2], 0);
    assertArrayEquals(new double[] {3.5}, Linspace.numpy(3.5, 9, 1), 0);
    float[] f = Linspace.torchF32(1, 0, 1001);
    assertEquals(1f, f[0]);
    assertEquals(0f, f[1000]);
    assertEquals(0.5f, f[500], 1e-7f);
    for (int i = 0; i < 1001; i++) assertEquals(1 - i / 1000.0, f[i], 1e-6);
  }
}
