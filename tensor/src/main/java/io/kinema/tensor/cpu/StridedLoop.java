package io.kinema.tensor.cpu;

import io.kinema.tensor.backend.FusedDims;

/**
 * Walks several operands of one N-d shape (each with its own element strides and offset) as 1-d
 * runs along the innermost dimension, so kernels only ever see {@code (offsets, strides, n)}.
 * Dimensions that are contiguous across all operands are merged first, so a contiguous tensor
 * becomes a single run; runs are split across the shared pool.
 */
public final class StridedLoop {
  /** One run of {@code n} elements: operand {@code i} starts at {@code offsets[i]}. */
  @FunctionalInterface
  public interface Run {
    void run(long[] offsets, long[] strides, long n);
  }

  /** Elements a thread should get before it is worth waking another. */
  public static final long GRAIN = 1 << 15;

  private StridedLoop() {}

  /**
   * Calls {@code body} for every run of {@code shape}. {@code strides[i]} and {@code offsets[i]}
   * are operand {@code i}'s element strides (0 for a broadcast dimension) and base offset.
   */
  public static void forEach(long[] shape, long[][] strides, long[] offsets, Run body) {
    forEach(shape, strides, offsets, GRAIN, body);
  }

  /** As {@link #forEach(long[], long[][], long[], Run)}, with an explicit per-thread grain. */
  public static void forEach(long[] shape, long[][] strides, long[] offsets, long grain, Run body) {
    int ops = strides.length;
    for (long d : shape) if (d == 0) return;
    FusedDims f = FusedDims.of(shape, strides);
    // A single element still makes one run of length 1.
    final int dims = Math.max(1, f.rank());
    final long[] sh = f.rank() > 0 ? f.shape() : new long[] {1};
    final long[][] st = f.rank() > 0 ? f.strides() : new long[ops][1];
    final long inner = sh[dims - 1];
    final long[] innerStrides = new long[ops];
    for (int i = 0; i < ops; i++) innerStrides[i] = st[i][dims - 1];
    long rows = 1;
    for (int d = 0; d < dims - 1; d++) rows *= sh[d];
    final long nRows = rows;
    // Split long runs into tiles so a single contiguous run still uses every thread.
    final long tile =
        nRows >= Parallel.threads()
            ? inner
            : Math.max(grain, ceilDiv(inner, 4L * Parallel.threads()));
    final long tilesPerRow = ceilDiv(inner, tile);
    long work = nRows * inner;
    long items = nRows * tilesPerRow;
    long itemGrain = Math.max(1, grain / Math.max(1, Math.min(inner, tile)));
    if (work < grain) itemGrain = items;
    Parallel.forRange(
        items,
        itemGrain,
        (s, e) -> {
          long[] offs = new long[ops];
          long[] idx = new long[dims];
          for (long it = s; it < e; it++) {
            long row = it / tilesPerRow, t = it % tilesPerRow;
            long r = row;
            for (int d = dims - 2; d >= 0; d--) {
              idx[d] = r % sh[d];
              r /= sh[d];
            }
            long start = t * tile;
            for (int i = 0; i < ops; i++) {
              long o = offsets[i] + start * innerStrides[i];
              for (int d = 0; d < dims - 1; d++) o += idx[d] * st[i][d];
              offs[i] = o;
            }
            body.run(offs, innerStrides, Math.min(tile, inner - start));
          }
        });
  }

  private static long ceilDiv(long a, long b) {
    return (a + b - 1) / b;
  }
}
