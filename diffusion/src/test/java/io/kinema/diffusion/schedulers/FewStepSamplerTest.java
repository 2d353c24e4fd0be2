package io.kinema.diffusion.schedulers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kinema.diffusion.flow.FlowMatching;
import io.kinema.diffusion.flow.FlowModel;
import io.kinema.diffusion.flow.SigmaTable;
import io.kinema.tensor.DType;
import io.kinema.tensor.Generator;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The explicit-timestep few-step path of DMD2 / Self-Forcing students (SDE and ODE re-noising). */
class FewStepSamplerTest {
  private static final double[] STEPS = {1000, 750, 500, 250};

  private static double[] randn(long seed, int n) {
    Random rnd = new Random(seed);
    double[] v = new double[n];
    for (int i = 0; i < n; i++) v[i] = rnd.nextGaussian();
    return v;
  }

  /** Records every call's input and timestep; predicts v = (x − target)/σ(t), i.e. x̂0 = target. */
  private static FlowModel oracle(
      SigmaTable table, Tensor target, List<double[]> inputs, List<Double> ts) {
    return (x, t, c) -> {
      inputs.add(x.toDoubleArray());
      double tv = t.toDoubleArray()[0];
      ts.add(tv);
      return x.sub(target).div(table.sigmaNearest(tv));
    };
  }

  @Test
  void stepListAndSigmas() {
    // FastVideo's DMD stage uses a shift-8 table; nearest lookup gives σ ≈ t/1000
    var dmd = new FewStepSampler(SigmaTable.flowMatchEuler(8.0), STEPS, FewStepSampler.Renoise.SDE);
    assertArrayEquals(new double[] {1.0, 0.75, 0.5, 0.25}, dmd.sigmas(), 2e-3);
    // Self-Forcing warps the steps through its shift-5 table
    SigmaTable sf = SigmaTable.selfForcing(5.0);
    double[] warped = sf.warp(1000, 750, 500, 250);
    assertArrayEquals(new double[] {1000, 937.5, 833.333, 625}, warped, 1e-3);
    var sampler = new FewStepSampler(sf, warped, FewStepSampler.Renoise.SDE);
    assertArrayEquals(new double[] {1.0, 0.9375, 0.833333, 0.625}, sampler.sigmas(), 1e-6);
    var e =
        assertThrows(
            IllegalArgumentException.class,
            () -> new FewStepSampler(sf, new double[] {500, 750}, FewStepSampler.Renoise.SDE));
    assertTrue(e.getMessage().contains("decrease"), e.getMessage());
  }

  @Test
  void sdeRenoisesWithFreshNoiseFromTheGenerator() {
    SigmaTable table = SigmaTable.flowMatchEuler(3.0);
    var sampler = new FewStepSampler(table, STEPS, FewStepSampler.Renoise.SDE);
    double[] sg = sampler.sigmas();
    long[] shape = {2, 3, 4};
    int n = 24;
    try (var s = Scope.open()) {
      Tensor target = Tensor.of(randn(1, n), shape).to(DType.F32);
      Tensor noise = Tensor.of(randn(2, n), shape).to(DType.F32);
      List<double[]> inputs = new ArrayList<>();
      List<Double> ts = new ArrayList<>();
      Tensor out =
          sampler.sample(oracle(table, target, inputs, ts), noise, target, new Generator(7));
      assertEquals(DType.F32, out.dtype());
      assertArrayEquals(target.toDoubleArray(), out.toDoubleArray(), 1e-6, "the last x̂0");
      assertEquals(Arrays.stream(STEPS).boxed().toList(), ts);
      assertArrayEquals(noise.toDoubleArray(), inputs.get(0), 0, "step 0 sees the noise");
      // replay the generator: input k+1 = (1 − σ_{k+1})·x̂0 + σ_{k+1}·ε_k, ε_k ~ N in x0's dtype
      Generator replay = new Generator(7);
      double[] tgt = target.toDoubleArray();
      for (int k = 0; k + 1 < STEPS.length; k++) {
        double[] eps = Tensor.randn(replay, DType.F32, target.device(), shape).toDoubleArray();
        for (int i = 0; i < n; i++) {
          double expect = (1 - sg[k + 1]) * tgt[i] + sg[k + 1] * eps[i];
          assertEquals(expect, inputs.get(k + 1)[i], 2e-6, "input of step " + (k + 1));
        }
      }
      // reproducible from the seed; another seed re-noises differently (same x̂0 here)
      List<double[]> again = new ArrayList<>();
      sampler.sample(
          oracle(table, target, again, new ArrayList<>()), noise, target, new Generator(7));
      for (int k = 0; k < STEPS.length; k++) assertArrayEquals(inputs.get(k), again.get(k), 0);
      List<double[]> other = new ArrayList<>();
      sampler.sample(
          oracle(table, target, other, new ArrayList<>()), noise, target, new Generator(8));
      assertFalse(Arrays.equals(inputs.get(1), other.get(1)));
    }
  }

  @Test
  void odeFollowsTheStraightPath() {
    // a constant velocity ε0 − x0* is the exact flow of one pair: the ODE re-noising recovers ε0,
    // so every model input lies on (1 − σ_k)·x0* + σ_k·ε0
    SigmaTable table = SigmaTable.selfForcing(5.0);
    double[] steps = table.warp(1000, 750, 500, 250);
    var sampler = new FewStepSampler(table, steps, FewStepSampler.Renoise.ODE);
    double[] sg = sampler.sigmas();
    int n = 30;
    try (var s = Scope.open()) {
      double[] x0 = randn(3, n), e0 = randn(4, n);
      Tensor tx0 = Tensor.of(x0, 5, 6), te0 = Tensor.of(e0, 5, 6);
      Tensor v = te0.sub(tx0);
      List<double[]> inputs = new ArrayList<>();
      FlowModel model =
          (x, t, c) -> {
            inputs.add(x.toDoubleArray());
            return v.alias();
          };
      Tensor start = FlowMatching.addNoise(tx0, te0, sg[0]);
      Generator g = new Generator(1);
      Tensor out = sampler.sample(model, start, tx0, g);
      assertEquals(0, g.offset(), "ODE re-noising draws no noise");
      assertEquals(DType.F64, out.dtype());
      assertArrayEquals(x0, out.toDoubleArray(), 1e-12);
      for (int k = 0; k < steps.length; k++) {
        for (int i = 0; i < n; i++) {
          assertEquals((1 - sg[k]) * x0[i] + sg[k] * e0[i], inputs.get(k)[i], 1e-12, "step " + k);
        }
      }
    }
  }

  @Test
  void stepwiseApiAndGuidance() {
    SigmaTable table = SigmaTable.flowMatchEuler(3.0);
    var sampler = new FewStepSampler(table, STEPS, FewStepSampler.Renoise.SDE);
    try (var s = Scope.open()) {
      Tensor x = Tensor.of(randn(5, 12), 3, 4).to(DType.BF16);
      Tensor v = Tensor.of(randn(6, 12), 3, 4).to(DType.BF16);
      Tensor x0 = sampler.predictX0(x, v, 1);
      assertEquals(DType.BF16, x0.dtype(), "x̂0 in v's dtype");
      double[] xd = x.toDoubleArray(), vd = v.toDoubleArray();
      double sig = sampler.sigmas()[1];
      for (int i = 0; i < 12; i++) {
        double expect = Coefficients.roundTo(xd[i] - sig * vd[i], DType.BF16);
        assertEquals(expect, x0.toDoubleArray()[i], 0, "x̂0 computed in F64, rounded once");
      }
      var e =
          assertThrows(
              IllegalArgumentException.class, () -> sampler.renoise(x0, x, 3, new Generator(1)));
      assertTrue(e.getMessage().contains("last"), e.getMessage());
      e = assertThrows(IllegalArgumentException.class, () -> sampler.renoise(x0, x, 0, null));
      assertTrue(e.getMessage().contains("generator"), e.getMessage());
      // guidance: the sampler combines uncond + g·(cond − uncond) before converting to x̂0
      Tensor target = Tensor.of(randn(7, 12), 3, 4);
      Tensor cond = Tensor.ones(DType.F64, 3, 2), uncond = Tensor.zeros(DType.F64, 3, 2);
      FlowModel m =
          (xx, t, c) -> {
            double sg = table.sigmaNearest(t.toDoubleArray()[0]);
            // the conditional branch points at target, the unconditional one at 0
            Tensor toward = c.sum().item() > 0 ? target : Tensor.zerosLike(target);
            return xx.sub(toward).div(sg);
          };
      double g = 3.0;
      Tensor out =
          sampler.sample(m, Tensor.of(randn(8, 12), 3, 4), cond, uncond, g, new Generator(2));
      // x̂0 = g·target + (1 − g)·0 at every step
      double[] tg = target.toDoubleArray();
      for (int i = 0; i < 12; i++) assertEquals(g * tg[i], out.toDoubleArray()[i], 1e-12);
    }
  }
}
