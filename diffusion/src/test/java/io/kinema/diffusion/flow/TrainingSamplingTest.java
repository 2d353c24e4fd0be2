package io.kinema.diffusion.flow;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kinema.tensor.DType;
import io.kinema.tensor.Generator;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * Training-time timestep sampling (moments of each density on many draws, reproducibility), SD3
 * loss weights, CFG dropout and the guidance combination.
 */
class TrainingSamplingTest {
  private static final int N = 200_000;

  private static double mean(double[] v) {
    double s = 0;
    for (double x : v) s += x;
    return s / v.length;
  }

  private static double var(double[] v) {
    double m = mean(v), s = 0;
    for (double x : v) s += (x - m) * (x - m);
    return s / (v.length - 1);
  }

  private static double[] toDouble(float[] f) {
    double[] d = new double[f.length];
    for (int i = 0; i < f.length; i++) d[i] = f[i];
    return d;
  }

  /**
   * Mean and variance of u = f(r), r ~ U[0,1), by Simpson quadrature (an independent reference).
   */
  private static double[] quadratureMoments(java.util.function.DoubleUnaryOperator f) {
    int n = 20_000;
    double h = 1.0 / n, m1 = 0, m2 = 0;
    for (int i = 0; i <= n; i++) {
      double w = (i == 0 || i == n) ? 1 : (i % 2 == 1 ? 4 : 2);
      double u = f.applyAsDouble(i * h);
      m1 += w * u;
      m2 += w * u * u;
    }
    m1 *= h / 3;
    m2 *= h / 3;
    return new double[] {m1, m2 - m1 * m1};
  }

  @Test
  void uniformDensity() {
    double[] u =
        toDouble(TimestepSampler.density(new WeightingScheme.Uniform(), N, new Generator(1)));
    double se = Math.sqrt(1 / 12.0 / N);
    assertEquals(0.5, mean(u), 5 * se);
    assertEquals(1 / 12.0, var(u), 0.003);
    for (double x : u) assertTrue(x >= 0 && x < 1, "u in [0, 1): " + x);
  }

  @Test
  void logitNormalDensity() {
    double mean = 0.3, std = 0.8;
    double[] u =
        toDouble(
            TimestepSampler.density(
                new WeightingScheme.LogitNormal(mean, std), N, new Generator(2)));
    double[] logit = new double[N];
    for (int i = 0; i < N; i++) logit[i] = Math.log(u[i] / (1 - u[i]));
    assertEquals(mean, mean(logit), 5 * std / Math.sqrt(N));
    assertEquals(std, Math.sqrt(var(logit)), 0.01);
    // moments of u itself against the quadrature of sigmoid(mean + std·Z)
    double[] ref = normalMoments(z -> 1 / (1 + Math.exp(-(mean + std * z))));
    assertEquals(ref[0], mean(u), 0.003);
    assertEquals(ref[1], var(u), 0.002);
  }

  @Test
  void modeDensity() {
    for (double scale : new double[] {0.0, 1.0, 1.29}) {
      double[] u =
          toDouble(TimestepSampler.density(new WeightingScheme.Mode(scale), N, new Generator(3)));
      double[] ref =
          quadratureMoments(r -> 1 - r - scale * (Math.pow(Math.cos(Math.PI * r / 2), 2) - 1 + r));
      assertEquals(ref[0], mean(u), 5 * Math.sqrt(ref[1] / N), "mean, mode_scale " + scale);
      assertEquals(ref[1], var(u), 0.003, "variance, mode_scale " + scale);
    }
  }

  /** Mean and variance of f(Z), Z ~ N(0, 1), by Simpson quadrature on [−12, 12]. */
  private static double[] normalMoments(java.util.function.DoubleUnaryOperator f) {
    int n = 20_000;
    double a = -12, h = 24.0 / n, m1 = 0, m2 = 0;
    for (int i = 0; i <= n; i++) {
      double z = a + i * h;
      double w = ((i == 0 || i == n) ? 1 : (i % 2 == 1 ? 4 : 2)) * Math.exp(-z * z / 2);
      double u = f.applyAsDouble(z);
      m1 += w * u;
      m2 += w * u * u;
    }
    double c = h / 3 / Math.sqrt(2 * Math.PI);
    m1 *= c;
    m2 *= c;
    return new double[] {m1, m2 - m1 * m1};
  }

  @Test
  void drawsAreTableEntriesAndReproducible() {
    SigmaTable table = SigmaTable.flowMatchEuler(3.0);
    var sampler = new TimestepSampler(table, new WeightingScheme.Uniform());
    Generator g = new Generator(42);
    var d1 = sampler.sample(64, g);
    long after = g.offset();
    assertTrue(after > 0, "the draw advances the generator");
    for (int i = 0; i < 64; i++) {
      assertEquals(table.timestep(d1.indices()[i]), d1.timesteps()[i]);
      assertEquals(table.sigma(d1.indices()[i]), d1.sigmas()[i]);
    }
    var d2 = sampler.sample(64, new Generator(42));
    assertArrayEquals(d1.indices(), d2.indices(), "same seed, same draw");
    var d3 = sampler.sample(64, new Generator(43));
    assertFalse(Arrays.equals(d1.indices(), d3.indices()), "another seed, another draw");
    // a checkpointed state replays the next draw exactly
    var next = sampler.sample(8, g);
    var replay = sampler.sample(8, new Generator(new Generator.State(42, after)));
    assertArrayEquals(next.indices(), replay.indices());
    try (var s = Scope.open()) {
      assertArrayEquals(d1.timesteps(), d1.timestepTensor().toFloatArray());
      assertEquals(DType.BF16, d1.sigmaTensor(DType.BF16).dtype());
    }
    // idx = floor(1000·u); u = 1 (mode at r = 0, a saturated sigmoid) is clamped to 999
    assertArrayEquals(
        new int[] {999, 0, 999, 500, 123},
        sampler.indices(new float[] {1f, 0f, 0.99999994f, 0.5f, 0.1234f}));
    // uniform u draws σ = s_3((1000 − idx)/1000): the mean index is 499.5
    int[] many = sampler.sample(N, new Generator(5)).indices();
    double m = 0;
    for (int i : many) m += i;
    assertEquals(499.5, m / N, 5 * 288.7 / Math.sqrt(N));
  }

  @Test
  void weightingSchemeNames() {
    assertEquals(
        new WeightingScheme.LogitNormal(0, 1), WeightingScheme.of("logit_normal", 0, 1, 1.29));
    assertEquals(new WeightingScheme.Mode(1.29), WeightingScheme.of("mode", 0, 1, 1.29));
    assertEquals(new WeightingScheme.Uniform(), WeightingScheme.of("none", 0, 1, 1.29));
    var e =
        assertThrows(IllegalArgumentException.class, () -> new WeightingScheme.LogitNormal(0, -1));
    assertTrue(e.getMessage().contains("logit_normal"), e.getMessage());
  }

  @Test
  void lossWeights() {
    double[] sig = {0.05, 0.3, 0.5, 0.77, 1.0};
    try (var s = Scope.open()) {
      Tensor t = Tensor.of(sig);
      Tensor w1 = LossWeighting.SIGMA_SQRT.weights(t);
      assertEquals(DType.F32, w1.dtype(), "sigma_sqrt returns float32 like .float()");
      Tensor w2 = LossWeighting.COSMAP.weights(t);
      assertEquals(DType.F64, w2.dtype());
      Tensor w3 = LossWeighting.NONE.weights(t);
      for (int i = 0; i < sig.length; i++) {
        double x = sig[i];
        assertEquals(1 / (x * x), w1.toDoubleArray()[i], 1e-6 / (x * x));
        assertEquals(2 / (Math.PI * (1 - 2 * x + 2 * x * x)), w2.toDoubleArray()[i], 1e-14);
        assertEquals(1, w3.toDoubleArray()[i]);
        assertEquals(1 / (x * x), LossWeighting.SIGMA_SQRT.weight(x), 1e-12 / (x * x));
      }
      assertEquals(LossWeighting.COSMAP, LossWeighting.of("cosmap"));
      assertEquals(LossWeighting.NONE, LossWeighting.of("logit_normal"));
      var e =
          assertThrows(
              IllegalArgumentException.class, () -> LossWeighting.COSMAP.weights(Tensor.arange(3)));
      assertTrue(e.getMessage().contains("I64"), e.getMessage());
    }
  }

  // ---------------------------------------------------------------- CFG dropout

  @Test
  void cfgDropoutRateAndReproducibility() {
    var drop = new CfgDropout(0.3);
    boolean[] d = drop.draw(new Generator(9), N);
    int hits = 0;
    for (boolean b : d) if (b) hits++;
    assertEquals(0.3, hits / (double) N, 5 * Math.sqrt(0.3 * 0.7 / N));
    assertArrayEquals(d, drop.draw(new Generator(9), N));
    // the per-sample rule depends on (seed, index) only: batching and resume points do not matter
    boolean[] all = drop.dropsSamples(1234, 0, 1000);
    boolean[] tail = drop.dropsSamples(1234, 600, 400);
    assertArrayEquals(Arrays.copyOfRange(all, 600, 1000), tail);
    int h2 = 0;
    boolean[] many = drop.dropsSamples(77, 0, 20_000);
    for (boolean b : many) if (b) h2++;
    assertEquals(0.3, h2 / 20_000.0, 5 * Math.sqrt(0.3 * 0.7 / 20_000));
    assertNotEquals(Arrays.toString(all), Arrays.toString(drop.dropsSamples(1235, 0, 1000)));
    // rate 0 drops nothing and consumes no random counters
    Generator g = new Generator(1);
    boolean[] none = new CfgDropout(0).draw(g, 16);
    assertEquals(0, g.offset());
    for (boolean b : none) assertFalse(b);
    var e = assertThrows(IllegalArgumentException.class, () -> new CfgDropout(1.5));
    assertTrue(e.getMessage().contains("1.5"), e.getMessage());
  }

  @Test
  void cfgDropoutReplacesOnlyDroppedRows() {
    Random rnd = new Random(3);
    int b = 4, l = 5, dm = 6;
    double[] ctx = new double[b * l * dm], nul = new double[l * dm];
    for (int i = 0; i < ctx.length; i++) ctx[i] = rnd.nextGaussian();
    for (int i = 0; i < nul.length; i++) nul[i] = rnd.nextGaussian();
    boolean[] drop = {true, false, false, true};
    try (var s = Scope.open()) {
      Tensor c = Tensor.of(ctx, b, l, dm).to(DType.BF16);
      Tensor n = Tensor.of(nul, 1, l, dm);
      double[] out = CfgDropout.apply(c, n, drop).toDoubleArray();
      double[] cb = c.toDoubleArray(), nb = n.to(DType.BF16).toDoubleArray();
      for (int i = 0; i < out.length; i++) {
        int row = i / (l * dm);
        assertEquals(drop[row] ? nb[i % (l * dm)] : cb[i], out[i], 0, "element " + i);
      }
      double[] z = CfgDropout.applyZeros(c, drop).toDoubleArray();
      for (int i = 0; i < z.length; i++) assertEquals(drop[i / (l * dm)] ? 0 : cb[i], z[i], 0);
      var e =
          assertThrows(
              IllegalArgumentException.class, () -> CfgDropout.apply(c, n, new boolean[3]));
      assertTrue(e.getMessage().contains("batch 3"), e.getMessage());
      Tensor bad = Tensor.zeros(2, l, dm);
      e = assertThrows(IllegalArgumentException.class, () -> CfgDropout.apply(c, bad, drop));
      assertTrue(e.getMessage().contains("does not broadcast"), e.getMessage());
    }
  }

  // ---------------------------------------------------------------- guidance

  /** A context-dependent toy model: v = x·mean(context) + t/1000, per sample. */
  private static FlowModel toy(AtomicInteger calls) {
    return (x, t, c) -> {
      calls.incrementAndGet();
      long b = x.size(0);
      Tensor m = c.mean(new int[] {1, 2}, false);
      return x.mul(FlowMatching.perSample(m, x.dim()))
          .add(FlowMatching.perSample(t.to(x.dtype()).div(1000.0), x.dim()));
    };
  }

  @Test
  void guidanceCombination() {
    Random rnd = new Random(11);
    int b = 2;
    double[] xs = new double[b * 3 * 4], cs = new double[b * 5 * 2], ns = new double[b * 5 * 2];
    for (int i = 0; i < xs.length; i++) xs[i] = rnd.nextGaussian();
    for (int i = 0; i < cs.length; i++) {
      cs[i] = rnd.nextGaussian() + 1;
      ns[i] = rnd.nextGaussian() - 1;
    }
    try (var s = Scope.open()) {
      Tensor x = Tensor.of(xs, b, 3, 4), t = Tensor.of(new double[] {700, 300});
      Tensor c = Tensor.of(cs, b, 5, 2), n = Tensor.of(ns, b, 5, 2);
      AtomicInteger calls = new AtomicInteger();
      FlowModel m = toy(calls);
      double g = 4.5;
      Tensor vc = m.predict(x, t, c), vu = m.predict(x, t, n);
      double[] ec = vc.toDoubleArray(), eu = vu.toDoubleArray();
      double[] expected = new double[ec.length];
      for (int i = 0; i < ec.length; i++) expected[i] = eu[i] + g * (ec[i] - eu[i]);
      calls.set(0);
      Tensor two = ClassifierFreeGuidance.predict(m, x, t, c, n, g, false);
      assertEquals(2, calls.get());
      calls.set(0);
      Tensor one = ClassifierFreeGuidance.predict(m, x, t, c, n, g, true);
      assertEquals(1, calls.get(), "batched guidance is one model call");
      for (int i = 0; i < expected.length; i++) {
        assertEquals(expected[i], two.toDoubleArray()[i], 1e-12);
        assertEquals(expected[i], one.toDoubleArray()[i], 1e-12);
      }
      // g <= 1: guidance off, one conditional call, no negative context needed
      calls.set(0);
      Tensor off = ClassifierFreeGuidance.predict(m, x, t, c, null, 1.0, false);
      assertEquals(1, calls.get());
      assertArrayEquals(ec, off.toDoubleArray(), 0);
      var e =
          assertThrows(
              IllegalArgumentException.class,
              () -> ClassifierFreeGuidance.predict(m, x, t, c, null, 2.0, false));
      assertTrue(e.getMessage().contains("negative context"), e.getMessage());
      Tensor shortNeg = Tensor.zeros(DType.F64, b, 3, 2);
      e =
          assertThrows(
              IllegalArgumentException.class,
              () -> ClassifierFreeGuidance.predict(m, x, t, c, shortNeg, 2.0, true));
      assertTrue(e.getMessage().contains("one shape"), e.getMessage());
      e =
          assertThrows(
              IllegalArgumentException.class,
              () -> ClassifierFreeGuidance.combine(vc, Tensor.cat(List.of(vu, vu), 0), 2));
      assertTrue(e.getMessage().contains("differ in shape"), e.getMessage());
    }
  }
}
