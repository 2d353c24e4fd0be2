package io.kinema.tensor;

import java.util.Arrays;

/** Shape arithmetic shared by ops and backends: sizes, strides, broadcasting, dim checks. */
public final class Shapes {
  private Shapes() {}

  /** Product of the sizes (1 for a scalar shape). */
  public static long numel(long[] shape) {
    long n = 1;
    for (long d : shape) n = Math.multiplyExact(n, d);
    return n;
  }

  /** Row-major strides of a contiguous tensor of this shape. */
  public static long[] contiguousStrides(long[] shape) {
    long[] st = new long[shape.length];
    long s = 1;
    for (int d = shape.length - 1; d >= 0; d--) {
      st[d] = s;
      s *= Math.max(shape[d], 1);
    }
    return st;
  }

  /** The broadcast of two shapes, NumPy/PyTorch rules; {@code op} names the caller in errors. */
  public static long[] broadcast(String op, long[] a, long[] b) {
    int n = Math.max(a.length, b.length);
    long[] out = new long[n];
    for (int i = 0; i < n; i++) {
      long da = i < n - a.length ? 1 : a[i - (n - a.length)];
      long db = i < n - b.length ? 1 : b[i - (n - b.length)];
      if (da != db && da != 1 && db != 1) {
        throw new IllegalArgumentException(
            op
                + ": shapes "
                + Arrays.toString(a)
                + " and "
                + Arrays.toString(b)
                + " cannot be broadcast (dim "
                + i
                + ": "
                + da
                + " vs "
                + db
                + ")");
      }
      out[i] = da == 1 ? db : da;
    }
    return out;
  }

  /** A dim in [-rank, rank) made non-negative; anything else is an error naming the op. */
  public static int normalizeDim(String op, int dim, int rank) {
    int r = Math.max(rank, 1);
    if (dim < -r || dim >= r) {
      throw new IndexOutOfBoundsException(
          op
              + ": dim "
              + dim
              + " out of range for a tensor of rank "
              + rank
              + " (expected ["
              + -r
              + ", "
              + (r - 1)
              + "])");
    }
    return dim < 0 ? dim + r : dim;
  }

  /** Normalized, sorted, distinct dims; an empty array means all dims. */
  public static int[] normalizeDims(String op, int[] dims, int rank) {
    if (dims == null || dims.length == 0) {
      int[] all = new int[rank];
      for (int i = 0; i < rank; i++) all[i] = i;
      return all;
    }
    int[] out = new int[dims.length];
    for (int i = 0; i < dims.length; i++) out[i] = normalizeDim(op, dims[i], rank);
    Arrays.sort(out);
    for (int i = 1; i < out.length; i++) {
      if (out[i] == out[i - 1]) {
        throw new IllegalArgumentException(
            op + ": dim " + out[i] + " appears twice in " + Arrays.toString(dims));
      }
    }
    return out;
  }

  public static String str(long[] shape) {
    return Arrays.toString(shape);
  }
}
