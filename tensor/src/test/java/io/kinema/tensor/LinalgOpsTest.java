package io.kinema.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** matmul / bmm against a double-precision reference, PyTorch shape rules, every float dtype. */
class LinalgOpsTest {
  private static final DType[] FLOATS = {DType.F64, DType.F32, DType.BF16, DType.F16};

  // ---------------------------------------------------------------- helpers

  /** Uniform [-1, 1) values of {@code dtype} (BF16/F16 inputs are rounded by the conversion). */
  static Tensor rand(Random r, DType dtype, long... shape) {
    int n = Math.toIntExact(Shapes.numel(shape));
    if (dtype == DType.F64) {
      double[] d = new double[n];
      for (int i = 0; i < n; i++) d[i] = r.nextDouble() * 2 - 1;
      return Tensor.of(d, shape);
    }
    float[] f = new float[n];
    for (int i = 0; i < n; i++) f[i] = r.nextFloat() * 2 - 1;
    Tensor t = Tensor.of(f, shape);
    return dtype == DType.F32 ? t : t.to(dtype);
  }

  /**
   * PyTorch matmul on row-major double arrays: returns {result shape, values, sum of |a||b| per
   * element} (the last scales the tolerance: rounding error is relative to it, not to the result).
   */
  static Object[] reference(double[] a, long[] as, double[] b, long[] bs) {
    boolean aVec = as.length == 1, bVec = bs.length == 1;
    long[] a2 = aVec ? new long[] {1, as[0]} : as;
    long[] b2 = bVec ? new long[] {bs[0], 1} : bs;
    int m = (int) a2[a2.length - 2], k = (int) a2[a2.length - 1], n = (int) b2[b2.length - 1];
    long[] ab = Arrays.copyOf(a2, a2.length - 2), bb = Arrays.copyOf(b2, b2.length - 2);
    int r = Math.max(ab.length, bb.length);
    long[] batch = new long[r];
    for (int i = 0; i < r; i++) {
      long da = i < r - ab.length ? 1 : ab[i - (r - ab.length)];
      long db = i < r - bb.length ? 1 : bb[i - (r - bb.length)];
      batch[i] = Math.max(da, db);
    }
    int nb = (int) Shapes.numel(batch);
    double[] out = new double[nb * m * n], mag = new double[nb * m * n];
    long[] idx = new long[r];
    for (int bi = 0; bi < nb; bi++) {
      long rem = bi;
      for (int d = r - 1; d >= 0; d--) {
        idx[d] = rem % batch[d];
        rem /= batch[d];
      }
      int ao = offset(idx, ab) * m * k, bo = offset(idx, bb) * k * n;
      for (int i = 0; i < m; i++) {
        for (int j = 0; j < n; j++) {
          double s = 0, g = 0;
          for (int p = 0; p < k; p++) {
            double x = a[ao + i * k + p], y = b[bo + p * n + j];
            s += x * y;
            g += Math.abs(x * y);
          }
          out[(bi * m + i) * n + j] = s;
          mag[(bi * m + i) * n + j] = g;
        }
      }
    }
    long[] shape = Arrays.copyOf(batch, r + 2);
    shape[r] = m;
    shape[r + 1] = n;
    if (aVec && bVec) shape = new long[0];
    else if (aVec) shape = drop(shape, r);
    else if (bVec) shape = drop(shape, r + 1);
    return new Object[] {shape, out, mag};
  }

  /** Matrix index of a broadcast batch index within an operand's own batch shape. */
  private static int offset(long[] idx, long[] shape) {
    int o = 0;
    for (int d = 0; d < shape.length; d++) {
      long i = shape[d] == 1 ? 0 : idx[idx.length - shape.length + d];
      o = (int) (o * shape[d] + i);
    }
    return o;
  }

  private static long[] drop(long[] s, int d) {
    long[] r = new long[s.length - 1];
    for (int i = 0, j = 0; i < s.length; i++) if (i != d) r[j++] = s[i];
    return r;
  }

  /** Asserts {@code out == a @ b} within the tolerance of out's dtype. */
  static void check(Tensor out, Tensor a, Tensor b) {
    Object[] ref = reference(a.toDoubleArray(), a.shape(), b.toDoubleArray(), b.shape());
    long[] shape = (long[]) ref[0];
    double[] want = (double[]) ref[1], mag = (double[]) ref[2];
    assertArrayEquals(shape, out.shape(), "shape of " + a.describe() + " @ " + b.describe());
    assertEquals(a.dtype(), out.dtype());
    assertTrue(out.isContiguous());
    double[] got = out.toDoubleArray();
    // Accumulation error is relative to sum |a||b|; BF16/F16 add the rounding of the output.
    double accum = out.dtype() == DType.F64 ? 1e-12 : 2e-5;
    double round =
        switch (out.dtype()) {
          case BF16 -> 0x1p-8;
          case F16 -> 0x1p-11;
          default -> 0;
        };
    for (int i = 0; i < want.length; i++) {
      double tol = accum * mag[i] + round * Math.abs(want[i]) + 1e-300;
      if (!(Math.abs(got[i] - want[i]) <= tol)) {
        throw new AssertionError(
            a.describe()
                + " @ "
                + b.describe()
                + " element "
                + i
                + ": got "
                + got[i]
                + ", want "
                + want[i]
                + " (tolerance "
                + tol
                + ")");
      }
    }
  }

  private static void checkMatmul(Tensor a, Tensor b) {
    check(a.matmul(b), a, b);
  }

  // ---------------------------------------------------------------- 2-d shapes

  @Test
  void matricesOfAwkwardSizesF32() {
    Random r = new Random(1);
    int[] sizes = {1, 7, 17, 33, 65, 100, 129, 257};
    try (var s = Scope.open()) {
      for (int m : sizes) {
        for (int n : sizes) {
          for (int k : new int[] {1, 17, 100, 257}) {
            try (var inner = Scope.open()) {
              checkMatmul(rand(r, DType.F32, m, k), rand(r, DType.F32, k, n));
            }
          }
        }
      }
    }
  }

  @Test
  void everyFloatDtype() {
    Random r = new Random(2);
    int[][] shapes = {{1, 1, 1}, {3, 5, 4}, {17, 33, 65}, {100, 7, 129}, {65, 257, 33}};
    try (var s = Scope.open()) {
      for (DType t : FLOATS) {
        for (int[] mnk : shapes) {
          checkMatmul(rand(r, t, mnk[0], mnk[2]), rand(r, t, mnk[2], mnk[1]));
        }
      }
    }
  }

  @Test
  void transposedOperandsAreReadWithoutCopy() {
    Random r = new Random(3);
    try (var s = Scope.open()) {
      for (DType t : FLOATS) {
        for (int[] mnk : new int[][] {{17, 33, 65}, {130, 70, 300}, {5, 129, 1}}) {
          int m = mnk[0], n = mnk[1], k = mnk[2];
          Tensor at = rand(r, t, k, m).mT(); // [m, k] with strides (1, m)
          Tensor bt = rand(r, t, n, k).mT(); // [k, n] with strides (1, k)
          Tensor a = rand(r, t, m, k), b = rand(r, t, k, n);
          checkMatmul(at, b);
          checkMatmul(a, bt);
          checkMatmul(at, bt);
        }
      }
    }
  }

  @Test
  void slicedViewsWithSteps() {
    Random r = new Random(4);
    try (var s = Scope.open()) {
      for (DType t : FLOATS) {
        // a: every 2nd row and every 3rd column of [40, 90] -> [20, 30]; b: a strided corner.
        Tensor a = rand(r, t, 40, 90).slice(0, 0, 40, 2).slice(1, 1, 90, 3);
        Tensor b = rand(r, t, 61, 50).slice(0, 1, 61, 2).slice(1, 3, 50, 1);
        assertArrayEquals(new long[] {20, 30}, a.shape());
        assertArrayEquals(new long[] {30, 47}, b.shape());
        checkMatmul(a, b);
        // Both dims strided in one operand and transposed in the other.
        Tensor c = rand(r, t, 94, 40).slice(0, 0, 94, 2).mT(); // [40, 47], strides (1, 80)
        Tensor d = rand(r, t, 47, 66).slice(1, 0, 66, 3); // [47, 22], strides (66, 3)
        checkMatmul(c, d);
        checkMatmul(d.mT(), c.mT());
      }
    }
  }

  // ---------------------------------------------------------------- batches and broadcasting

  @Test
  void batchDimsBroadcast() {
    Random r = new Random(5);
    try (var s = Scope.open()) {
      for (DType t : FLOATS) {
        Tensor a = rand(r, t, 2, 1, 5, 7), b = rand(r, t, 3, 7, 4);
        Tensor out = a.matmul(b);
        assertArrayEquals(new long[] {2, 3, 5, 4}, out.shape());
        check(out, a, b);
        checkMatmul(rand(r, t, 5, 7), rand(r, t, 3, 7, 4)); // matrix against a batch
        checkMatmul(rand(r, t, 4, 3, 9, 7), rand(r, t, 7, 11)); // batch against a matrix
        checkMatmul(rand(r, t, 3, 1, 9, 20), rand(r, t, 1, 4, 20, 33).mT().mT());
      }
    }
  }

  @Test
  void expandedOperandsStayStrideZero() {
    Random r = new Random(6);
    try (var s = Scope.open()) {
      Tensor w = rand(r, DType.F32, 1, 16, 24).expand(6, 16, 24); // shared weight, stride 0
      Tensor x = rand(r, DType.F32, 6, 10, 16);
      assertEquals(0, w.stride(0));
      checkMatmul(x, w);
      checkMatmul(x, rand(r, DType.F32, 24, 16).mT().expand(6, 16, 24));
    }
  }

  @Test
  void manySmallMatricesRunInParallelOverTheBatch() {
    Random r = new Random(7);
    try (var s = Scope.open()) {
      for (DType t : FLOATS) {
        checkMatmul(rand(r, t, 37, 9, 13), rand(r, t, 37, 13, 11));
        checkMatmul(rand(r, t, 3, 80, 65), rand(r, t, 3, 65, 90).mT().contiguous().mT());
      }
    }
  }

  @Test
  void bmm() {
    Random r = new Random(8);
    try (var s = Scope.open()) {
      for (DType t : FLOATS) {
        Tensor a = rand(r, t, 4, 17, 33), b = rand(r, t, 4, 33, 20);
        Tensor out = a.bmm(b);
        assertArrayEquals(new long[] {4, 17, 20}, out.shape());
        check(out, a, b);
        Tensor bt = rand(r, t, 4, 20, 33).mT();
        check(a.bmm(bt), a, bt);
      }
    }
  }

  // ---------------------------------------------------------------- vectors

  @Test
  void vectorOperandsFollowPyTorch() {
    Random r = new Random(9);
    try (var s = Scope.open()) {
      for (DType t : FLOATS) {
        Tensor v = rand(r, t, 33), w = rand(r, t, 33);
        Tensor dot = v.matmul(w);
        assertEquals(0, dot.dim());
        check(dot, v, w);
        Tensor mat = rand(r, t, 33, 18), mat2 = rand(r, t, 18, 33);
        assertArrayEquals(new long[] {18}, v.matmul(mat).shape());
        checkMatmul(v, mat);
        assertArrayEquals(new long[] {18}, mat2.matmul(v).shape());
        checkMatmul(mat2, v);
        Tensor batch = rand(r, t, 5, 33, 7);
        assertArrayEquals(new long[] {5, 7}, v.matmul(batch).shape());
        checkMatmul(v, batch);
        Tensor batch2 = rand(r, t, 2, 5, 6, 33);
        assertArrayEquals(new long[] {2, 5, 6}, batch2.matmul(w).shape());
        checkMatmul(batch2, w);
        checkMatmul(rand(r, t, 66).slice(0, 0, 66, 2), rand(r, t, 33)); // strided vector
      }
    }
  }

  @Test
  void dotProductValue() {
    try (var s = Scope.open()) {
      Tensor v = Tensor.of(new double[] {1, 2, 3});
      Tensor w = Tensor.of(new double[] {4, -5, 6});
      assertEquals(12.0, v.matmul(w).item());
      Tensor m = Tensor.of(new float[] {1, 2, 3, 4, 5, 6}, 2, 3);
      Tensor x = Tensor.of(new float[] {1, 0, -1});
      assertArrayEquals(new float[] {-2, -2}, m.matmul(x).toFloatArray());
      assertArrayEquals(
          new float[] {-3, -3, -3}, Tensor.of(new float[] {1, -1}).matmul(m).toFloatArray());
    }
  }

  // ---------------------------------------------------------------- empty dims

  @Test
  void emptyDims() {
    Random r = new Random(10);
    try (var s = Scope.open()) {
      for (DType t : FLOATS) {
        assertArrayEquals(new long[] {0, 5}, rand(r, t, 0, 3).matmul(rand(r, t, 3, 5)).shape());
        assertArrayEquals(new long[] {4, 0}, rand(r, t, 4, 3).matmul(rand(r, t, 3, 0)).shape());
        assertArrayEquals(
            new long[] {0, 4, 5}, rand(r, t, 0, 4, 3).matmul(rand(r, t, 3, 5)).shape());
        // K = 0: a sum of nothing is zero, even into an uninitialized output.
        Tensor z = rand(r, t, 4, 0).matmul(rand(r, t, 0, 5));
        assertArrayEquals(new long[] {4, 5}, z.shape());
        for (double x : z.toDoubleArray()) assertEquals(0.0, x);
        assertEquals(0.0, rand(r, t, 0).matmul(rand(r, t, 0)).item());
        assertArrayEquals(
            new long[] {2, 0, 0}, rand(r, t, 2, 0, 7).bmm(rand(r, t, 2, 7, 0)).shape());
      }
    }
  }

  // ---------------------------------------------------------------- larger, multithreaded

  @Test
  void largeProductsUseBlockingAndThreads() {
    Random r = new Random(11);
    try (var s = Scope.open()) {
      for (DType t : new DType[] {DType.F32, DType.BF16}) {
        Tensor a = rand(r, t, 300, 400), b = rand(r, t, 400, 500);
        checkMatmul(a, b);
        checkMatmul(rand(r, t, 400, 300).mT(), rand(r, t, 500, 400).mT());
      }
      checkMatmul(rand(r, DType.F64, 150, 300), rand(r, DType.F64, 300, 600)); // > NC, > KC
      // Tall and skinny: split over M instead of N.
      checkMatmul(rand(r, DType.F32, 1000, 70), rand(r, DType.F32, 70, 9));
    }
  }

  @Test
  void resultDoesNotDependOnThreadSplit() {
    // The split over threads must not change the per-element summation: one big product equals
    // the same product computed as a batch of its row blocks.
    Random r = new Random(12);
    try (var s = Scope.open()) {
      Tensor a = rand(r, DType.F32, 2, 130, 300), b = rand(r, DType.F32, 300, 260);
      float[] whole = a.reshape(260, 300).matmul(b).toFloatArray();
      float[] batched = a.matmul(b).toFloatArray();
      assertArrayEquals(whole, batched);
    }
  }

  // ---------------------------------------------------------------- bad input

  @Test
  void badInputsNameOpAndOperands() {
    try (var s = Scope.open()) {
      Tensor f32 = Tensor.zeros(DType.F32, 2, 3), f64 = Tensor.zeros(DType.F64, 3, 4);
      var e = assertThrows(IllegalArgumentException.class, () -> f32.matmul(f64));
      assertEquals(
          "matmul: expected both operands to have the same floating dtype, got F32[2, 3] and"
              + " F64[3, 4]",
          e.getMessage());
      Tensor i32 = Tensor.zeros(DType.I32, 3, 4);
      e = assertThrows(IllegalArgumentException.class, () -> i32.mT().matmul(i32));
      assertEquals(
          "matmul: expected both operands to have the same floating dtype, got I32[4, 3] and"
              + " I32[3, 4]",
          e.getMessage());
      e =
          assertThrows(
              IllegalArgumentException.class, () -> f32.matmul(Tensor.zeros(DType.F32, 4, 5)));
      assertEquals(
          "matmul: inner dims do not match: F32[2, 3] and F32[4, 5] (3 vs 4)", e.getMessage());
      e =
          assertThrows(
              IllegalArgumentException.class, () -> Tensor.zeros(DType.F32, 3).matmul(f32));
      assertEquals(
          "matmul: inner dims do not match: F32[3] and F32[2, 3] (3 vs 2)", e.getMessage());
      e =
          assertThrows(
              IllegalArgumentException.class, () -> Tensor.scalar(1, DType.F32).matmul(f32));
      assertEquals(
          "matmul: both operands need at least 1 dim, got F32[] and F32[2, 3]", e.getMessage());
      e =
          assertThrows(
              IllegalArgumentException.class,
              () -> Tensor.zeros(DType.F32, 2, 2, 3).matmul(Tensor.zeros(DType.F32, 3, 3, 4)));
      assertTrue(e.getMessage().startsWith("matmul: shapes [2] and [3] cannot be broadcast"));

      e = assertThrows(IllegalArgumentException.class, () -> f32.bmm(f32));
      assertEquals("bmm: expected two rank-3 tensors, got F32[2, 3] and F32[2, 3]", e.getMessage());
      e =
          assertThrows(
              IllegalArgumentException.class,
              () -> Tensor.zeros(DType.F32, 2, 2, 3).bmm(Tensor.zeros(DType.F32, 3, 3, 4)));
      assertEquals(
          "bmm: batch sizes differ: F32[2, 2, 3] and F32[3, 3, 4] (2 vs 3)", e.getMessage());
      e =
          assertThrows(
              IllegalArgumentException.class,
              () -> Tensor.zeros(DType.F32, 2, 2, 3).bmm(Tensor.zeros(DType.F32, 2, 4, 4)));
      assertEquals(
          "bmm: inner dims do not match: F32[2, 2, 3] and F32[2, 4, 4] (3 vs 4)", e.getMessage());
      e =
          assertThrows(
              IllegalArgumentException.class,
              () -> Tensor.zeros(DType.BF16, 2, 2, 3).bmm(Tensor.zeros(DType.F16, 2, 3, 4)));
      assertEquals(
          "bmm: expected both operands to have the same floating dtype, got BF16[2, 2, 3] and"
              + " F16[2, 3, 4]",
          e.getMessage());
    }
  }
}
