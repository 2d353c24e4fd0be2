package io.kinema.autograd;

import static io.kinema.autograd.GradTesting.awayFromZero;
import static io.kinema.autograd.GradTesting.check;
import static io.kinema.autograd.GradTesting.distinct;
import static io.kinema.autograd.GradTesting.normal;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** Finite-difference checks of the reduction rules over every kind of dim selection. */
class ReductionGradTest {
  /** Dim selections for a rank-3 input: single, negative, several, all (null and empty). */
  private static final int[][] DIMS = {{0}, {1}, {-1}, {0, 2}, {-1, 0}, {0, 1, 2}, null, {}};

  /**
   * Checks {@code reduce(x, dims, keepdim)} for every dim selection and both keepdims, on the [2,
   * 3, 4] leaf as is and seen through a permutation (non-contiguous).
   */
  private static void allDims(Tensor x234, Reduction reduce) {
    for (int[] dims : DIMS) {
      for (boolean keep : new boolean[] {false, true}) {
        check(in -> reduce.apply(in.get(0), dims, keep), x234);
      }
    }
  }

  private static void nonContiguous(Tensor x423, Reduction reduce) {
    for (int[] dims : new int[][] {{1}, {0, 2}, null}) {
      check(in -> reduce.apply(in.get(0).permute(1, 2, 0), dims, true), x423);
      check(in -> reduce.apply(in.get(0).slice(0, 1, 4, 2), dims, false), x423);
    }
  }

  interface Reduction {
    Tensor apply(Tensor x, int[] dims, boolean keepdim);
  }

  private static void both(Random r, Reduction reduce) {
    allDims(normal(r, 2, 3, 4), reduce);
    nonContiguous(normal(r, 4, 2, 3), reduce);
  }

  @Test
  void sumAndMean() {
    try (var s = Scope.open()) {
      Random r = new Random(11);
      both(r, Tensor::sum);
      both(r, Tensor::mean);
      Tensor x = normal(r, 2, 3);
      check(in -> in.get(0).sum(), x);
      check(in -> in.get(0).mean(), x);
      check(in -> in.get(0).sum(-2), x);
      check(in -> in.get(0).mean(1, true), x);
      Tensor scalar = normal(r);
      check(in -> in.get(0).sum(), scalar);
      check(in -> in.get(0).mean(new int[0], true), scalar);
    }
  }

  @Test
  void maxAndMinWithoutTies() {
    try (var s = Scope.open()) {
      Random r = new Random(12);
      allDims(distinct(r, 2, 3, 4), Tensor::amax);
      allDims(distinct(r, 2, 3, 4), Tensor::amin);
      nonContiguous(distinct(r, 4, 2, 3), Tensor::amax);
      nonContiguous(distinct(r, 4, 2, 3), Tensor::amin);
      Tensor x = distinct(r, 3, 5);
      check(in -> in.get(0).max(), x);
      check(in -> in.get(0).min(), x);
    }
  }

  @Test
  void maxAndMinSplitTiesEvenlyAsAmax() {
    try (var s = Scope.open()) {
      Tensor x = Tensor.of(new double[] {1, 3, 3, 2, 5, 5, 5, 0}, 2, 4).requiresGrad(true);
      x.amax(1, false).mul(Tensor.of(new double[] {2, 3}, 2)).sum().backward();
      assertArrayEquals(new double[] {0, 1, 1, 0, 1, 1, 1, 0}, x.grad().toDoubleArray(), 1e-15);
      x.zeroGrad();
      x.max().backward();
      assertArrayEquals(
          new double[] {0, 0, 0, 0, 1 / 3.0, 1 / 3.0, 1 / 3.0, 0}, x.grad().toDoubleArray(), 1e-15);
      x.zeroGrad();
      Tensor y = Tensor.of(new double[] {1, 1, 4, -2, -2, 7}, 2, 3).requiresGrad(true);
      y.amin(new int[] {0, 1}, true).sum().backward();
      assertArrayEquals(new double[] {0, 0, 0, 0.5, 0.5, 0}, y.grad().toDoubleArray(), 1e-15);
    }
  }

  @Test
  void prodWithAndWithoutZeros() {
    try (var s = Scope.open()) {
      Random r = new Random(13);
      // Values near +-1 keep the products (and the finite differences) well scaled.
      both(r, (x, d, k) -> x.mul(0.3).add(1).prod(d, k));
      Tensor oneZero = Tensor.of(new double[] {0.5, 0, -2, 1.5, 0.7, 3, -1, 0.2}, 2, 4);
      Tensor twoZeros = Tensor.of(new double[] {0, 0.5, 0, 2, 1.1, -0.4, 0, 0}, 2, 4);
      for (Tensor t : new Tensor[] {oneZero, twoZeros}) {
        t.requiresGrad(true);
        for (int[] dims : new int[][] {{1}, {0}, null}) {
          check(in -> in.get(0).prod(dims, false), t);
          check(in -> in.get(0).transpose(0, 1).prod(dims, true), t);
        }
      }
      // Exact values: the zero's gradient is the product of the others, the rest get 0; with
      // two zeros every gradient is 0.
      oneZero.prod(new int[] {1}, false).sum().backward();
      double p = 0.7 * 3 * -1 * 0.2;
      assertArrayEquals(
          new double[] {0, 0.5 * -2 * 1.5, 0, 0, p / 0.7, p / 3, p / -1, p / 0.2},
          oneZero.grad().toDoubleArray(),
          1e-14);
      twoZeros.prod(new int[] {1}, false).sum().backward();
      assertArrayEquals(new double[8], twoZeros.grad().toDoubleArray());
    }
  }

  @Test
  void pNorms() {
    try (var s = Scope.open()) {
      Random r = new Random(14);
      for (double p : new double[] {1, 2, 3, 0.5}) {
        Tensor x = awayFromZero(r, 0.2, 2, 2, 3, 4);
        allDims(x, (t, d, k) -> t.norm(p, d, k));
        nonContiguous(awayFromZero(r, 0.2, 2, 4, 2, 3), (t, d, k) -> t.norm(p, d, k));
      }
      Tensor x = distinct(r, 2, 3, 4);
      // distinct() values are distinct but not in |x|: make them all positive for inf norms.
      Tensor pos = Tensor.of(absolute(x.toDoubleArray()), 2, 3, 4).requiresGrad(true);
      double inf = Double.POSITIVE_INFINITY;
      allDims(pos, (t, d, k) -> t.norm(inf, d, k));
      allDims(pos, (t, d, k) -> t.norm(-inf, d, k));
      Tensor signs = awayFromZero(r, 0.1, 2, 5);
      check(in -> in.get(0).norm(inf, null, false), signs);
      check(in -> in.get(0).norm(), signs);
      check(in -> in.get(0).norm(0, null, false), signs);
    }
  }

  private static double[] absolute(double[] v) {
    double[] a = new double[v.length];
    for (int i = 0; i < v.length; i++) a[i] = Math.abs(v[i]) + 0.01;
    return a;
  }

  @Test
  void varAndStdWithBothCorrections() {
    try (var s = Scope.open()) {
      Random r = new Random(15);
      for (int correction : new int[] {0, 1}) {
        both(r, (x, d, k) -> x.var(d, correction, k));
        both(r, (x, d, k) -> x.std(d, correction, k));
      }
      Tensor x = normal(r, 6);
      check(in -> in.get(0).var(), x);
      check(in -> in.get(0).std(), x);
    }
  }
}
