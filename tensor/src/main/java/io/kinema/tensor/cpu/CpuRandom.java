package io.kinema.tensor.cpu;

import io.kinema.tensor.DType;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.backend.Backend;
import io.kinema.tensor.backend.RandomKind;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Fills tensors from the Philox4x32-10 stream ({@link Philox} defines which words each element
 * gets). Words {@code w} are unsigned 32-bit; for 8-byte dtypes an element's two words are {@code
 * hi} (the first) and {@code lo}. The transforms below are part of the stream definition, so every
 * backend must compute them exactly like this:
 *
 * <ul>
 *   <li><b>UNIFORM [a, b)</b>. 4-byte and 2-byte dtypes: {@code u = (w >>> 8) * 2^-24} and {@code v
 *       = fa + fs * u} in f32 without fused multiply-add, where {@code fa = (float) a} and {@code
 *       fs = (float) (b - a)}; a result that is not below {@code fb = (float) b} becomes the
 *       largest f32 below it. BF16/F16 round v to nearest even, and a result that rounds up to
 *       {@code fb} or beyond becomes the largest half value below {@code fb}. F64: {@code u = ((hi
 *       >>> 5) * 2^26 + (lo >>> 6)) * 2^-53} (53 bits), {@code v = a + (b - a) * u} in double,
 *       clamped below b the same way. (No clamp when {@code a == b}.)
 *   <li><b>NORMAL (mean a, std b)</b>, Box-Muller in double. 4-byte and 2-byte dtypes: elements
 *       {@code 2p} and {@code 2p+1} of a block come from words {@code (w[2p], w[2p+1])}: {@code u1
 *       = (w[2p] + 1) * 2^-32} in (0, 1] (so no log(0)), {@code u2 = w[2p+1] * 2^-32}, {@code r =
 *       sqrt(-2 ln u1)}, {@code theta = (2 pi) * u2}, element {@code 2p} is {@code a + b * r
 *       cos(theta)} and {@code 2p+1} is {@code a + b * r sin(theta)}, rounded to f32 (then to the
 *       half type). F64: the block's two elements share {@code u1} from words (w0, w1) and {@code
 *       u2} from (w2, w3), 53-bit uniforms as above with {@code u1 = (k + 1) * 2^-53}. log, sqrt,
 *       cos and sin are fdlibm's ({@link StrictMath}), which gives the same bits on every JVM and
 *       is portable C that a GPU backend can compile exactly.
 *   <li><b>INTEGERS [a, b)</b>, {@code r = b - a}, Lemire's multiply-shift without rejection. 1-,
 *       2- and 4-byte dtypes ({@code r <= 2^32}): {@code a + ((w * r) >>> 32)} in 64-bit unsigned
 *       arithmetic. 8-byte dtypes: {@code a + unsignedMultiplyHigh((hi << 32) | lo, r)}. The
 *       relative bias is at most {@code r / 2^32} (resp. {@code r / 2^64}).
 * </ul>
 *
 * <p>Work is split over the shared pool by block ranges; since an element's value depends only on
 * (seed, block), a parallel fill has the same bits as a sequential one.
 */
final class CpuRandom {
  private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
  private static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;

  /** Blocks generated per tile into a 4 KiB scratch array that stays in L1. */
  private static final int TILE = 256;

  /** Blocks a thread should get before another one is woken (64K 32-bit elements). */
  private static final long GRAIN = 1 << 14;

  private static final long MASK = 0xffffffffL;
  private static final double TWO_PI = 2 * Math.PI;

  private CpuRandom() {}

  /** {@link Backend#random}: fills contiguous {@code out}. */
  static void random(RandomKind kind, long seed, long offset, double a, double b, Tensor out) {
    random(kind, seed, offset, a, b, out, true);
  }

  /** As above; {@code parallel == false} runs on the calling thread (tests compare the two). */
  static void random(
      RandomKind kind, long seed, long offset, double a, double b, Tensor out, boolean parallel) {
    long n = out.numel();
    if (n == 0) return;
    DType dt = out.dtype();
    if (kind != RandomKind.INTEGERS && !dt.isFloatingPoint()) {
      throw new IllegalArgumentException("random: " + kind + " needs a floating dtype, got " + dt);
    }
    MemorySegment seg = out.storage().segment();
    long base = out.offset();
    long blocks = Backend.randomCounters(n, dt);
    Parallel.RangeBody body =
        (b0, b1) -> fillBlocks(kind, dt, seed, offset, a, b, seg, base, n, b0, b1);
    if (parallel) Parallel.forRange(blocks, GRAIN, body);
    else body.run(0, blocks);
  }

  /** Fills the elements of blocks [b0, b1) of the draw, a tile of blocks at a time. */
  private static void fillBlocks(
      RandomKind kind,
      DType dt,
      long seed,
      long offset,
      double a,
      double b,
      MemorySegment seg,
      long base,
      long n,
      long b0,
      long b1) {
    int perBlock = dt.byteSize() == 8 ? 2 : 4;
    int[] words = new int[4 * TILE];
    for (long t = b0; t < b1; t += TILE) {
      int count = (int) Math.min(TILE, b1 - t);
      Philox.blocks(seed, offset + t, count, words);
      long e0 = t * perBlock;
      int len = (int) (Math.min(n, (t + count) * perBlock) - e0);
      long dst = base + e0;
      switch (kind) {
        case UNIFORM -> {
          if (dt == DType.F64) uniform64(words, len, seg, dst, a, b);
          else uniform32(dt, words, len, seg, dst, a, b);
        }
        case NORMAL -> {
          if (dt == DType.F64) normal64(words, len, seg, dst, a, b);
          else normal32(dt, words, len, seg, dst, a, b);
        }
        case INTEGERS -> {
          if (perBlock == 2) integers64(dt, words, len, seg, dst, (long) a, (long) b);
          else integers32(dt, words, len, seg, dst, (long) a, (long) b);
        }
      }
    }
  }

  // ---------------------------------------------------------------- uniform

  /** F32/BF16/F16: element i of the tile uses words[i]. */
  private static void uniform32(
      DType dt, int[] words, int len, MemorySegment seg, long dst, double a, double b) {
    float lo = (float) a, span = (float) (b - a), hi = (float) b;
    float max = hi > lo ? Math.nextDown(hi) : Float.POSITIVE_INFINITY;
    int i = 0;
    if (dt == DType.F32) {
      // Bit-identical to the scalar formula: the conversion and the 2^-24 scale are exact, and
      // mul then add round the same way lane by lane.
      for (; i <= len - F.length(); i += F.length()) {
        FloatVector u =
            (FloatVector)
                IntVector.fromArray(I, words, i)
                    .lanewise(VectorOperators.LSHR, 8)
                    .convert(VectorOperators.I2F, 0);
        u.mul(0x1p-24f)
            .mul(span)
            .add(lo)
            .min(max)
            .intoMemorySegment(seg, (dst + i) * 4, ByteOrder.nativeOrder());
      }
      for (; i < len; i++) {
        float v = Math.min(lo + span * ((words[i] >>> 8) * 0x1p-24f), max);
        seg.setAtIndex(ValueLayout.JAVA_FLOAT, dst + i, v);
      }
      return;
    }
    boolean bf16 = dt == DType.BF16;
    boolean clamp = hi > lo;
    short hmax = clamp ? halfBelow(hi, bf16) : 0;
    for (; i < len; i++) {
      float v = Math.min(lo + span * ((words[i] >>> 8) * 0x1p-24f), max);
      short h = bf16 ? Half.floatToBf16(v) : Half.floatToF16(v);
      if (clamp && halfToFloat(h, bf16) >= hi) h = hmax;
      seg.setAtIndex(ValueLayout.JAVA_SHORT, dst + i, h);
    }
  }

  /** F64: element i of the tile uses words[2i] (high) and words[2i+1] (low). */
  private static void uniform64(
      int[] words, int len, MemorySegment seg, long dst, double a, double b) {
    double span = b - a;
    double max = b > a ? Math.nextDown(b) : Double.POSITIVE_INFINITY;
    for (int i = 0; i < len; i++) {
      double v = a + span * unit53(words[2 * i], words[2 * i + 1]);
      seg.setAtIndex(ValueLayout.JAVA_DOUBLE, dst + i, Math.min(v, max));
    }
  }

  /** {@code ((hi >>> 5) * 2^26 + (lo >>> 6)) * 2^-53}: 53 random bits in [0, 1). */
  private static double unit53(int hi, int lo) {
    return (((long) (hi >>> 5) << 26) | (lo >>> 6)) * 0x1p-53;
  }

  /** The largest BF16 (or F16) value strictly below {@code x}, as bits. */
  private static short halfBelow(float x, boolean bf16) {
    short h = bf16 ? Half.floatToBf16(x) : Half.floatToF16(x);
    while (halfToFloat(h, bf16) >= x) h = halfNextDown(h);
    return h;
  }

  /** The next smaller value of a sign-magnitude 16-bit float (BF16 and F16 alike). */
  private static short halfNextDown(short h) {
    int bits = h & 0xffff;
    if ((bits & 0x7fff) == 0) return (short) 0x8001; // +-0 -> the negative smallest subnormal
    return (short) ((bits & 0x8000) == 0 ? bits - 1 : bits + 1);
  }

  private static float halfToFloat(short h, boolean bf16) {
    return bf16 ? Half.bf16ToFloat(h) : Half.f16ToFloat(h);
  }

  // ---------------------------------------------------------------- normal

  /** F32/BF16/F16: elements 2p and 2p+1 of the tile come from words[2p] and words[2p+1]. */
  private static void normal32(
      DType dt, int[] words, int len, MemorySegment seg, long dst, double mean, double std) {
    for (int i = 0; i < len; i += 2) {
      double u1 = ((words[i] & MASK) + 1) * 0x1p-32;
      double u2 = (words[i + 1] & MASK) * 0x1p-32;
      double r = StrictMath.sqrt(-2 * StrictMath.log(u1));
      double theta = TWO_PI * u2;
      store32(dt, seg, dst + i, mean + std * (r * StrictMath.cos(theta)));
      if (i + 1 < len) store32(dt, seg, dst + i + 1, mean + std * (r * StrictMath.sin(theta)));
    }
  }

  /** F64: the two elements of a block share u1 from words (w0, w1) and u2 from (w2, w3). */
  private static void normal64(
      int[] words, int len, MemorySegment seg, long dst, double mean, double std) {
    for (int i = 0; i < len; i += 2) {
      int w = 2 * i; // block i/2 starts at word 4 * (i/2)
      double u1 = unit53(words[w], words[w + 1]) + 0x1p-53;
      double u2 = unit53(words[w + 2], words[w + 3]);
      double r = StrictMath.sqrt(-2 * StrictMath.log(u1));
      double theta = TWO_PI * u2;
      seg.setAtIndex(ValueLayout.JAVA_DOUBLE, dst + i, mean + std * (r * StrictMath.cos(theta)));
      if (i + 1 < len) {
        seg.setAtIndex(
            ValueLayout.JAVA_DOUBLE, dst + i + 1, mean + std * (r * StrictMath.sin(theta)));
      }
    }
  }

  private static void store32(DType dt, MemorySegment seg, long i, double v) {
    float f = (float) v;
    switch (dt) {
      case F32 -> seg.setAtIndex(ValueLayout.JAVA_FLOAT, i, f);
      case BF16 -> seg.setAtIndex(ValueLayout.JAVA_SHORT, i, Half.floatToBf16(f));
      case F16 -> seg.setAtIndex(ValueLayout.JAVA_SHORT, i, Half.floatToF16(f));
      default -> throw new IllegalArgumentException("random: NORMAL cannot produce " + dt);
    }
  }

  // ---------------------------------------------------------------- integers

  /** 1-, 2- and 4-byte dtypes, {@code b - a <= 2^32}: element i of the tile uses words[i]. */
  private static void integers32(
      DType dt, int[] words, int len, MemorySegment seg, long dst, long a, long b) {
    long r = b - a;
    switch (dt) {
      case I32 -> {
        for (int i = 0; i < len; i++)
          seg.setAtIndex(ValueLayout.JAVA_INT, dst + i, (int) (a + lemire32(words[i], r)));
      }
      case F32 -> {
        for (int i = 0; i < len; i++)
          seg.setAtIndex(ValueLayout.JAVA_FLOAT, dst + i, (float) (a + lemire32(words[i], r)));
      }
      case BF16 -> {
        for (int i = 0; i < len; i++) {
          float v = a + lemire32(words[i], r);
          seg.setAtIndex(ValueLayout.JAVA_SHORT, dst + i, Half.floatToBf16(v));
        }
      }
      case F16 -> {
        for (int i = 0; i < len; i++) {
          float v = a + lemire32(words[i], r);
          seg.setAtIndex(ValueLayout.JAVA_SHORT, dst + i, Half.floatToF16(v));
        }
      }
      case U8, BOOL -> {
        for (int i = 0; i < len; i++)
          seg.set(ValueLayout.JAVA_BYTE, dst + i, (byte) (a + lemire32(words[i], r)));
      }
      default -> throw new IllegalArgumentException("random: 32-bit integers into " + dt);
    }
  }

  /** {@code floor(w * r / 2^32)} for unsigned w and {@code r <= 2^32}: uniform-ish in [0, r). */
  private static long lemire32(int w, long r) {
    return ((w & MASK) * r) >>> 32;
  }

  /** I64/F64: element i of the tile uses words[2i] (high) and words[2i+1] (low). */
  private static void integers64(
      DType dt, int[] words, int len, MemorySegment seg, long dst, long a, long b) {
    long r = b - a; // read as unsigned: b > a, so the wrapped difference is the true range
    if (dt == DType.I64) {
      for (int i = 0; i < len; i++)
        seg.setAtIndex(ValueLayout.JAVA_LONG, dst + i, a + lemire64(words, i, r));
    } else {
      for (int i = 0; i < len; i++)
        seg.setAtIndex(ValueLayout.JAVA_DOUBLE, dst + i, (double) (a + lemire64(words, i, r)));
    }
  }

  /**
   * {@code floor(w * r / 2^64)} for the unsigned 64-bit word {@code (hi << 32) | lo} of element i.
   */
  private static long lemire64(int[] words, int i, long r) {
    long w = ((long) words[2 * i] << 32) | (words[2 * i + 1] & MASK);
    return Math.unsignedMultiplyHigh(w, r);
  }
}
