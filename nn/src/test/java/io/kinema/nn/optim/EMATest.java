package io.kinema.nn.optim;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kinema.nn.Parameter;
import io.kinema.tensor.DType;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.grad.GradMode;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** diffusers' EMAModel decay schedule and update, swapping, state. */
class EMATest {
  private static void setAll(Parameter p, double... v) {
    try (var ng = GradMode.noGrad();
        var s = Scope.open()) {
      p.data().copyFrom(Tensor.of(v, v.length));
    }
  }

  @Test
  void decaySchedules() {
    try (Params m = new Params()) {
      m.add("a", 1.0);
      try (EMA ema = new EMA(m.namedParameters(), EMA.config().decay(0.9))) {
        assertEquals(0, ema.decay(0));
        assertEquals(0, ema.decay(1), "the first update copies");
        assertEquals(2.0 / 11, ema.decay(2), 1e-15); // (1 + s) / (10 + s), s = 1
        assertEquals(51.0 / 60, ema.decay(51), 1e-15);
        assertEquals(0.9, ema.decay(1000), "capped at decay");
      }
      try (EMA ema =
          new EMA(
              m.namedParameters(),
              EMA.config().decay(0.999).updateAfterStep(5).emaWarmup(true).power(0.75))) {
        assertEquals(0, ema.decay(6));
        assertEquals(1 - Math.pow(2, -0.75), ema.decay(7), 1e-15); // s = 1
        assertEquals(1 - Math.pow(11, -0.75), ema.decay(16), 1e-15);
        assertEquals(0.999, ema.decay(10_000_000));
      }
      try (EMA ema =
          new EMA(m.namedParameters(), EMA.config().decay(0.99).minDecay(0.5).invGamma(2))) {
        assertEquals(0.5, ema.decay(2), "floored at minDecay once averaging starts");
        assertEquals(0, ema.decay(1));
      }
    }
  }

  @Test
  void updateMathStartStepAndFrozenParameters() {
    try (Params m = new Params()) {
      Parameter a = m.add("a", 1.0, 2.0);
      Parameter frozen = m.add("f", 5.0);
      frozen.requiresGrad(false);
      try (EMA ema = new EMA(m.namedParameters(), EMA.config().decay(0.5).updateAfterStep(2))) {
        // Steps 1..3: decay 0, the shadow copies the weights.
        for (int i = 1; i <= 3; i++) {
          setAll(a, 10.0 * i, -10.0 * i);
          ema.update();
          assertEquals(0, ema.currentDecay());
          assertArrayEquals(
              new double[] {10.0 * i, -10.0 * i}, ema.shadow().get("a").toDoubleArray());
        }
        // Step 4: s = 1, decay min(2/11, 0.5) = 2/11.
        setAll(a, 0.0, 0.0);
        setAll(frozen, 7.0);
        ema.update();
        double d = 2.0 / 11;
        assertEquals(d, ema.currentDecay(), 1e-15);
        assertArrayEquals(
            new double[] {30 - (1 - d) * 30, -30 + (1 - d) * 30},
            ema.shadow().get("a").toDoubleArray(),
            1e-12);
        assertArrayEquals(new double[] {7.0}, ema.shadow().get("f").toDoubleArray(), 0);
        // Step 20: s = 17, decay capped at 0.5.
        for (int i = 5; i <= 20; i++) ema.update();
        assertEquals(0.5, ema.currentDecay());
        assertEquals(20, ema.optimizationStep());
      }
    }
  }

  @Test
  void swapInAndOutRestoresTrainingWeightsExactly() {
    Random r = new Random(4);
    try (Params m = new Params();
        var s = Scope.open()) {
      double[] w = new double[33];
      for (int i = 0; i < w.length; i++) w[i] = r.nextGaussian();
      Parameter h = m.add("h", Tensor.of(w, w.length).to(DType.BF16));
      Parameter f = m.add("f", Tensor.of(w, 3, 11).to(DType.F32));
      try (EMA ema = new EMA(m.namedParameters(), EMA.config().decay(0.9999))) {
        assertEquals(DType.F32, ema.shadow().get("h").dtype(), "16-bit weights get an F32 shadow");
        for (int step = 0; step < 30; step++) {
          try (var ng = GradMode.noGrad()) {
            h.data().addInPlace(1e-3); // below a bf16 ulp at |w| > 0.25: the weights barely move
            f.data().addInPlace(1e-3);
          }
          ema.update();
        }
        double[] hBefore = h.data().toDoubleArray(), fBefore = f.data().toDoubleArray();
        double[] shadowF = ema.shadow().get("f").toDoubleArray();
        ema.swapIn();
        assertTrue(ema.isSwappedIn());
        assertArrayEquals(shadowF, f.data().toDoubleArray(), 0);
        assertArrayEquals(
            ema.shadow().get("h").to(DType.BF16).toDoubleArray(), h.data().toDoubleArray(), 0);
        var e = assertThrows(IllegalStateException.class, ema::update);
        assertTrue(e.getMessage().contains("swapOut first"), e.getMessage());
        assertThrows(IllegalStateException.class, ema::swapIn);
        ema.swapOut();
        assertArrayEquals(hBefore, h.data().toDoubleArray(), 0);
        assertArrayEquals(fBefore, f.data().toDoubleArray(), 0);
        assertThrows(IllegalStateException.class, ema::swapOut);
      }
    }
  }

  @Test
  void stateDictRoundTrip(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("ema.safetensors");
    double[] straight;
    try (Params m = new Params()) {
      Parameter a = m.add("a", 1.0, 2.0, 3.0);
      try (EMA ema = new EMA(m.namedParameters(), EMA.config().decay(0.95).emaWarmup(true))) {
        for (int i = 0; i < 10; i++) {
          setAll(a, i, -i, i * i);
          ema.update();
          if (i == 4) ema.stateDict().save(file);
        }
        straight = ema.shadow().get("a").toDoubleArray();
      }
    }
    try (Params m = new Params()) {
      Parameter a = m.add("a", 0.0, 0.0, 0.0);
      try (EMA ema = new EMA(m.namedParameters(), EMA.config());
          StateDict sd = StateDict.load(file)) {
        assertEquals("5", sd.scalar("optimization_step"));
        assertEquals("true", sd.scalar("use_ema_warmup"));
        ema.loadStateDict(sd);
        for (int i = 5; i < 10; i++) {
          setAll(a, i, -i, i * i);
          ema.update();
        }
        assertArrayEquals(straight, ema.shadow().get("a").toDoubleArray(), 0);
        // The shadow loads as model weights (keys are parameter names).
        try (Params target = new Params()) {
          Parameter t = target.add("a", 0.0, 0.0, 0.0);
          ema.copyTo(target.namedParameters());
          assertArrayEquals(straight, t.data().toDoubleArray(), 0);
        }
      }
      try (Params other = new Params();
          StateDict sd = StateDict.load(file)) {
        other.add("b", 0.0);
        try (EMA ema = new EMA(other.namedParameters(), EMA.config())) {
          var e = assertThrows(IllegalArgumentException.class, () -> ema.loadStateDict(sd));
          assertTrue(e.getMessage().contains("missing 'b'"), e.getMessage());
        }
      }
    }
  }
}
