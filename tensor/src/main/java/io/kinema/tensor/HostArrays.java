package io.kinema.tensor;

import io.kinema.tensor.cpu.Elements;
import io.kinema.tensor.grad.GradMode;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** Moves data between Java arrays and tensors (host side). */
final class HostArrays {
  private HostArrays() {}

  private static long[] shapeFor(String op, int length, long[] shape) {
    long[] sh = shape.length == 0 ? new long[] {length} : shape.clone();
    if (Shapes.numel(sh) != length) {
      throw new IllegalArgumentException(
          op
              + ": shape "
              + Shapes.str(sh)
              + " needs "
              + Shapes.numel(sh)
              + " values, got "
              + length);
    }
    return sh;
  }

  static Tensor fromFloats(float[] data, long[] shape) {
    Tensor t = Tensor.empty(DType.F32, shapeFor("of(float[])", data.length, shape));
    MemorySegment.copy(data, 0, t.storage().segment(), ValueLayout.JAVA_FLOAT, 0, data.length);
    return t;
  }

  static Tensor fromDoubles(double[] data, long[] shape) {
    Tensor t = Tensor.empty(DType.F64, shapeFor("of(double[])", data.length, shape));
    MemorySegment.copy(data, 0, t.storage().segment(), ValueLayout.JAVA_DOUBLE, 0, data.length);
    return t;
  }

  static Tensor fromInts(int[] data, long[] shape) {
    Tensor t = Tensor.empty(DType.I32, shapeFor("of(int[])", data.length, shape));
    MemorySegment.copy(data, 0, t.storage().segment(), ValueLayout.JAVA_INT, 0, data.length);
    return t;
  }

  static Tensor fromLongs(long[] data, long[] shape) {
    Tensor t = Tensor.empty(DType.I64, shapeFor("of(long[])", data.length, shape));
    MemorySegment.copy(data, 0, t.storage().segment(), ValueLayout.JAVA_LONG, 0, data.length);
    return t;
  }

  static Tensor fromBooleans(boolean[] data, long[] shape) {
    Tensor t = Tensor.empty(DType.BOOL, shapeFor("of(boolean[])", data.length, shape));
    MemorySegment seg = t.storage().segment();
    for (int i = 0; i < data.length; i++)
      seg.set(ValueLayout.JAVA_BYTE, i, (byte) (data[i] ? 1 : 0));
    return t;
  }

  /**
   * A contiguous CPU tensor of {@code dtype} with t's values (a view of t when it already is one).
   * Reading values is never part of a graph, so nothing here is recorded.
   */
  private static Tensor hostContiguous(Tensor t, DType dtype) {
    try (var ng = GradMode.noGrad()) {
      return hostContiguousNoGrad(t, dtype);
    }
  }

  private static Tensor hostContiguousNoGrad(Tensor t, DType dtype) {
    Tensor host = t.to(Device.CPU);
    if (host.dtype() == dtype && host.isContiguous()) return host;
    try (host) {
      Tensor out = Tensor.empty(dtype, host.shape());
      Backends.of(Device.CPU).copy(host, out);
      return out;
    }
  }

  private static int checkedSize(Tensor t) {
    long n = t.numel();
    if (n > Integer.MAX_VALUE - 8) {
      throw new IllegalArgumentException(
          "cannot copy " + t.describe() + " into a Java array: too many elements");
    }
    return (int) n;
  }

  static float[] toFloats(Tensor t) {
    float[] out = new float[checkedSize(t)];
    try (Tensor c = hostContiguous(t, DType.F32)) {
      MemorySegment.copy(
          c.storage().segment(), ValueLayout.JAVA_FLOAT, c.offset() * 4, out, 0, out.length);
    }
    return out;
  }

  static double[] toDoubles(Tensor t) {
    double[] out = new double[checkedSize(t)];
    try (Tensor c = hostContiguous(t, DType.F64)) {
      MemorySegment.copy(
          c.storage().segment(), ValueLayout.JAVA_DOUBLE, c.offset() * 8, out, 0, out.length);
    }
    return out;
  }

  static long[] toLongs(Tensor t) {
    long[] out = new long[checkedSize(t)];
    try (Tensor c = hostContiguous(t, DType.I64)) {
      MemorySegment.copy(
          c.storage().segment(), ValueLayout.JAVA_LONG, c.offset() * 8, out, 0, out.length);
    }
    return out;
  }

  /** One element at a storage offset (CPU tensors; others are copied first). */
  static double read(Tensor t, long storageOffset) {
    if (t.device().kind() != Device.Kind.CPU) {
      try (Tensor h = t.to(Device.CPU)) {
        long rel = storageOffset - t.offset();
        return Elements.getDouble(h.storage().segment(), h.dtype(), h.offset() + rel);
      }
    }
    return Elements.getDouble(t.storage().segment(), t.dtype(), storageOffset);
  }

  /** The first few values, for toString. */
  static String preview(Tensor t) {
    long n = t.numel();
    if (n == 0) return "[]";
    int show = (int) Math.min(n, 8);
    StringBuilder sb = new StringBuilder("[");
    try (Tensor f = t.flatten();
        Tensor head = f.narrow(0, 0, show)) {
      double[] v = head.toDoubleArray();
      for (int i = 0; i < show; i++) {
        if (i > 0) sb.append(", ");
        sb.append(
            t.dtype().isFloatingPoint() ? String.format("%.6g", v[i]) : Long.toString((long) v[i]));
      }
    }
    if (n > show) sb.append(", ...");
    return sb.append(']').toString();
  }
}
