package io.kinema.tensor.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kinema.tensor.Backends;
import io.kinema.tensor.DType;
import io.kinema.tensor.Device;
import io.kinema.tensor.Generator;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.backend.AdamwScalars;
import io.kinema.tensor.backend.Backend;
import org.junit.jupiter.api.Test;

/**
 * The fused AdamW step against the same update written as separate tensor ops (the optimizer's
 * composed path): bit for bit, over several steps, with and without weight decay and maximize, on
 * sizes with a vector tail and sizes large enough to split across threads.
 */
class CpuAdamwTest {
  @Test
  void fusedStepHasTheBitsOfTheComposedOps() {
    Backend cpu = Backends.of(Device.CPU);
    long[][] shapes = {{7}, {3, 37}, {129, 515}};
    for (long[] shape : shapes) {
      for (boolean maximize : new boolean[] {false, true}) {
        double lr = 3e-3, wd = maximize ? 0 : 0.01, b1 = 0.9, b2 = 0.99, eps = 1e-8;
        try (var s = Scope.open()) {
          Generator gen = new Generator(shape.length * 31L + (maximize ? 1 : 0));
          Tensor p = Tensor.randn(gen, DType.F32, Device.CPU, shape);
          Tensor pRef = p.copy();
          Tensor m = Tensor.zeros(DType.F32, shape), v = Tensor.zeros(DType.F32, shape);
          Tensor mRef = m.copy(), vRef = v.copy();
          for (int t = 1; t <= 4; t++) {
            Tensor g = Tensor.randn(gen, DType.F32, Device.CPU, shape).mul(0.1 * t);
            double bc1 = 1 - Math.pow(b1, t), bc2 = 1 - Math.pow(b2, t);
            AdamwScalars sc =
                new AdamwScalars(
                    (float) (1 - lr * wd),
                    (float) b1,
                    (float) (1 - b1),
                    (float) b2,
                    (float) (1 - b2),
                    (float) (-lr / bc1),
                    (float) Math.sqrt(bc2),
                    (float) eps,
                    maximize);
            assertTrue(cpu.adamwStep(p, g, m, v, sc));
            // Adam.step's composed ops (decoupled decay).
            Tensor gg = maximize ? g.neg() : g;
            if (wd != 0) pRef.mulInPlace(1 - lr * wd);
            mRef.mulInPlace(b1).addInPlace(gg.mul(1 - b1));
            vRef.mulInPlace(b2).addInPlace(gg.mul(1 - b2).mulInPlace(gg));
            Tensor denom = vRef.sqrt();
            denom.divInPlace(Tensor.scalar(Math.sqrt(bc2), DType.F32));
            denom.addInPlace(eps);
            pRef.addInPlace(mRef.mul(-lr / bc1).divInPlace(denom));
          }
          String what = java.util.Arrays.toString(shape) + (maximize ? " maximize" : "");
          assertBits(pRef, p, "param " + what);
          assertBits(mRef, m, "exp_avg " + what);
          assertBits(vRef, v, "exp_avg_sq " + what);
        }
      }
    }
  }

  @Test
  void otherOperandsAreLeftToTheComposedPath() {
    Backend cpu = Backends.of(Device.CPU);
    try (var s = Scope.open()) {
      Tensor p = Tensor.ones(DType.F32, 4, 4), m = Tensor.zeros(DType.F32, 4, 4);
      AdamwScalars sc = new AdamwScalars(1, 0.9f, 0.1f, 0.99f, 0.01f, -1e-3f, 0.1f, 1e-8f, false);
      Tensor before = p.copy();
      assertFalse(cpu.adamwStep(p, Tensor.ones(DType.F64, 4, 4), m, m.copy(), sc));
      assertFalse(cpu.adamwStep(p, p.mT(), m, m.copy(), sc)); // not contiguous
      assertFalse(cpu.adamwStep(p, Tensor.ones(DType.F32, 16), m, m.copy(), sc));
      assertBits(before, p, "untouched");
    }
  }

  private static void assertBits(Tensor expected, Tensor actual, String what) {
    float[] e = expected.toFloatArray(), a = actual.toFloatArray();
    assertEquals(e.length, a.length, what);
    for (int i = 0; i < e.length; i++) {
      if (Float.floatToRawIntBits(e[i]) != Float.floatToRawIntBits(a[i])) {
        throw new AssertionError(what + ": element " + i + " is " + a[i] + ", composed " + e[i]);
      }
    }
  }
}
