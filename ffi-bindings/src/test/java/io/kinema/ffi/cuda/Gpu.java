package io.kinema.ffi.cuda;

import static java.lang.foreign.ValueLayout.JAVA_DOUBLE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;

/** Shared plumbing of the GPU tests: device 0's primary context, uploads and downloads. */
final class Gpu {
  private Gpu() {}

  private static MemorySegment context;

  /** Makes device 0's primary context current on the calling thread (retained once per JVM). */
  static synchronized void use() {
    if (context == null) {
      CudaDriver.init();
      context = CudaDriver.devicePrimaryCtxRetain(CudaDriver.deviceGet(0));
    }
    CudaDriver.ctxSetCurrent(context);
  }

  /** A new device buffer holding {@code v} (synchronous). */
  static long upload(float[] v) {
    long d = CudaDriver.memAlloc(4L * Math.max(1, v.length));
    try (Arena a = Arena.ofConfined()) {
      CudaDriver.memcpyHtoDAsync(
          d, a.allocateFrom(JAVA_FLOAT, v), 4L * v.length, MemorySegment.NULL);
      CudaDriver.streamSynchronize(MemorySegment.NULL);
    }
    return d;
  }

  /** A new device buffer holding {@code v} as bfloat16 (the upper halves of the floats). */
  static long uploadBf16(float[] v) {
    var bits = new short[v.length];
    for (int i = 0; i < v.length; i++) bits[i] = (short) (Float.floatToRawIntBits(v[i]) >>> 16);
    long d = CudaDriver.memAlloc(2L * Math.max(1, v.length));
    try (Arena a = Arena.ofConfined()) {
      CudaDriver.memcpyHtoDAsync(
          d, a.allocateFrom(JAVA_SHORT, bits), 2L * v.length, MemorySegment.NULL);
      CudaDriver.streamSynchronize(MemorySegment.NULL);
    }
    return d;
  }

  /** {@code n} floats from device buffer {@code d}, after the default stream's work. */
  static float[] download(long d, int n) {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment host = a.allocate(JAVA_FLOAT, Math.max(1, n));
      CudaDriver.ctxSynchronize();
      CudaDriver.memcpyDtoHAsync(host, d, 4L * n, MemorySegment.NULL);
      CudaDriver.streamSynchronize(MemorySegment.NULL);
      return n == 0 ? new float[0] : host.toArray(JAVA_FLOAT);
    }
  }

  /** A zeroed device buffer of {@code bytes}. */
  static long zeros(long bytes) {
    long d = CudaDriver.memAlloc(Math.max(1, bytes));
    CudaDriver.memsetD8Async(d, (byte) 0, bytes, MemorySegment.NULL);
    return d;
  }

  static void free(long... buffers) {
    for (long b : buffers) CudaDriver.memFree(b);
  }

  /** Uniform values in [-1, 1). */
  static float[] random(Random rnd, int n) {
    var v = new float[n];
    for (int i = 0; i < n; i++) v[i] = rnd.nextFloat() * 2 - 1;
    return v;
  }

  /** {@code v} rounded to bfloat16 (truncated, as {@link #uploadBf16} stores it). */
  static float[] bf16(float[] v) {
    var out = new float[v.length];
    for (int i = 0; i < v.length; i++) {
      out[i] = Float.intBitsToFloat(Float.floatToRawIntBits(v[i]) & 0xFFFF0000);
    }
    return out;
  }

  static MemorySegment f32(Arena a, float v) {
    return a.allocateFrom(JAVA_FLOAT, v);
  }

  static MemorySegment f64(Arena a, double v) {
    return a.allocateFrom(JAVA_DOUBLE, v);
  }

  /**
   * Asserts {@code |actual - expected| <= atol + rtol * scale} elementwise, where {@code scale} is
   * the sum of the magnitudes the value was computed from (what rounding errors grow with).
   */
  static void assertClose(
      double[] expected, double[] scale, float[] actual, double rtol, double atol, String what) {
    if (expected.length != actual.length) {
      throw new AssertionError(
          what + ": " + actual.length + " values, expected " + expected.length);
    }
    for (int i = 0; i < expected.length; i++) {
      double err = Math.abs(actual[i] - expected[i]);
      double allowed = atol + rtol * scale[i];
      if (!(err <= allowed)) {
        throw new AssertionError(
            what
                + "["
                + i
                + "]: "
                + actual[i]
                + ", expected "
                + expected[i]
                + " (error "
                + err
                + ", allowed "
                + allowed
                + ")");
      }
    }
  }
}
