package io.kinema.diffusion.schedulers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kinema.diffusion.flow.FlowMatching;
import io.kinema.diffusion.flow.FlowModel;
import io.kinema.diffusion.flow.Linspace;
import io.kinema.tensor.DType;
import io.kinema.tensor.Generator;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Scheduler behaviour beyond the golden configurations: convergence on a flow with a known exact
 * solution, the other UniPC options, custom/dynamic schedules, stochastic Euler, dtypes, errors and
 * the sampling loop.
 */
class SchedulerBehaviourTest {
  // Data x0 ~ N(MU, S²) per element: the flow ODE maps x(σ=1) = z to x(0) = MU + S·z exactly.
  private static final double MU = 0.4, S = 0.6;

  /** The exact velocity of the Gaussian flow at noise level σ: (x − E[x0 | x_σ]) / σ. */
  private static Tensor gaussianVelocity(Tensor x, double sigma) {
    double a = 1 - sigma;
    double gain = a * S * S / (a * a * S * S + sigma * sigma);
    // E[x0|x] = MU + gain·(x − a·MU)
    Tensor x0 = x.sub(a * MU).mul(gain).add(MU);
    return x.sub(x0).div(sigma);
  }

  private static double[] randn(long seed, int n) {
    Random rnd = new Random(seed);
    double[] v = new double[n];
    for (int i = 0; i < n; i++) v[i] = rnd.nextGaussian();
    return v;
  }

  /** The exact flow at σ from z = x(1): {@code (1 − σ)·MU + sqrt((1 − σ)²S² + σ²)·z}. */
  private static double exact(double z, double sigma) {
    double a = 1 - sigma;
    return a * MU + Math.sqrt(a * a * S * S + sigma * sigma) * z;
  }

  /**
   * The ODE integration error at σ_{N−1}, the last σ before the final jump to 0 (that step returns
   * the x0 prediction E[x0 | x] by design, not the ODE's endpoint): for Euler the sample after N −
   * 1 steps, for UniPC the corrected sample the last step started from. The run starts from the
   * exact state at σ_0.
   */
  private static double solveError(FlowScheduler sched, int steps, double[] z) {
    try (var s = Scope.open()) {
      sched.setTimesteps(steps);
      sched.setBeginIndex(0);
      double[] ts = sched.timesteps(), sg = sched.sigmas();
      double[] x0 = new double[z.length];
      for (int i = 0; i < z.length; i++) x0[i] = exact(z[i], sg[0]);
      Tensor x = Tensor.of(x0, 2, 3, 5);
      boolean unipc = sched instanceof UniPCMultistepScheduler;
      int run = unipc ? ts.length : ts.length - 1;
      for (int i = 0; i < run; i++) x = sched.step(gaussianVelocity(x, sg[i]), ts[i], x);
      double[] out =
          unipc
              ? ((UniPCMultistepScheduler) sched).lastSample().toDoubleArray()
              : x.toDoubleArray();
      double err = 0;
      for (int i = 0; i < z.length; i++) {
        err = Math.max(err, Math.abs(out[i] - exact(z[i], sg[ts.length - 1])));
      }
      return err;
    }
  }

  private static UniPCMultistepScheduler.Config unipc(
      int order, UniPCMultistepScheduler.SolverType type, boolean lowerFinal, int... disable) {
    // without the lower-order final step the schedule has to end at σ_min, not 0
    var fin = lowerFinal ? null : UniPCMultistepScheduler.FinalSigmasType.SIGMA_MIN;
    return new UniPCMultistepScheduler.Config(
        1000, order, type, lowerFinal, disable, 3.0, fin, false, null, 0);
  }

  @Test
  void approximatesTheExactFlowSolution() {
    double[] z = randn(1, 30);
    double euler20 = solveError(new FlowMatchEulerDiscreteScheduler(3.0), 20, z);
    double euler40 = solveError(new FlowMatchEulerDiscreteScheduler(3.0), 40, z);
    double[] unipc = new double[4];
    UniPCMultistepScheduler.Config[] configs = {
      unipc(1, UniPCMultistepScheduler.SolverType.BH2, true),
      unipc(2, UniPCMultistepScheduler.SolverType.BH2, true),
      unipc(3, UniPCMultistepScheduler.SolverType.BH2, true),
      unipc(2, UniPCMultistepScheduler.SolverType.BH1, true)
    };
    for (int i = 0; i < configs.length; i++) {
      try (var sched = new UniPCMultistepScheduler(configs[i])) {
        sched.setSigmaDType(DType.F64);
        unipc[i] = solveError(sched, 20, z);
      }
    }
    System.out.printf(
        "Gaussian flow, max error at the last σ: euler 20/40 steps %.3e %.3e | UniPC 20 steps:"
            + " order 1 %.3e, order 2 %.3e, order 3 %.3e, bh1 %.3e%n",
        euler20, euler40, unipc[0], unipc[1], unipc[2], unipc[3]);
    // diffusers' UniPC shows the same numbers (its λ steps are very uneven: σ_0 = 1 − 1e-6)
    assertTrue(euler40 < 0.6 * euler20, "Euler converges at first order");
    assertTrue(unipc[0] < euler20 / 2, "UniPC-1 (with its corrector) beats Euler");
    assertTrue(unipc[1] < euler20 / 10, "UniPC-2 is much more accurate than Euler");
    assertTrue(unipc[2] < euler20 / 10, "UniPC-3 too");
    assertTrue(unipc[3] < euler20 / 5, "bh1 too");
  }

  @Test
  void unipcOrderSchedule() {
    int[] dflt = orders(new UniPCMultistepScheduler(3.0), 6);
    assertArrayEquals(new int[] {1, 2, 2, 2, 2, 1}, dflt);
    int[] noFinal =
        orders(
            new UniPCMultistepScheduler(unipc(2, UniPCMultistepScheduler.SolverType.BH2, false)),
            6);
    assertArrayEquals(new int[] {1, 2, 2, 2, 2, 2}, noFinal);
    int[] third =
        orders(
            new UniPCMultistepScheduler(unipc(3, UniPCMultistepScheduler.SolverType.BH2, true)), 6);
    assertArrayEquals(new int[] {1, 2, 3, 3, 2, 1}, third);
  }

  private static int[] orders(UniPCMultistepScheduler sched, int n) {
    try (var s = Scope.open();
        sched) {
      sched.setTimesteps(n);
      double[] ts = sched.timesteps(), sg = sched.sigmas();
      Tensor x = Tensor.of(randn(2, 8), 8);
      int[] out = new int[n];
      for (int i = 0; i < n; i++) {
        x = sched.step(gaussianVelocity(x, sg[i]), ts[i], x);
        out[i] = sched.thisOrder();
      }
      return out;
    }
  }

  @Test
  void disabledCorrectorLeavesThePredictorResult() {
    var sched =
        new UniPCMultistepScheduler(
            unipc(2, UniPCMultistepScheduler.SolverType.BH2, true, 0, 1, 2, 3, 4, 5, 6, 7));
    try (var s = Scope.open();
        sched) {
      sched.setTimesteps(8);
      double[] ts = sched.timesteps(), sg = sched.sigmas();
      Tensor x = Tensor.of(randn(3, 12), 12);
      for (int i = 0; i < 8; i++) {
        Tensor in = x;
        x = sched.step(gaussianVelocity(in, sg[i]), ts[i], in);
        assertArrayEquals(in.toDoubleArray(), sched.lastSample().toDoubleArray(), 0, "step " + i);
      }
      sched.close();
      assertNull(sched.lastSample());
      assertNull(sched.lastModelOutput());
    }
  }

  @Test
  void eulerCustomAndDynamicSchedules() {
    var sched = new FlowMatchEulerDiscreteScheduler(3.0);
    sched.setCustomTimesteps(new double[] {1000, 750, 500, 250});
    double[] sg = sched.sigmas(), ts = sched.timesteps();
    double[] in = {1000, 750, 500, 250};
    for (int i = 0; i < 4; i++) {
      float expect = FlowMatching.shiftF32((float) in[i] / 1000f, 3.0);
      assertEquals(expect, sg[i], 0, "σ_" + i);
      assertEquals(expect * 1000f, ts[i], 0);
    }
    assertEquals(0, sg[4]);
    sched.setCustomSigmas(new double[] {1.0, 0.5});
    assertEquals(0.75, sched.sigmas()[1], 1e-7);
    // dynamic shifting: the table stays unshifted and μ shifts with k = e^μ
    var cfg =
        new FlowMatchEulerDiscreteScheduler.Config(
            1000, 1.0, true, 0.5, 1.15, 256, 4096, 0, null, false);
    var dyn = new FlowMatchEulerDiscreteScheduler(cfg);
    double mu = FlowMatching.dynamicShiftMu(1560);
    dyn.setTimesteps(10, mu);
    double[] tau = Linspace.numpy(1000, 1.0, 10);
    for (int i = 0; i < 10; i++) {
      assertEquals(FlowMatching.shift(tau[i] / 1000, Math.exp(mu)), dyn.sigmas()[i], 1e-7);
    }
    var e = assertThrows(IllegalStateException.class, () -> dyn.setTimesteps(10));
    assertTrue(e.getMessage().contains("mu"), e.getMessage());
    // shift_terminal stretches the schedule to end at the terminal value
    var term =
        new FlowMatchEulerDiscreteScheduler(
            new FlowMatchEulerDiscreteScheduler.Config(
                1000, 3.0, false, 0.5, 1.15, 256, 4096, 0.1, null, false));
    term.setTimesteps(12);
    assertEquals(0.1, term.sigmas()[11], 1e-7);
    assertEquals(1.0, term.sigmas()[0], 1e-7);
    // the spec's example: k = 3, N = 4
    var four = new FlowMatchEulerDiscreteScheduler(3.0);
    four.setTimesteps(4);
    assertArrayEquals(new double[] {1.0, 0.857692, 0.602151, 0.008929, 0}, four.sigmas(), 1e-6);
  }

  @Test
  void unipcDynamicAndCustomSigmas() {
    var cfg =
        new UniPCMultistepScheduler.Config(1000, 2, null, true, null, 1.0, null, true, null, 0);
    var sched = new UniPCMultistepScheduler(cfg);
    double mu = Math.log(3.0);
    sched.setTimesteps(50, mu);
    var ref = new UniPCMultistepScheduler(3.0);
    ref.setTimesteps(50);
    assertArrayEquals(ref.sigmas(), sched.sigmas(), 1e-7);
    ref.setCustomSigmas(new double[] {0.9, 0.5, 0.1});
    double[] sg = ref.sigmas();
    assertEquals((float) FlowMatching.shift(0.5, 3), sg[1], 0);
    assertEquals(0, sg[3]);
    assertArrayEquals(
        new long[] {
          (long) (FlowMatching.shift(0.9, 3) * 1000),
          750,
          (long) (FlowMatching.shift(0.1, 3) * 1000)
        },
        ref.timestepsLong());
    var minCfg =
        new UniPCMultistepScheduler.Config(
            1000,
            2,
            null,
            true,
            null,
            3.0,
            UniPCMultistepScheduler.FinalSigmasType.SIGMA_MIN,
            false,
            null,
            0);
    var withMin = new UniPCMultistepScheduler(minCfg);
    withMin.setTimesteps(5);
    double[] ms = withMin.sigmas();
    assertEquals(ms[4], ms[5], 0, "final σ = the last schedule σ");
  }

  @Test
  void stochasticEulerRenoisesWithFreshNoise() {
    var sched =
        new FlowMatchEulerDiscreteScheduler(
            FlowMatchEulerDiscreteScheduler.Config.of(3.0).withStochasticSampling(true));
    try (var s = Scope.open()) {
      sched.setTimesteps(3);
      sched.setBeginIndex(0);
      var e =
          assertThrows(
              IllegalStateException.class,
              () -> sched.step(Tensor.zeros(4), 1000, Tensor.zeros(4)));
      assertTrue(e.getMessage().contains("setGenerator"), e.getMessage());
      sched.setTimesteps(3);
      sched.setBeginIndex(0);
      sched.setGenerator(new Generator(5));
      double[] sg = sched.sigmas(), ts = sched.timesteps();
      Tensor x = Tensor.of(randn(4, 16), 16).to(DType.F32);
      Tensor v = gaussianVelocity(x, sg[0]);
      Tensor out = sched.step(v, ts[0], x);
      // replay: x0 = x − σ0·v, ε from the same stream, (1 − σ1)·x0 + σ1·ε, all float32
      float[] xf = x.toFloatArray(), vf = v.toFloatArray();
      float[] eps = Tensor.randn(new Generator(5), DType.F32, x.device(), 16).toFloatArray();
      float s0 = (float) sg[0], s1 = (float) sg[1];
      for (int i = 0; i < 16; i++) {
        float x0 = xf[i] - s0 * vf[i];
        assertEquals((1f - s1) * x0 + s1 * eps[i], out.toFloatArray()[i], 0f, "element " + i);
      }
    }
  }

  @Test
  void dtypes() {
    try (var s = Scope.open()) {
      var sched = new FlowMatchEulerDiscreteScheduler(5.0);
      sched.setTimesteps(4);
      double[] sg = sched.sigmas(), ts = sched.timesteps();
      Tensor x = Tensor.of(randn(6, 10), 10).to(DType.F32);
      Tensor v = Tensor.of(randn(7, 10), 10).to(DType.BF16);
      Tensor out = sched.step(v, ts[0], x);
      assertEquals(DType.BF16, out.dtype(), "cast back to the model output's dtype");
      // PyTorch: dt (0-dim f32) meets a BF16 tensor as BF16, the sum runs in f32, then BF16
      double dt = Coefficients.roundTo((float) sg[1] - (float) sg[0], DType.BF16);
      double[] vb = v.toDoubleArray(), xf = x.toDoubleArray(), o = out.toDoubleArray();
      for (int i = 0; i < 10; i++) {
        float prod = (float) Coefficients.roundTo((float) (dt * vb[i]), DType.BF16);
        double expect = Coefficients.roundTo((float) (xf[i] + prod), DType.BF16);
        assertEquals(expect, o[i], 0, "element " + i);
      }
      // UniPC keeps the sample's dtype: F64 samples with float32 σ
      var u = new UniPCMultistepScheduler(3.0);
      u.setTimesteps(3);
      Tensor x64 = Tensor.of(randn(8, 10), 10);
      Tensor r = u.step(gaussianVelocity(x64, u.sigmas()[0]), u.timesteps()[0], x64);
      assertEquals(DType.F64, r.dtype());
      u.close();
    }
  }

  @Test
  void errors() {
    try (var s = Scope.open()) {
      var euler = new FlowMatchEulerDiscreteScheduler(3.0);
      var e =
          assertThrows(
              IllegalStateException.class, () -> euler.step(Tensor.zeros(2), 0, Tensor.zeros(2)));
      assertTrue(e.getMessage().contains("setTimesteps"), e.getMessage());
      euler.setTimesteps(2);
      var e2 =
          assertThrows(
              IllegalArgumentException.class,
              () -> euler.step(Tensor.zeros(2, 3), 1000, Tensor.zeros(3, 2)));
      assertTrue(
          e2.getMessage().contains("[2, 3]") && e2.getMessage().contains("[3, 2]"),
          e2.getMessage());
      e2 =
          assertThrows(
              IllegalArgumentException.class,
              () -> euler.step(Tensor.zeros(2), 123.25, Tensor.zeros(2)));
      assertTrue(e2.getMessage().contains("123.25"), e2.getMessage());
      e2 =
          assertThrows(
              IllegalArgumentException.class,
              () -> euler.step(Tensor.arange(2), 1000, Tensor.zeros(2)));
      assertTrue(e2.getMessage().contains("I64"), e2.getMessage());
      double[] ts = euler.timesteps();
      Tensor x = Tensor.zeros(2);
      x = euler.step(Tensor.zeros(2), ts[0], x);
      x = euler.step(Tensor.zeros(2), ts[1], x);
      Tensor last = x;
      e = assertThrows(IllegalStateException.class, () -> euler.step(Tensor.zeros(2), 0, last));
      assertTrue(e.getMessage().contains("steps are done"), e.getMessage());

      var unipc = new UniPCMultistepScheduler(3.0);
      unipc.setTimesteps(10);
      // diffusers: a timestep not in the schedule starts at the last index
      assertEquals(9, unipc.indexForTimestep(-5));
      assertEquals(0, unipc.indexForTimestep(unipc.timesteps()[0]));
      var e7 =
          assertThrows(
              IllegalArgumentException.class,
              () ->
                  new UniPCMultistepScheduler.Config(
                      1000, 2, null, false, null, 3.0, null, false, null, 0));
      assertTrue(e7.getMessage().contains("lower_order_final=false"), e7.getMessage());
      var e3 = assertThrows(IllegalArgumentException.class, () -> unipc.setSigmaDType(DType.BF16));
      assertTrue(e3.getMessage().contains("BF16"), e3.getMessage());
      var e4 =
          assertThrows(
              UnsupportedOperationException.class,
              () ->
                  UniPCMultistepScheduler.Config.fromJson(
                      "{\"use_flow_sigmas\": true, \"prediction_type\": \"epsilon\"}"));
      assertTrue(e4.getMessage().contains("flow_prediction"), e4.getMessage());
      var e5 =
          assertThrows(
              UnsupportedOperationException.class,
              () ->
                  FlowMatchEulerDiscreteScheduler.Config.fromJson("{\"use_karras_sigmas\": true}"));
      assertTrue(e5.getMessage().contains("use_karras_sigmas"), e5.getMessage());
      var e6 =
          assertThrows(
              IllegalArgumentException.class,
              () ->
                  FlowMatchEulerDiscreteScheduler.Config.fromJson(
                      "{\"_class_name\": \"UniPCMultistepScheduler\"}"));
      assertTrue(e6.getMessage().contains("UniPCMultistepScheduler"), e6.getMessage());
    }
  }

  @Test
  void samplingLoopMatchesAManualLoop() {
    double g = 2.5;
    FlowModel model =
        (x, t, c) -> {
          // velocity depends on x, t and the context's mean
          Tensor cm = FlowMatching.perSample(c.mean(new int[] {1, 2}, false), x.dim());
          return x.mul(0.7)
              .sub(x.tanh().mul(0.3))
              .mul(cm)
              .add(FlowMatching.perSample(t.to(x.dtype()).div(1000.0), x.dim()));
        };
    try (var s = Scope.open()) {
      Tensor latents = Tensor.of(randn(9, 2 * 3 * 4), 2, 3, 4).to(DType.F32);
      Tensor ctx = Tensor.of(randn(10, 2 * 5 * 2), 2, 5, 2).add(1.0).to(DType.F32);
      Tensor neg = Tensor.of(randn(11, 2 * 5 * 2), 2, 5, 2).to(DType.F32);
      for (FlowScheduler sched :
          new FlowScheduler[] {
            new UniPCMultistepScheduler(3.0), new FlowMatchEulerDiscreteScheduler(3.0)
          }) {
        sched.setTimesteps(6);
        List<Double> seen = new ArrayList<>();
        Tensor got =
            SamplingLoop.run(sched, model, latents, ctx, neg, g, (i, t, v, x) -> seen.add(t));
        sched.setTimesteps(6);
        sched.setBeginIndex(0);
        double[] ts = sched.timesteps();
        Tensor x = latents;
        for (double t : ts) {
          Tensor tt = Tensor.full(t, sched.timestepDType(), latents.device(), 2);
          Tensor vc = model.predict(x, tt, ctx), vu = model.predict(x, tt, neg);
          x = sched.step(vu.add(vc.sub(vu).mul(g)), t, x);
        }
        assertArrayEquals(x.toDoubleArray(), got.toDoubleArray(), 0, sched.toString());
        assertEquals(Arrays.stream(ts).boxed().toList(), seen);
        assertEquals(latents.toDoubleArray().length, got.toDoubleArray().length);
        sched.close();
      }
    }
  }
}
