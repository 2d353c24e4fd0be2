package io.kinema.ffi.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;

import java.lang.foreign.MemorySegment;

/** Small helpers shared by the bindings: strings, argument checks, rethrowing. */
final class Ffi {
  private Ffi() {}

  /** The NUL-terminated string at {@code p}, or "" for NULL. */
  static String string(MemorySegment p) {
    return p.equals(MemorySegment.NULL) ? "" : p.reinterpret(Long.MAX_VALUE).getString(0);
  }

  /** The string a {@code const char **} out-parameter points to. */
  static String stringAt(MemorySegment out) {
    return string(out.get(ADDRESS, 0));
  }

  /** A device address as the pointer argument C expects ({@code void *}). */
  static MemorySegment device(long address) {
    return MemorySegment.ofAddress(address);
  }

  /** Rejects a negative byte or element count, naming the call. */
  static void nonNegative(String call, String what, long value) {
    if (value < 0) throw new IllegalArgumentException(call + ": negative " + what + ": " + value);
  }

  /**
   * Rejects a host buffer that is not native memory or holds fewer than {@code bytes}: native code
   * would read or write past it and crash the JVM instead of throwing.
   */
  static void hostBuffer(String call, String what, MemorySegment s, long bytes) {
    if (!s.isNative()) {
      throw new IllegalArgumentException(call + ": " + what + " is not a native segment");
    }
    if (s.byteSize() < bytes) {
      throw new IllegalArgumentException(
          call + ": " + what + " holds " + s.byteSize() + " bytes, needs " + bytes);
    }
  }

  /** A handle argument: native, not NULL. */
  static void handle(String call, String what, MemorySegment s) {
    if (s == null || s.equals(MemorySegment.NULL)) {
      throw new IllegalArgumentException(call + ": " + what + " is NULL");
    }
  }

  /** Throwables from invokeExact, as unchecked exceptions. */
  static RuntimeException rethrow(Throwable t) {
    if (t instanceof RuntimeException r) return r;
    if (t instanceof Error e) throw e;
    return new IllegalStateException(t);
  }
}
