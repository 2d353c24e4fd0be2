package io.kinema.nn.optim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kinema.nn.Module;
import io.kinema.nn.Parameter;
import io.kinema.tensor.DType;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.io.Safetensors;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Trains the MLP of {@code tests/python/optim_crosscheck.py} with our optimizers and compares the
 * final weights and the losses with PyTorch 1.13's (committed in {@code
 * optim_crosscheck.safetensors}), in F32 and F64; also the LR schedules against LambdaLR.
 */
class OptimCrossCheckTest {
  private static final int STEPS = 20;
  private static final String[] NAMES = {"w1", "b1", "w2", "b2"};
  private static Map<String, Tensor> ref;

  @BeforeAll
  static void load() throws Exception {
    Path p =
        Path.of(
            OptimCrossCheckTest.class
                .getResource("/io/kinema/nn/optim/optim_crosscheck.safetensors")
                .toURI());
    ref = Safetensors.load(p);
  }

  @AfterAll
  static void close() {
    for (Tensor t : ref.values()) t.close();
  }

  /** The script's 4 -> 8 -> 3 tanh MLP. */
  static final class Mlp extends Module {
    final Parameter w1, b1, w2, b2;

    Mlp(DType dt) {
      try (var s = Scope.open()) {
        w1 = registerParameter("w1", ref.get("init.w1").to(dt).copy());
        b1 = registerParameter("b1", ref.get("init.b1").to(dt).copy());
        w2 = registerParameter("w2", ref.get("init.w2").to(dt).copy());
        b2 = registerParameter("b2", ref.get("init.b2").to(dt).copy());
      }
    }

    Tensor forward(Tensor x) {
      return x.matmul(w1.data().t()).add(b1.data()).tanh().matmul(w2.data().t()).add(b2.data());
    }
  }

  private record Run(
      Function<List<Parameter>, Optimizer> make,
      double clip,
      Function<Optimizer, LRScheduler> schedule) {
    Run(Function<List<Parameter>, Optimizer> make) {
      this(make, 0, null);
    }
  }

  private static double check(String name, Run run, DType dt, double tol) {
    String tag = dt == DType.F32 ? "f32" : "f64";
    double[] losses = new double[STEPS];
    double[] norms = new double[STEPS];
    double maxErr = 0;
    try (Mlp mlp = new Mlp(dt);
        Optimizer opt = run.make.apply(mlp.parameters());
        var outer = Scope.open()) {
      LRScheduler sched = run.schedule == null ? null : run.schedule.apply(opt);
      Tensor x = ref.get("x").to(dt);
      Tensor y = ref.get("y").to(dt);
      for (int i = 0; i < STEPS; i++) {
        try (var s = Scope.open()) {
          opt.zeroGrad();
          Tensor loss = mlp.forward(x).sub(y).square().mean();
          loss.backward();
          losses[i] = loss.item();
          if (run.clip > 0) norms[i] = GradClip.clipGradNorm(mlp.parameters(), run.clip);
          opt.step();
          if (sched != null) sched.step();
        }
      }
      maxErr = Math.max(maxErr, relErr(losses, ref.get(name + "." + tag + ".losses")));
      if (run.clip > 0)
        maxErr = Math.max(maxErr, relErr(norms, ref.get(name + "." + tag + ".norms")));
      for (String n : NAMES) {
        double[] got = mlp.namedParameters().get(n).data().toDoubleArray();
        maxErr = Math.max(maxErr, relErr(got, ref.get(name + "." + tag + "." + n)));
      }
    }
    System.out.printf("cross-check %-18s %s: max relative error %.3e%n", name, tag, maxErr);
    assertTrue(maxErr <= tol, name + " " + tag + ": max relative error " + maxErr + " > " + tol);
    return maxErr;
  }

  /**
   * max |a - b| / max(|b|, 1e-2): relative error, with a floor so that an element that crossed zero
   * (|b| ~ 1e-4 while the weights are ~0.3) is held to 1e-7 absolute (~3 F32 ulps of the weights)
   * rather than to a relative error its rounding history cannot give.
   */
  private static double relErr(double[] got, Tensor expected) {
    double[] want = expected.toDoubleArray();
    assertEquals(want.length, got.length);
    double m = 0;
    for (int i = 0; i < got.length; i++)
      m = Math.max(m, Math.abs(got[i] - want[i]) / Math.max(Math.abs(want[i]), 1e-2));
    return m;
  }

  private static void both(String name, Run run) {
    check(name, run, DType.F32, 1e-5);
    check(name, run, DType.F64, 1e-11);
  }

  @Test
  void adamW() {
    both("adamw", new Run(ps -> new AdamW(ps, AdamW.config().lr(1e-2).weightDecay(0.01))));
  }

  @Test
  void adamWAmsgrad() {
    both(
        "adamw_amsgrad",
        new Run(
            ps ->
                new AdamW(
                    ps,
                    AdamW.config()
                        .lr(1e-2)
                        .betas(0.8, 0.95)
                        .eps(1e-6)
                        .weightDecay(0.05)
                        .amsgrad(true))));
  }

  @Test
  void adam() {
    both("adam", new Run(ps -> new Adam(ps, Adam.config().lr(1e-2).weightDecay(0.01))));
  }

  @Test
  void sgdNesterov() {
    both(
        "sgd_nesterov",
        new Run(ps -> new SGD(ps, SGD.config(0.1).momentum(0.9).nesterov(true).weightDecay(1e-3))));
  }

  @Test
  void sgdDampening() {
    both("sgd_dampening", new Run(ps -> new SGD(ps, SGD.config(0.1).momentum(0.8).dampening(0.3))));
  }

  @Test
  void adamWWithClippingAndCosineSchedule() {
    both(
        "adamw_clip_cosine",
        new Run(
            ps -> new AdamW(ps, AdamW.config().lr(3e-2).weightDecay(0.01)),
            0.25,
            opt -> LRScheduler.cosine(opt, 5, STEPS)));
  }

  @Test
  void schedulesMatchLambdaLR() {
    try (Params m = new Params()) {
      Parameter p = m.add("p", 0.0);
      Optimizer opt = new SGD(List.of(p), SGD.config(1e-3));
      Map<String, Function<Optimizer, LRScheduler>> scheds =
          Map.of(
              "constant", o -> LRScheduler.get("constant", o, null, null),
              "constant_with_warmup", o -> LRScheduler.get("constant_with_warmup", o, 10L, null),
              "linear", o -> LRScheduler.get("linear", o, 10L, 50L),
              "cosine", o -> LRScheduler.get("cosine", o, 10L, 50L),
              "cosine_with_restarts",
                  o -> LRScheduler.get("cosine_with_restarts", o, null, 10L, 50L, 3, 1.0),
              "polynomial", o -> LRScheduler.get("polynomial", o, null, 10L, 50L, 1, 2.0),
              "piecewise_constant",
                  o ->
                      LRScheduler.get(
                          "piecewise_constant", o, "1:10,0.1:20,0.01:30,0.005", null, null, 1, 1));
      for (var e : scheds.entrySet()) {
        opt.paramGroups().get(0).lr(1e-3);
        opt.paramGroups().get(0).set(Optimizer.INITIAL_LR, 1e-3);
        LRScheduler s = e.getValue().apply(opt);
        double[] want = ref.get("sched." + e.getKey()).toDoubleArray();
        for (int i = 0; i < want.length; i++) {
          if (i > 0) s.step();
          assertEquals(
              want[i], s.lastLr()[0], 1e-15 + 1e-12 * Math.abs(want[i]), e.getKey() + " step " + i);
          assertEquals(s.lastLr()[0], opt.paramGroups().get(0).lr());
        }
      }
      opt.close();
    }
  }
}
