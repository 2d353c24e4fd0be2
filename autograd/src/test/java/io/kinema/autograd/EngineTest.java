package io.kinema.autograd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kinema.tensor.Backends;
import io.kinema.tensor.DType;
import io.kinema.tensor.Device;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.grad.GradMode;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The engine's behaviour: accumulation, graph lifetime, guards against wrong gradients. */
class EngineTest {
  private static Tensor leaf(double... v) {
    return Tensor.of(v, v.length).requiresGrad(true);
  }

  @Test
  void chainRuleThroughSharedSubexpressions() {
    try (var s = Scope.open()) {
      Tensor x = leaf(1, 2, 3);
      Tensor y = x.mul(x).add(x.exp()).sum(); // d/dx = 2x + e^x
      y.backward();
      double[] g = x.grad().toDoubleArray();
      for (int i = 0; i < 3; i++) assertEquals(2 * (i + 1) + Math.exp(i + 1), g[i], 1e-12);
    }
  }

  @Test
  void gradientsAccumulateAcrossBackwardsUntilZeroed() {
    try (var s = Scope.open()) {
      Tensor x = leaf(1, 2);
      x.mul(3).sum().backward();
      x.mul(3).sum().backward();
      assertArrayEquals(new double[] {6, 6}, x.grad().toDoubleArray());
      x.zeroGrad();
      assertNull(x.grad());
    }
  }

  @Test
  void leafGradientsOutliveTheScopeOfTheStep() {
    Tensor x = leaf(1, 2);
    try (var s = Scope.open()) {
      x.square().sum().backward();
    }
    assertArrayEquals(new double[] {2, 4}, x.grad().toDoubleArray());
    x.close();
  }

  @Test
  void secondBackwardNeedsRetainGraph() {
    try (var s = Scope.open()) {
      Tensor x = leaf(1, 2);
      Tensor y = x.mul(x).sum();
      y.backward(null, true);
      y.backward(null, false);
      assertArrayEquals(new double[] {4, 8}, x.grad().toDoubleArray());
      var e = assertThrows(IllegalStateException.class, () -> y.backward());
      assertTrue(e.getMessage().contains("already freed"), e.getMessage());
    }
  }

  @Test
  void inPlaceChangesAreRefusedOrDetected() {
    try (var s = Scope.open()) {
      Tensor x = leaf(1, 2);
      var e = assertThrows(IllegalStateException.class, () -> x.addInPlace(1));
      assertTrue(e.getMessage().contains("requires grad"), e.getMessage());
      Tensor w = Tensor.of(new double[] {3, 4}, 2);
      Tensor y = x.mul(w).sum();
      w.mulInPlace(2); // w was saved by mul
      var e2 = assertThrows(IllegalStateException.class, y::backward);
      assertTrue(e2.getMessage().contains("modified in place"), e2.getMessage());
      try (var ng = GradMode.noGrad()) {
        x.addInPlace(1); // allowed: an optimizer step
      }
      assertArrayEquals(new double[] {2, 3}, x.toDoubleArray());
    }
  }

  @Test
  void noGradAndDetachRecordNothing() {
    try (var s = Scope.open()) {
      Tensor x = leaf(1, 2);
      try (var ng = GradMode.noGrad()) {
        assertFalse(x.mul(2).requiresGrad());
      }
      Tensor d = x.detach();
      assertFalse(d.requiresGrad());
      assertTrue(x.mul(2).requiresGrad());
      assertTrue(x.mul(2).gradFn().name().equals("mul"));
      var e =
          assertThrows(
              IllegalArgumentException.class, () -> Tensor.of(new int[] {1}).requiresGrad(true));
      assertTrue(e.getMessage().contains("floating-point"), e.getMessage());
    }
  }

  @Test
  void graphMemoryIsReleasedWhenTheStepsTensorsAreClosed() {
    var stats = Backends.of(Device.CPU);
    Tensor w = Tensor.ones(DType.F32, 256, 256).requiresGrad(true);
    long before = stats.memoryStats().allocated();
    for (int i = 0; i < 50; i++) {
      try (var s = Scope.open()) {
        Tensor x = Tensor.ones(DType.F32, 64, 256);
        // forward without backward (e.g. validation with grad mode on): the graph must not leak
        x.matmul(w).tanh().matmul(w).sum();
      }
    }
    assertEquals(before, stats.memoryStats().allocated());
    for (int i = 0; i < 50; i++) {
      try (var s = Scope.open()) {
        Tensor x = Tensor.ones(DType.F32, 64, 256);
        x.matmul(w).tanh().matmul(w).mean().backward();
      }
      w.zeroGrad();
    }
    assertEquals(before, stats.memoryStats().allocated());
    w.close();
  }

  @Test
  void deepGraphsNeitherOverflowNorLeak() {
    try (var s = Scope.open()) {
      Tensor x = leaf(0.5);
      Tensor y = x;
      for (int i = 0; i < 20_000; i++) y = y.mul(1.0001);
      y.sum().backward();
      assertEquals(Math.pow(1.0001, 20_000), x.grad().item(), 1e-6);
    }
  }

  @Test
  void checkpointRecomputesAndMatchesPlainGradients() {
    try (var s = Scope.open()) {
      Tensor w = Tensor.of(new double[] {0.5, -1, 2, 0.25}, 2, 2).requiresGrad(true);
      Tensor x = Tensor.of(new double[] {1, 2, 3, 4}, 2, 2).requiresGrad(true);
      x.matmul(w).tanh().matmul(w).sum().backward();
      double[] gw = w.grad().toDoubleArray(), gx = x.grad().toDoubleArray();
      w.zeroGrad();
      x.zeroGrad();
      Tensor y = Checkpoint.apply(in -> in.get(0).matmul(w).tanh(), List.of(x));
      assertEquals(List.of("checkpoint"), Engine.describe(y));
      y.matmul(w).sum().backward();
      assertArrayEquals(gw, w.grad().toDoubleArray(), 1e-12);
      assertArrayEquals(gx, x.grad().toDoubleArray(), 1e-12);
    }
  }

  @Test
  void gradcheckCatchesAWrongRule() {
    try (var s = Scope.open()) {
      Tensor x = Tensor.of(new double[] {0.3, -0.7, 1.1}, 3).requiresGrad(true);
      GradCheck.check(in -> in.get(0).sin().mul(in.get(0)), List.of(x));
      // detach() hides part of the function from backward: the check must fail
      assertThrows(
          AssertionError.class,
          () -> GradCheck.check(in -> in.get(0).mul(in.get(0).detach()), List.of(x)));
    }
  }
}
