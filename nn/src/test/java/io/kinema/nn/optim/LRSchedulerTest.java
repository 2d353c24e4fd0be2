package io.kinema.nn.optim;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kinema.nn.Parameter;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The diffusers schedules at their key points, LambdaLR semantics, state, errors. */
class LRSchedulerTest {
  private Params model;
  private SGD opt;

  @BeforeEach
  void setUp() {
    model = new Params();
    Parameter a = model.add("a", 0.0), b = model.add("b", 0.0);
    opt = new SGD(List.of(ParamGroup.of(a), ParamGroup.of(b).lr(0.5)), SGD.config(2.0));
  }

  @AfterEach
  void tearDown() {
    opt.close();
    model.close();
  }

  private static void at(LRScheduler s, long step, double factor) {
    assertEquals(factor, s.factor(step), 1e-15, s.name() + " at step " + step);
  }

  @Test
  void constantAndWarmup() {
    LRScheduler c = LRScheduler.constant(opt);
    at(c, 0, 1);
    at(c, 1000, 1);
    LRScheduler w = LRScheduler.constantWithWarmup(opt, 4);
    at(w, 0, 0);
    at(w, 1, 0.25);
    at(w, 3, 0.75);
    at(w, 4, 1);
    at(w, 100, 1);
  }

  @Test
  void linearDecaysToZeroAtTheLastStep() {
    LRScheduler s = LRScheduler.linear(opt, 10, 110);
    at(s, 0, 0);
    at(s, 5, 0.5);
    at(s, 10, 1); // warmup end
    at(s, 60, 0.5); // midpoint of the decay
    at(s, 110, 0); // end
    at(s, 200, 0); // clamped after
  }

  @Test
  void cosineHalfCycleAndFullCycle() {
    LRScheduler s = LRScheduler.cosine(opt, 10, 110);
    at(s, 5, 0.5);
    at(s, 10, 1);
    at(s, 35, 0.5 * (1 + Math.cos(Math.PI / 4)));
    assertEquals(0.5, s.factor(60), 1e-15);
    assertEquals(0, s.factor(110), 1e-15);
    assertEquals(0.5 * (1 + Math.cos(Math.PI * 1.2)), s.factor(130), 1e-15, "rises past the end");
    LRScheduler full = LRScheduler.cosine(opt, 0, 100, 1.0);
    assertEquals(0, full.factor(50), 1e-15);
    assertEquals(1, full.factor(100), 1e-15);
  }

  @Test
  void cosineWithHardRestarts() {
    LRScheduler s = LRScheduler.cosineWithRestarts(opt, 10, 70, 3);
    at(s, 10, 1);
    assertEquals(0.5, s.factor(20), 1e-15); // middle of the first cycle
    assertEquals(1, s.factor(30), 1e-15); // restart
    assertEquals(0.5, s.factor(40), 1e-15);
    assertEquals(1, s.factor(50), 1e-15);
    at(s, 70, 0);
    at(s, 80, 0);
  }

  @Test
  void polynomialUsesTheOptimizersDefaultLr() {
    LRScheduler s = LRScheduler.polynomial(opt, 10, 110, 0.02, 2.0);
    at(s, 10, 1);
    // midpoint: ((2 - 0.02) * 0.5^2 + 0.02) / 2
    assertEquals(((2 - 0.02) * 0.25 + 0.02) / 2, s.factor(60), 1e-15);
    assertEquals(0.01, s.factor(110), 1e-15);
    assertEquals(0.01, s.factor(500), 1e-15);
    // Group b (initial lr 0.5) gets the same factors as group a (2.0).
    assertArrayEquals(new double[] {0, 0}, s.lastLr(), 0);
    var e =
        assertThrows(
            IllegalArgumentException.class, () -> LRScheduler.polynomial(opt, 0, 10, 3.0, 1));
    assertTrue(e.getMessage().contains("lr_end (3.0) must be smaller"), e.getMessage());
  }

  @Test
  void piecewiseConstant() {
    LRScheduler s = LRScheduler.piecewiseConstant(opt, "1:10,0.1:20,0.01:30,0.005");
    at(s, 0, 1);
    at(s, 9, 1);
    at(s, 10, 0.1);
    at(s, 19, 0.1);
    at(s, 20, 0.01);
    at(s, 30, 0.005);
    at(s, 1000, 0.005);
    assertThrows(
        IllegalArgumentException.class, () -> LRScheduler.piecewiseConstant(opt, "1:x,0.5"));
  }

  @Test
  void lambdaLrSemantics() {
    LRScheduler s = LRScheduler.linear(opt, 2, 4);
    // Construction applies factor(0); each step advances by one.
    assertArrayEquals(new double[] {0, 0}, s.lastLr(), 0);
    assertEquals(0, s.lastStep());
    s.step();
    assertArrayEquals(new double[] {1.0, 0.25}, s.lastLr(), 1e-15);
    assertEquals(1.0, opt.paramGroups().get(0).lr(), 1e-15);
    assertEquals(0.25, opt.paramGroups().get(1).lr(), 1e-15);
    s.step();
    s.step();
    assertArrayEquals(new double[] {1.0, 0.25}, s.lastLr(), 1e-15);
    assertEquals(2.0, opt.paramGroups().get(0).getDouble(Optimizer.INITIAL_LR));
    assertEquals(0.5, opt.paramGroups().get(1).getDouble(Optimizer.INITIAL_LR));
    assertEquals(4, s.preview(4).size());
    assertArrayEquals(new double[] {1.0, 0.25}, s.preview(4).get(3), 1e-15);
  }

  @Test
  void stateDictRestoresStepAndLrs() {
    LRScheduler s = LRScheduler.cosine(opt, 3, 20);
    for (int i = 0; i < 7; i++) s.step();
    StateDict sd = s.stateDict();
    assertEquals("7", sd.scalar("last_epoch"));
    assertEquals("2.0,0.5", sd.scalar("base_lrs"));
    try (Params m = new Params()) {
      SGD o =
          new SGD(
              List.of(ParamGroup.of(m.add("a", 0.0)), ParamGroup.of(m.add("b", 0.0))),
              SGD.config(9.0));
      LRScheduler s2 = LRScheduler.cosine(o, 3, 20);
      s2.loadStateDict(sd);
      assertArrayEquals(s.lastLr(), s2.lastLr(), 0);
      assertEquals(s.lastLr()[1], o.paramGroups().get(1).lr());
      s.step();
      s2.step();
      assertArrayEquals(s.lastLr(), s2.lastLr(), 0);
      var e =
          assertThrows(
              IllegalArgumentException.class, () -> LRScheduler.linear(o, 3, 20).loadStateDict(sd));
      assertTrue(e.getMessage().contains("'cosine' schedule, not linear"), e.getMessage());
      o.close();
    }
  }

  @Test
  void getSchedulerByName() {
    assertEquals("cosine", LRScheduler.get("cosine", opt, 1L, 10L).name());
    assertEquals("constant", LRScheduler.get("CONSTANT", opt, null, null).name());
    var e =
        assertThrows(
            IllegalArgumentException.class, () -> LRScheduler.get("linear", opt, null, 10L));
    assertTrue(e.getMessage().contains("linear requires num_warmup_steps"), e.getMessage());
    e =
        assertThrows(
            IllegalArgumentException.class, () -> LRScheduler.get("cosine", opt, 5L, null));
    assertTrue(e.getMessage().contains("cosine requires num_training_steps"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> LRScheduler.get("step", opt, 1L, 2L));
    assertTrue(e.getMessage().contains("unknown schedule 'step'"), e.getMessage());
  }
}
