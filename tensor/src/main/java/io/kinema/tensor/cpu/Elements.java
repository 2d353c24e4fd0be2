package io.kinema.tensor.cpu;

import io.kinema.tensor.DType;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Scalar reads and writes of one element of any dtype, by element index. For host access, tests and
 * cold paths only — kernels use typed, vectorized loops instead.
 */
public final class Elements {
  private Elements() {}

  public static double getDouble(MemorySegment s, DType t, long i) {
    return switch (t) {
      case F64 -> s.getAtIndex(ValueLayout.JAVA_DOUBLE, i);
      case F32 -> s.getAtIndex(ValueLayout.JAVA_FLOAT, i);
      case F16 -> Half.f16ToFloat(s.getAtIndex(ValueLayout.JAVA_SHORT, i));
      case BF16 -> Half.bf16ToFloat(s.getAtIndex(ValueLayout.JAVA_SHORT, i));
      case I64 -> s.getAtIndex(ValueLayout.JAVA_LONG, i);
      case I32 -> s.getAtIndex(ValueLayout.JAVA_INT, i);
      case U8 -> s.get(ValueLayout.JAVA_BYTE, i) & 0xff;
      case BOOL -> s.get(ValueLayout.JAVA_BYTE, i) != 0 ? 1 : 0;
    };
  }

  public static long getLong(MemorySegment s, DType t, long i) {
    return switch (t) {
      case I64 -> s.getAtIndex(ValueLayout.JAVA_LONG, i);
      case I32 -> s.getAtIndex(ValueLayout.JAVA_INT, i);
      default -> (long) getDouble(s, t, i);
    };
  }

  public static void setDouble(MemorySegment s, DType t, long i, double v) {
    switch (t) {
      case F64 -> s.setAtIndex(ValueLayout.JAVA_DOUBLE, i, v);
      case F32 -> s.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) v);
      case F16 -> s.setAtIndex(ValueLayout.JAVA_SHORT, i, Half.floatToF16((float) v));
      case BF16 -> s.setAtIndex(ValueLayout.JAVA_SHORT, i, Half.floatToBf16((float) v));
      case I64 -> s.setAtIndex(ValueLayout.JAVA_LONG, i, (long) v);
      case I32 -> s.setAtIndex(ValueLayout.JAVA_INT, i, (int) (long) v);
      case U8 -> s.set(ValueLayout.JAVA_BYTE, i, (byte) (long) v);
      case BOOL -> s.set(ValueLayout.JAVA_BYTE, i, (byte) (v != 0 ? 1 : 0));
    }
  }

  public static void setLong(MemorySegment s, DType t, long i, long v) {
    switch (t) {
      case I64 -> s.setAtIndex(ValueLayout.JAVA_LONG, i, v);
      case I32 -> s.setAtIndex(ValueLayout.JAVA_INT, i, (int) v);
      default -> setDouble(s, t, i, v);
    }
  }
}
