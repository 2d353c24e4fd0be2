package io.kinema.tensor.cpu;

import java.util.Arrays;

/**
 * The keys a tile of query rows may see, as sorted, disjoint segments {@code [start(s), end(s))}: a
 * tile walks these segments block by block, so key blocks no row of the tile can see are never
 * loaded. For the limit masks (none, causal, block-causal) it is the one segment {@code [0,
 * limit(last row))}, for an explicit mask {@code [0, Sk)}, for KeyRanges the union of the rows'
 * intervals. One instance is a worker's reusable scratch.
 */
final class KeySegments {
  /** Segments as {@code start << 32 | end}, sorted by start once built. */
  private final long[] packed;

  private int count;

  /** Scratch for tiles of up to {@code maxRows} rows. */
  KeySegments(int maxRows) {
    packed = new long[2 * maxRows];
  }

  /** Builds the segments of rows {@code [q0, q0 + rows)}; returns this. */
  KeySegments of(CpuAttention.Plan p, int q0, int rows) {
    count = 0;
    if (p.maskKind != CpuAttention.Plan.KEY_RANGES) {
      long end = p.maskKind == CpuAttention.Plan.EXPLICIT ? p.sk : p.keyLimit(q0 + rows - 1);
      if (end > 0) packed[count++] = end;
      return this;
    }
    int[] r = p.ranges;
    for (int i = q0; i < q0 + rows; i++) {
      for (int at = 4 * i; at < 4 * i + 4; at += 2) {
        if (r[at] < r[at + 1]) packed[count++] = (long) r[at] << 32 | r[at + 1];
      }
    }
    Arrays.sort(packed, 0, count);
    int merged = 0;
    for (int s = 0; s < count; s++) {
      int lo = start(packed[s]), hi = end(packed[s]);
      if (merged > 0 && lo <= end(packed[merged - 1])) { // overlaps or touches the last one
        int last = Math.max(hi, end(packed[merged - 1]));
        packed[merged - 1] = (long) start(packed[merged - 1]) << 32 | last;
      } else {
        packed[merged++] = (long) lo << 32 | hi;
      }
    }
    count = merged;
    return this;
  }

  int count() {
    return count;
  }

  int start(int s) {
    return start(packed[s]);
  }

  int end(int s) {
    return end(packed[s]);
  }

  private static int start(long seg) {
    return (int) (seg >>> 32);
  }

  private static int end(long seg) {
    return (int) seg;
  }
}
