package io.kinema.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kinema.tensor.cpu.Parallel;
import java.util.Arrays;
import java.util.Random;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;

/**
 * The fused backwards of {@link Normalization} on the CPU against double-precision references
 * computed here from the operands' values: every float dtype, odd sizes, one to three normalized
 * dims, with and without weight/bias, non-contiguous operands; and the parameter gradients' bits
 * run to run and with the kernels' pool unused.
 */
class NormBackwardTest {
  private static final DType[] FLOATS = {DType.F32, DType.F64, DType.BF16, DType.F16};

  /** Relative tolerance (of the reference's largest magnitude) per dtype. */
  private static double tol(DType dt) {
    return switch (dt) {
      case F64 -> 1e-11;
      case F32 -> 2e-5;
      default -> 2e-2; // one rounding of the result to 8 (11) bits, inputs rounded alike
    };
  }

  /**
   * Shapes and normalized-dim counts: odd sizes, a single row, rows of 1, and rows cut into two
   * chunks for the parameter gradients (the last one shorter).
   */
  private static final long[][] SHAPES = {
    {3, 5, 7}, {2, 3, 33}, {37, 19}, {5}, {130, 1}, {4, 6, 9}, {700, 65}
  };

  private static final int[] DIMS = {1, 2, 1, 1, 1, 3, 1};

  private static Tensor normal(Random r, DType dt, long... shape) {
    double[] v = new double[(int) Shapes.numel(shape)];
    for (int i = 0; i < v.length; i++) v[i] = r.nextGaussian();
    return Tensor.of(v, shape).to(dt);
  }

  /**
   * {@code t}'s values made non-contiguous: stored transposed (first and last dims swapped), or
   * every other element for one dim; null stays null.
   */
  private static Tensor strided(Tensor t) {
    if (t == null) return null;
    if (t.dim() < 2) return t.unsqueeze(1).expand(t.size(0), 2).contiguous().select(1, 0);
    int last = t.dim() - 1;
    return t.transpose(0, last).contiguous().transpose(0, last);
  }

  private static void assertClose(String what, double[] want, Tensor got, DType dt) {
    double[] g = got.toDoubleArray();
    double scale = 1;
    for (double w : want) scale = Math.max(scale, Math.abs(w));
    for (int i = 0; i < want.length; i++) {
      double err = Math.abs(g[i] - want[i]);
      int at = i;
      assertTrue(
          err <= tol(dt) * scale,
          () -> what + " " + dt + " at " + at + ": " + g[at] + " vs " + want[at]);
    }
  }

  // ---------------------------------------------------------------- references

  /** {dx, dw, db} of layer norm (rms when {@code rms}) in double; w may be null. */
  private static double[][] normReference(
      boolean rms, double[] x, double[] dy, double[] w, int n, double eps) {
    int rows = x.length / n;
    double[] dx = new double[x.length], dw = new double[n], db = new double[n];
    for (int r = 0; r < rows; r++) {
      int o = r * n;
      double mean = 0, var = 0;
      if (!rms) {
        for (int j = 0; j < n; j++) mean += x[o + j];
        mean /= n;
      }
      for (int j = 0; j < n; j++) var += (x[o + j] - mean) * (x[o + j] - mean);
      double rstd = 1 / Math.sqrt(var / n + eps), mg = 0, mgx = 0;
      for (int j = 0; j < n; j++) {
        double xh = (x[o + j] - mean) * rstd, g = dy[o + j] * (w == null ? 1 : w[j]);
        mg += g / n;
        mgx += g * xh / n;
        dw[j] += dy[o + j] * xh;
        db[j] += dy[o + j];
      }
      for (int j = 0; j < n; j++) {
        double xh = (x[o + j] - mean) * rstd, g = dy[o + j] * (w == null ? 1 : w[j]);
        dx[o + j] = rstd * (g - (rms ? 0 : mg) - xh * mgx);
      }
    }
    return new double[][] {dx, dw, db};
  }

  private static double[] softmaxReference(double[] y, double[] dy, int n, boolean log) {
    double[] dx = new double[y.length];
    for (int o = 0; o < y.length; o += n) {
      double s = 0;
      for (int j = 0; j < n; j++) s += log ? dy[o + j] : dy[o + j] * y[o + j];
      for (int j = 0; j < n; j++) {
        dx[o + j] = log ? dy[o + j] - Math.exp(y[o + j]) * s : y[o + j] * (dy[o + j] - s);
      }
    }
    return dx;
  }

  // ---------------------------------------------------------------- tests

  @Test
  void layerNormAndRmsNormMatchADoubleReference() {
    Random r = new Random(7);
    for (DType dt : FLOATS) {
      for (int c = 0; c < SHAPES.length; c++) {
        long[] shape = SHAPES[c];
        int k = DIMS[c];
        long[] ns = Arrays.copyOfRange(shape, shape.length - k, shape.length);
        int n = (int) Shapes.numel(ns);
        for (int variant = 0; variant < 4; variant++) {
          try (var s = Scope.open()) {
            boolean hasW = variant % 2 == 1, hasB = variant >= 2, nonContig = variant == 3;
            Tensor x = normal(r, dt, shape), dy = normal(r, dt, shape);
            Tensor w = hasW ? normal(r, dt, ns) : null, b = hasB ? normal(r, dt, ns) : null;
            if (nonContig) {
              x = strided(x);
              dy = strided(dy);
              w = strided(w);
            }
            double[] wv = w == null ? null : w.toDoubleArray();
            String where = Arrays.toString(shape) + " k=" + k + " variant " + variant;
            var f = Normalization.layerNorm(x, ns, w, b, 1e-5);
            var wanted = new Normalization.Wanted(true, hasW, hasB);
            var g = Normalization.layerNormBackward(dy, x, ns, w, f.mean(), f.rstd(), wanted);
            double[][] ref =
                normReference(false, x.toDoubleArray(), dy.toDoubleArray(), wv, n, 1e-5);
            assertClose("layer_norm dx " + where, ref[0], g.x(), dt);
            if (hasW) assertClose("layer_norm dweight " + where, ref[1], g.weight(), dt);
            else assertNull(g.weight());
            if (hasB) assertClose("layer_norm dbias " + where, ref[2], g.bias(), dt);
            else assertNull(g.bias());

            var fr = Normalization.rmsNorm(x, ns, w, 1e-6);
            var gr =
                Normalization.rmsNormBackward(
                    dy, x, ns, w, fr.rstd(), new Normalization.Wanted(true, hasW, false));
            double[][] rr = normReference(true, x.toDoubleArray(), dy.toDoubleArray(), wv, n, 1e-6);
            assertClose("rms_norm dx " + where, rr[0], gr.x(), dt);
            if (hasW) assertClose("rms_norm dweight " + where, rr[1], gr.weight(), dt);
          }
        }
      }
    }
  }

  @Test
  void parameterGradientsAloneAndIntoNothing() {
    try (var s = Scope.open()) {
      Random r = new Random(8);
      long[] ns = {11};
      Tensor x = normal(r, DType.F32, 300, 11), dy = normal(r, DType.F32, 300, 11);
      Tensor w = normal(r, DType.F32, 11);
      var f = Normalization.layerNorm(x, ns, w, null, 1e-5);
      var all =
          Normalization.layerNormBackward(
              dy, x, ns, w, f.mean(), f.rstd(), new Normalization.Wanted(true, true, true));
      var params =
          Normalization.layerNormBackward(
              dy, x, ns, w, f.mean(), f.rstd(), new Normalization.Wanted(false, true, true));
      assertNull(params.x());
      assertArrayEquals(all.weight().toFloatArray(), params.weight().toFloatArray());
      assertArrayEquals(all.bias().toFloatArray(), params.bias().toFloatArray());
      // No rows: the parameter gradients are zeros.
      Tensor x0 = Tensor.empty(DType.F32, 0, 11);
      var f0 = Normalization.layerNorm(x0, ns, w, null, 1e-5);
      var g0 =
          Normalization.layerNormBackward(
              x0, x0, ns, w, f0.mean(), f0.rstd(), new Normalization.Wanted(true, true, true));
      assertArrayEquals(new float[11], g0.weight().toFloatArray());
      assertArrayEquals(new float[11], g0.bias().toFloatArray());
    }
  }

  @Test
  void softmaxAndLogSoftmaxMatchADoubleReference() {
    Random r = new Random(9);
    for (DType dt : FLOATS) {
      for (boolean log : new boolean[] {false, true}) {
        for (int dim = 0; dim < 3; dim++) {
          try (var s = Scope.open()) {
            Tensor x = normal(r, dt, 3, 37, 5).mul(2);
            Tensor y = log ? x.logSoftmax(dim) : x.softmax(dim);
            Tensor dy = dim == 1 ? strided(normal(r, dt, 3, 37, 5)) : normal(r, dt, 3, 37, 5);
            Tensor dx = Normalization.softmaxBackward(y, dy, dim, log);
            // The reference works on rows along the last dim: move dim there.
            Tensor yl = y.transpose(dim, 2).contiguous(), gl = dy.transpose(dim, 2).contiguous();
            int n = (int) y.size(dim);
            double[] ref = softmaxReference(yl.toDoubleArray(), gl.toDoubleArray(), n, log);
            assertClose(
                (log ? "log_softmax" : "softmax") + " dim " + dim,
                ref,
                dx.transpose(dim, 2).contiguous(),
                dt);
          }
        }
      }
    }
  }

  @Test
  void parameterGradientsAreTheSameBitsRunToRunAndWithoutThePool() {
    try (var s = Scope.open()) {
      Random r = new Random(10);
      long[] ns = {67};
      Tensor x = normal(r, DType.F32, 2000, 67), dy = normal(r, DType.F32, 2000, 67);
      Tensor w = normal(r, DType.F32, 67), b = normal(r, DType.F32, 67);
      var f = Normalization.layerNorm(x, ns, w, b, 1e-5);
      Supplier<float[][]> run =
          () -> {
            var g =
                Normalization.layerNormBackward(
                    dy, x, ns, w, f.mean(), f.rstd(), new Normalization.Wanted(true, true, true));
            return new float[][] {
              g.x().toFloatArray(), g.weight().toFloatArray(), g.bias().toFloatArray()
            };
          };
      float[][] first = run.get(), again = run.get();
      // Inside a chunk of a parallel loop, kernels run on the calling thread alone.
      float[][][] sequential = new float[1][][];
      Parallel.forRange(
          2,
          1,
          (st, e) -> {
            if (st == 0) sequential[0] = run.get();
          });
      for (int i = 0; i < 3; i++) {
        assertArrayEquals(first[i], again[i]);
        assertArrayEquals(first[i], sequential[0][i]);
      }
    }
  }

  @Test
  void badOperandsAreNamed() {
    try (var s = Scope.open()) {
      Random r = new Random(11);
      long[] ns = {4};
      Tensor x = normal(r, DType.F32, 3, 4);
      var f = Normalization.layerNorm(x, ns, null, null, 1e-5);
      var all = new Normalization.Wanted(true, false, false);
      var e =
          assertThrows(
              IllegalArgumentException.class,
              () -> Normalization.layerNormBackward(x, x, ns, null, f.mean(), x, all));
      assertTrue(e.getMessage().contains("rstd"), e.getMessage());
      e =
          assertThrows(
              IllegalArgumentException.class,
              () ->
                  Normalization.layerNormBackward(
                      x.to(DType.F64), x, ns, null, f.mean(), f.rstd(), all));
      assertTrue(e.getMessage().contains("gradOut"), e.getMessage());
      e =
          assertThrows(
              IllegalArgumentException.class,
              () ->
                  Normalization.layerNormBackward(
                      x,
                      x,
                      ns,
                      null,
                      f.mean(),
                      f.rstd(),
                      new Normalization.Wanted(true, true, false)));
      assertTrue(e.getMessage().contains("weight"), e.getMessage());
    }
  }
}
