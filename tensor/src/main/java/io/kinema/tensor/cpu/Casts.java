package io.kinema.tensor.cpu;

import io.kinema.tensor.DType;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.LongVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * Conversions of runs of elements between dtypes: the loads and stores of the chunked kernels and
 * the body of {@code copy}. A run is {@code n} elements of one dtype at element offset {@code off}
 * with element stride {@code stride} (0 repeats one element). Values travel through one of three
 * compute types: f32 (for F32, BF16, F16 sources), f64 (F64) or long (integers and BOOL), so every
 * source/destination pair is a typed loop.
 *
 * <p>Conversion rules (PyTorch's): floats to integers truncate toward zero (then wrap to the
 * width), anything to BOOL is {@code x != 0} (NaN is true), integers narrow by wrapping, and f32 to
 * BF16/F16 rounds to nearest even. F64 to BF16/F16 goes through f32, as in PyTorch.
 */
final class Casts {
  private Casts() {}

  private static final ByteOrder NO = ByteOrder.nativeOrder();
  private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;
  private static final ValueLayout.OfDouble D = ValueLayout.JAVA_DOUBLE;
  private static final ValueLayout.OfLong J = ValueLayout.JAVA_LONG;
  private static final ValueLayout.OfInt I = ValueLayout.JAVA_INT;
  private static final ValueLayout.OfShort S = ValueLayout.JAVA_SHORT;
  private static final ValueLayout.OfByte B = ValueLayout.JAVA_BYTE;

  private static final VectorSpecies<Integer> IS = IntVector.SPECIES_PREFERRED;

  /** Floats in half a preferred vector: widened to one preferred vector of doubles. */
  private static final VectorSpecies<Float> FH =
      VectorSpecies.of(float.class, VectorShape.forBitSize(IS.vectorBitSize() / 2));

  private static final VectorSpecies<Double> DS = DoubleVector.SPECIES_PREFERRED;

  /** Shorts with as many lanes as IS (half its width): one load/store of 16-bit floats. */
  private static final VectorSpecies<Short> SS =
      VectorSpecies.of(short.class, VectorShape.forBitSize(IS.vectorBitSize() / 2));

  private static final VectorSpecies<Long> LS = LongVector.SPECIES_PREFERRED;

  // ---------------------------------------------------------------- loads

  /** {@code buf[0..n)} (a float buffer) = a run of F32, BF16 or F16 elements as f32. */
  static void loadF32(DType t, MemorySegment s, long off, long stride, MemorySegment buf, int n) {
    switch (t) {
      case F32 -> {
        if (stride == 1) MemorySegment.copy(s, off * 4, buf, 0, n * 4L);
        else for (int i = 0; i < n; i++) buf.setAtIndex(F, i, s.getAtIndex(F, off + i * stride));
      }
      case BF16 -> {
        if (stride == 1) bf16ToF32(s, off * 2, buf, 0, n);
        else
          for (int i = 0; i < n; i++)
            buf.setAtIndex(F, i, Half.bf16ToFloat(s.getAtIndex(S, off + i * stride)));
      }
      case F16 -> {
        if (stride == 1) f16ToF32(s, off * 2, buf, 0, n);
        else
          for (int i = 0; i < n; i++)
            buf.setAtIndex(F, i, Float.float16ToFloat(s.getAtIndex(S, off + i * stride)));
      }
      default -> throw new IllegalStateException("loadF32: not a float32-computed dtype: " + t);
    }
  }

  /** {@code buf[0..n)} = a run of F64 elements. */
  static void loadF64(MemorySegment s, long off, long stride, double[] buf, int n) {
    if (stride == 1) MemorySegment.copy(s, D, off * 8, buf, 0, n);
    else for (int i = 0; i < n; i++) buf[i] = s.getAtIndex(D, off + i * stride);
  }

  /** {@code buf[0..n)} = a run of I64, I32, U8 (unsigned) or BOOL (0/1) elements. */
  static void loadLong(DType t, MemorySegment s, long off, long stride, long[] buf, int n) {
    switch (t) {
      case I64 -> {
        if (stride == 1) MemorySegment.copy(s, J, off * 8, buf, 0, n);
        else for (int i = 0; i < n; i++) buf[i] = s.getAtIndex(J, off + i * stride);
      }
      case I32 -> {
        for (int i = 0; i < n; i++) buf[i] = s.getAtIndex(I, off + i * stride);
      }
      case U8 -> {
        for (int i = 0; i < n; i++) buf[i] = s.get(B, off + i * stride) & 0xff;
      }
      case BOOL -> {
        for (int i = 0; i < n; i++) buf[i] = s.get(B, off + i * stride) != 0 ? 1 : 0;
      }
      default -> throw new IllegalStateException("loadLong: not an integer dtype: " + t);
    }
  }

  // ---------------------------------------------------------------- stores

  /** Writes {@code buf[0..n)} (a float buffer) as a run of any dtype. */
  static void storeF32(MemorySegment buf, int n, DType t, MemorySegment s, long off, long stride) {
    switch (t) {
      case F32 -> {
        if (stride == 1) MemorySegment.copy(buf, 0, s, off * 4, n * 4L);
        else for (int i = 0; i < n; i++) s.setAtIndex(F, off + i * stride, buf.getAtIndex(F, i));
      }
      case BF16 -> {
        if (stride == 1) f32ToBf16(buf, 0, s, off * 2, n);
        else
          for (int i = 0; i < n; i++)
            s.setAtIndex(S, off + i * stride, Half.floatToBf16(buf.getAtIndex(F, i)));
      }
      case F16 -> {
        if (stride == 1) f32ToF16(buf, 0, s, off * 2, n);
        else
          for (int i = 0; i < n; i++)
            s.setAtIndex(S, off + i * stride, Float.floatToFloat16(buf.getAtIndex(F, i)));
      }
      case F64 -> {
        for (int i = 0; i < n; i++) s.setAtIndex(D, off + i * stride, buf.getAtIndex(F, i));
      }
      case I64 -> {
        for (int i = 0; i < n; i++) s.setAtIndex(J, off + i * stride, (long) buf.getAtIndex(F, i));
      }
      case I32 -> {
        for (int i = 0; i < n; i++)
          s.setAtIndex(I, off + i * stride, (int) (long) buf.getAtIndex(F, i));
      }
      case U8 -> {
        for (int i = 0; i < n; i++) s.set(B, off + i * stride, (byte) (long) buf.getAtIndex(F, i));
      }
      case BOOL -> {
        for (int i = 0; i < n; i++)
          s.set(B, off + i * stride, (byte) (buf.getAtIndex(F, i) != 0 ? 1 : 0));
      }
    }
  }

  /** Writes {@code buf[0..n)} as a run of any dtype. */
  static void storeF64(double[] buf, int n, DType t, MemorySegment s, long off, long stride) {
    switch (t) {
      case F64 -> {
        if (stride == 1) MemorySegment.copy(buf, 0, s, D, off * 8, n);
        else for (int i = 0; i < n; i++) s.setAtIndex(D, off + i * stride, buf[i]);
      }
      case F32 -> {
        for (int i = 0; i < n; i++) s.setAtIndex(F, off + i * stride, (float) buf[i]);
      }
      case BF16 -> {
        for (int i = 0; i < n; i++)
          s.setAtIndex(S, off + i * stride, Half.floatToBf16((float) buf[i]));
      }
      case F16 -> {
        for (int i = 0; i < n; i++)
          s.setAtIndex(S, off + i * stride, Float.floatToFloat16((float) buf[i]));
      }
      case I64 -> {
        for (int i = 0; i < n; i++) s.setAtIndex(J, off + i * stride, (long) buf[i]);
      }
      case I32 -> {
        for (int i = 0; i < n; i++) s.setAtIndex(I, off + i * stride, (int) (long) buf[i]);
      }
      case U8 -> {
        for (int i = 0; i < n; i++) s.set(B, off + i * stride, (byte) (long) buf[i]);
      }
      case BOOL -> {
        for (int i = 0; i < n; i++) s.set(B, off + i * stride, (byte) (buf[i] != 0 ? 1 : 0));
      }
    }
  }

  /** Writes {@code buf[0..n)} as a run of any dtype (integers wrap to the width). */
  static void storeLong(long[] buf, int n, DType t, MemorySegment s, long off, long stride) {
    switch (t) {
      case I64 -> {
        if (stride == 1) MemorySegment.copy(buf, 0, s, J, off * 8, n);
        else for (int i = 0; i < n; i++) s.setAtIndex(J, off + i * stride, buf[i]);
      }
      case I32 -> {
        for (int i = 0; i < n; i++) s.setAtIndex(I, off + i * stride, (int) buf[i]);
      }
      case U8 -> {
        for (int i = 0; i < n; i++) s.set(B, off + i * stride, (byte) buf[i]);
      }
      case BOOL -> {
        for (int i = 0; i < n; i++) s.set(B, off + i * stride, (byte) (buf[i] != 0 ? 1 : 0));
      }
      case F64 -> {
        for (int i = 0; i < n; i++) s.setAtIndex(D, off + i * stride, (double) buf[i]);
      }
      case F32 -> {
        for (int i = 0; i < n; i++) s.setAtIndex(F, off + i * stride, (float) buf[i]);
      }
      case BF16 -> {
        for (int i = 0; i < n; i++)
          s.setAtIndex(S, off + i * stride, Half.floatToBf16((float) buf[i]));
      }
      case F16 -> {
        for (int i = 0; i < n; i++)
          s.setAtIndex(S, off + i * stride, Float.floatToFloat16((float) buf[i]));
      }
    }
  }

  // ---------------------------------------------------------------- contiguous fast paths

  /**
   * {@code n} contiguous f32 at byte offset {@code so} to bf16 at byte offset {@code dOff}, round
   * to nearest even (NaN stays a quiet NaN), vectorized with integer ops on the bit patterns.
   */
  static void f32ToBf16(MemorySegment s, long so, MemorySegment d, long dOff, long n) {
    int lanes = IS.length();
    long i = 0;
    for (long bound = n - n % lanes; i < bound; i += lanes) {
      IntVector bits = IntVector.fromMemorySegment(IS, s, so + 4 * i, NO);
      IntVector hi = bits.lanewise(VectorOperators.LSHR, 16);
      // bits + 0x7fff + (lsb of the kept half): ties go to the even bf16.
      IntVector rounded = bits.add(hi.and(1)).add(0x7fff).lanewise(VectorOperators.LSHR, 16);
      VectorMask<Integer> nan = bits.and(0x7fffffff).compare(VectorOperators.GT, 0x7f800000);
      IntVector r = rounded.blend(hi.or(0x40), nan);
      r.convertShape(VectorOperators.I2S, SS, 0).intoMemorySegment(d, dOff + 2 * i, NO);
    }
    for (; i < n; i++) d.set(S, dOff + 2 * i, Half.floatToBf16(s.get(F, so + 4 * i)));
  }

  /**
   * {@code n} contiguous f32 at byte offset {@code so} to IEEE binary16 at byte offset {@code
   * dOff}, round to nearest even, vectorized on the bit patterns (the Vector API has no f16
   * conversion, and the scalar {@link Float#floatToFloat16} loop is ~30x slower): normal results
   * rebias the exponent and round away 13 mantissa bits; subnormal ones come from adding 0.5f,
   * which makes the FPU round the value to a multiple of 2^-24 (the f16 subnormal step); at least
   * 65520 (the midpoint above 65504) becomes inf, and NaN a quiet NaN.
   */
  static void f32ToF16(MemorySegment s, long so, MemorySegment d, long dOff, long n) {
    int lanes = IS.length();
    long i = 0;
    for (long bound = n - n % lanes; i < bound; i += lanes) {
      IntVector bits = IntVector.fromMemorySegment(IS, s, so + 4 * i, NO);
      IntVector abs = bits.and(0x7fffffff);
      IntVector normal =
          abs.sub(0x38000000 - 0xfff) // exponent bias 127 -> 15, plus the rounding bias
              .add(abs.lanewise(VectorOperators.LSHR, 13).and(1)) // ties to even
              .lanewise(VectorOperators.LSHR, 13);
      IntVector subnormal = abs.reinterpretAsFloats().add(0.5f).reinterpretAsInts().sub(0x3f000000);
      IntVector h = normal.blend(subnormal, abs.compare(VectorOperators.LT, 0x38800000));
      h = h.blend(0x7c00, abs.compare(VectorOperators.GE, 0x477ff000));
      h = h.blend(0x7e00, abs.compare(VectorOperators.GT, 0x7f800000));
      h = h.or(bits.lanewise(VectorOperators.LSHR, 16).and(0x8000));
      h.convertShape(VectorOperators.I2S, SS, 0).intoMemorySegment(d, dOff + 2 * i, NO);
    }
    for (; i < n; i++) d.set(S, dOff + 2 * i, Float.floatToFloat16(s.get(F, so + 4 * i)));
  }

  /**
   * {@code n} contiguous f16 at byte offset {@code so} to f32 at byte offset {@code dOff} (exact),
   * vectorized on the bit patterns: normal numbers and inf/NaN shift into place with the exponent
   * rebiased; subnormals are their 10-bit mantissa times 2^-24.
   */
  static void f16ToF32(MemorySegment s, long so, MemorySegment d, long dOff, long n) {
    int lanes = IS.length();
    long i = 0;
    for (long bound = n - n % lanes; i < bound; i += lanes) {
      ShortVector hv = ShortVector.fromMemorySegment(SS, s, so + 2 * i, NO);
      IntVector h = ((IntVector) hv.convertShape(VectorOperators.S2I, IS, 0)).and(0xffff);
      IntVector abs = h.and(0x7fff);
      IntVector exp = h.and(0x7c00);
      IntVector shifted = abs.lanewise(VectorOperators.LSHL, 13);
      IntVector bits = shifted.add(0x38000000); // exponent bias 15 -> 127
      bits = bits.blend(shifted.or(0x7f800000), exp.compare(VectorOperators.EQ, 0x7c00));
      FloatVector sub = ((FloatVector) abs.convert(VectorOperators.I2F, 0)).mul(0x1p-24f);
      bits = bits.blend(sub.reinterpretAsInts(), exp.compare(VectorOperators.EQ, 0));
      bits.or(h.and(0x8000).lanewise(VectorOperators.LSHL, 16))
          .reinterpretAsFloats()
          .intoMemorySegment(d, dOff + 4 * i, NO);
    }
    for (; i < n; i++) d.set(F, dOff + 4 * i, Float.float16ToFloat(s.get(S, so + 2 * i)));
  }

  /** {@code n} contiguous bf16 at byte offset {@code so} to f32 at byte offset {@code dOff}. */
  static void bf16ToF32(MemorySegment s, long so, MemorySegment d, long dOff, long n) {
    int lanes = IS.length();
    long i = 0;
    for (long bound = n - n % lanes; i < bound; i += lanes) {
      ShortVector h = ShortVector.fromMemorySegment(SS, s, so + 2 * i, NO);
      IntVector bits = (IntVector) h.convertShape(VectorOperators.S2I, IS, 0);
      bits.lanewise(VectorOperators.LSHL, 16)
          .reinterpretAsFloats()
          .intoMemorySegment(d, dOff + 4 * i, NO);
    }
    for (; i < n; i++) d.set(F, dOff + 4 * i, Half.bf16ToFloat(s.get(S, so + 2 * i)));
  }

  /**
   * Converts a run of {@code n} elements of any dtype to any other dtype through the matching
   * compute buffer of {@code scratch}, {@link Scratch#CHUNK} elements at a time. Contiguous F32 to
   * or from BF16, F16 and F64 go straight from source to destination.
   */
  static void convert(
      DType st,
      MemorySegment s,
      long so,
      long sStride,
      DType dt,
      MemorySegment d,
      long dOff,
      long dStride,
      long n,
      Scratch scratch) {
    if (sStride == 1 && dStride == 1 && contiguousPair(st, s, so, dt, d, dOff, n)) return;
    for (long c = 0; c < n; c += Scratch.CHUNK) {
      int len = (int) Math.min(Scratch.CHUNK, n - c);
      long si = so + c * sStride, di = dOff + c * dStride;
      switch (st) {
        case F32, BF16, F16 -> {
          loadF32(st, s, si, sStride, scratch.fs[0], len);
          storeF32(scratch.fs[0], len, dt, d, di, dStride);
        }
        case F64 -> {
          loadF64(s, si, sStride, scratch.d[0], len);
          storeF64(scratch.d[0], len, dt, d, di, dStride);
        }
        default -> {
          loadLong(st, s, si, sStride, scratch.l[0], len);
          storeLong(scratch.l[0], len, dt, d, di, dStride);
        }
      }
    }
  }

  private static boolean contiguousPair(
      DType st, MemorySegment s, long so, DType dt, MemorySegment d, long dOff, long n) {
    if (st == DType.F32 && dt == DType.BF16) f32ToBf16(s, so * 4, d, dOff * 2, n);
    else if (st == DType.BF16 && dt == DType.F32) bf16ToF32(s, so * 2, d, dOff * 4, n);
    else if (st == DType.F32 && dt == DType.F16) f32ToF16(s, so * 4, d, dOff * 2, n);
    else if (st == DType.F16 && dt == DType.F32) f16ToF32(s, so * 2, d, dOff * 4, n);
    else if (st == DType.F32 && dt == DType.F64) {
      int lanes = FH.length();
      long i = 0;
      for (long bound = n - n % lanes; i < bound; i += lanes) {
        FloatVector v = FloatVector.fromMemorySegment(FH, s, (so + i) * 4, NO);
        v.convertShape(VectorOperators.F2D, DS, 0).intoMemorySegment(d, (dOff + i) * 8, NO);
      }
      for (; i < n; i++) d.setAtIndex(D, dOff + i, s.getAtIndex(F, so + i));
    } else if (st == DType.F64 && dt == DType.F32) {
      for (long i = 0; i < n; i++) d.setAtIndex(F, dOff + i, (float) s.getAtIndex(D, so + i));
    } else {
      return false;
    }
    return true;
  }

  // ---------------------------------------------------------------- raw copies and fills

  /** Copies a run of {@code n} elements of {@code size} bytes without conversion. */
  static void copyRaw(
      int size,
      MemorySegment s,
      long so,
      long sStride,
      MemorySegment d,
      long dOff,
      long dStride,
      long n) {
    if (sStride == 1 && dStride == 1) {
      MemorySegment.copy(s, so * size, d, dOff * size, n * size);
      return;
    }
    switch (size) {
      case 8 -> {
        for (long i = 0; i < n; i++)
          d.setAtIndex(J, dOff + i * dStride, s.getAtIndex(J, so + i * sStride));
      }
      case 4 -> {
        for (long i = 0; i < n; i++)
          d.setAtIndex(I, dOff + i * dStride, s.getAtIndex(I, so + i * sStride));
      }
      case 2 -> {
        for (long i = 0; i < n; i++)
          d.setAtIndex(S, dOff + i * dStride, s.getAtIndex(S, so + i * sStride));
      }
      default -> {
        for (long i = 0; i < n; i++) d.set(B, dOff + i * dStride, s.get(B, so + i * sStride));
      }
    }
  }

  /** The bit pattern of {@code value} in dtype {@code t}, in the low {@code t.byteSize()} bytes. */
  static long bitsOf(DType t, double value) {
    return switch (t) {
      case F64 -> Double.doubleToRawLongBits(value);
      case F32 -> Float.floatToRawIntBits((float) value) & 0xffffffffL;
      case BF16 -> Half.floatToBf16((float) value) & 0xffffL;
      case F16 -> Float.floatToFloat16((float) value) & 0xffffL;
      case I64 -> (long) value;
      case I32 -> (int) (long) value & 0xffffffffL;
      case U8 -> (long) value & 0xff;
      case BOOL -> value != 0 ? 1 : 0;
    };
  }

  /** Sets a run of {@code n} elements of {@code size} bytes to the pattern {@code bits}. */
  static void fillRaw(int size, long bits, MemorySegment d, long off, long stride, long n) {
    if (stride == 1) {
      fillContiguous(size, bits, d, off * size, n * size);
      return;
    }
    switch (size) {
      case 8 -> {
        for (long i = 0; i < n; i++) d.setAtIndex(J, off + i * stride, bits);
      }
      case 4 -> {
        for (long i = 0; i < n; i++) d.setAtIndex(I, off + i * stride, (int) bits);
      }
      case 2 -> {
        for (long i = 0; i < n; i++) d.setAtIndex(S, off + i * stride, (short) bits);
      }
      default -> {
        for (long i = 0; i < n; i++) d.set(B, off + i * stride, (byte) bits);
      }
    }
  }

  private static void fillContiguous(
      int size, long bits, MemorySegment d, long byteOff, long bytes) {
    // Replicate the element to 8 bytes; the pattern starts at an element boundary, so it stays
    // in phase for any store of whole multiples of 8 bytes.
    long p = bits;
    for (int w = size; w < 8; w *= 2) p |= p << (8 * w);
    if (p == (p & 0xff) * 0x0101010101010101L) {
      d.asSlice(byteOff, bytes).fill((byte) p); // one repeated byte: memset
      return;
    }
    int vb = LS.vectorByteSize();
    LongVector v = LongVector.broadcast(LS, p);
    long i = 0;
    for (long bound = bytes - bytes % vb; i < bound; i += vb)
      v.intoMemorySegment(d, byteOff + i, NO);
    for (; i < bytes; i += size) {
      switch (size) {
        case 8 -> d.set(ValueLayout.JAVA_LONG_UNALIGNED, byteOff + i, p);
        case 4 -> d.set(ValueLayout.JAVA_INT_UNALIGNED, byteOff + i, (int) p);
        case 2 -> d.set(ValueLayout.JAVA_SHORT_UNALIGNED, byteOff + i, (short) p);
        default -> d.set(B, byteOff + i, (byte) p);
      }
    }
  }
}
