package io.kinema.autograd;

import static io.kinema.autograd.GradTesting.check;
import static io.kinema.autograd.GradTesting.normal;

import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** Finite-difference checks of softmax, log_softmax, layer_norm, rms_norm and rotary. */
class NormGradTest {
  @Test
  void softmaxAndLogSoftmaxOnEveryDim() {
    try (var s = Scope.open()) {
      Random r = new Random(21);
      Tensor x = normal(r, 2, 3, 4);
      for (int dim : new int[] {0, 1, 2, -1, -3}) {
        check(in -> in.get(0).softmax(dim), x);
        check(in -> in.get(0).logSoftmax(dim), x);
      }
      // Non-contiguous: softmax over a permuted and a strided view.
      check(in -> in.get(0).permute(2, 0, 1).softmax(-1), x);
      check(in -> in.get(0).slice(2, 0, 4, 2).logSoftmax(2), x);
      Tensor v = normal(r, 5);
      check(in -> in.get(0).mul(3).softmax(0), v);
      check(in -> in.get(0).mul(3).logSoftmax(0), v);
    }
  }

  @Test
  void layerNormWithAndWithoutAffineOverOneAndTwoDims() {
    try (var s = Scope.open()) {
      Random r = new Random(22);
      Tensor x = normal(r, 2, 3, 4);
      Tensor w1 = normal(r, 4), b1 = normal(r, 4);
      Tensor w2 = normal(r, 3, 4), b2 = normal(r, 3, 4);
      long[] one = {4}, two = {3, 4};
      check(in -> in.get(0).layerNorm(one, null, null, 1e-5), x);
      check(in -> in.get(0).layerNorm(one, in.get(1), null, 1e-5), x, w1);
      check(in -> in.get(0).layerNorm(one, null, in.get(1), 1e-5), x, b1);
      check(in -> in.get(0).layerNorm(one, in.get(1), in.get(2), 1e-5), x, w1, b1);
      check(in -> in.get(0).layerNorm(two, in.get(1), in.get(2), 1e-5), x, w2, b2);
      check(in -> in.get(0).layerNorm(two, null, null, 0.1), x);
      // Only the affine parameters require grad; x is a constant.
      Tensor xc = x.detach();
      check(in -> xc.layerNorm(one, in.get(0), in.get(1), 1e-5), w1, b1);
      // Non-contiguous input, and parameters used through views.
      Tensor xt = normal(r, 4, 3, 2);
      check(
          in -> in.get(0).permute(2, 1, 0).layerNorm(one, in.get(1), in.get(2).mul(2), 1e-5),
          xt,
          w1,
          b1);
      check(
          in -> in.get(0).layerNorm(two, in.get(1).transpose(0, 1), null, 1e-5),
          x,
          normal(r, 4, 3));
    }
  }

  @Test
  void rmsNormWithAndWithoutWeight() {
    try (var s = Scope.open()) {
      Random r = new Random(23);
      Tensor x = normal(r, 2, 3, 4);
      Tensor w1 = normal(r, 4), w2 = normal(r, 3, 4);
      long[] one = {4}, two = {3, 4};
      check(in -> in.get(0).rmsNorm(one, null, 1e-6), x);
      check(in -> in.get(0).rmsNorm(one, in.get(1), 1e-6), x, w1);
      check(in -> in.get(0).rmsNorm(two, in.get(1), 1e-6), x, w2);
      check(in -> in.get(0).rmsNorm(two, null, 0.5), x);
      Tensor xc = x.detach();
      check(in -> xc.rmsNorm(one, in.get(0), 1e-6), w1);
      Tensor xt = normal(r, 4, 3, 2);
      check(in -> in.get(0).permute(2, 1, 0).rmsNorm(one, in.get(1), 1e-6), xt, w1);
    }
  }

  /**
   * The fused backwards with only some gradients wanted (the others are not computed), and
   * parameter gradients summed over many rows.
   */
  @Test
  void normsOverManyRowsAndPartialGradients() {
    try (var s = Scope.open()) {
      Random r = new Random(25);
      Tensor x = normal(r, 60, 3), w = normal(r, 3), b = normal(r, 3);
      long[] one = {3};
      check(in -> in.get(0).layerNorm(one, in.get(1), in.get(2), 1e-5), x, w, b);
      check(in -> in.get(0).rmsNorm(one, in.get(1), 1e-6), x, w);
      // Only the bias (then only the weight) requires grad.
      Tensor xc = x.detach(), wc = w.detach(), bc = b.detach();
      check(in -> xc.layerNorm(one, wc, in.get(0), 1e-5), b);
      check(in -> xc.layerNorm(one, in.get(0), bc, 1e-5), w);
      // Only x requires grad, with constant affine parameters.
      check(in -> in.get(0).layerNorm(one, wc, bc, 1e-5), x);
      check(in -> in.get(0).rmsNorm(one, wc, 1e-6), x);
      // Softmax over long rows, output used twice (its gradient accumulates before the rule).
      Tensor v = normal(r, 4, 40);
      check(in -> in.get(0).softmax(1).mul(in.get(0).softmax(1)), v);
    }
  }

  @Test
  void rotaryInterleavedAndHalves() {
    try (var s = Scope.open()) {
      Random r = new Random(24);
      // x [B=2, S=3, H=2, D=6]; angles [S, 1, D/2] broadcast over batch and heads.
      Tensor x = normal(r, 2, 3, 2, 6);
      double[] c = new double[9], sn = new double[9];
      for (int i = 0; i < 9; i++) {
        double a = r.nextDouble() * 2 * Math.PI;
        c[i] = Math.cos(a);
        sn[i] = Math.sin(a);
      }
      Tensor cos = Tensor.of(c, 3, 1, 3), sin = Tensor.of(sn, 3, 1, 3);
      for (boolean interleaved : new boolean[] {true, false}) {
        check(in -> in.get(0).rotary(cos, sin, interleaved), x);
        // Non-contiguous: heads and sequence swapped in the leaf [2, 2, 3, 6].
        Tensor xp = normal(r, 2, 2, 3, 6);
        check(in -> in.get(0).transpose(1, 2).rotary(cos, sin, interleaved), xp);
      }
      // Angles that are not a rotation (|cos|^2 + |sin|^2 != 1): the rule must not assume one.
      Tensor cs = Tensor.of(new double[] {0.3, -1.2, 0.8}, 3),
          ss = Tensor.of(new double[] {1.5, 0.1, -0.6}, 3);
      for (boolean interleaved : new boolean[] {true, false}) {
        check(in -> in.get(0).rotary(cs, ss, interleaved), x);
      }
    }
  }
}
