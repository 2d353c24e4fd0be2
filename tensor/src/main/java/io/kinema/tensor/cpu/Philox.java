package io.kinema.tensor.cpu;

import jdk.incubator.vector.LongVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Philox4x32-10, the counter-based generator of Salmon, Moraes, Dror and Shaw, "Parallel random
 * numbers: as easy as 1, 2, 3" (SC 2011; the Random123 library): a 10-round bijection of a 128-bit
 * counter (four 32-bit words) under a 64-bit key (two words). Each round multiplies words 0 and 2
 * by {@code 0xD2511F53} and {@code 0xCD9E8D57} (full 32x32 -> 64 products), mixes the halves with
 * the other words and the key, and the key then advances by the Weyl increments {@code 0x9E3779B9}
 * and {@code 0xBB67AE85}.
 *
 * <h2>Kinema's stream (every backend reproduces it bit for bit)</h2>
 *
 * <ul>
 *   <li>key = (seed low 32 bits, seed high 32 bits);
 *   <li>counter of block {@code c} = (c low 32 bits, c high 32 bits, 0, 0), where {@code c = offset
 *       + block index} and {@code offset} is the generator's reserved start counter;
 *   <li>a block yields words {@code w0..w3}. Elements of 1, 2 and 4 bytes take one word each, so
 *       element {@code i} of a draw uses word {@code i % 4} of block {@code offset + i / 4}.
 *       Elements of 8 bytes (F64, I64) take two words each: element {@code i} uses words {@code 2(i
 *       % 2)} (the high half) and {@code 2(i % 2) + 1} (the low half) of block {@code offset + i /
 *       2}.
 * </ul>
 *
 * <p>How words become values (uniform, normal, integers) is documented in {@link CpuRandom}.
 */
public final class Philox {
  /** Round multipliers. */
  static final int M0 = 0xD2511F53, M1 = 0xCD9E8D57;

  /** Weyl key increments ("golden ratio" and sqrt(3) - 1). */
  static final int W0 = 0x9E3779B9, W1 = 0xBB67AE85;

  /** Rounds of Philox4x32-10. */
  static final int ROUNDS = 10;

  private static final long MASK = 0xffffffffL;

  private Philox() {}

  /**
   * One block: the four output words of counter {@code (c0, c1, c2, c3)} under key {@code (k0,
   * k1)}, written to {@code out[0..3]}. This is the general function the known-answer vectors test;
   * {@link #blocks} is the stream's fast path.
   */
  public static void block(int c0, int c1, int c2, int c3, int k0, int k1, int[] out) {
    for (int r = 0; r < ROUNDS; r++) {
      long p0 = (M0 & MASK) * (c0 & MASK);
      long p1 = (M1 & MASK) * (c2 & MASK);
      int n0 = (int) (p1 >>> 32) ^ c1 ^ k0;
      int n2 = (int) (p0 >>> 32) ^ c3 ^ k1;
      c1 = (int) p1;
      c3 = (int) p0;
      c0 = n0;
      c2 = n2;
      k0 += W0;
      k1 += W1;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
  }

  /**
   * The words of {@code count} consecutive blocks of the stream of {@code seed}, starting at block
   * {@code counter}: {@code words[4j + k]} is word {@code k} of block {@code counter + j}, for
   * {@code j < count}. Counters wrap modulo 2^64.
   */
  public static void blocks(long seed, long counter, int count, int[] words) {
    final int lanes = L.length();
    int j = 0;
    if (count >= lanes) {
      // Round keys: key_r = key + r * W, the same for every lane.
      long[] rk0 = new long[ROUNDS], rk1 = new long[ROUNDS];
      int k0 = (int) seed, k1 = (int) (seed >>> 32);
      for (int r = 0; r < ROUNDS; r++) {
        rk0[r] = k0 & MASK;
        rk1[r] = k1 & MASK;
        k0 += W0;
        k1 += W1;
      }
      LongVector iota = LongVector.zero(L).addIndex(1);
      for (; j <= count - lanes; j += lanes) {
        vectorBlocks(iota.add(counter + j), rk0, rk1, words, 4 * j);
      }
    }
    scalarBlocks(seed, counter + j, count - j, words, 4 * j);
  }

  private static final VectorSpecies<Long> L = LongVector.SPECIES_PREFERRED;

  /** Lane indexes that interleave two long vectors: (a0, b0, a1, b1, ...) then the upper halves. */
  private static final LongVector ZIP_LO, ZIP_HI;

  static {
    int n = L.length();
    long[] lo = new long[n], hi = new long[n];
    for (int l = 0; l < n; l++) {
      lo[l] = (l % 2 == 0 ? 0 : n) + l / 2;
      hi[l] = lo[l] + n / 2;
    }
    ZIP_LO = LongVector.fromArray(L, lo, 0);
    ZIP_HI = LongVector.fromArray(L, hi, 0);
  }

  /**
   * One block per lane of {@code ctr} (64-bit counters). The 32-bit words live zero-extended in
   * 64-bit lanes, so one lane multiply gives the full 32x32 -> 64 product.
   */
  private static void vectorBlocks(LongVector ctr, long[] rk0, long[] rk1, int[] words, int at) {
    LongVector c0 = ctr.and(MASK), c1 = ctr.lanewise(VectorOperators.LSHR, 32);
    LongVector c2 = LongVector.zero(L), c3 = c2;
    for (int r = 0; r < ROUNDS; r++) {
      LongVector p0 = c0.mul(M0 & MASK), p1 = c2.mul(M1 & MASK);
      LongVector n0 = p1.lanewise(VectorOperators.LSHR, 32).lanewise(VectorOperators.XOR, c1);
      LongVector n2 = p0.lanewise(VectorOperators.LSHR, 32).lanewise(VectorOperators.XOR, c3);
      c0 = n0.lanewise(VectorOperators.XOR, rk0[r]);
      c2 = n2.lanewise(VectorOperators.XOR, rk1[r]);
      c1 = p1.and(MASK);
      c3 = p0.and(MASK);
    }
    // (w0 | w1 << 32) stored little-endian is the int pair (w0, w1): interleaving the two word
    // pairs of each lane puts the four words of each block next to each other.
    LongVector a = c0.or(c1.lanewise(VectorOperators.LSHL, 32));
    LongVector b = c2.or(c3.lanewise(VectorOperators.LSHL, 32));
    ZIP_LO.selectFrom(a, b).reinterpretAsInts().intoArray(words, at);
    ZIP_HI.selectFrom(a, b).reinterpretAsInts().intoArray(words, at + 2 * L.length());
  }

  /** {@link #blocks} one block at a time (the tail after the vector loop). */
  static void scalarBlocks(long seed, long counter, int count, int[] words, int at) {
    final int key0 = (int) seed, key1 = (int) (seed >>> 32);
    for (int j = 0; j < count; j++) {
      long c = counter + j;
      // The stream's counter is (c lo, c hi, 0, 0); the rounds are inlined from block() so the
      // four words stay in registers.
      int c0 = (int) c, c1 = (int) (c >>> 32), c2 = 0, c3 = 0;
      int k0 = key0, k1 = key1;
      for (int r = 0; r < ROUNDS; r++) {
        long p0 = (M0 & MASK) * (c0 & MASK);
        long p1 = (M1 & MASK) * (c2 & MASK);
        int n0 = (int) (p1 >>> 32) ^ c1 ^ k0;
        int n2 = (int) (p0 >>> 32) ^ c3 ^ k1;
        c1 = (int) p1;
        c3 = (int) p0;
        c0 = n0;
        c2 = n2;
        k0 += W0;
        k1 += W1;
      }
      int w = at + 4 * j;
      words[w] = c0;
      words[w + 1] = c1;
      words[w + 2] = c2;
      words[w + 3] = c3;
    }
  }
}
