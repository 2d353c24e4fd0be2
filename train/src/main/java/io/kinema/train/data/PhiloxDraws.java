package io.kinema.train.data;

import io.kinema.tensor.cpu.Philox;

/**
 * Host-side draws from the engine's counter-based stream ({@link Philox}, as {@code
 * io.kinema.tensor.Generator} uses it), for decisions made on loader threads without tensors. Each
 * draw is a pure function of its seed and counters, so results never depend on thread timing, the
 * number of workers or where a resumed run starts.
 */
final class PhiloxDraws {
  private PhiloxDraws() {}

  /** Blocks generated per call while shuffling (4 KiB of words). */
  private static final int TILE = 256;

  /**
   * The first F64 uniform in [0, 1) of the stream of {@code seed}: the value {@code Tensor.rand(new
   * Generator(seed), F64, CPU, 1)} holds (53 bits from words 0 and 1 of block 0).
   */
  static double uniform(long seed) {
    int[] w = new int[4];
    Philox.blocks(seed, 0, 1, w);
    long hi = w[0] & 0xffffffffL, lo = w[1] & 0xffffffffL;
    return ((hi >>> 5) * (1L << 26) + (lo >>> 6)) * 0x1.0p-53;
  }

  /**
   * A permutation of {@code 0..n-1} from {@code (seed, epoch)}: Fisher–Yates from the top, where
   * the swap partner of position {@code i} is {@code floor(x * (i + 1) / 2^64)} for the k-th 64-bit
   * draw {@code x} ({@code k = n - 1 - i}). Draw {@code k} is words {@code 2(k % 2)} (high half)
   * and {@code 2(k % 2) + 1} of block {@code epoch * 2^32 + k / 2} of the stream of {@code seed},
   * the layout of the engine's 8-byte integer draws; each epoch has its own counter range.
   */
  static int[] permutation(int n, long seed, long epoch) {
    if (n < 0) throw new IllegalArgumentException("permutation of " + n + " elements");
    int[] perm = new int[n];
    for (int i = 0; i < n; i++) perm[i] = i;
    long base = epoch << 32;
    int[] words = new int[4 * TILE];
    long draws = Math.max(0, n - 1L);
    for (long tileStart = 0; tileStart < draws; tileStart += 2L * TILE) {
      int blocks = (int) Math.min(TILE, (draws - tileStart + 1) / 2);
      Philox.blocks(seed, base + tileStart / 2, blocks, words);
      long end = Math.min(draws, tileStart + 2L * blocks);
      for (long k = tileStart; k < end; k++) {
        int w = (int) (k - tileStart) * 2;
        long x = ((long) words[w] << 32) | (words[w + 1] & 0xffffffffL);
        int i = (int) (n - 1 - k);
        int j = (int) Math.unsignedMultiplyHigh(x, i + 1L);
        int t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
      }
    }
    return perm;
  }
}
