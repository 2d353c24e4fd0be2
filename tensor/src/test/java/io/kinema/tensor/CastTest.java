package io.kinema.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Copies between dtypes (to(), copyFrom(), contiguous()) and fills, checked on raw bit patterns
 * against conversions written out in this test: truncation toward zero and wrapping for integers, x
 * != 0 for BOOL, round to nearest even for BF16 (from the bits) and F16 (hand-checked cases).
 */
class CastTest {
  private static final DType[] ALL = DType.values();

  // ---------------------------------------------------------------- raw element access

  /** Element i (storage index) of t decoded from its bits; BF16 and F16 decoded by hand. */
  static double raw(Tensor t, long i) {
    MemorySegment s = t.storage().segment();
    return switch (t.dtype()) {
      case F64 -> s.getAtIndex(ValueLayout.JAVA_DOUBLE, i);
      case F32 -> s.getAtIndex(ValueLayout.JAVA_FLOAT, i);
      case BF16 -> Float.intBitsToFloat((s.getAtIndex(ValueLayout.JAVA_SHORT, i) & 0xffff) << 16);
      case F16 -> Float.float16ToFloat(s.getAtIndex(ValueLayout.JAVA_SHORT, i));
      case I64 -> s.getAtIndex(ValueLayout.JAVA_LONG, i);
      case I32 -> s.getAtIndex(ValueLayout.JAVA_INT, i);
      case U8 -> s.get(ValueLayout.JAVA_BYTE, i) & 0xff;
      case BOOL -> s.get(ValueLayout.JAVA_BYTE, i);
    };
  }

  static short rawShort(Tensor t, long i) {
    return t.storage().segment().getAtIndex(ValueLayout.JAVA_SHORT, i);
  }

  /** A contiguous tensor of dtype t holding exactly {@code values} (each representable in t). */
  static Tensor exact(DType t, double[] values) {
    Tensor out = Tensor.empty(t, values.length);
    MemorySegment s = out.storage().segment();
    for (int i = 0; i < values.length; i++) {
      double v = values[i];
      switch (t) {
        case F64 -> s.setAtIndex(ValueLayout.JAVA_DOUBLE, i, v);
        case F32 -> s.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) v);
        case BF16 ->
            s.setAtIndex(
                ValueLayout.JAVA_SHORT, i, (short) (Float.floatToRawIntBits((float) v) >>> 16));
        case F16 -> s.setAtIndex(ValueLayout.JAVA_SHORT, i, Float.floatToFloat16((float) v));
        case I64 -> s.setAtIndex(ValueLayout.JAVA_LONG, i, (long) v);
        case I32 -> s.setAtIndex(ValueLayout.JAVA_INT, i, (int) v);
        case U8 -> s.set(ValueLayout.JAVA_BYTE, i, (byte) v);
        case BOOL -> s.set(ValueLayout.JAVA_BYTE, i, (byte) (v != 0 ? 1 : 0));
      }
      assertEquals(v, raw(out, i), 0, "value " + v + " is not exact in " + t);
    }
    return out;
  }

  // ---------------------------------------------------------------- reference conversions

  /** bf16 bits of f by round to nearest even, from the two neighbouring bf16 values. */
  static short bf16Ref(float f) {
    int bits = Float.floatToRawIntBits(f);
    if (Float.isNaN(f)) return (short) ((bits >>> 16) | 0x40);
    int down = bits & 0xffff0000; // toward zero
    int up = down + 0x10000; // away from zero (may become inf: then its value is 2^128)
    double dDown = Math.abs((double) Float.intBitsToFloat(down));
    double dUp =
        (up & 0x7fffffff) == 0x7f800000 ? 0x1p128 : Math.abs((double) Float.intBitsToFloat(up));
    double af = Math.abs((double) f);
    if (Float.isInfinite(f)) return (short) (bits >>> 16);
    int pick;
    if (af - dDown < dUp - af) pick = down;
    else if (af - dDown > dUp - af) pick = up;
    else pick = ((down >>> 16) & 1) == 0 ? down : up;
    return (short) (pick >>> 16);
  }

  /** The f32 value of f rounded to bf16. */
  static float bf16Value(float f) {
    return Float.intBitsToFloat((bf16Ref(f) & 0xffff) << 16);
  }

  /** The value {@code v} (of a source dtype) converted to dtype t, as PyTorch does. */
  static double convertRef(double v, DType from, DType t) {
    return switch (t) {
      case F64 -> v;
      case F32 -> (float) v;
      case BF16 -> Float.intBitsToFloat((bf16Ref((float) v) & 0xffff) << 16);
      case F16 -> Float.float16ToFloat(Float.floatToFloat16((float) v));
      case I64 -> (long) v;
      case I32 -> (int) (long) v;
      case U8 -> (long) v & 0xff;
      case BOOL -> v != 0 ? 1 : 0;
    };
  }

  /** Values representable in dtype t (including edge cases for the float to int conversions). */
  static double[] sourceValues(DType t) {
    return switch (t) {
      case F64, F32 ->
          new double[] {
            0,
            -0.0,
            1,
            -1,
            0.5,
            -0.5,
            1.5,
            -1.5,
            2.75,
            -2.75,
            127.5,
            128,
            200.25,
            255.5,
            256,
            300.75,
            -129.5,
            65504,
            70000,
            0x1p-10,
            -3e9,
            Double.NaN,
            Double.POSITIVE_INFINITY,
            Double.NEGATIVE_INFINITY
          };
      case BF16, F16 ->
          new double[] {
            0,
            -0.0,
            1,
            -1,
            0.5,
            -0.5,
            1.5,
            -1.5,
            2.75,
            -2.75,
            127.5,
            128,
            200,
            255,
            256,
            300,
            -129,
            1024,
            0x1p-10,
            Double.NaN,
            Double.POSITIVE_INFINITY,
            Double.NEGATIVE_INFINITY
          };
      case I64 -> new double[] {0, 1, -1, 7, 127, 128, 255, 256, 300, -129, 1L << 40, -(1L << 40)};
      case I32 -> new double[] {0, 1, -1, 7, 127, 128, 255, 256, 300, -129, 1 << 30, -(1 << 30)};
      case U8 -> new double[] {0, 1, 7, 127, 128, 200, 255};
      case BOOL -> new double[] {0, 1, 1, 0};
    };
  }

  static void assertSameValue(double expected, double actual, String ctx) {
    if (Double.isNaN(expected))
      assertTrue(Double.isNaN(actual), ctx + ": expected NaN, got " + actual);
    else assertEquals(expected, actual, 0, ctx);
    if (expected == 0 && !Double.isNaN(actual))
      assertEquals(
          Double.doubleToRawLongBits(expected) < 0,
          Double.doubleToRawLongBits(actual) < 0,
          ctx + ": sign of zero");
  }

  // ---------------------------------------------------------------- tests

  @Test
  void everyPairOfDtypes() {
    try (var s = Scope.open()) {
      for (DType from : ALL) {
        double[] vals = sourceValues(from);
        // Repeat the values past a few vector lengths so vectorized paths and tails both run.
        double[] rep = new double[vals.length * 5 + 3];
        for (int i = 0; i < rep.length; i++) rep[i] = vals[i % vals.length];
        Tensor src = exact(from, rep);
        for (DType to : ALL) {
          Tensor dst = src.to(to);
          assertEquals(to, dst.dtype());
          assertArrayEquals(src.shape(), dst.shape());
          for (int i = 0; i < rep.length; i++) {
            double expected = convertRef(rep[i], from, to);
            if (from.isFloatingPoint()
                && !to.isFloatingPoint()
                && !Double.isFinite(rep[i])
                && to != DType.BOOL) {
              continue; // float NaN/inf to an integer is undefined in PyTorch (C++ UB)
            }
            assertSameValue(expected, raw(dst, i), from + "->" + to + " of " + rep[i] + " at " + i);
          }
        }
      }
    }
  }

  @Test
  void floatToIntTruncatesTowardZeroAndWraps() {
    try (var s = Scope.open()) {
      Tensor x = Tensor.of(new float[] {2.9f, -2.9f, 255.9f, 256.5f, -1.5f, 3e9f});
      assertArrayEquals(
          new long[] {2, -2, 255, 256, -1, 3000000000L}, x.to(DType.I64).toLongArray());
      assertArrayEquals(
          new long[] {2, -2, 255, 256, -1, (int) 3000000000L}, x.to(DType.I32).toLongArray());
      assertArrayEquals(
          new long[] {2, 254, 255, 0, 255, 3000000000L & 0xff}, x.to(DType.U8).toLongArray());
      Tensor b = Tensor.of(new float[] {0f, -0f, 0.1f, Float.NaN, -3f}).to(DType.BOOL);
      assertArrayEquals(new boolean[] {false, false, true, true, true}, b.toBooleanArray());
    }
  }

  @Test
  void bf16RoundsToNearestEven() {
    // bits, expected bf16 bits: ties (low half exactly 0x8000) go to the even neighbour.
    int[][] cases = {
      {0x3f808000, 0x3f80}, // 1 + half ulp: tie, stays even
      {0x3f818000, 0x3f82}, // tie, rounds up to even
      {0x3f808001, 0x3f81}, // just above the tie
      {0x3f807fff, 0x3f80}, // just below
      {0xbf818000, 0xbf82}, // negative tie
      {0x7f7fffff, 0x7f80}, // max float rounds to inf
      {0x7f7f7fff, 0x7f7f}, // stays finite
      {0x7f800000, 0x7f80}, // inf
      {0xff800000, 0xff80}, // -inf
      {0x00008000, 0x0000}, // subnormal tie to zero
      {0x00018000, 0x0002}, // subnormal tie up
    };
    float[] in = new float[cases.length * 7];
    for (int i = 0; i < in.length; i++) in[i] = Float.intBitsToFloat(cases[i % cases.length][0]);
    try (var s = Scope.open()) {
      Tensor src = Tensor.of(in);
      Tensor strided = Tensor.of(interleave(in)).slice(0, 0, 2L * in.length, 2);
      for (Tensor x : new Tensor[] {src, strided}) {
        Tensor b = x.to(DType.BF16);
        for (int i = 0; i < in.length; i++) {
          assertEquals(
              (short) cases[i % cases.length][1],
              rawShort(b, i),
              "bf16 of 0x" + Integer.toHexString(cases[i % cases.length][0]));
        }
      }
      // NaN stays a quiet NaN, with the sign.
      Tensor nan =
          Tensor.of(
              new float[] {Float.intBitsToFloat(0x7f800001), Float.intBitsToFloat(0xffc00000)});
      Tensor bn = nan.to(DType.BF16);
      assertTrue(Float.isNaN(Float.intBitsToFloat(rawShort(bn, 0) << 16)));
      assertTrue(Float.isNaN(Float.intBitsToFloat(rawShort(bn, 1) << 16)));
      assertTrue(rawShort(bn, 1) < 0);
      // Random values against the reference rounding, contiguous (vector path) and back.
      Random r = new Random(7);
      float[] vals = new float[1003];
      for (int i = 0; i < vals.length; i++) vals[i] = Float.intBitsToFloat(r.nextInt());
      Tensor b = Tensor.of(vals).to(DType.BF16);
      float[] back = b.to(DType.F32).toFloatArray();
      for (int i = 0; i < vals.length; i++) {
        assertEquals(bf16Ref(vals[i]), rawShort(b, i), "bf16 of " + vals[i]);
        short h = rawShort(b, i);
        float expected = Float.intBitsToFloat((h & 0xffff) << 16);
        assertEquals(Float.floatToRawIntBits(expected), Float.floatToRawIntBits(back[i]));
      }
    }
  }

  private static float[] interleave(float[] v) {
    float[] out = new float[v.length * 2];
    for (int i = 0; i < v.length; i++) {
      out[2 * i] = v[i];
      out[2 * i + 1] = -12345f;
    }
    return out;
  }

  @Test
  void f16RoundsToNearestEvenAndOverflowsToInf() {
    // value, expected f16 bits (worked out by hand from the binary16 format).
    double[][] cases = {
      {1.0, 0x3c00},
      {1 + 0x1p-11, 0x3c00}, // tie between 1 and 1+2^-10: even (1)
      {1 + 3 * 0x1p-11, 0x3c02}, // tie between 1+2^-10 and 1+2^-9: even
      {1 + 0x1p-11 + 0x1p-20, 0x3c01}, // above the tie
      {65504, 0x7bff}, // largest finite
      {65519, 0x7bff}, // below the midpoint to 65536
      {65520, 0x7c00}, // the midpoint: ties to even, which is inf
      {1e6, 0x7c00},
      {-1e6, 0xfc00},
      {0x1p-24, 0x0001}, // smallest subnormal
      {0x1p-25, 0x0000}, // tie to even: zero
      {3 * 0x1p-25, 0x0002}, // tie to even: 2^-23
      {-2.5, 0xc100},
    };
    float[] in = new float[cases.length * 3];
    for (int i = 0; i < in.length; i++) in[i] = (float) cases[i % cases.length][0];
    try (var s = Scope.open()) {
      Tensor h = Tensor.of(in).to(DType.F16);
      Tensor hs = Tensor.of(interleave(in)).slice(0, 0, 2L * in.length, 2).to(DType.F16);
      Tensor h64 = Tensor.of(toDoubles(in)).to(DType.F16);
      for (int i = 0; i < in.length; i++) {
        short want = (short) (int) cases[i % cases.length][1];
        assertEquals(want, rawShort(h, i), "f16 of " + in[i]);
        assertEquals(want, rawShort(hs, i), "f16 (strided) of " + in[i]);
        assertEquals(want, rawShort(h64, i), "f16 (from f64) of " + in[i]);
      }
      Tensor nan = Tensor.of(new float[] {Float.NaN}).to(DType.F16);
      assertTrue(Float.isNaN(Float.float16ToFloat(rawShort(nan, 0))));
      // Every f16 bit pattern to f32 and back (contiguous: the vectorized paths), exactly.
      Tensor every = Tensor.empty(DType.F16, 1 << 16);
      for (int b = 0; b < 1 << 16; b++) {
        every.storage().segment().setAtIndex(ValueLayout.JAVA_SHORT, b, (short) b);
      }
      float[] widened = every.to(DType.F32).toFloatArray();
      Tensor narrowed = every.to(DType.F32).to(DType.F16);
      for (int b = 0; b < 1 << 16; b++) {
        float want = Float.float16ToFloat((short) b);
        if (Float.isNaN(want)) {
          assertTrue(Float.isNaN(widened[b]), "NaN f16 0x" + Integer.toHexString(b));
          assertTrue(Float.isNaN(Float.float16ToFloat(rawShort(narrowed, b))));
        } else {
          if (Float.floatToRawIntBits(want) != Float.floatToRawIntBits(widened[b]))
            assertEquals(want, widened[b], "f16 0x" + Integer.toHexString(b));
          if ((short) b != rawShort(narrowed, b))
            assertEquals(
                (short) b, rawShort(narrowed, b), "round trip 0x" + Integer.toHexString(b));
        }
      }
      // Random bit patterns over every exponent (the contiguous path is vectorized on the bits),
      // against the JDK's scalar conversion.
      Random r = new Random(11);
      float[] vals = new float[100_003];
      for (int i = 0; i < vals.length; i++) {
        vals[i] = Float.intBitsToFloat(r.nextInt());
        if (i % 3 == 0) vals[i] = (float) (r.nextGaussian() * Math.pow(2, r.nextInt(40) - 28));
      }
      Tensor hv = Tensor.of(vals).to(DType.F16);
      for (int i = 0; i < vals.length; i++) {
        short want = Float.floatToFloat16(vals[i]);
        short got = rawShort(hv, i);
        if (Float.isNaN(vals[i])) assertTrue(Float.isNaN(Float.float16ToFloat(got)), "NaN at " + i);
        else if (want != got) assertEquals(want, got, "f16 of " + vals[i] + " at " + i);
      }
    }
  }

  private static double[] toDoubles(float[] v) {
    double[] d = new double[v.length];
    for (int i = 0; i < v.length; i++) d[i] = v[i];
    return d;
  }

  @Test
  void stridedAndBroadcastCopies() {
    Random r = new Random(3);
    try (var s = Scope.open()) {
      for (DType from : ALL) {
        for (DType to : ALL) {
          double[] base = new double[4 * 6];
          for (int i = 0; i < base.length; i++)
            base[i] =
                from == DType.BOOL ? r.nextInt(2) : r.nextInt(200) - (from == DType.U8 ? 0 : 100);
          Tensor src = exact(from, base).view(4, 6);
          // Transposed source into a contiguous destination.
          Tensor t = src.transpose(0, 1).to(to);
          // Contiguous source into a strided destination (every other column of a wider tensor).
          Tensor wide = Tensor.zeros(to, 4, 12);
          Tensor cols = wide.slice(1, 1, 12, 2);
          cols.copyFrom(src);
          // A broadcast (stride-0) source.
          Tensor row = src.select(0, 2).unsqueeze(0);
          Tensor b = Tensor.zeros(to, 5, 6).copyFrom(row);
          for (int i = 0; i < 4; i++) {
            for (int j = 0; j < 6; j++) {
              double v = base[i * 6 + j];
              double e = convertRef(v, from, to);
              String ctx = from + "->" + to + " [" + i + "," + j + "]";
              assertEquals(e, t.get(j, i), 0, ctx + " transposed");
              assertEquals(e, cols.get(i, j), 0, ctx + " into strided");
              assertEquals(0, wide.get(i, 2 * j), 0, ctx + " neighbours untouched");
            }
          }
          for (int k = 0; k < 5; k++)
            for (int j = 0; j < 6; j++)
              assertEquals(convertRef(base[2 * 6 + j], from, to), b.get(k, j), 0, "broadcast");
        }
      }
    }
  }

  @Test
  void emptyAndScalarCopies() {
    try (var s = Scope.open()) {
      Tensor e = Tensor.zeros(DType.F32, 0, 5);
      Tensor c = e.to(DType.BF16);
      assertArrayEquals(new long[] {0, 5}, c.shape());
      assertEquals(0, c.toDoubleArray().length);
      Tensor sc = Tensor.scalar(2.5, DType.F64).to(DType.I32);
      assertEquals(0, sc.dim());
      assertEquals(2, sc.item());
    }
  }

  @Test
  void largeContiguousCopyUsesThreadsAndIsRight() {
    // 10M elements: StridedLoop cuts the single contiguous run into tiles over Parallel's pool
    // (when it has more than one thread); every element, tile borders included, must arrive.
    int n = 10_000_019;
    float[] v = new float[n];
    for (int i = 0; i < n; i++) v[i] = i * 0.5f - 7f;
    try (var s = Scope.open()) {
      Tensor x = Tensor.of(v);
      assertArrayEquals(v, x.copy().toFloatArray());
      // Conversions of a 1M-element prefix (their vector loops start cold in this JVM).
      int m = 1 << 20;
      Tensor head = x.narrow(0, 3, m);
      float[] viaBf16 = head.to(DType.BF16).to(DType.F32).toFloatArray();
      double[] viaF64 = head.to(DType.F64).toDoubleArray();
      for (int i = 0; i < m; i++) {
        float want = Float.intBitsToFloat((bf16Ref(v[i + 3]) & 0xffff) << 16);
        if (viaBf16[i] != want) assertEquals(want, viaBf16[i], 0, "bf16 at " + i);
        if (viaF64[i] != v[i + 3]) assertEquals(v[i + 3], viaF64[i], 0, "f64 at " + i);
      }
    }
  }

  @Test
  void fillEveryDtype() {
    double[] values = {2.5, -1, 0, 0.1, 300, Double.NaN};
    try (var s = Scope.open()) {
      for (DType t : ALL) {
        for (double value : values) {
          if (!t.isFloatingPoint() && Double.isNaN(value)) continue;
          // Long contiguous (vector stores + tail), and a strided view of a larger tensor.
          Tensor full = Tensor.full(value, t, 3, 67);
          double want = convertRef(value, DType.F64, t);
          for (long i = 0; i < full.numel(); i++)
            assertSameValue(want, raw(full, i), t + " fill " + value + " at " + i);
          Tensor base = Tensor.zeros(t, 6, 10);
          base.slice(0, 1, 6, 2).slice(1, 0, 10, 3).fill(value);
          for (int i = 0; i < 6; i++) {
            for (int j = 0; j < 10; j++) {
              boolean inside = i % 2 == 1 && j % 3 == 0;
              double got = base.get(i, j);
              if (inside) assertSameValue(want, got, t + " strided fill " + value);
              else assertEquals(0, got, 0, t + " untouched at " + i + "," + j);
            }
          }
        }
      }
      Tensor bf = Tensor.full(0.1, DType.BF16, 100);
      for (int i = 0; i < 100; i++) assertEquals(bf16Ref(0.1f), rawShort(bf, i));
    }
  }
}
