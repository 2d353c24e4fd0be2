package io.kinema.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;

class IndexOpsTest {
  private static final DType[] ALL_TYPES = DType.values();

  // ------------------------------------------------------------------ helpers

  /** Random values that every dtype represents exactly after conversion. */
  static Tensor random(Random r, DType t, long... shape) {
    double[] x = new double[(int) Shapes.numel(shape)];
    for (int i = 0; i < x.length; i++) {
      x[i] =
          switch (t) {
            case BOOL -> r.nextBoolean() ? 1 : 0;
            case U8 -> r.nextInt(256);
            case I32, I64 -> r.nextInt(2001) - 1000;
            default -> r.nextGaussian();
          };
    }
    return Tensor.of(x, shape).to(t);
  }

  /**
   * A tensor of {@code shape} with the values of {@code random}, laid out non-contiguously: built
   * reversed-dims and permuted back, then every other element of dim 0 of a twice-as-long tensor.
   */
  static Tensor nonContiguous(Random r, DType t, long... shape) {
    int n = shape.length;
    if (n == 0) return random(r, t, shape);
    long[] rev = new long[n];
    for (int i = 0; i < n; i++) rev[i] = shape[n - 1 - i];
    rev[n - 1] *= 2; // becomes dim 0 after the permute
    int[] perm = new int[n];
    for (int i = 0; i < n; i++) perm[i] = n - 1 - i;
    return random(r, t, rev).permute(perm).slice(0, 1, 2 * shape[0], 2);
  }

  static Tensor indices(Random r, DType t, long bound, long... shape) {
    long[] v = new long[(int) Shapes.numel(shape)];
    for (int i = 0; i < v.length; i++) v[i] = bound == 0 ? 0 : r.nextLong(bound);
    Tensor idx = Tensor.of(v, shape);
    return t == DType.I64 ? idx : idx.to(t);
  }

  static long[] coords(long flat, long[] shape) {
    long[] c = new long[shape.length];
    for (int d = shape.length - 1; d >= 0; d--) {
      c[d] = flat % shape[d];
      flat /= shape[d];
    }
    return c;
  }

  static int flat(long[] c, long[] shape) {
    long f = 0;
    for (int d = 0; d < shape.length; d++) f = f * shape[d] + c[d];
    return (int) f;
  }

  /** {@code a + b} as the dtype computes it (rounded once per add, integers wrapping). */
  static double addAs(DType t, double a, double b) {
    return switch (t) {
      case F64 -> a + b;
      case F32 -> (float) a + (float) b;
      case F16 -> Float.float16ToFloat(Float.floatToFloat16((float) a + (float) b));
      case BF16 -> bf16Round((float) a + (float) b);
      case I64 -> (long) a + (long) b;
      case I32 -> (int) ((long) a + (long) b);
      case U8 -> ((long) a + (long) b) & 0xff;
      case BOOL -> (a != 0 || b != 0) ? 1 : 0;
    };
  }

  static float bf16Round(float f) {
    int bits = Float.floatToRawIntBits(f);
    bits += 0x7fff + ((bits >>> 16) & 1);
    return Float.intBitsToFloat(bits & 0xffff0000);
  }

  static long[] randomShape(Random r, int rank, int max) {
    long[] s = new long[rank];
    for (int i = 0; i < rank; i++) s[i] = 1 + r.nextInt(max);
    return s;
  }

  // ------------------------------------------------------------------ index_select

  static double[] indexSelectRef(double[] x, long[] xShape, int dim, long[] idx) {
    long[] outShape = xShape.clone();
    outShape[dim] = idx.length;
    double[] out = new double[(int) Shapes.numel(outShape)];
    for (int f = 0; f < out.length; f++) {
      long[] c = coords(f, outShape);
      c[dim] = idx[(int) c[dim]];
      out[f] = x[flat(c, xShape)];
    }
    return out;
  }

  @Test
  void indexSelectMatchesReferenceForEveryDtypeAndLayout() {
    Random r = new Random(1);
    for (DType t : ALL_TYPES) {
      for (int trial = 0; trial < 12; trial++) {
        try (var s = Scope.open()) {
          long[] shape = randomShape(r, 1 + r.nextInt(4), 6);
          if (trial == 0) shape = new long[] {7, 40}; // long contiguous rows: the block path
          if (trial == 1) shape = new long[] {3, 1000};
          int rank = shape.length;
          int dim = r.nextInt(rank);
          int n = trial == 2 ? 0 : 1 + r.nextInt(9);
          Tensor x = trial % 2 == 0 ? random(r, t, shape) : nonContiguous(r, t, shape);
          Tensor idx = indices(r, trial % 3 == 0 ? DType.I32 : DType.I64, shape[dim], 2L * n);
          idx = idx.slice(0, 0, 2L * n, 2); // strided index
          int dimArg = trial % 4 == 0 ? dim - rank : dim; // negative dims too
          Tensor out = x.indexSelect(dimArg, idx);
          double[] ref = indexSelectRef(x.toDoubleArray(), shape, dim, idx.toLongArray());
          long[] expectShape = shape.clone();
          expectShape[dim] = n;
          assertArrayEquals(expectShape, out.shape());
          assertEquals(t, out.dtype());
          assertArrayEquals(ref, out.toDoubleArray(), t + " " + Shapes.str(shape) + " dim " + dim);
        }
      }
    }
  }

  @Test
  void indexSelectEmbeddingRowsAndScalars() {
    try (var s = Scope.open()) {
      Random r = new Random(2);
      Tensor table = random(r, DType.F32, 50, 33);
      Tensor ids = Tensor.of(new long[] {3, 49, 0, 3});
      Tensor rows = table.indexSelect(0, ids);
      double[] ref =
          indexSelectRef(table.toDoubleArray(), new long[] {50, 33}, 0, ids.toLongArray());
      assertArrayEquals(ref, rows.toDoubleArray());
      // 0-d index keeps the dim with size 1; a 0-d input takes one index and stays 0-d.
      Tensor one = table.indexSelect(1, Tensor.of(new int[] {7}).reshape());
      assertArrayEquals(new long[] {50, 1}, one.shape());
      Tensor sc = Tensor.scalar(4.5, DType.F64).indexSelect(0, Tensor.of(new long[] {0}));
      assertEquals(0, sc.dim());
      assertEquals(4.5, sc.item());
    }
  }

  // ------------------------------------------------------------------ gather

  static double[] gatherRef(double[] x, long[] xShape, int dim, long[] idx, long[] idxShape) {
    double[] out = new double[idx.length];
    for (int f = 0; f < out.length; f++) {
      long[] c = coords(f, idxShape);
      c[dim] = idx[f];
      out[f] = x[flat(c, xShape)];
    }
    return out;
  }

  @Test
  void gatherMatchesReferenceForEveryDtypeAndLayout() {
    Random r = new Random(3);
    for (DType t : ALL_TYPES) {
      for (int trial = 0; trial < 12; trial++) {
        try (var s = Scope.open()) {
          int rank = 1 + r.nextInt(4);
          long[] shape = randomShape(r, rank, 6);
          int dim = r.nextInt(rank);
          long[] iShape = new long[rank];
          for (int d = 0; d < rank; d++) {
            iShape[d] = d == dim ? 1 + r.nextInt(8) : 1 + r.nextInt((int) shape[d]);
          }
          if (trial == 5) iShape[0] = 0; // empty index: empty output
          Tensor x = trial % 2 == 0 ? random(r, t, shape) : nonContiguous(r, t, shape);
          DType it = trial % 3 == 0 ? DType.I32 : DType.I64;
          Tensor idx =
              trial % 2 == 1
                  ? indices(r, it, shape[dim], iShape).alias()
                  : nonContiguousIndex(r, it, shape[dim], iShape);
          Tensor out = x.gather(trial % 4 == 0 ? dim - rank : dim, idx);
          assertArrayEquals(iShape, out.shape());
          double[] ref = gatherRef(x.toDoubleArray(), shape, dim, idx.toLongArray(), iShape);
          assertArrayEquals(ref, out.toDoubleArray(), t + " " + Shapes.str(shape) + " dim " + dim);
        }
      }
    }
  }

  /** Index values of {@code shape} in [0, bound), transposed in memory. */
  static Tensor nonContiguousIndex(Random r, DType t, long bound, long... shape) {
    if (shape.length < 2) return indices(r, t, bound, 2 * shape[0]).slice(0, 0, 2 * shape[0], 2);
    long[] sw = shape.clone();
    sw[0] = shape[1];
    sw[1] = shape[0];
    return indices(r, t, bound, sw).transpose(0, 1);
  }

  // ------------------------------------------------------------------ scatter_add

  static double[] scatterAddRef(
      DType t,
      double[] self,
      long[] selfShape,
      int dim,
      long[] idx,
      long[] idxShape,
      double[] src,
      long[] srcShape) {
    double[] out = self.clone();
    for (int f = 0; f < idx.length; f++) {
      long[] c = coords(f, idxShape);
      double v = src[flat(c, srcShape)];
      c[dim] = idx[f];
      int o = flat(c, selfShape);
      out[o] = addAs(t, out[o], v);
    }
    return out;
  }

  @Test
  void scatterAddMatchesReferenceForEveryDtypeAndLayout() {
    Random r = new Random(4);
    for (DType t : ALL_TYPES) {
      for (int trial = 0; trial < 12; trial++) {
        try (var s = Scope.open()) {
          int rank = 1 + r.nextInt(4);
          long[] shape = randomShape(r, rank, 5);
          int dim = r.nextInt(rank);
          long[] iShape = new long[rank], srcShape = new long[rank];
          for (int d = 0; d < rank; d++) {
            iShape[d] = d == dim ? 1 + r.nextInt(9) : 1 + r.nextInt((int) shape[d]);
            srcShape[d] = iShape[d] + r.nextInt(2); // src may be larger than index
          }
          Tensor self = trial % 2 == 0 ? random(r, t, shape) : nonContiguous(r, t, shape);
          Tensor src = trial % 3 == 0 ? random(r, t, srcShape) : nonContiguous(r, t, srcShape);
          DType it = trial % 3 == 1 ? DType.I32 : DType.I64;
          Tensor idx =
              trial % 2 == 0
                  ? indices(r, it, shape[dim], iShape)
                  : nonContiguousIndex(r, it, shape[dim], iShape);
          double[] before = self.toDoubleArray();
          double[] ref =
              scatterAddRef(
                  t, before, shape, dim, idx.toLongArray(), iShape, src.toDoubleArray(), srcShape);
          int dimArg = trial % 4 == 0 ? dim - rank : dim;
          Tensor out = self.scatterAdd(dimArg, idx, src);
          String what =
              t + " " + Shapes.str(shape) + " dim " + dim + " index " + Shapes.str(iShape);
          assertArrayEquals(ref, out.toDoubleArray(), what);
          assertArrayEquals(before, self.toDoubleArray(), what + ": out of place changed self");
          Tensor same = self.scatterAddInPlace(dimArg, idx, src);
          assertSame(self, same);
          assertArrayEquals(ref, self.toDoubleArray(), what + " in place");
        }
      }
    }
  }

  /** Many collisions on few targets: the sum is the same bits every run. */
  @Test
  void scatterAddIsDeterministicUnderCollisions() {
    try (var s = Scope.open()) {
      Random r = new Random(5);
      int rows = 200_000;
      Tensor src = random(r, DType.F32, rows, 8);
      Tensor idx = indices(r, DType.I64, 3, rows, 8);
      Tensor self = Tensor.zeros(DType.F32, 3, 8);
      double[] ref =
          scatterAddRef(
              DType.F32,
              self.toDoubleArray(),
              new long[] {3, 8},
              0,
              idx.toLongArray(),
              new long[] {rows, 8},
              src.toDoubleArray(),
              new long[] {rows, 8});
      double[] first = self.scatterAdd(0, idx, src).toDoubleArray();
      assertArrayEquals(ref, first); // same order of additions as the sequential reference
      for (int i = 0; i < 3; i++)
        assertArrayEquals(first, self.scatterAdd(0, idx, src).toDoubleArray());
    }
  }

  // ------------------------------------------------------------------ errors

  private static void assertMessage(Class<? extends Throwable> type, String fragment, Runnable r) {
    Throwable e = assertThrows(type, r::run);
    assertTrue(e.getMessage().contains(fragment), e.getMessage());
  }

  @Test
  void outOfRangeIndicesThrowNamingOpValueAndSize() {
    try (var s = Scope.open()) {
      Tensor x = Tensor.zeros(4, 5);
      Class<IndexOutOfBoundsException> oob = IndexOutOfBoundsException.class;
      assertMessage(
          oob,
          "indexSelect: index 5 is out of bounds for dim 1 with size 5",
          () -> x.indexSelect(1, Tensor.of(new long[] {0, 5})));
      assertMessage(
          oob,
          "indexSelect: index -1 is out of bounds for dim 0 with size 4",
          () -> x.indexSelect(0, Tensor.of(new int[] {-1})));
      // Rows long enough for the block-copy path.
      assertMessage(
          oob,
          "indexSelect: index 9 is out of bounds for dim 0 with size 4",
          () -> Tensor.zeros(4, 20).indexSelect(0, Tensor.of(new long[] {1, 9})));
      assertMessage(
          oob,
          "gather: index 7 is out of bounds for dim 1 with size 5",
          () -> x.gather(1, Tensor.of(new long[] {0, 7}, 1, 2)));
      assertMessage(
          oob,
          "gather: index -3 is out of bounds for dim 0 with size 4",
          () -> x.gather(0, Tensor.of(new long[] {-3}, 1, 1)));
      Tensor self = Tensor.ones(4, 5);
      Tensor src = Tensor.ones(2, 5);
      assertMessage(
          oob,
          "scatterAdd: index 4 is out of bounds for dim 0 with size 4",
          () ->
              self.scatterAddInPlace(
                  0, Tensor.of(new long[] {0, 1, 2, 3, 4, 0, 1, 2, 3, 0}, 2, 5), src));
      assertArrayEquals(Tensor.ones(4, 5).toDoubleArray(), self.toDoubleArray(), "self untouched");
      assertMessage(
          oob,
          "scatterAdd: index -1 is out of bounds for dim 1 with size 5",
          () -> self.scatterAdd(1, Tensor.of(new long[] {-1}, 1, 1), src));
      assertMessage(
          oob, "gather: dim 2 out of range", () -> x.gather(2, Tensor.zeros(DType.I64, 1, 1)));
    }
  }

  @Test
  void badArgumentsThrowNamingOpAndShapes() {
    try (var s = Scope.open()) {
      Tensor x = Tensor.zeros(4, 5);
      Class<IllegalArgumentException> iae = IllegalArgumentException.class;
      assertMessage(
          iae,
          "indexSelect: index must be I64 or I32, got F32[2]",
          () -> x.indexSelect(0, Tensor.zeros(2)));
      assertMessage(
          iae,
          "indexSelect: index must be 0-d or 1-d, got I64[1, 1] for input F32[4, 5]",
          () -> x.indexSelect(0, Tensor.zeros(DType.I64, 1, 1)));
      assertMessage(
          iae,
          "gather: index I64[2] must have the same number of dims as the input F32[4, 5]",
          () -> x.gather(0, Tensor.zeros(DType.I64, 2)));
      assertMessage(
          iae,
          "gather: index I64[2, 6] is larger than the input F32[4, 5] in dim 1",
          () -> x.gather(0, Tensor.zeros(DType.I64, 2, 6)));
      assertMessage(
          iae,
          "scatterAdd: src F64[2, 5] must have the dtype of self F32[4, 5]",
          () -> x.scatterAdd(0, Tensor.zeros(DType.I64, 2, 5), Tensor.zeros(DType.F64, 2, 5)));
      assertMessage(
          iae,
          "must not be larger than src F32[2, 5]",
          () -> x.scatterAdd(0, Tensor.zeros(DType.I64, 3, 5), Tensor.zeros(2, 5)));
      assertMessage(
          iae,
          "nor than self F32[4, 5] in dims other than 0 (dim 1)",
          () -> x.scatterAdd(0, Tensor.zeros(DType.I64, 2, 6), Tensor.zeros(2, 6)));
      assertMessage(
          iae,
          "scatterAdd: self F32[4, 5], index I64[2] and src F32[2, 5] must have the same number of dims",
          () -> x.scatterAdd(0, Tensor.zeros(DType.I64, 2), Tensor.zeros(2, 5)));
      Tensor expanded = Tensor.zeros(1, 5).expand(4, 5);
      assertMessage(
          iae,
          "scatterAddInPlace: self F32[4, 5] is a broadcast (expanded) view",
          () -> expanded.scatterAddInPlace(0, Tensor.zeros(DType.I64, 1, 5), Tensor.ones(1, 5)));
    }
  }
}
