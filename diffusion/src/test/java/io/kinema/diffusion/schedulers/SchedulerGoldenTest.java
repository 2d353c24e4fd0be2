package io.kinema.diffusion.schedulers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kinema.tensor.DType;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.io.SafetensorsFile;
import java.nio.file.Path;
import java.util.Locale;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Parity with the tensors diffusers' own schedulers produced ({@code ../shared/golden/schedulers},
 * see its README): schedules, and every intermediate of the 20-step WanPipeline loop with the
 * README's toy model — run free (our toy model, our samples) and teacher-forced (the golden model
 * output and sample fed into each step, isolating the scheduler).
 */
class SchedulerGoldenTest {
  /** Relative to each tensor's scale; the f32 loops mirror diffusers' float32 arithmetic. */
  private static final double TOL_F32 = 1e-6;

  /** The f64 UniPC loop: only libm differences (log, expm1, tanh) remain. */
  private static final double TOL_F64 = 1e-14;

  private static Path dir;

  @BeforeAll
  static void locate() {
    dir = Golden.folder("schedulers");
  }

  /** The README's toy model: {@code 0.7·x − 0.3·tanh(x) + 0.01·t/1000}, in x's dtype. */
  static Tensor toyModel(Tensor x, double t) {
    double c = 0.01 * t / 1000.0;
    return x.mul(0.7).sub(x.tanh().mul(0.3)).add(c);
  }

  private static double[] d(Tensor t) {
    return t.toDoubleArray();
  }

  private static void check(String what, double[] expected, double[] actual, double tol) {
    double rel = Golden.relToScale(expected, actual);
    System.out.printf(
        Locale.ROOT,
        "%-58s max|err| %.3e  rel-to-scale %.3e%n",
        what,
        Golden.maxAbs(expected, actual),
        rel);
    assertTrue(rel <= tol, what + ": error " + rel + " relative to scale exceeds " + tol);
  }

  // ---------------------------------------------------------------- FlowMatchEuler

  @ParameterizedTest
  @ValueSource(ints = {3, 5})
  void eulerSchedules(int shift) throws Exception {
    var config =
        FlowMatchEulerDiscreteScheduler.Config.fromJson(
            dir.resolve("flow_match_euler_shift" + shift + ".scheduler_config.json"));
    assertEquals(FlowMatchEulerDiscreteScheduler.Config.of(shift), config);
    try (var s = Scope.open();
        var f =
            SafetensorsFile.open(dir.resolve("flow_match_euler_shift" + shift + ".safetensors"))) {
      var sched = new FlowMatchEulerDiscreteScheduler(config);
      for (String prefix : new String[] {"set_timesteps_50", "loop20"}) {
        int n = prefix.equals("loop20") ? 20 : 50;
        sched.setTimesteps(n);
        // float32 values computed with diffusers' rounding: bit-identical
        assertArrayEquals(d(f.get(prefix + ".timesteps")), sched.timesteps(), 0.0, prefix);
        assertArrayEquals(d(f.get(prefix + ".sigmas")), sched.sigmas(), 0.0, prefix);
      }
    }
  }

  @ParameterizedTest
  @ValueSource(ints = {3, 5})
  void eulerLoop20(int shift) throws Exception {
    String name = "flow_match_euler_shift" + shift;
    try (var s = Scope.open();
        var f = SafetensorsFile.open(dir.resolve(name + ".safetensors"))) {
      Tensor init = f.get("loop20.latent_init");
      Tensor outs = f.get("loop20.model_outputs");
      Tensor samples = f.get("loop20.samples");
      var sched = new FlowMatchEulerDiscreteScheduler(shift);
      sched.setTimesteps(20);
      sched.setBeginIndex(0);
      double[] ts = sched.timesteps();
      // free-running: our toy model on our samples
      Tensor x = init;
      double worstV = 0, worstX = 0;
      for (int i = 0; i < 20; i++) {
        Tensor v = toyModel(x, ts[i]);
        x = sched.step(v, ts[i], x);
        worstV = Math.max(worstV, Golden.relToScale(d(outs.select(0, i)), d(v)));
        worstX = Math.max(worstX, Golden.relToScale(d(samples.select(0, i)), d(x)));
        check(name + " free step " + i + " sample", d(samples.select(0, i)), d(x), TOL_F32);
      }
      System.out.printf(
          Locale.ROOT,
          "%s free: worst model output %.3e, worst sample %.3e%n",
          name,
          worstV,
          worstX);
      // teacher-forced: golden inputs, one step at a time
      sched.setTimesteps(20);
      sched.setBeginIndex(0);
      for (int i = 0; i < 20; i++) {
        Tensor xin = i == 0 ? init : samples.select(0, i - 1);
        Tensor out = sched.step(outs.select(0, i), ts[i], xin);
        assertEquals(DType.F32, out.dtype());
        assertArrayEquals(d(samples.select(0, i)), d(out), 0.0, name + " forced step " + i);
      }
    }
  }

  // ---------------------------------------------------------------- UniPC

  @ParameterizedTest
  @ValueSource(ints = {3, 5})
  void unipcSchedules(int shift) throws Exception {
    var config =
        UniPCMultistepScheduler.Config.fromJson(
            dir.resolve("unipc_flow_shift" + shift + ".scheduler_config.json"));
    assertEquals(UniPCMultistepScheduler.Config.wan(shift), config);
    try (var s = Scope.open();
        var f = SafetensorsFile.open(dir.resolve("unipc_flow_shift" + shift + ".safetensors"))) {
      var sched = new UniPCMultistepScheduler(config);
      for (String prefix : new String[] {"set_timesteps_50", "loop20", "loop20_f64"}) {
        int n = prefix.equals("set_timesteps_50") ? 50 : 20;
        sched.setTimesteps(n);
        assertArrayEquals(
            f.get(prefix + ".timesteps").toLongArray(), sched.timestepsLong(), prefix);
        assertArrayEquals(d(f.get(prefix + ".sigmas")), sched.sigmas(), 0.0, prefix);
      }
    }
  }

  @ParameterizedTest
  @ValueSource(ints = {3, 5})
  void unipcLoop20F32(int shift) throws Exception {
    unipcLoop(shift, "loop20", DType.F32, TOL_F32);
  }

  @ParameterizedTest
  @ValueSource(ints = {3, 5})
  void unipcLoop20F64(int shift) throws Exception {
    unipcLoop(shift, "loop20_f64", DType.F64, TOL_F64);
  }

  private void unipcLoop(int shift, String prefix, DType sigmaDType, double tol) throws Exception {
    String name = "unipc_flow_shift" + shift + " " + prefix;
    try (var s = Scope.open();
        var f = SafetensorsFile.open(dir.resolve("unipc_flow_shift" + shift + ".safetensors"));
        var sched = new UniPCMultistepScheduler(shift)) {
      Tensor init = f.get(prefix + ".latent_init");
      Tensor outs = f.get(prefix + ".model_outputs");
      Tensor samples = f.get(prefix + ".samples");
      Tensor x0s = f.get(prefix + ".x0_pred");
      Tensor corrected = f.get(prefix + ".corrected_sample");
      long[] orders = f.get(prefix + ".order").toLongArray();
      sched.setSigmaDType(sigmaDType);
      sched.setTimesteps(20);
      sched.setBeginIndex(0);
      double[] ts = sched.timesteps();
      for (boolean forced : new boolean[] {false, true}) {
        sched.setTimesteps(20);
        sched.setBeginIndex(0);
        Tensor x = init;
        double worst = 0;
        for (int i = 0; i < 20; i++) {
          Tensor xin = forced ? (i == 0 ? init : samples.select(0, i - 1)) : x;
          Tensor v = forced ? outs.select(0, i) : toyModel(x, ts[i]);
          if (!forced) {
            check(name + " step " + i + " model output", d(outs.select(0, i)), d(v), tol);
          }
          x = sched.step(v, ts[i], xin);
          assertEquals(init.dtype(), x.dtype());
          assertEquals(orders[i], sched.thisOrder(), name + " order at step " + i);
          String tag = name + (forced ? " forced" : " free") + " step " + i;
          check(tag + " x0_pred", d(x0s.select(0, i)), d(sched.lastModelOutput()), tol);
          check(tag + " corrected", d(corrected.select(0, i)), d(sched.lastSample()), tol);
          check(tag + " sample", d(samples.select(0, i)), d(x), tol);
          if (forced && sigmaDType == DType.F32) {
            // Fed diffusers' own inputs, the float32 step reproduces diffusers bit for bit
            // (coefficients rounded as PyTorch rounds them, the ρ solve in LAPACK's order).
            assertArrayEquals(d(samples.select(0, i)), d(x), 0.0, tag);
            assertArrayEquals(d(corrected.select(0, i)), d(sched.lastSample()), 0.0, tag);
            assertArrayEquals(d(x0s.select(0, i)), d(sched.lastModelOutput()), 0.0, tag);
          }
          worst = Math.max(worst, Golden.relToScale(d(samples.select(0, i)), d(x)));
        }
        System.out.printf(
            Locale.ROOT,
            "%s %s: worst sample error %.3e%n",
            name,
            forced ? "forced" : "free",
            worst);
      }
    }
  }
}
