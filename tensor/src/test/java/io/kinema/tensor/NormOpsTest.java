package io.kinema.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.kinema.tensor.backend.Backend;
import java.util.Random;
import org.junit.jupiter.api.Test;

class NormOpsTest {
  private static final DType[] FLOATS = {DType.F64, DType.F32, DType.BF16, DType.F16};

  static double tol(DType dt) {
    return switch (dt) {
      case F64 -> 1e-12;
      case F32 -> 1e-5;
      case F16 -> 2e-3;
      case BF16 -> 1e-2;
      default -> 0;
    };
  }

  static double[] gaussian(Random rnd, long n) {
    double[] d = new double[(int) n];
    for (int i = 0; i < d.length; i++) d[i] = rnd.nextGaussian();
    return d;
  }

  static Tensor randn(Random rnd, DType dt, long... shape) {
    try (Tensor t = Tensor.of(gaussian(rnd, Shapes.numel(shape)), shape)) {
      return t.to(dt);
    }
  }

  /** |got - want| <= tol * max(|want|, floor) elementwise; NaN must match NaN. */
  static void assertAllClose(double[] want, double[] got, double tol, double floor, String what) {
    assertEquals(want.length, got.length, what + ": length");
    for (int i = 0; i < want.length; i++) {
      if (Double.isNaN(want[i]) || Double.isInfinite(want[i])) {
        assertEquals(want[i], got[i], what + " [" + i + "]");
        continue;
      }
      if (!(Math.abs(want[i] - got[i]) <= tol * Math.max(Math.abs(want[i]), floor))) {
        fail(
            what
                + " ["
                + i
                + "]: expected "
                + want[i]
                + " but got "
                + got[i]
                + " (tol "
                + tol
                + ")");
      }
    }
  }

  // ------------------------------------------------------------------ softmax

  /** Softmax (log-softmax) of row-major data along dim, in double. */
  static double[] refSoftmax(double[] v, long[] shape, int dim, boolean log) {
    long len = shape[dim], inner = 1;
    for (int d = dim + 1; d < shape.length; d++) inner *= shape[d];
    long outer = len * inner == 0 ? 0 : v.length / (len * inner);
    double[] out = new double[v.length];
    for (long o = 0; o < outer; o++) {
      for (long in = 0; in < inner; in++) {
        long base = o * len * inner + in;
        double max = Double.NEGATIVE_INFINITY;
        for (long j = 0; j < len; j++) max = Math.max(max, v[(int) (base + j * inner)]);
        double sum = 0;
        for (long j = 0; j < len; j++) sum += Math.exp(v[(int) (base + j * inner)] - max);
        for (long j = 0; j < len; j++) {
          int i = (int) (base + j * inner);
          out[i] = log ? v[i] - max - Math.log(sum) : Math.exp(v[i] - max) / sum;
        }
      }
    }
    return out;
  }

  static void checkSoftmax(Tensor x, int dim, boolean log) {
    try (Tensor y = log ? x.logSoftmax(dim) : x.softmax(dim)) {
      String what = (log ? "log_softmax" : "softmax") + " of " + x.describe() + " dim " + dim;
      assertArrayEquals(x.shape(), y.shape(), what);
      assertEquals(x.dtype(), y.dtype(), what);
      int d = dim < 0 ? dim + x.dim() : dim;
      double[] want = refSoftmax(x.toDoubleArray(), x.shape(), d, log);
      // Probabilities are compared relative to themselves (floor: the smallest we care about);
      // log-probabilities relative to max(|value|, 1).
      // F16 probabilities below its normal range (6e-5) have absolute precision only.
      double floor = log ? 1 : x.dtype() == DType.F16 ? 1e-4 : 1e-6;
      assertAllClose(want, y.toDoubleArray(), tol(x.dtype()), floor, what);
    }
  }

  @Test
  void softmaxEveryDtypeAndDim() {
    Random rnd = new Random(11);
    long[] sizes = {1, 3, 17, 33, 1000};
    try (var s = Scope.open()) {
      for (int trial = 0; trial < 40; trial++) {
        int rank = 1 + rnd.nextInt(4);
        long[] shape = new long[rank];
        do {
          for (int d = 0; d < rank; d++) shape[d] = sizes[rnd.nextInt(sizes.length)];
        } while (Shapes.numel(shape) > 40_000);
        DType dt = FLOATS[trial % FLOATS.length];
        Tensor x = randn(rnd, dt, shape);
        for (int d = 0; d < rank; d++) {
          int dim = rnd.nextBoolean() ? d : d - rank;
          checkSoftmax(x, dim, false);
          checkSoftmax(x, dim, true);
        }
      }
    }
  }

  @Test
  void softmaxNonContiguousAndLarge() {
    Random rnd = new Random(12);
    try (var s = Scope.open()) {
      for (DType dt : FLOATS) {
        Tensor base = randn(rnd, dt, 4, 40, 35);
        Tensor[] views = {
          base.permute(2, 0, 1), base.slice(1, 1, 40, 3), base.slice(2, 0, 35, 2).transpose(0, 1)
        };
        for (Tensor v : views) {
          for (int d = 0; d < 3; d++) {
            checkSoftmax(v, d, false);
            checkSoftmax(v, d, true);
          }
        }
        // Long rows: vector loops, f32 blocks and the half-type conversion paths.
        Tensor big = randn(rnd, dt, 2, dt == DType.F32 || dt == DType.BF16 ? 100_000 : 20_000);
        checkSoftmax(big, 1, false);
        checkSoftmax(big, -1, true);
        checkSoftmax(randn(rnd, dt, 20_000, 3), 0, false);
      }
      // Large logits: the row max is subtracted, so nothing overflows.
      Tensor hot = Tensor.of(new float[] {1000, 1001, 999, -1000, 1001}, 1, 5);
      checkSoftmax(hot, 1, false);
      checkSoftmax(hot, 1, true);
    }
  }

  @Test
  void softmaxInfNanAndEdgeShapes() {
    try (var s = Scope.open()) {
      double inf = Double.POSITIVE_INFINITY;
      for (DType dt : FLOATS) {
        for (int len : new int[] {3, 40}) {
          double[] v = new double[3 * len];
          for (int i = 0; i < v.length; i++) v[i] = Math.cos(i);
          for (int j = 0; j < len; j++) v[j] = -inf; // row 0: all -inf -> NaN, as PyTorch
          v[len + 1] = -inf; // row 1: one -inf -> probability 0
          v[2 * len + 2] = Double.NaN; // row 2: NaN -> all NaN
          Tensor x = Tensor.of(v, 3, len).to(dt);
          for (boolean log : new boolean[] {false, true}) {
            double[] y = (log ? x.logSoftmax(1) : x.softmax(1)).toDoubleArray();
            for (int j = 0; j < len; j++) {
              assertTrue(Double.isNaN(y[j]), dt + " all -inf row");
              assertTrue(Double.isNaN(y[2 * len + j]), dt + " NaN row");
            }
            assertEquals(log ? -inf : 0.0, y[len + 1], dt + " -inf entry");
            double sum = 0;
            for (int j = 0; j < len; j++) sum += log ? Math.exp(y[len + j]) : y[len + j];
            assertEquals(1.0, sum, 2e-2, dt + " row sums to 1");
          }
        }
        Tensor sc = Tensor.scalar(3, dt);
        assertEquals(1.0, sc.softmax(0).item());
        assertEquals(0.0, sc.logSoftmax(-1).item());
        assertArrayEquals(new long[] {}, sc.softmax(0).shape());
        Tensor empty = Tensor.zeros(dt, 0, 4);
        assertArrayEquals(new long[] {0, 4}, empty.softmax(1).shape());
        assertArrayEquals(new long[] {0, 4}, empty.logSoftmax(0).shape());
        assertArrayEquals(new long[] {4, 0}, Tensor.zeros(dt, 4, 0).softmax(1).shape());
      }
      Tensor l = Tensor.of(new long[] {1, 2, 3});
      var e = assertThrows(IllegalArgumentException.class, () -> l.softmax(0));
      assertEquals("softmax: expected a floating-point tensor, got I64[3]", e.getMessage());
      e = assertThrows(IllegalArgumentException.class, () -> l.logSoftmax(0));
      assertTrue(e.getMessage().startsWith("log_softmax: "), e.getMessage());
      var e2 = assertThrows(IndexOutOfBoundsException.class, () -> Tensor.zeros(2, 3).softmax(2));
      assertTrue(e2.getMessage().startsWith("softmax: dim 2 out of range"), e2.getMessage());
    }
  }

  // ------------------------------------------------------------------ layer norm, rms norm

  /** Reference layer norm (rms when rms) over rows of n; w/b null or length n. Also mean, rstd. */
  static double[][] refNorm(boolean rms, double[] v, int n, double[] w, double[] b, double eps) {
    int rows = n == 0 ? 0 : v.length / n;
    double[] out = new double[v.length], mean = new double[rows], rstd = new double[rows];
    for (int r = 0; r < rows; r++) {
      double m = 0;
      if (!rms) {
        for (int j = 0; j < n; j++) m += v[r * n + j];
        m /= n;
      }
      double var = 0;
      for (int j = 0; j < n; j++) var += (v[r * n + j] - m) * (v[r * n + j] - m);
      double rs = 1 / Math.sqrt(var / n + eps);
      for (int j = 0; j < n; j++) {
        double y = (v[r * n + j] - m) * rs;
        if (w != null) y *= w[j];
        if (b != null) y += b[j];
        out[r * n + j] = y;
      }
      mean[r] = m;
      rstd[r] = rs;
    }
    return new double[][] {out, mean, rstd};
  }

  static void checkNorm(boolean rms, Tensor x, long[] ns, Tensor w, Tensor b, double eps) {
    String what =
        (rms ? "rms_norm" : "layer_norm")
            + " of "
            + x.describe()
            + (w != null ? " weight" : "")
            + (b != null ? " bias" : "");
    int n = (int) Shapes.numel(ns);
    double[][] ref =
        refNorm(
            rms,
            x.toDoubleArray(),
            n,
            w == null ? null : w.toDoubleArray(),
            b == null ? null : b.toDoubleArray(),
            eps);
    try (Tensor y = rms ? x.rmsNorm(ns, w, eps) : x.layerNorm(ns, w, b, eps)) {
      assertArrayEquals(x.shape(), y.shape(), what);
      assertEquals(x.dtype(), y.dtype(), what);
      assertAllClose(ref[0], y.toDoubleArray(), tol(x.dtype()), 1, what);
    }
  }

  @Test
  void layerNormAndRmsNormEveryDtype() {
    Random rnd = new Random(13);
    long[][] shapes = {{3, 17, 33}, {1000}, {5, 1000}, {2, 3, 4, 5}, {7, 1}, {1, 3}};
    try (var s = Scope.open()) {
      for (DType dt : FLOATS) {
        for (long[] shape : shapes) {
          for (int k = 1; k <= Math.min(2, shape.length); k++) {
            long[] ns = java.util.Arrays.copyOfRange(shape, shape.length - k, shape.length);
            Tensor x = randn(rnd, dt, shape);
            Tensor w = randn(rnd, dt, ns), b = randn(rnd, dt, ns);
            double eps = k == 1 ? 1e-5 : 1e-6;
            checkNorm(false, x, ns, null, null, eps);
            checkNorm(false, x, ns, w, b, eps);
            checkNorm(false, x, ns, w, null, eps);
            checkNorm(false, x, ns, null, b, eps);
            checkNorm(true, x, ns, null, null, eps);
            checkNorm(true, x, ns, w, null, eps);
          }
        }
      }
    }
  }

  @Test
  void normsOfNonContiguousAndLargeRows() {
    Random rnd = new Random(14);
    try (var s = Scope.open()) {
      for (DType dt : FLOATS) {
        Tensor base = randn(rnd, dt, 6, 40, 35);
        Tensor w = randn(rnd, dt, 6), b = randn(rnd, dt, 6);
        Tensor perm = base.permute(1, 2, 0); // [40, 35, 6], rows strided
        checkNorm(false, perm, new long[] {6}, w, b, 1e-5);
        checkNorm(true, perm, new long[] {6}, w, null, 1e-5);
        Tensor sl = base.slice(2, 1, 35, 2); // [6, 40, 17]
        Tensor w2 = randn(rnd, dt, 40, 17).t().contiguous().t(); // a transposed weight
        checkNorm(false, sl, new long[] {40, 17}, w2, null, 1e-5);
        checkNorm(true, sl, new long[] {17}, null, null, 1e-5);
        Tensor big = randn(rnd, dt, 3, 100_000);
        Tensor bw = randn(rnd, dt, 100_000), bb = randn(rnd, dt, 100_000);
        checkNorm(false, big, new long[] {100_000}, bw, bb, 1e-5);
        checkNorm(true, big, new long[] {100_000}, bw, null, 1e-6);
        checkNorm(false, randn(rnd, dt, 2000, 33), new long[] {33}, null, null, 1e-5);
      }
    }
  }

  /** Two passes keep the variance of large-mean data: E[x^2]-E[x]^2 in f32 would be noise. */
  @Test
  void layerNormLargeMeanHasNoCancellation() {
    Random rnd = new Random(15);
    try (var s = Scope.open()) {
      double[] v = new double[4 * 1536];
      for (int i = 0; i < v.length; i++) v[i] = 1e4 + rnd.nextGaussian();
      Tensor x = Tensor.of(v, 4, 1536).to(DType.F32);
      double[] want = refNorm(false, x.toDoubleArray(), 1536, null, null, 1e-5)[0];
      // The f32 row mean itself is only good to an ulp of 1e4 (~1e-3 absolute).
      assertAllClose(
          want, x.layerNorm(new long[] {1536}, null, null, 1e-5).toDoubleArray(), 2e-3, 1, "ln");
    }
  }

  @Test
  void backendWritesMeanAndRstd() {
    Random rnd = new Random(16);
    Backend be = Backends.of(Device.CPU);
    try (var s = Scope.open()) {
      for (DType dt : FLOATS) {
        DType st = dt == DType.F64 ? DType.F64 : DType.F32;
        Tensor x = randn(rnd, dt, 4, 3, 50);
        Tensor w = randn(rnd, dt, 50), b = randn(rnd, dt, 50);
        double[][] ref =
            refNorm(false, x.toDoubleArray(), 50, w.toDoubleArray(), b.toDoubleArray(), 1e-5);
        Tensor out = Tensor.empty(dt, 4, 3, 50);
        Tensor mean = Tensor.empty(st, 4, 3);
        Tensor rstd = Tensor.empty(st, 3, 4).t(); // a non-contiguous stats output
        be.layerNorm(x, 1, w, b, 1e-5, out, mean, rstd);
        assertAllClose(ref[0], out.toDoubleArray(), tol(dt), 1, "ln out " + dt);
        assertAllClose(ref[1], mean.toDoubleArray(), tol(st), 1, "ln mean " + dt);
        assertAllClose(ref[2], rstd.toDoubleArray(), tol(st), 1, "ln rstd " + dt);
        double[][] rref = refNorm(true, x.toDoubleArray(), 150, null, null, 1e-6);
        Tensor rout = Tensor.empty(dt, 4, 3, 50);
        Tensor rrstd = Tensor.empty(st, 4);
        be.rmsNorm(x, 2, null, 1e-6, rout, rrstd);
        assertAllClose(rref[0], rout.toDoubleArray(), tol(dt), 1, "rms out " + dt);
        assertAllClose(rref[2], rrstd.toDoubleArray(), tol(st), 1, "rms rstd " + dt);
      }
    }
  }

  @Test
  void normErrorsNameOpAndShapes() {
    try (var s = Scope.open()) {
      Tensor x = Tensor.zeros(2, 3, 5);
      var e =
          assertThrows(
              IllegalArgumentException.class,
              () -> x.layerNorm(new long[] {4, 5}, null, null, 1e-5));
      assertEquals(
          "layer_norm: given normalized_shape [4, 5], expected input with shape [*, 4, 5], but got"
              + " input of size F32[2, 3, 5]",
          e.getMessage());
      e =
          assertThrows(
              IllegalArgumentException.class, () -> x.rmsNorm(new long[] {1, 2, 3, 5}, null, 1e-5));
      assertTrue(
          e.getMessage().startsWith("rms_norm: given normalized_shape [1, 2, 3, 5]"),
          e.getMessage());
      e =
          assertThrows(
              IllegalArgumentException.class,
              () -> x.layerNorm(new long[] {3, 5}, Tensor.zeros(5), null, 1e-5));
      assertEquals("layer_norm: expected weight of shape [3, 5], got F32[5]", e.getMessage());
      e =
          assertThrows(
              IllegalArgumentException.class,
              () -> x.layerNorm(new long[] {5}, null, Tensor.zeros(DType.BF16, 5), 1e-5));
      assertEquals(
          "layer_norm: bias BF16[5] must have the input's dtype (input F32[2, 3, 5])",
          e.getMessage());
      e =
          assertThrows(
              IllegalArgumentException.class, () -> x.layerNorm(new long[] {}, null, null, 1e-5));
      assertTrue(e.getMessage().contains("at least 1-dimensional"), e.getMessage());
      Tensor i = Tensor.of(new int[] {1, 2});
      e = assertThrows(IllegalArgumentException.class, () -> i.rmsNorm(new long[] {2}, null, 1e-5));
      assertEquals("rms_norm: expected a floating-point tensor, got I32[2]", e.getMessage());
    }
  }

  // ------------------------------------------------------------------ rotary

  /** Direct formula on x's values and cos/sin already expanded to x's shape with D/2. */
  static double[] refRotary(double[] x, double[] c, double[] sn, int d, boolean interleaved) {
    double[] out = new double[x.length];
    int h = d / 2;
    for (int r = 0; r < x.length / Math.max(1, d); r++) {
      for (int i = 0; i < h; i++) {
        int p0 = interleaved ? r * d + 2 * i : r * d + i;
        int p1 = interleaved ? p0 + 1 : p0 + h;
        double cc = c[r * h + i], ss = sn[r * h + i];
        out[p0] = x[p0] * cc - x[p1] * ss;
        out[p1] = x[p0] * ss + x[p1] * cc;
      }
    }
    return out;
  }

  static void checkRotary(Tensor x, Tensor cos, Tensor sin, boolean interleaved) {
    long[] target = x.shape();
    target[target.length - 1] /= 2;
    String what =
        "rotary of " + x.describe() + " cos " + cos.describe() + " interleaved " + interleaved;
    double[] c, sn;
    try (Tensor ce = cos.expand(target);
        Tensor se = sin.expand(target)) {
      c = ce.toDoubleArray();
      sn = se.toDoubleArray();
    }
    double[] want = refRotary(x.toDoubleArray(), c, sn, (int) x.size(-1), interleaved);
    try (Tensor y = x.rotary(cos, sin, interleaved)) {
      assertArrayEquals(x.shape(), y.shape(), what);
      assertEquals(x.dtype(), y.dtype(), what);
      assertAllClose(want, y.toDoubleArray(), tol(x.dtype()), 1, what);
    }
  }

  /** cos/sin of angles pos * theta_i, shape [..., half]. */
  static Tensor[] angles(long positions, long half, DType dt) {
    double[] c = new double[(int) (positions * half)], sn = new double[c.length];
    for (int p = 0; p < positions; p++) {
      for (int i = 0; i < half; i++) {
        double a = p * Math.pow(10000, -2.0 * i / (2 * half));
        c[(int) (p * half + i)] = Math.cos(a);
        sn[(int) (p * half + i)] = Math.sin(a);
      }
    }
    try (Tensor tc = Tensor.of(c, positions, half);
        Tensor ts = Tensor.of(sn, positions, half)) {
      return new Tensor[] {tc.to(dt), ts.to(dt)};
    }
  }

  @Test
  void rotaryBothLayoutsEveryDtype() {
    Random rnd = new Random(17);
    try (var s = Scope.open()) {
      for (DType dt : FLOATS) {
        for (DType angleType : new DType[] {DType.F32, dt, DType.F64}) {
          for (boolean il : new boolean[] {true, false}) {
            // [B, S, H, D] with per-position angles [S, 1, D/2] (Wan's layout).
            Tensor[] a = angles(5, 32, angleType);
            Tensor x = randn(rnd, dt, 2, 5, 3, 64);
            checkRotary(x, a[0].unsqueeze(1), a[1].unsqueeze(1), il);
            // Row lengths that are not multiples of the vector length; angles per row.
            for (long d : new long[] {2, 6, 34, 130}) {
              Tensor[] b = angles(7, d / 2, angleType);
              checkRotary(randn(rnd, dt, 7, d), b[0], b[1], il);
              checkRotary(randn(rnd, dt, 3, 7, d), b[0], b[1], il);
            }
            // Non-contiguous x: rows strided, and the last dim strided.
            Tensor base = randn(rnd, dt, 5, 2, 64);
            checkRotary(base.transpose(0, 1), a[0].squeeze(), a[1].squeeze(), il);
            Tensor wide = randn(rnd, dt, 5, 128);
            checkRotary(wide.slice(1, 0, 128, 2), a[0].reshape(5, 32), a[1].reshape(5, 32), il);
          }
        }
        // Many rows: parallel path.
        Tensor[] big = angles(1024, 64, DType.F32);
        checkRotary(randn(rnd, dt, 2, 1024, 128), big[0], big[1], true);
        checkRotary(randn(rnd, dt, 1024, 2, 128), big[0].unsqueeze(1), big[1].unsqueeze(1), false);
      }
    }
  }

  /**
   * Wan's apply_rotary_emb: freqs_cos/freqs_sin are repeat-interleaved tables [S, D]; it rotates
   * with freqs_cos[..., 0::2] and freqs_sin[..., 1::2] — strided views of the same D/2 angles.
   */
  @Test
  void rotaryMatchesWanWithRepeatInterleavedTables() {
    Random rnd = new Random(18);
    try (var s = Scope.open()) {
      long seq = 9, d = 40;
      double[] fc = new double[(int) (seq * d)], fs = new double[fc.length];
      double[] c = new double[(int) (seq * d / 2)], sn = new double[c.length];
      for (int p = 0; p < seq; p++) {
        for (int i = 0; i < d / 2; i++) {
          double a = p * Math.pow(10000, -2.0 * i / d);
          fc[(int) (p * d + 2 * i)] = fc[(int) (p * d + 2 * i + 1)] = Math.cos(a);
          fs[(int) (p * d + 2 * i)] = fs[(int) (p * d + 2 * i + 1)] = Math.sin(a);
          c[(int) (p * d / 2 + i)] = Math.cos(a);
          sn[(int) (p * d / 2 + i)] = Math.sin(a);
        }
      }
      Tensor x = randn(rnd, DType.F32, 2, seq, 4, d).transpose(1, 2); // [B, H, S, D] view
      Tensor freqsCos = Tensor.of(fc, seq, d).to(DType.F32);
      Tensor freqsSin = Tensor.of(fs, seq, d).to(DType.F32);
      Tensor y = x.rotary(freqsCos.slice(1, 0, d, 2), freqsSin.slice(1, 1, d, 2), true);
      double[] xv = x.toDoubleArray(), got = y.toDoubleArray();
      for (int r = 0; r < xv.length / d; r++) {
        int p = r % (int) seq;
        for (int i = 0; i < d / 2; i++) {
          double x1 = xv[(int) (r * d + 2 * i)], x2 = xv[(int) (r * d + 2 * i + 1)];
          double cc = c[(int) (p * d / 2 + i)], ss = sn[(int) (p * d / 2 + i)];
          assertEquals(x1 * cc - x2 * ss, got[(int) (r * d + 2 * i)], 1e-5);
          assertEquals(x1 * ss + x2 * cc, got[(int) (r * d + 2 * i + 1)], 1e-5);
        }
      }
    }
  }

  @Test
  void rotaryErrors() {
    try (var s = Scope.open()) {
      Tensor x = Tensor.zeros(2, 5);
      Tensor c = Tensor.zeros(2, 2);
      var e = assertThrows(IllegalArgumentException.class, () -> x.rotary(c, c, true));
      assertEquals("rotary: the last dim of x F32[2, 5] must be even, got 5", e.getMessage());
      Tensor x8 = Tensor.zeros(2, 3, 8);
      Tensor bad = Tensor.zeros(3, 3);
      e =
          assertThrows(
              IllegalArgumentException.class, () -> x8.rotary(bad, Tensor.zeros(3, 4), false));
      assertEquals(
          "rotary: cos F32[3, 3] cannot be broadcast to [2, 3, 4] (x F32[2, 3, 8] with its last dim"
              + " halved)",
          e.getMessage());
      e =
          assertThrows(
              IllegalArgumentException.class,
              () -> x8.rotary(Tensor.zeros(4), Tensor.zeros(1, 2, 3, 4), false));
      assertTrue(
          e.getMessage().startsWith("rotary: sin F32[1, 2, 3, 4] cannot be broadcast"),
          e.getMessage());
      Tensor i = Tensor.of(new int[] {1, 2});
      e =
          assertThrows(
              IllegalArgumentException.class,
              () -> i.rotary(Tensor.zeros(1), Tensor.zeros(1), true));
      assertEquals("rotary: expected a floating-point tensor, got I32[2]", e.getMessage());
      Tensor ok = Tensor.zeros(3, 4).rotary(Tensor.zeros(2), Tensor.zeros(2), true);
      assertArrayEquals(new double[12], ok.toDoubleArray());
    }
  }
}
