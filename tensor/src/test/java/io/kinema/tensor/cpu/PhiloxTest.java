package io.kinema.tensor.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import io.kinema.tensor.DType;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.backend.Backend;
import io.kinema.tensor.backend.RandomKind;
import java.util.Random;
import org.junit.jupiter.api.Test;

class PhiloxTest {
  private static int[] block(int c0, int c1, int c2, int c3, int k0, int k1) {
    int[] out = new int[4];
    Philox.block(c0, c1, c2, c3, k0, k1, out);
    return out;
  }

  /** Random123's known-answer vectors (tests/kat_vectors, philox4x32 10 rounds). */
  @Test
  void knownAnswerVectors() {
    assertArrayEquals(
        new int[] {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}, block(0, 0, 0, 0, 0, 0));
    assertArrayEquals(
        new int[] {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}, block(-1, -1, -1, -1, -1, -1));
    assertArrayEquals(
        new int[] {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1},
        block(0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0));
  }

  /** The stream: key (seed lo, seed hi), counter (c lo, c hi, 0, 0), words in block order. */
  @Test
  void blocksFollowTheStreamDefinition() {
    Random rnd = new Random(7);
    long[] seeds = {0, 1, -1, 0x1234_5678_9abc_def0L, rnd.nextLong()};
    long[] starts = {0, 5, 0xffff_fff0L, -3, rnd.nextLong()}; // crosses 2^32 and 2^64
    for (long seed : seeds) {
      for (long start : starts) {
        int count = 37;
        int[] words = new int[4 * count];
        Philox.blocks(seed, start, count, words);
        for (int j = 0; j < count; j++) {
          long c = start + j;
          int[] want = block((int) c, (int) (c >>> 32), 0, 0, (int) seed, (int) (seed >>> 32));
          for (int k = 0; k < 4; k++) {
            assertEquals(
                want[k], words[4 * j + k], "seed " + seed + " counter " + c + " word " + k);
          }
        }
      }
    }
  }

  /** Adjacent counters, keys and bits give unrelated outputs (no trivial structure). */
  @Test
  void avalanche() {
    Random rnd = new Random(3);
    long flips = 0, trials = 2000;
    for (int t = 0; t < trials; t++) {
      int c0 = rnd.nextInt(), k0 = rnd.nextInt();
      int[] x = block(c0, 0, 0, 0, k0, 0);
      int[] y = block(c0 ^ (1 << rnd.nextInt(32)), 0, 0, 0, k0, 0);
      for (int k = 0; k < 4; k++) flips += Integer.bitCount(x[k] ^ y[k]);
    }
    double perBit = flips / (trials * 128.0);
    assertEquals(0.5, perBit, 0.01, "fraction of output bits flipped by one input bit");
  }

  @Test
  void parallelFillEqualsSequential() {
    long seed = 0x5eed_0000_0001L, offset = 0xffff_f000L;
    for (DType dt : DType.values()) {
      for (RandomKind kind : RandomKind.values()) {
        if (kind != RandomKind.INTEGERS && !dt.isFloatingPoint()) continue;
        double a = kind == RandomKind.INTEGERS ? (dt == DType.BOOL ? 0 : -3) : -1;
        double b = kind == RandomKind.INTEGERS ? (dt == DType.BOOL ? 2 : 100) : 2;
        long n = 600_001;
        try (var s = Scope.open()) {
          Tensor par = Tensor.empty(dt, n), seq = Tensor.empty(dt, n);
          CpuRandom.random(kind, seed, offset, a, b, par, true);
          CpuRandom.random(kind, seed, offset, a, b, seq, false);
          long bytes = n * dt.byteSize();
          assertEquals(
              -1L,
              par.storage()
                  .segment()
                  .asSlice(0, bytes)
                  .mismatch(seq.storage().segment().asSlice(0, bytes)),
              kind + " " + dt + ": parallel and sequential fills differ");
        }
      }
    }
  }

  /** A draw is the concatenation of draws of its pieces at the matching counters. */
  @Test
  void fillIsAPrefixClosedFunctionOfTheCounter() {
    long seed = 99, offset = 12345;
    for (DType dt : new DType[] {DType.F32, DType.F64, DType.BF16, DType.I64}) {
      RandomKind kind = dt == DType.I64 ? RandomKind.INTEGERS : RandomKind.NORMAL;
      int per = dt.byteSize() == 8 ? 2 : 4;
      try (var s = Scope.open()) {
        Tensor whole = Tensor.empty(dt, 100_003);
        CpuRandom.random(kind, seed, offset, -50, 50, whole);
        double[] w = whole.toDoubleArray();
        long pos = 0;
        Random rnd = new Random(1);
        while (pos < w.length) {
          long len = Math.min(w.length - pos, per * (1 + rnd.nextInt(3000)));
          Tensor piece = Tensor.empty(dt, len);
          CpuRandom.random(kind, seed, offset + pos / per, -50, 50, piece);
          double[] p = piece.toDoubleArray();
          for (int i = 0; i < len; i++) assertEquals(w[(int) (pos + i)], p[i], dt + " at " + pos);
          pos += len;
        }
        assertEquals(w.length, pos);
      }
    }
  }

  @Test
  void seedHighBitsMatter() {
    try (var s = Scope.open()) {
      Tensor x = Tensor.empty(DType.I64, 64), y = Tensor.empty(DType.I64, 64);
      CpuRandom.random(RandomKind.INTEGERS, 5, 0, 0, 1L << 40, x);
      CpuRandom.random(RandomKind.INTEGERS, 5 + (1L << 32), 0, 0, 1L << 40, y);
      assertNotEquals(
          java.util.Arrays.toString(x.toLongArray()), java.util.Arrays.toString(y.toLongArray()));
      assertEquals(32, Backend.randomCounters(64, DType.I64));
    }
  }
}
