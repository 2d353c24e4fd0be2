package io.kinema.autograd;

import static io.kinema.autograd.GradTesting.check;
import static io.kinema.autograd.GradTesting.normal;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Finite-difference checks of conv3d's rule for input, weight and bias (F64): both im2col paths,
 * overlapping windows with stride and padding, unbatched input, no bias, a constant input.
 */
class ConvolutionGradTest {
  private static void conv(Random r, long[] xs, long[] ws, long[] stride, long[] padding) {
    Tensor x = normal(r, xs), w = normal(r, ws), b = normal(r, ws[0]);
    check(in -> in.get(0).conv3d(in.get(1), in.get(2), stride, padding), x, w, b);
  }

  @Test
  void inputWeightAndBias() {
    try (var s = Scope.open()) {
      Random r = new Random(41);
      // kernel == stride, sizes with a remainder that gets no gradient
      conv(
          r,
          new long[] {2, 2, 2, 5, 4},
          new long[] {3, 2, 1, 2, 2},
          new long[] {1, 2, 2},
          new long[3]);
      // overlapping windows, stride and padding per dim
      conv(
          r,
          new long[] {1, 2, 3, 4, 3},
          new long[] {3, 2, 2, 2, 1},
          new long[] {1, 2, 1},
          new long[] {1, 0, 1});
      conv(
          r,
          new long[] {1, 1, 4, 3, 5},
          new long[] {2, 1, 3, 2, 2},
          new long[] {2, 1, 3},
          new long[] {2, 1, 0});
      // unbatched
      conv(
          r,
          new long[] {2, 3, 3, 3},
          new long[] {2, 2, 2, 2, 2},
          new long[] {1, 1, 1},
          new long[] {0, 1, 0});
    }
  }

  @Test
  void withoutBiasAndWithAConstantInput() {
    try (var s = Scope.open()) {
      Random r = new Random(42);
      long[] st = {1, 1, 2}, pad = {1, 0, 1};
      Tensor x = normal(r, 1, 2, 3, 3, 4), w = normal(r, 2, 2, 2, 2, 3);
      check(in -> in.get(0).conv3d(in.get(1), null, st, pad), x, w);
      Tensor constant = x.detach();
      check(in -> constant.conv3d(in.get(0), null, st, pad), w);
      // Only the weight wanted a gradient: the input's is neither computed nor stored.
      Tensor wl = w.detach().requiresGrad(true);
      constant.conv3d(wl, null, st, pad).sum().backward();
      assertArrayEquals(w.shape(), wl.grad().shape());
      assertNull(constant.grad());
    }
  }
}
