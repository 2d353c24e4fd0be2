package io.kinema.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.kinema.tensor.backend.ReduceOp;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class ReductionOpsTest {
  private static final DType[] FLOATS = {DType.F64, DType.F32, DType.BF16, DType.F16};

  static double tol(DType dt) {
    return switch (dt) {
      case F64 -> 1e-12;
      case F32 -> 1e-5;
      case F16 -> 1e-3;
      case BF16 -> 1e-2;
      default -> 0;
    };
  }

  static double[] gaussian(Random rnd, long n) {
    double[] d = new double[(int) n];
    for (int i = 0; i < d.length; i++) d[i] = rnd.nextGaussian();
    return d;
  }

  /** A tensor of dtype with random normal values. */
  static Tensor randn(Random rnd, DType dt, long... shape) {
    try (Tensor t = Tensor.of(gaussian(rnd, Shapes.numel(shape)), shape)) {
      return t.to(dt);
    }
  }

  // ------------------------------------------------------------------ reference

  /** One reduction in double over the values of one output. */
  static double refOp(ReduceOp op, double[] v, double param) {
    int n = v.length;
    switch (op) {
      case SUM:
      case MEAN:
        {
          double s = 0;
          for (double x : v) s += x;
          return op == ReduceOp.SUM ? s : s / n;
        }
      case PROD:
        {
          double p = 1;
          for (double x : v) p *= x;
          return p;
        }
      case MAX:
        {
          double m = Double.NEGATIVE_INFINITY;
          for (double x : v) m = Double.isNaN(x) || Double.isNaN(m) ? Double.NaN : Math.max(m, x);
          return m;
        }
      case MIN:
        {
          double m = Double.POSITIVE_INFINITY;
          for (double x : v) m = Double.isNaN(x) || Double.isNaN(m) ? Double.NaN : Math.min(m, x);
          return m;
        }
      case NORM:
        {
          if (param == Double.POSITIVE_INFINITY) {
            double m = 0;
            for (double x : v) m = Math.max(m, Math.abs(x));
            return m;
          }
          if (param == Double.NEGATIVE_INFINITY) {
            double m = Double.POSITIVE_INFINITY;
            for (double x : v) m = Math.min(m, Math.abs(x));
            return m;
          }
          double s = 0;
          for (double x : v) s += param == 0 ? (x != 0 ? 1 : 0) : Math.pow(Math.abs(x), param);
          return param == 0 ? s : Math.pow(s, 1 / param);
        }
      case VAR:
      case STD:
        {
          double mean = 0;
          for (double x : v) mean += x;
          mean /= n;
          double m2 = 0;
          for (double x : v) m2 += (x - mean) * (x - mean);
          double var = m2 / Math.max(0, n - param);
          return op == ReduceOp.VAR ? var : Math.sqrt(var);
        }
    }
    throw new AssertionError();
  }

  /** The values of each output (keepdim order) of reducing data[shape] over dims (empty: all). */
  static double[][] groups(double[] data, long[] shape, int[] dims) {
    int rank = shape.length;
    boolean[] red = new boolean[rank];
    if (dims.length == 0) Arrays.fill(red, true);
    for (int d : dims) red[d < 0 ? d + rank : d] = true;
    long[] keep = shape.clone();
    for (int d = 0; d < rank; d++) if (red[d]) keep[d] = 1;
    int outN = (int) Shapes.numel(keep);
    long[] kst = Shapes.contiguousStrides(keep);
    int[] owner = new int[data.length], count = new int[outN];
    long[] idx = new long[rank];
    for (int i = 0; i < data.length; i++) {
      long o = 0;
      for (int d = 0; d < rank; d++) if (!red[d]) o += idx[d] * kst[d];
      owner[i] = (int) o;
      count[(int) o]++;
      for (int d = rank - 1; d >= 0; d--) {
        if (++idx[d] < shape[d]) break;
        idx[d] = 0;
      }
    }
    double[][] out = new double[outN][];
    for (int i = 0; i < outN; i++) out[i] = new double[count[i]];
    int[] fill = new int[outN];
    for (int i = 0; i < data.length; i++) out[owner[i]][fill[owner[i]]++] = data[i];
    return out;
  }

  static long[] expectedShape(long[] shape, int[] dims, boolean keepdim) {
    int rank = shape.length;
    boolean[] red = new boolean[rank];
    if (dims.length == 0) Arrays.fill(red, true);
    for (int d : dims) red[d < 0 ? d + rank : d] = true;
    List<Long> out = new ArrayList<>();
    for (int d = 0; d < rank; d++) {
      if (!red[d]) out.add(shape[d]);
      else if (keepdim) out.add(1L);
    }
    return out.stream().mapToLong(Long::longValue).toArray();
  }

  static Tensor apply(ReduceOp op, Tensor x, int[] dims, boolean keepdim, double param) {
    return switch (op) {
      case SUM -> x.sum(dims, keepdim);
      case MEAN -> x.mean(dims, keepdim);
      case PROD -> x.prod(dims, keepdim);
      case MAX -> x.amax(dims, keepdim);
      case MIN -> x.amin(dims, keepdim);
      case NORM -> x.norm(param, dims, keepdim);
      case VAR -> x.var(dims, (int) param, keepdim);
      case STD -> x.std(dims, (int) param, keepdim);
    };
  }

  /**
   * Reduces x with the op and compares shape, dtype and values to the double reference computed on
   * x's own (already rounded) values. Sums are compared relative to the sum of |values|.
   */
  static void check(ReduceOp op, Tensor x, int[] dims, boolean keepdim, double param) {
    double[] data = x.toDoubleArray();
    try (Tensor r = apply(op, x, dims, keepdim, param)) {
      String what = op + "(" + param + ") of " + x.describe() + " over " + Arrays.toString(dims);
      assertArrayEquals(expectedShape(x.shape(), dims, keepdim), r.shape(), what);
      assertEquals(x.dtype(), r.dtype(), what);
      double[] got = r.toDoubleArray();
      double[][] g = groups(data, x.shape(), dims);
      double tol = tol(x.dtype());
      for (int i = 0; i < g.length; i++) {
        double want = refOp(op, g[i], param);
        double scale = Math.abs(want);
        if (op == ReduceOp.SUM || op == ReduceOp.MEAN) {
          double abs = 0;
          for (double v : g[i]) abs += Math.abs(v);
          scale = Math.max(scale, op == ReduceOp.SUM ? abs : abs / g[i].length);
        }
        if (op == ReduceOp.VAR || op == ReduceOp.STD) {
          double sq = 0; // deviations from a rounded mean are relative to the values' size
          for (double v : g[i]) sq += v * v;
          sq /= g[i].length;
          scale = Math.max(scale, op == ReduceOp.VAR ? sq : Math.sqrt(sq));
        }
        assertClose(want, got[i], tol, scale, what + " output " + i);
      }
    }
  }

  static void assertClose(double want, double got, double tol, double scale, String what) {
    if (Double.isNaN(want) || Double.isInfinite(want)) {
      assertEquals(want, got, what);
      return;
    }
    if (Math.abs(want - got) > tol * Math.max(scale, 1e-30) + 1e-300) {
      fail(what + ": expected " + want + " but got " + got + " (tol " + tol + ")");
    }
  }

  // ------------------------------------------------------------------ tests

  @Test
  void everyOpAndDtypeOnRandomShapes() {
    Random rnd = new Random(1);
    long[] sizes = {1, 3, 17, 33, 1000};
    ReduceOp[] ops = {
      ReduceOp.SUM,
      ReduceOp.MEAN,
      ReduceOp.MAX,
      ReduceOp.MIN,
      ReduceOp.NORM,
      ReduceOp.VAR,
      ReduceOp.STD
    };
    try (var s = Scope.open()) {
      for (int trial = 0; trial < 60; trial++) {
        int rank = 1 + rnd.nextInt(4);
        long[] shape = new long[rank];
        do {
          for (int d = 0; d < rank; d++) shape[d] = sizes[rnd.nextInt(sizes.length)];
        } while (Shapes.numel(shape) > 40_000);
        DType dt = FLOATS[trial % FLOATS.length];
        Tensor x = randn(rnd, dt, shape);
        List<Integer> dl = new ArrayList<>();
        for (int d = 0; d < rank; d++)
          if (rnd.nextBoolean()) dl.add(rnd.nextBoolean() ? d : d - rank);
        int[] dims = dl.stream().mapToInt(Integer::intValue).toArray();
        for (ReduceOp op : ops) {
          double param = op == ReduceOp.NORM ? 2 : op == ReduceOp.VAR || op == ReduceOp.STD ? 1 : 0;
          check(op, x, dims, rnd.nextBoolean(), param);
        }
      }
    }
  }

  @Test
  void everySubsetOfDimsOfRank3() {
    Random rnd = new Random(2);
    ReduceOp[] ops = ReduceOp.values();
    try (var s = Scope.open()) {
      for (DType dt : FLOATS) {
        Tensor x = randn(rnd, dt, 3, 17, 33);
        Tensor p = Tensor.of(posNearOne(rnd, 3 * 5 * 4), 3, 5, 4).to(dt);
        for (int mask = 0; mask < 8; mask++) {
          int[] dims = new int[Integer.bitCount(mask)];
          for (int d = 0, j = 0; d < 3; d++) if ((mask & (1 << d)) != 0) dims[j++] = d;
          for (boolean keep : new boolean[] {true, false}) {
            for (ReduceOp op : ops) {
              if (op == ReduceOp.PROD) {
                check(op, p, dims, keep, 0);
                continue;
              }
              double param =
                  op == ReduceOp.NORM ? 2 : op == ReduceOp.VAR || op == ReduceOp.STD ? 1 : 0;
              check(op, x, dims, keep, param);
            }
          }
        }
      }
    }
  }

  static double[] posNearOne(Random rnd, int n) {
    double[] d = new double[n];
    for (int i = 0; i < n; i++) d[i] = 0.5 + rnd.nextDouble();
    return d;
  }

  @Test
  void nonContiguousInputs() {
    Random rnd = new Random(3);
    try (var s = Scope.open()) {
      for (DType dt : new DType[] {DType.F32, DType.F64, DType.BF16}) {
        Tensor base = randn(rnd, dt, 6, 40, 35);
        Tensor[] views = {
          base.permute(2, 0, 1),
          base.transpose(0, 2),
          base.slice(1, 1, 40, 3),
          base.slice(2, 0, 35, 2).permute(1, 2, 0),
          base.select(0, 2).t(),
          base.slice(0, 0, 6, 2).slice(2, 3, 30, 4),
          base.select(1, 5).unsqueeze(1).expand(6, 50, 35),
        };
        for (Tensor v : views) {
          for (int mask = 0; mask < (1 << v.dim()); mask++) {
            int[] dims = new int[Integer.bitCount(mask)];
            for (int d = 0, j = 0; d < v.dim(); d++) if ((mask & (1 << d)) != 0) dims[j++] = d;
            check(ReduceOp.SUM, v, dims, false, 0);
            check(ReduceOp.MAX, v, dims, true, 0);
            check(ReduceOp.VAR, v, dims, false, 1);
            check(ReduceOp.NORM, v, dims, false, 1);
          }
        }
      }
    }
  }

  @Test
  void normOrders() {
    Random rnd = new Random(4);
    double[] ps = {2, 1, Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY, 0, 3, 0.5, -1.5};
    try (var s = Scope.open()) {
      for (DType dt : FLOATS) {
        double[] v = gaussian(rnd, 20 * 70);
        for (int i = 0; i < v.length; i++) v[i] *= 0.01; // p = 0.5 norms stay in F16's range
        for (int i = 0; i < v.length; i += 7) v[i] = 0; // zeros for p = 0 and min |x|
        double[] v100 = v.clone();
        for (int i = 0; i < v.length; i++) v100[i] *= 100;
        Tensor small = Tensor.of(v, 20, 70).to(dt);
        Tensor large = Tensor.of(v100, 20, 70).to(dt);
        for (double p : ps) {
          Tensor x = p < 0 ? large : small; // keep F16 results normal
          check(ReduceOp.NORM, x, new int[] {}, false, p);
          check(ReduceOp.NORM, x, new int[] {1}, false, p);
          check(ReduceOp.NORM, x, new int[] {0}, true, p);
        }
      }
      assertEquals(5.0, Tensor.of(new float[] {3, 4}).norm().item(), 1e-6);
    }
  }

  @Test
  void varStdCorrections() {
    Random rnd = new Random(5);
    try (var s = Scope.open()) {
      for (DType dt : FLOATS) {
        Tensor x = randn(rnd, dt, 7, 19);
        for (int c = 0; c <= 3; c++) {
          check(ReduceOp.VAR, x, new int[] {1}, false, c);
          check(ReduceOp.STD, x, new int[] {0}, true, c);
          check(ReduceOp.VAR, x, new int[] {}, false, c);
        }
        // n - correction <= 0: m2 / 0 is inf (NaN when all equal), like PyTorch.
        Tensor two = Tensor.of(new double[] {1, 3}).to(dt);
        assertEquals(Double.POSITIVE_INFINITY, two.var(null, 2, false).item());
        assertEquals(Double.POSITIVE_INFINITY, two.std(null, 5, false).item());
        assertEquals(2.0, two.var(null, 1, false).item(), 1e-6);
        assertEquals(1.0, two.var(null, 0, false).item(), 1e-6);
        Tensor one = Tensor.of(new double[] {4}).to(dt);
        assertTrue(Double.isNaN(one.var().item()));
        assertEquals(0.0, one.var(null, 0, false).item());
      }
    }
  }

  @Test
  void largeF32SumsStayAccurate() {
    Random rnd = new Random(6);
    try (var s = Scope.open()) {
      int n = 1_000_000;
      float[] f = new float[n];
      double ref = 0;
      for (int i = 0; i < n; i++) {
        f[i] = rnd.nextFloat();
        ref += f[i];
      }
      Tensor x = Tensor.of(f);
      assertEquals(0, Math.abs(x.sum().item() - ref) / ref, 1e-6, "sum of 1e6");
      assertEquals(0, Math.abs(x.mean().item() - ref / n) / (ref / n), 1e-6, "mean of 1e6");
      // Few long rows (the reduced range is split over threads), leading-dim column sums
      // (flushed into double), and the whole tensor as a 2-d view over dim 0.
      Tensor rows = x.view(4, 250_000);
      check(ReduceOp.SUM, rows, new int[] {1}, false, 0);
      check(ReduceOp.VAR, rows, new int[] {1}, false, 1);
      check(ReduceOp.MAX, rows, new int[] {1}, false, 0);
      check(ReduceOp.VAR, x.view(1, n), new int[] {1}, false, 1); // one row split over threads
      Tensor cols = x.view(25_000, 40);
      check(ReduceOp.SUM, cols, new int[] {0}, false, 0);
      check(ReduceOp.MEAN, cols, new int[] {0}, true, 0);
      check(ReduceOp.STD, cols, new int[] {0}, false, 1);
      check(ReduceOp.MIN, cols, new int[] {0}, false, 0);
      Tensor wide = x.view(100, 10_000);
      check(ReduceOp.SUM, wide, new int[] {0}, false, 0);
      check(ReduceOp.NORM, wide, new int[] {0}, false, 2);
      Tensor narrow = x.view(250_000, 4);
      check(ReduceOp.SUM, narrow, new int[] {0}, false, 0);
      check(ReduceOp.SUM, narrow.t(), new int[] {1}, false, 0);
      check(ReduceOp.MEAN, randn(rnd, DType.F64, 3, 100_000), new int[] {1}, false, 0);
      check(ReduceOp.SUM, randn(rnd, DType.BF16, 3, 100_000), new int[] {1}, false, 0);
      check(ReduceOp.VAR, randn(rnd, DType.F16, 100_000, 3), new int[] {0}, false, 1);
      // Half-type columns: rows widened to f32, then the vector column kernel.
      check(ReduceOp.MEAN, randn(rnd, DType.BF16, 20_000, 40), new int[] {0}, false, 0);
      check(ReduceOp.VAR, randn(rnd, DType.F16, 5_000, 70), new int[] {0}, false, 1);
    }
  }

  @Test
  void integerAndBoolReductions() {
    try (var s = Scope.open()) {
      Tensor i32 = Tensor.of(new int[] {1, -2, 3, 4, 5, 6}, 2, 3);
      Tensor sum = i32.sum(1);
      assertEquals(DType.I64, sum.dtype());
      assertArrayEquals(new long[] {2, 15}, sum.toLongArray());
      Tensor prod = i32.prod(new int[] {0}, false);
      assertEquals(DType.I64, prod.dtype());
      assertArrayEquals(new long[] {4, -10, 18}, prod.toLongArray());
      Tensor mx = i32.amax(0, false);
      assertEquals(DType.I32, mx.dtype());
      assertArrayEquals(new long[] {4, 5, 6}, mx.toLongArray());
      assertArrayEquals(new long[] {-2}, i32.min().reshape(1).toLongArray());
      Tensor big = Tensor.of(new long[] {Long.MAX_VALUE - 5, 3, 1});
      assertEquals(Long.MAX_VALUE - 1, big.sum().toLongArray()[0]);
      Tensor b = Tensor.of(new boolean[] {true, false, true, true});
      assertEquals(DType.I64, b.sum().dtype());
      assertEquals(3, b.sum().toLongArray()[0]);
      assertEquals(DType.BOOL, b.max().dtype());
      assertTrue(b.max().toBooleanArray()[0]);
      assertTrue(!b.min().toBooleanArray()[0]);
      Tensor u8;
      try (Tensor t = Tensor.of(new int[] {200, 100, 7})) {
        u8 = t.to(DType.U8);
      }
      assertEquals(307, u8.sum().toLongArray()[0]);
      assertEquals(200, u8.max().toLongArray()[0]);
      assertArrayEquals(new long[] {2, 2}, i32.argmax(1, false).toLongArray());
      assertArrayEquals(new long[] {1, 0}, i32.argmin(1, false).toLongArray());
      for (ReduceOp op :
          new ReduceOp[] {ReduceOp.MEAN, ReduceOp.VAR, ReduceOp.STD, ReduceOp.NORM}) {
        var e =
            assertThrows(
                IllegalArgumentException.class, () -> apply(op, i32, new int[] {0}, false, 1));
        assertTrue(e.getMessage().contains("could not infer output dtype"), e.getMessage());
        assertTrue(e.getMessage().contains("I32[2, 3]"), e.getMessage());
      }
    }
  }

  @Test
  void emptyDims() {
    try (var s = Scope.open()) {
      for (DType dt : FLOATS) {
        Tensor e = Tensor.zeros(dt, 0, 3);
        assertArrayEquals(new double[] {0, 0, 0}, e.sum(0).toDoubleArray());
        assertArrayEquals(new double[] {1, 1, 1}, e.prod(new int[] {0}, false).toDoubleArray());
        assertTrue(Double.isNaN(e.mean(0).toDoubleArray()[1]));
        assertTrue(Double.isNaN(e.var(new int[] {0}, 1, false).toDoubleArray()[2]));
        assertEquals(0.0, e.norm().item());
        assertEquals(0.0, e.sum().item());
        assertTrue(Double.isNaN(e.mean().item()));
        // Reducing a non-empty dim of an empty tensor gives an empty result, even for max.
        assertArrayEquals(new long[] {0}, e.amax(1, false).shape());
        assertArrayEquals(new long[] {0, 1}, e.sum(1, true).shape());
        var ex = assertThrows(IllegalArgumentException.class, () -> e.amax(0, false));
        assertTrue(
            ex.getMessage().startsWith("max: expected reduction dim 0 of "), ex.getMessage());
        assertTrue(ex.getMessage().contains("[0, 3]"), ex.getMessage());
        ex = assertThrows(IllegalArgumentException.class, e::min);
        assertTrue(ex.getMessage().startsWith("min: "), ex.getMessage());
        ex = assertThrows(IllegalArgumentException.class, () -> e.argmax(0, false));
        assertTrue(ex.getMessage().startsWith("argmax: "), ex.getMessage());
        ex =
            assertThrows(
                IllegalArgumentException.class,
                () -> e.norm(Double.NEGATIVE_INFINITY, new int[] {0}, false));
        assertTrue(ex.getMessage().startsWith("norm: "), ex.getMessage());
      }
      assertEquals(0, Tensor.zeros(DType.I32, 0).sum().toLongArray()[0]);
      assertEquals(1, Tensor.zeros(DType.I64, 2, 0).prod(new int[] {1}, false).toLongArray()[0]);
    }
  }

  @Test
  void nanPropagates() {
    try (var s = Scope.open()) {
      for (DType dt : FLOATS) {
        double nan = Double.NaN;
        for (int len : new int[] {5, 100, 1000}) {
          double[] v = new double[len * 2];
          for (int i = 0; i < v.length; i++) v[i] = Math.sin(i);
          v[len / 2] = nan;
          v[len / 2 + 1] = 10; // a larger value after the NaN
          v[len + len - 1] = nan; // NaN last in the second row
          v[len + len / 3] = nan;
          Tensor x = Tensor.of(v, 2, len).to(dt);
          for (double m : x.amax(1, false).toDoubleArray())
            assertTrue(Double.isNaN(m), dt + " max");
          for (double m : x.amin(1, false).toDoubleArray())
            assertTrue(Double.isNaN(m), dt + " min");
          assertTrue(Double.isNaN(x.sum().item()));
          assertTrue(Double.isNaN(x.norm(Double.POSITIVE_INFINITY, null, false).item()));
          assertArrayEquals(
              new long[] {len / 2, len / 3}, x.argmax(1, false).toLongArray(), dt + " argmax");
          assertArrayEquals(
              new long[] {len / 2, len / 3}, x.argmin(1, false).toLongArray(), dt + " argmin");
          // Column plan (reduce dim 0) propagates NaN too.
          double[] col = x.amax(0, false).toDoubleArray();
          assertTrue(Double.isNaN(col[len / 2]) && Double.isNaN(col[len - 1]));
          assertEquals(Math.max(Math.sin(0), Math.sin(len)), col[0], 1e-2);
        }
      }
    }
  }

  @Test
  void argmaxArgmin() {
    Random rnd = new Random(7);
    try (var s = Scope.open()) {
      for (DType dt :
          new DType[] {DType.F64, DType.F32, DType.BF16, DType.F16, DType.I64, DType.I32}) {
        for (long[] shape : new long[][] {{17}, {3, 33}, {4, 5, 1000}, {2, 100_000}}) {
          int n = (int) Shapes.numel(shape);
          double[] v = new double[n];
          for (int i = 0; i < n; i++) v[i] = rnd.nextInt(7) - 3; // many ties: first one wins
          Tensor x = Tensor.of(v, shape).to(dt);
          for (int d = -shape.length; d < shape.length; d++) {
            for (boolean max : new boolean[] {true, false}) {
              for (boolean keep : new boolean[] {true, false}) {
                Tensor r = max ? x.argmax(d, keep) : x.argmin(d, keep);
                int dim = d < 0 ? d + shape.length : d;
                assertEquals(DType.I64, r.dtype());
                assertArrayEquals(expectedShape(shape, new int[] {dim}, keep), r.shape());
                assertArrayEquals(refArg(v, shape, dim, max), r.toLongArray(), dt + " dim " + d);
              }
            }
          }
        }
        Tensor base = Tensor.of(gaussian(rnd, 6 * 40), 6, 40).to(dt);
        Tensor view = base.slice(1, 1, 40, 3).t();
        assertArrayEquals(
            refArg(view.toDoubleArray(), view.shape(), 0, true),
            view.argmax(0, false).toLongArray());
      }
      Tensor f = Tensor.of(new float[] {1, 7, 7, -2, 7}, 5);
      assertEquals(1, f.argmax().toLongArray()[0]);
      assertArrayEquals(new long[] {}, f.argmax().shape());
      Tensor scalar = Tensor.scalar(3, DType.F32);
      assertEquals(0, scalar.argmax(0, false).toLongArray()[0]);
      assertArrayEquals(new long[] {}, scalar.argmin(-1, true).shape());
    }
  }

  /** First index of the max (min) along dim; NaN counts as the extreme. */
  static long[] refArg(double[] v, long[] shape, int dim, boolean max) {
    long len = shape[dim], inner = 1;
    for (int d = dim + 1; d < shape.length; d++) inner *= shape[d];
    long outer = v.length / Math.max(1, len * inner);
    long[] out = new long[(int) (outer * inner)];
    for (long o = 0; o < outer; o++) {
      for (long in = 0; in < inner; in++) {
        long base = o * len * inner + in;
        int best = 0;
        for (int j = 1; j < len; j++) {
          double b = v[(int) (base + best * inner)], c = v[(int) (base + j * inner)];
          if (Double.isNaN(b)) break;
          if (Double.isNaN(c) || (max ? c > b : c < b)) best = j;
        }
        out[(int) (o * inner + in)] = best;
      }
    }
    return out;
  }

  @Test
  void scalarsAndSizeOneDims() {
    try (var s = Scope.open()) {
      Tensor sc = Tensor.scalar(2.5, DType.F32);
      assertEquals(2.5, sc.sum().item());
      assertEquals(2.5, sc.sum(0).item());
      assertEquals(2.5, sc.amax(-1, true).item());
      assertArrayEquals(new long[] {}, sc.mean(0, true).shape());
      Tensor x = Tensor.of(new float[] {1, 2, 3}, 3, 1);
      assertArrayEquals(new double[] {1, 2, 3}, x.sum(1).toDoubleArray());
      assertArrayEquals(new long[] {3, 1}, x.sum(1, true).shape());
      assertArrayEquals(new double[] {6}, x.sum(0).toDoubleArray());
    }
  }

  @Test
  void keepdimFalseResultOutlivesItsScope() {
    Tensor r;
    try (var s = Scope.open()) {
      Tensor x = Tensor.of(new float[] {1, 2, 3, 4}, 2, 2);
      r = s.keep(x.sum(0));
    }
    assertArrayEquals(new double[] {4, 6}, r.toDoubleArray());
    r.close();
    assertTrue(r.isClosed());
  }

  @Test
  void badArgumentsNameOpAndTensor() {
    try (var s = Scope.open()) {
      Tensor x = Tensor.zeros(2, 3);
      var e = assertThrows(IndexOutOfBoundsException.class, () -> x.sum(2));
      assertTrue(e.getMessage().startsWith("sum: dim 2 out of range"), e.getMessage());
      var e2 = assertThrows(IllegalArgumentException.class, () -> x.mean(new int[] {1, -1}, false));
      assertTrue(e2.getMessage().startsWith("mean: dim 1 appears twice"), e2.getMessage());
      var e3 = assertThrows(IndexOutOfBoundsException.class, () -> x.argmin(-3, false));
      assertTrue(e3.getMessage().startsWith("argmin: dim -3"), e3.getMessage());
      Tensor l = Tensor.of(new long[] {1, 2});
      var e4 = assertThrows(IllegalArgumentException.class, l::mean);
      assertEquals(
          "mean: could not infer output dtype. Input dtype must be either a floating point or"
              + " complex dtype. Got: I64[2]",
          e4.getMessage());
    }
  }

  @Test
  void infinitiesSurviveCompensatedSums() {
    for (DType t : new DType[] {DType.F64, DType.F32}) {
      try (var s = Scope.open()) {
        Tensor x = Tensor.of(new double[] {1, Double.POSITIVE_INFINITY, 2, 3}, 2, 2).to(t);
        assertEquals(Double.POSITIVE_INFINITY, x.sum().item(), t.toString());
        assertEquals(Double.POSITIVE_INFINITY, x.norm().item(), t.toString());
        assertEquals(Double.POSITIVE_INFINITY, x.sum(1).toDoubleArray()[0], t.toString());
        assertEquals(Double.POSITIVE_INFINITY, x.sum(0).toDoubleArray()[1], t.toString());
        Tensor both =
            Tensor.of(new double[] {Double.NEGATIVE_INFINITY, Double.POSITIVE_INFINITY}, 2).to(t);
        assertTrue(Double.isNaN(both.sum().item()), t.toString());
      }
    }
  }
}
