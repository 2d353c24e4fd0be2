package io.kinema.nn;

import static io.kinema.nn.TestUtil.maxAbs;
import static io.kinema.nn.TestUtil.mean;
import static io.kinema.nn.TestUtil.std;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kinema.tensor.DType;
import io.kinema.tensor.Generator;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/** torch.nn.init: fans, gains, and the statistics of each initializer on large tensors. */
class InitTest {
  @Test
  void fansFollowPyTorch() {
    try (var s = Scope.open()) {
      assertEquals(new Init.Fans(20, 30), Init.calculateFanInAndFanOut(Tensor.zeros(30, 20)));
      // Conv3d weight [out, in, kd, kh, kw]: receptive field multiplies both
      assertEquals(
          new Init.Fans(16 * 4, 64 * 4),
          Init.calculateFanInAndFanOut(Tensor.zeros(64, 16, 1, 2, 2)));
      var e =
          assertThrows(
              IllegalArgumentException.class, () -> Init.calculateFanInAndFanOut(Tensor.zeros(5)));
      assertTrue(e.getMessage().contains("fewer than 2 dimensions"), e.getMessage());
      assertTrue(e.getMessage().contains("F32[5]"), e.getMessage());
    }
  }

  @Test
  void gainsFollowPyTorch() {
    assertEquals(1.0, Init.calculateGain("linear"));
    assertEquals(1.0, Init.calculateGain("conv3d"));
    assertEquals(1.0, Init.calculateGain("sigmoid"));
    assertEquals(5.0 / 3, Init.calculateGain("tanh"));
    assertEquals(Math.sqrt(2), Init.calculateGain("relu"));
    assertEquals(Math.sqrt(2 / (1 + 0.01 * 0.01)), Init.calculateGain("leaky_relu"));
    // a = sqrt(5) (Linear's default) gives gain sqrt(1/3): bound = 1/sqrt(fan_in)
    assertEquals(Math.sqrt(1.0 / 3), Init.calculateGain("leaky_relu", Math.sqrt(5)), 1e-15);
    assertEquals(0.75, Init.calculateGain("selu"));
    var e = assertThrows(IllegalArgumentException.class, () -> Init.calculateGain("relu6"));
    assertTrue(e.getMessage().contains("unsupported nonlinearity relu6"), e.getMessage());
  }

  @Test
  void kaimingUniformBoundAndSpread() {
    try (var s = Scope.open()) {
      Tensor w = Tensor.empty(DType.F32, 256, 128, 3);
      assertSame(w, Init.kaimingUniform(w, new Generator(1)));
      double bound = Math.sqrt(2) * Math.sqrt(3.0 / (128 * 3)); // gain sqrt(2) for a = 0
      double[] v = w.toDoubleArray();
      assertTrue(maxAbs(v) <= bound, "max " + maxAbs(v) + " > bound " + bound);
      assertTrue(maxAbs(v) > 0.99 * bound, "the range should be used");
      assertEquals(0, mean(v), 0.01 * bound);
      assertEquals(bound / Math.sqrt(3), std(v), 0.01 * bound);
      // fan_out mode and another gain
      Init.kaimingUniform(w, 0, "fan_out", "relu", new Generator(1));
      assertEquals(Math.sqrt(2) / Math.sqrt(256 * 3), std(w.toDoubleArray()), 0.01 * bound);
      var e =
          assertThrows(
              IllegalArgumentException.class,
              () -> Init.kaimingUniform(w, 0, "fan_avg", "relu", new Generator(1)));
      assertTrue(e.getMessage().contains("fan_avg"), e.getMessage());
    }
  }

  @Test
  void kaimingNormalXavierAndPlainDistributions() {
    try (var s = Scope.open()) {
      Tensor w = Tensor.empty(DType.F64, 300, 200);
      Generator g = new Generator(7);
      Init.kaimingNormal(w, g);
      assertEquals(Math.sqrt(2.0 / 200), std(w.toDoubleArray()), 0.02 * Math.sqrt(2.0 / 200));
      Init.xavierNormal(w, 2.0, g);
      double xs = 2 * Math.sqrt(2.0 / 500);
      assertEquals(xs, std(w.toDoubleArray()), 0.02 * xs);
      Init.xavierUniform(w, g);
      double xb = Math.sqrt(6.0 / 500);
      assertTrue(maxAbs(w.toDoubleArray()) <= xb);
      assertEquals(xb / Math.sqrt(3), std(w.toDoubleArray()), 0.02 * xb);
      Init.uniform(w, 2, 5, g);
      double[] v = w.toDoubleArray();
      assertTrue(Arrays.stream(v).allMatch(x -> x >= 2 && x < 5));
      assertEquals(3.5, mean(v), 0.02);
      Init.normal(w, -1, 0.5, g);
      assertEquals(-1, mean(w.toDoubleArray()), 0.01);
      assertEquals(0.5, std(w.toDoubleArray()), 0.01);
      Init.constant(w, 0.25);
      assertTrue(Arrays.stream(w.toDoubleArray()).allMatch(x -> x == 0.25));
      Init.ones(w);
      assertEquals(1, w.get(3, 4));
      Init.zeros(w);
      assertEquals(0, maxAbs(w.toDoubleArray()));
    }
  }

  @Test
  void truncNormalStaysInBoundsWithTheTruncatedSpread() {
    try (var s = Scope.open()) {
      Tensor w = Tensor.empty(DType.F32, 400, 250);
      Init.truncNormal(w, 0, 1, new Generator(3));
      double[] v = w.toDoubleArray();
      assertTrue(maxAbs(v) <= 2, "bounds [-2, 2]");
      assertTrue(maxAbs(v) > 1.99, "the tails up to the bounds are reached");
      // std of N(0,1) truncated to [-2, 2]: sqrt(1 - 2*2*phi(2)/(Phi(2)-Phi(-2))) = 0.879626
      assertEquals(0.879626, std(v), 0.005);
      assertEquals(0, mean(v), 0.005);
      // asymmetric absolute bounds: mean 1, std 2 truncated to [0, 10]
      Init.truncNormal(w, 1, 2, 0, 10, new Generator(4));
      v = w.toDoubleArray();
      assertTrue(Arrays.stream(v).allMatch(x -> x >= 0 && x <= 10));
      // E[X] for N(1, 4) truncated to [0, inf) (the upper bound 10 is 4.5 sigma away): 1 + 2
      // phi(-0.5) / (1 - Phi(-0.5)) = 1 + 2 * 0.352065 / 0.691462 = 2.01833
      assertEquals(2.01833, mean(v), 0.008);
    }
  }

  @Test
  void inverseNormalCdfAndCdfAreAccurate() {
    assertEquals(0, Init.inverseNormalCdf(0.5), 1e-12);
    assertEquals(1.959963984540054, Init.inverseNormalCdf(0.975), 1e-8);
    assertEquals(-3.090232306167813, Init.inverseNormalCdf(0.001), 1e-8);
    assertEquals(0.9772498680518208, Init.normalCdf(2), 2e-7);
    assertEquals(0.022750131948179, Init.normalCdf(-2), 2e-7);
    for (double p = 0.001; p < 1; p += 0.0137) {
      assertEquals(p, Init.normalCdf(Init.inverseNormalCdf(p)), 1e-6);
    }
  }

  @Test
  void sameSeedSameWeightsOtherSeedOtherWeightsAnyDtype() {
    try (var s = Scope.open()) {
      Tensor a = Init.kaimingUniform(Tensor.empty(DType.F32, 33, 17), new Generator(11));
      Tensor b = Init.kaimingUniform(Tensor.empty(DType.F32, 33, 17), new Generator(11));
      Tensor c = Init.kaimingUniform(Tensor.empty(DType.F32, 33, 17), new Generator(12));
      assertArrayEquals(a.toDoubleArray(), b.toDoubleArray());
      assertFalse(Arrays.equals(a.toDoubleArray(), c.toDoubleArray()));
      // BF16 is the F32 draw rounded once
      Tensor h = Init.kaimingUniform(Tensor.empty(DType.BF16, 33, 17), new Generator(11));
      assertArrayEquals(a.to(DType.BF16).toDoubleArray(), h.toDoubleArray());
      // a generator advances: two draws differ
      Generator g = new Generator(5);
      Tensor x = Init.normal(Tensor.empty(DType.F32, 10), 0, 1, g);
      Tensor y = Init.normal(Tensor.empty(DType.F32, 10), 0, 1, g);
      assertFalse(Arrays.equals(x.toDoubleArray(), y.toDoubleArray()));
    }
  }

  @Test
  void fillsParametersThatRequireGradAndStridedViews() {
    try (var s = Scope.open()) {
      Tensor w = Tensor.zeros(DType.F32, 8, 6).requiresGrad(true);
      Init.normal(w, 0, 1, new Generator(2)); // in place despite requiresGrad
      assertTrue(std(w.toDoubleArray()) > 0.3);
      assertTrue(w.requiresGrad() && w.isLeaf());
      Tensor base = Tensor.zeros(DType.F32, 6, 8);
      Tensor view = base.t().slice(1, 0, 6, 2); // [8, 3] strided
      Init.constant(view, 3);
      double sum = Arrays.stream(base.toDoubleArray()).sum();
      assertEquals(3 * 24, sum);
      var e =
          assertThrows(
              IllegalArgumentException.class,
              () -> Init.uniform(Tensor.zeros(DType.I64, 3), 0, 1, new Generator(1)));
      assertTrue(e.getMessage().contains("uniform: expected a floating tensor, got I64[3]"));
    }
  }
}
