package io.kinema.nn.optim;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kinema.nn.Parameter;
import io.kinema.tensor.Backends;
import io.kinema.tensor.DType;
import io.kinema.tensor.Device;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import java.util.function.Function;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Each optimizer's update rule, groups, skipping, state dicts, mixed precision, errors. */
class OptimizerTest {
  private static final double TOL = 1e-13;

  private static void assertValues(double[] want, Parameter p, double tol) {
    double[] got = p.data().toDoubleArray();
    assertEquals(want.length, got.length);
    for (int i = 0; i < want.length; i++)
      assertEquals(want[i], got[i], tol * Math.max(1, Math.abs(want[i])), "element " + i);
  }

  // ---------------------------------------------------------------- update rules

  @Test
  void adamWFirstStepIsSignTimesLrAfterDecay() {
    try (Params m = new Params()) {
      Parameter p = m.add("p", 1, -2, 3);
      try (AdamW opt = new AdamW(List.of(p), AdamW.config().lr(0.1).weightDecay(0.1))) {
        Params.grad(p, 0.1, -0.2, 0.3);
        opt.step();
        // m = 0.1 g, v = 0.001 g^2: after bias correction m/(sqrt(v)+eps) = g / (|g| + eps).
        double[] w = {1, -2, 3}, g = {0.1, -0.2, 0.3};
        double[] want = new double[3];
        for (int i = 0; i < 3; i++)
          want[i] = w[i] * (1 - 0.01) - 0.1 * g[i] / (Math.abs(g[i]) + 1e-8);
        assertValues(want, p, TOL);
        ParamState st = opt.state(p);
        assertEquals(1, st.step());
        assertArrayEquals(
            new double[] {0.01, -0.02, 0.03}, st.get("exp_avg").toDoubleArray(), 1e-15);
        assertArrayEquals(
            new double[] {1e-5, 4e-5, 9e-5}, st.get("exp_avg_sq").toDoubleArray(), 1e-18);
      }
    }
  }

  /** A scalar AdamW/Adam reference (double), n steps with the given grads. */
  private static double[] adamReference(
      double[] w,
      double[][] grads,
      double lr,
      double b1,
      double b2,
      double eps,
      double wd,
      boolean decoupled,
      boolean amsgrad) {
    double[] p = w.clone(), m = new double[w.length], v = new double[w.length];
    double[] vmax = new double[w.length];
    for (int t = 1; t <= grads.length; t++) {
      for (int i = 0; i < p.length; i++) {
        double g = grads[t - 1][i];
        if (decoupled) p[i] *= 1 - lr * wd;
        else g += wd * p[i];
        m[i] = b1 * m[i] + (1 - b1) * g;
        v[i] = b2 * v[i] + (1 - b2) * g * g;
        vmax[i] = Math.max(vmax[i], v[i]);
        double second = amsgrad ? vmax[i] : v[i];
        double denom = Math.sqrt(second) / Math.sqrt(1 - Math.pow(b2, t)) + eps;
        p[i] -= lr / (1 - Math.pow(b1, t)) * m[i] / denom;
      }
    }
    return p;
  }

  private static double[][] randomGrads(Random r, int steps, int n) {
    double[][] g = new double[steps][n];
    for (double[] row : g) for (int i = 0; i < n; i++) row[i] = r.nextGaussian();
    return g;
  }

  @Test
  void adamAndAdamWFollowTheReferenceOverSeveralSteps() {
    Random r = new Random(1);
    double[] w = {0.5, -1.5, 2.0, 0.0, 3.0};
    double[][] grads = randomGrads(r, 6, w.length);
    for (boolean decoupled : new boolean[] {true, false}) {
      for (boolean amsgrad : new boolean[] {false, true}) {
        try (Params m = new Params()) {
          Parameter p = m.add("p", w);
          Adam.Config c =
              (decoupled ? AdamW.config() : Adam.config())
                  .lr(0.05)
                  .betas(0.8, 0.9)
                  .eps(1e-3)
                  .weightDecay(0.2)
                  .amsgrad(amsgrad);
          Optimizer opt = decoupled ? new AdamW(List.of(p), c) : new Adam(List.of(p), c);
          for (double[] g : grads) {
            Params.grad(p, g);
            opt.step();
          }
          assertValues(
              adamReference(w, grads, 0.05, 0.8, 0.9, 1e-3, 0.2, decoupled, amsgrad), p, TOL);
          assertEquals(amsgrad, opt.state(p).get("max_exp_avg_sq") != null);
          opt.close();
        }
      }
    }
  }

  @Test
  void sgdNesterovByHand() {
    try (Params m = new Params()) {
      Parameter p = m.add("p", 1.0);
      try (SGD opt = new SGD(List.of(p), SGD.config(0.1).momentum(0.9).nesterov(true))) {
        Params.grad(p, 1.0);
        opt.step(); // buf = 1, d = 1 + 0.9 * 1 = 1.9
        assertValues(new double[] {1 - 0.19}, p, TOL);
        Params.grad(p, 1.0);
        opt.step(); // buf = 0.9 + 1 = 1.9, d = 1 + 0.9 * 1.9 = 2.71
        assertValues(new double[] {0.81 - 0.271}, p, TOL);
        assertEquals(1.9, opt.state(p).get("momentum_buffer").item(), 1e-15);
      }
    }
  }

  @Test
  void sgdMomentumDampeningWeightDecayAndMaximize() {
    try (Params m = new Params()) {
      Parameter p = m.add("p", 2.0);
      try (SGD opt =
          new SGD(
              List.of(p),
              SGD.config(0.1).momentum(0.5).dampening(0.5).weightDecay(0.25).maximize(true))) {
        Params.grad(p, 1.0);
        opt.step(); // d = -1 + 0.25 * 2 = -0.5; buf = d; p = 2 + 0.05
        assertValues(new double[] {2.05}, p, TOL);
        Params.grad(p, 1.0);
        opt.step(); // d = -1 + 0.5125 = -0.4875; buf = -0.25 - 0.24375 = -0.49375
        assertValues(new double[] {2.05 + 0.049375}, p, TOL);
      }
    }
    try (Params m = new Params()) {
      Parameter p = m.add("p", 2.0);
      try (SGD opt = new SGD(List.of(p), SGD.config(0.5))) {
        Params.grad(p, 3.0);
        opt.step();
        assertValues(new double[] {0.5}, p, TOL);
        assertNull(opt.state(p).get("momentum_buffer"), "plain SGD keeps no momentum buffer");
      }
    }
  }

  @Test
  void lionByHand() {
    try (Params m = new Params()) {
      Parameter p = m.add("p", 1, -1, 0.5);
      try (Lion opt = new Lion(List.of(p), Lion.config().lr(0.01).weightDecay(0.5))) {
        Params.grad(p, 0.3, -0.2, 0);
        opt.step(); // direction sign(0.1 g) = [1, -1, 0]; m = 0.01 g
        double shrink = 1 - 0.01 * 0.5;
        double[] p1 = {1 * shrink - 0.01, -1 * shrink + 0.01, 0.5 * shrink};
        assertValues(p1, p, TOL);
        assertArrayEquals(
            new double[] {0.003, -0.002, 0}, opt.state(p).get("exp_avg").toDoubleArray(), 1e-15);
        Params.grad(p, -0.01, 0.5, 1e-3);
        opt.step(); // 0.9 m + 0.1 g = [0.0017, 0.0482, 1e-4]
        double[] p2 = {p1[0] * shrink - 0.01, p1[1] * shrink - 0.01, p1[2] * shrink - 0.01};
        assertValues(p2, p, TOL);
      }
    }
  }

  // ---------------------------------------------------------------- groups, skipping

  @Test
  void groupsUseTheirOwnOptionsAndFallBackToDefaults() {
    try (Params m = new Params()) {
      Parameter a = m.add("a", 1.0), b = m.add("b", 1.0), c = m.add("c", 1.0);
      ParamGroup fast = ParamGroup.of(a, b).lr(0.5);
      ParamGroup slow = ParamGroup.of(c);
      try (SGD opt = new SGD(List.of(fast, slow), SGD.config(0.1))) {
        assertEquals(0.1, slow.lr());
        assertEquals(0.0, slow.getDouble("momentum"));
        for (Parameter p : List.of(a, b, c)) Params.grad(p, 1.0);
        opt.step();
        assertValues(new double[] {0.5}, a, TOL);
        assertValues(new double[] {0.5}, b, TOL);
        assertValues(new double[] {0.9}, c, TOL);
        // Options can change between steps (what schedulers do).
        slow.lr(0.2);
        Params.grad(c, 1.0);
        a.data().zeroGrad();
        b.data().zeroGrad();
        opt.step();
        assertValues(new double[] {0.7}, c, TOL);
      }
    }
  }

  @Test
  void parametersWithoutGradAreSkipped() {
    try (Params m = new Params()) {
      Parameter a = m.add("a", 1, 2), b = m.add("b", 3, 4);
      try (AdamW opt = new AdamW(m.parameters(), AdamW.config())) {
        Params.grad(a, 1, 1);
        opt.step();
        opt.step(); // grads are kept until zeroGrad: a is updated twice
        assertValues(new double[] {3, 4}, b, 0);
        assertNull(opt.state(b));
        assertEquals(2, opt.state(a).step());
        opt.zeroGrad();
        assertNull(a.grad());
        double[] before = a.data().toDoubleArray();
        opt.step();
        assertArrayEquals(before, a.data().toDoubleArray(), 0);
        assertEquals(2, opt.state(a).step());
      }
    }
  }

  @Test
  void badConfigurationsAreRejected() {
    try (Params m = new Params()) {
      Parameter a = m.add("a", 1.0), b = m.add("b", 1.0);
      var e =
          assertThrows(
              IllegalArgumentException.class,
              () -> new SGD(List.of(ParamGroup.of(a).set("betas", 0.9)), SGD.config(0.1)));
      assertTrue(e.getMessage().contains("SGD: unknown option 'betas'"), e.getMessage());
      e =
          assertThrows(
              IllegalArgumentException.class,
              () -> new SGD(List.of(ParamGroup.of(a).set("nesterov", 1.0)), SGD.config(0.1)));
      assertTrue(e.getMessage().contains("'nesterov' must be a boolean"), e.getMessage());
      e =
          assertThrows(
              IllegalArgumentException.class,
              () -> new SGD(List.of(ParamGroup.of(a, b), ParamGroup.of(b)), SGD.config(0.1)));
      assertTrue(e.getMessage().contains("appears more than once"), e.getMessage());
      e =
          assertThrows(
              IllegalArgumentException.class,
              () -> new SGD(List.of(a), SGD.config(0.1).nesterov(true)));
      assertTrue(e.getMessage().contains("Nesterov momentum requires"), e.getMessage());
      e =
          assertThrows(
              IllegalArgumentException.class,
              () -> new AdamW(List.of(a), AdamW.config().betas(0.9, 1.0)));
      assertTrue(e.getMessage().contains("AdamW: invalid beta2 1.0"), e.getMessage());
      e =
          assertThrows(
              IllegalArgumentException.class, () -> new Adam(List.of(a), Adam.config().lr(-1)));
      assertTrue(e.getMessage().contains("Adam: invalid lr -1.0"), e.getMessage());
      e =
          assertThrows(
              IllegalArgumentException.class, () -> new Lion(List.<Parameter>of(), Lion.config()));
      assertTrue(e.getMessage().contains("empty parameter list"), e.getMessage());
    }
  }

  // ---------------------------------------------------------------- mixed precision

  @Test
  void masterWeightsKeepUpdatesSmallerThanABf16Ulp() {
    for (boolean master : new boolean[] {true, false}) {
      try (Params m = new Params();
          var s = Scope.open()) {
        Parameter p = m.add("p", Tensor.ones(DType.BF16, 4));
        try (SGD opt = new SGD(List.of(p), SGD.config(1e-3).masterWeights(master))) {
          for (int i = 0; i < 10; i++) {
            Params.grad(p, 1, 1, 1, 1);
            opt.step();
          }
          assertEquals(DType.BF16, p.data().dtype());
          if (master) {
            Tensor mw = opt.state(p).get("master");
            assertEquals(DType.F32, mw.dtype());
            assertEquals(0.99, mw.toDoubleArray()[0], 1e-6);
            // bf16 neighbours of 0.99 are 0.98828125 and 0.9921875.
            assertEquals(0.98828125, p.data().toDoubleArray()[0]);
          } else {
            assertNull(opt.state(p).get("master"));
            assertEquals(1.0, p.data().toDoubleArray()[0], "each 1e-3 step rounds away");
          }
        }
      }
    }
  }

  @Test
  void adamWStateOfHalfParametersIsF32AndFollowsTheF32Run() {
    Random r = new Random(3);
    double[] w = new double[37];
    for (int i = 0; i < w.length; i++) w[i] = r.nextGaussian();
    double[][] grads = randomGrads(r, 5, w.length);
    for (DType dt : new DType[] {DType.BF16, DType.F16}) {
      try (Params m = new Params();
          var s = Scope.open()) {
        Parameter p = m.add("p", Tensor.of(w, w.length).to(dt));
        double[] w0 = p.data().toDoubleArray();
        try (AdamW opt = new AdamW(List.of(p), AdamW.config().lr(1e-2))) {
          for (double[] g : grads) {
            Params.grad(p, Tensor.of(g, g.length).to(dt));
            opt.step();
          }
          assertEquals(DType.F32, opt.state(p).get("exp_avg").dtype());
          assertEquals(DType.F32, opt.state(p).get("exp_avg_sq").dtype());
          double[][] g16 = new double[grads.length][];
          for (int i = 0; i < grads.length; i++)
            g16[i] = Tensor.of(grads[i], w.length).to(dt).toDoubleArray();
          double[] want = adamReference(w0, g16, 1e-2, 0.9, 0.999, 1e-8, 1e-2, true, false);
          assertArrayEquals(want, opt.state(p).get("master").toDoubleArray(), 1e-5);
          double[] rounded = Tensor.of(want, want.length).to(dt).toDoubleArray();
          double ulp = dt == DType.BF16 ? 1.0 / 128 : 1.0 / 1024;
          assertArrayEquals(rounded, p.data().toDoubleArray(), 4 * ulp);
        }
      }
    }
  }

  @Test
  void slotsStayValidWhenTheModuleChangesDtype() {
    try (Params m = new Params();
        var s = Scope.open()) {
      Parameter p = m.add("p", Tensor.of(new float[] {1, 2, 3}, 3));
      try (AdamW opt = new AdamW(m.parameters(), AdamW.config().lr(0.1).weightDecay(0))) {
        Params.grad(p, 1, 1, 1);
        opt.step();
        assertNull(opt.state(p).get("master"));
        m.to(DType.BF16);
        Params.grad(p, 1, 1, 1);
        opt.step();
        assertEquals(DType.BF16, p.data().dtype());
        assertNotNull(opt.state(p).get("master"));
        // The master starts from the converted (rounded) weights, then takes a ~-0.1 step.
        double[] want = Tensor.of(new double[] {0.9, 1.9, 2.9}, 3).to(DType.BF16).toDoubleArray();
        for (int i = 0; i < 3; i++) want[i] -= 0.1;
        assertArrayEquals(want, opt.state(p).get("master").toDoubleArray(), 1e-6);
      }
    }
  }

  @Test
  void noTensorLeaksOutsideAnyScope() {
    var backend = Backends.of(Device.CPU);
    long before = backend.memoryStats().allocated();
    Params m = model(new Random(8));
    List<Optimizer> opts =
        List.of(
            new AdamW(groups(m), AdamW.config().amsgrad(true)),
            new Adam(m.trainableParameters(), Adam.config().weightDecay(0.1).maximize(true)),
            new SGD(m.trainableParameters(), SGD.config(0.1).momentum(0.9).weightDecay(0.1)),
            new Lion(m.trainableParameters(), Lion.config().weightDecay(0.1)));
    EMA ema = new EMA(m.namedParameters(), EMA.config());
    fakeGrads(m.trainableParameters(), 0);
    long afterFirst = 0;
    for (int i = 0; i < 3; i++) {
      for (Optimizer o : opts) o.step();
      GradClip.clipGradNorm(m.parameters(), 0.1);
      ema.update();
      ema.swapIn();
      ema.swapOut();
      if (i == 0) afterFirst = backend.memoryStats().allocated();
    }
    assertEquals(
        afterFirst, backend.memoryStats().allocated(), "steady state after the first step");
    for (Optimizer o : opts) o.close();
    ema.close();
    m.close();
    assertEquals(before, backend.memoryStats().allocated());
  }

  // ---------------------------------------------------------------- state dict

  /** Deterministic pseudo-gradient: depends on the parameter, so any drift would show. */
  private static void fakeGrads(List<Parameter> ps, int step) {
    try (var s = Scope.open()) {
      for (Parameter p : ps) {
        Tensor w = p.data().detach().to(DType.F64);
        Params.grad(p, w.sub(0.3).mul(w.sin()).add(0.1 * step));
      }
    }
  }

  private static Params model(Random r) {
    Params m = new Params();
    try (var s = Scope.open()) {
      double[] a = new double[15], b = new double[7], c = new double[33];
      for (double[] x : new double[][] {a, b, c})
        for (int i = 0; i < x.length; i++) x[i] = r.nextGaussian();
      m.add("a", Tensor.of(a, 3, 5).to(DType.F32));
      m.add("b", Tensor.of(b, 7).to(DType.F64));
      m.add("c", Tensor.of(c, 33).to(DType.BF16));
      m.add("frozen", Tensor.of(new float[] {1, 2}, 2)).requiresGrad(false);
    }
    return m;
  }

  private static void train(Params m, Optimizer opt, LRScheduler sched, int from, int to) {
    List<Parameter> ps = m.trainableParameters();
    for (int i = from; i < to; i++) {
      fakeGrads(ps, i);
      opt.step();
      sched.step();
    }
  }

  @Test
  void stateDictRoundTripResumesBitExactly(@TempDir Path dir) throws Exception {
    List<Function<List<ParamGroup>, Optimizer>> makers =
        List.of(
            gs -> new AdamW(gs, AdamW.config().lr(0.05).amsgrad(true)),
            gs -> new Adam(gs, Adam.config().lr(0.05).weightDecay(0.1)),
            gs -> new SGD(gs, SGD.config(0.05).momentum(0.9).nesterov(true)),
            gs -> new Lion(gs, Lion.config().lr(0.01).weightDecay(0.1)));
    for (var make : makers) {
      int n = 8;
      double[][] straight;
      try (Params m = model(new Random(7))) {
        Optimizer opt = make.apply(groups(m));
        train(m, opt, LRScheduler.cosine(opt, 2, n), 0, n);
        straight = values(m);
        opt.close();
      }
      Path optFile = dir.resolve("opt.safetensors"), schedFile = dir.resolve("sched.safetensors");
      try (Params m = model(new Random(7))) {
        Optimizer opt = make.apply(groups(m));
        LRScheduler sched = LRScheduler.cosine(opt, 2, n);
        train(m, opt, sched, 0, n / 2);
        try (StateDict sd = opt.stateDict()) {
          sd.save(optFile);
        }
        sched.stateDict().save(schedFile);
        opt.close();
        // Resume in a fresh model (weights as a checkpoint would hold them) and optimizer.
        try (Params m2 = model(new Random(99))) {
          try (var s = Scope.open()) {
            m2.loadStateDict(m.stateDict(), true);
          }
          Optimizer opt2 = make.apply(groups(m2));
          LRScheduler sched2 = LRScheduler.cosine(opt2, 2, n);
          try (StateDict sd = StateDict.load(optFile);
              StateDict ss = StateDict.load(schedFile)) {
            opt2.loadStateDict(sd);
            sched2.loadStateDict(ss);
          }
          assertEquals(sched.lastLr()[0], opt2.paramGroups().get(0).lr());
          assertEquals(sched.lastLr()[1], opt2.paramGroups().get(1).lr());
          train(m2, opt2, sched2, n / 2, n);
          double[][] resumed = values(m2);
          for (int i = 0; i < straight.length; i++)
            assertArrayEquals(straight[i], resumed[i], 0, opt2.name() + " parameter " + i);
          opt2.close();
        }
      }
    }
  }

  private static List<ParamGroup> groups(Params m) {
    var ps = m.namedParameters();
    return List.of(
        ParamGroup.of(ps.get("a"), ps.get("frozen")).lr(0.02),
        ParamGroup.of(ps.get("b"), ps.get("c")));
  }

  private static double[][] values(Params m) {
    return m.parameters().stream().map(p -> p.data().toDoubleArray()).toArray(double[][]::new);
  }

  @Test
  void stateDictLayout() {
    try (Params m = model(new Random(5))) {
      Optimizer opt = new AdamW(groups(m), AdamW.config());
      train(m, opt, LRScheduler.constant(opt), 0, 2);
      try (StateDict sd = opt.stateDict()) {
        assertEquals("AdamW", sd.scalar("optimizer"));
        assertEquals("2", sd.scalar("param_groups"));
        assertEquals("0,1", sd.scalar("param_groups.0.params"));
        assertEquals("2,3", sd.scalar("param_groups.1.params"));
        assertEquals("0.02", sd.scalar("param_groups.0.lr"));
        assertEquals("0.001", sd.scalar("param_groups.1.initial_lr"));
        assertEquals("false", sd.scalar("param_groups.1.amsgrad"));
        assertEquals("2", sd.scalar("state.0.step"));
        assertNull(sd.scalars().get("state.1.step"), "the frozen parameter has no state");
        assertEquals(
            List.of(
                "state.0.exp_avg",
                "state.0.exp_avg_sq",
                "state.2.exp_avg",
                "state.2.exp_avg_sq",
                "state.3.master",
                "state.3.exp_avg",
                "state.3.exp_avg_sq"),
            List.copyOf(sd.tensors().keySet()));
        assertEquals(DType.F32, sd.tensors().get("state.3.master").dtype());
      }
      opt.close();
    }
  }

  @Test
  void loadStateDictChecksBeforeChangingAnything() {
    try (Params m = model(new Random(5))) {
      Optimizer opt = new AdamW(groups(m), AdamW.config());
      train(m, opt, LRScheduler.constant(opt), 0, 1);
      try (StateDict sd = opt.stateDict();
          Optimizer sgd = new SGD(groups(m), SGD.config(0.1))) {
        var e = assertThrows(IllegalArgumentException.class, () -> sgd.loadStateDict(sd));
        assertTrue(e.getMessage().contains("state dict is of a AdamW optimizer"), e.getMessage());
      }
      try (StateDict sd = opt.stateDict();
          Optimizer one = new AdamW(m.trainableParameters(), AdamW.config())) {
        var e = assertThrows(IllegalArgumentException.class, () -> one.loadStateDict(sd));
        assertTrue(e.getMessage().contains("has 2 parameter groups, the optimizer 1"));
      }
      try (Params other = new Params();
          StateDict sd = opt.stateDict()) {
        var ps = other.add("a", Tensor.zeros(DType.F32, 5, 3));
        var rest = List.of(other.add("f", 0.0), other.add("b", new double[7]));
        var c = other.add("c", new double[33]);
        Optimizer o =
            new AdamW(
                List.of(ParamGroup.of(ps, rest.get(0)), ParamGroup.of(rest.get(1), c)),
                AdamW.config().lr(0.5));
        var e = assertThrows(IllegalArgumentException.class, () -> o.loadStateDict(sd));
        assertTrue(e.getMessage().contains("'state.0.exp_avg' is F32[3, 5]"), e.getMessage());
        assertEquals(0.5, o.paramGroups().get(1).lr(), "nothing changed");
        o.close();
      }
      opt.close();
    }
  }
}
