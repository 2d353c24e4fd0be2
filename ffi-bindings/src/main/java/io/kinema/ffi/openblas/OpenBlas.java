package io.kinema.ffi.openblas;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_DOUBLE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import io.kinema.ffi.Downcall;
import io.kinema.ffi.NativeLibrary;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

/**
 * OpenBLAS through FFM: the row-major CBLAS GEMMs and OpenBLAS's own thread/config queries. An
 * optional peer: when the library is absent {@link #isAvailable()} is false, {@link
 * #unavailableReason()} says where it was looked for, and every call throws {@link
 * UnsupportedOperationException} with that reason. See {@link NativeLibrary} for the search order;
 * {@code -Dkinema.openblas.path} / {@code KINEMA_OPENBLAS_PATH} choose a file explicitly.
 *
 * <p>All GEMMs compute {@code C = alpha * op(A) @ op(B) + beta * C} on row-major matrices: op(A) is
 * m x k, op(B) is k x n, C is m x n. A transposed operand is stored as its transpose (A as k x m, B
 * as n x k). Leading dimensions are the row strides in elements. Operands must be native segments
 * holding at least the elements the shapes address; this is checked, since a short buffer would
 * crash the JVM rather than throw. BLAS integers are 32 bit (OpenBLAS without INTERFACE64, as
 * distributions ship it).
 *
 * <p>OpenBLAS reads {@code OPENBLAS_CORETYPE}, {@code OPENBLAS_NUM_THREADS} and friends from the
 * environment when the library is loaded; {@link #corename()} tells which kernels it picked.
 */
public final class OpenBlas {
  private OpenBlas() {}

  private static final int ROW_MAJOR = 101;
  private static final int NO_TRANS = 111;
  private static final int TRANS = 112;

  private static final NativeLibrary LIBRARY =
      NativeLibrary.builder("openblas")
          .names(
              "libopenblas.so.0", // the soname everywhere on Linux
              "libopenblas.so", // dev symlink, source builds
              "libopenblasp.so.0", // Fedora/RHEL: pthread variant
              "libopenblaso.so.0", // Fedora/RHEL: OpenMP variant
              "libopenblas.dylib") // macOS
          .subfolders("openblas-pthread", "openblas-openmp", "openblas-serial", "openblas")
          .folders(
              "/opt/OpenBLAS/lib", "/opt/homebrew/opt/openblas/lib", "/usr/local/opt/openblas/lib")
          .requiredSymbol("cblas_sgemm")
          .hint(
              "Install it (Debian/Ubuntu: apt install libopenblas0-pthread; Fedora: dnf install openblas).")
          .build();

  private static final FunctionDescriptor GEMM_F32 =
      FunctionDescriptor.ofVoid(
          JAVA_INT,
          JAVA_INT,
          JAVA_INT,
          JAVA_INT,
          JAVA_INT,
          JAVA_INT,
          JAVA_FLOAT,
          ADDRESS,
          JAVA_INT,
          ADDRESS,
          JAVA_INT,
          JAVA_FLOAT,
          ADDRESS,
          JAVA_INT);
  private static final FunctionDescriptor GEMM_F64 =
      FunctionDescriptor.ofVoid(
          JAVA_INT,
          JAVA_INT,
          JAVA_INT,
          JAVA_INT,
          JAVA_INT,
          JAVA_INT,
          JAVA_DOUBLE,
          ADDRESS,
          JAVA_INT,
          ADDRESS,
          JAVA_INT,
          JAVA_DOUBLE,
          ADDRESS,
          JAVA_INT);

  // GEMMs run long and start OpenBLAS threads: plain downcalls. The queries are a few
  // instructions that neither block nor call back, so they may skip the thread-state transition.
  private static final Downcall SGEMM = LIBRARY.downcall("cblas_sgemm", GEMM_F32);
  private static final Downcall DGEMM = LIBRARY.downcall("cblas_dgemm", GEMM_F64);
  private static final Downcall SBGEMM = LIBRARY.downcall("cblas_sbgemm", GEMM_F32);
  private static final Downcall GET_CORENAME =
      LIBRARY.downcall(
          "openblas_get_corename", FunctionDescriptor.of(ADDRESS), Linker.Option.critical(false));
  private static final Downcall GET_CONFIG =
      LIBRARY.downcall(
          "openblas_get_config", FunctionDescriptor.of(ADDRESS), Linker.Option.critical(false));
  private static final Downcall GET_NUM_THREADS =
      LIBRARY.downcall(
          "openblas_get_num_threads",
          FunctionDescriptor.of(JAVA_INT),
          Linker.Option.critical(false));
  private static final Downcall SET_NUM_THREADS =
      LIBRARY.downcall("openblas_set_num_threads", FunctionDescriptor.ofVoid(JAVA_INT));

  /** The library description (search order, where it was loaded from). */
  public static NativeLibrary library() {
    return LIBRARY;
  }

  /** Whether OpenBLAS was found and loaded (searches on the first call). */
  public static boolean isAvailable() {
    return LIBRARY.isAvailable();
  }

  /** What was looked for where, when OpenBLAS is unavailable; null when it is available. */
  public static String unavailableReason() {
    return LIBRARY.unavailableReason();
  }

  /**
   * Whether the loaded OpenBLAS exports {@code cblas_sbgemm} (built with BUILD_BFLOAT16; Debian
   * bookworm's 0.3.21 is not).
   */
  public static boolean hasSbgemm() {
    return SBGEMM.isPresent();
  }

  /** Why {@link #sbgemm} cannot be called, or null when it can. */
  public static String sbgemmUnavailableReason() {
    return SBGEMM.unavailableReason();
  }

  /** {@code cblas_sgemm}, row-major, f32. */
  public static void sgemm(
      boolean transA,
      boolean transB,
      int m,
      int n,
      int k,
      float alpha,
      MemorySegment a,
      int lda,
      MemorySegment b,
      int ldb,
      float beta,
      MemorySegment c,
      int ldc) {
    MethodHandle h = SGEMM.handle();
    check("sgemm", transA, transB, m, n, k, a, lda, 4, b, ldb, 4, c, ldc, 4);
    if (m == 0 || n == 0) return;
    try {
      h.invokeExact(
          ROW_MAJOR, op(transA), op(transB), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  /** {@code cblas_dgemm}, row-major, f64. */
  public static void dgemm(
      boolean transA,
      boolean transB,
      int m,
      int n,
      int k,
      double alpha,
      MemorySegment a,
      int lda,
      MemorySegment b,
      int ldb,
      double beta,
      MemorySegment c,
      int ldc) {
    MethodHandle h = DGEMM.handle();
    check("dgemm", transA, transB, m, n, k, a, lda, 8, b, ldb, 8, c, ldc, 8);
    if (m == 0 || n == 0) return;
    try {
      h.invokeExact(
          ROW_MAJOR, op(transA), op(transB), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  /**
   * {@code cblas_sbgemm}, row-major: A and B hold bf16 values (the upper 16 bits of an f32, as
   * shorts), C is f32. Throws {@link UnsupportedOperationException} unless {@link #hasSbgemm()}.
   */
  public static void sbgemm(
      boolean transA,
      boolean transB,
      int m,
      int n,
      int k,
      float alpha,
      MemorySegment a,
      int lda,
      MemorySegment b,
      int ldb,
      float beta,
      MemorySegment c,
      int ldc) {
    MethodHandle h = SBGEMM.handle();
    check("sbgemm", transA, transB, m, n, k, a, lda, 2, b, ldb, 2, c, ldc, 4);
    if (m == 0 || n == 0) return;
    try {
      h.invokeExact(
          ROW_MAJOR, op(transA), op(transB), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  /**
   * The kernel family OpenBLAS selected for this CPU, e.g. {@code "SkylakeX"}, {@code "Haswell"}.
   */
  public static String corename() {
    return string(GET_CORENAME);
  }

  /**
   * OpenBLAS's build configuration, e.g. {@code "OpenBLAS 0.3.21 DYNAMIC_ARCH ... MAX_THREADS=64"}.
   */
  public static String config() {
    return string(GET_CONFIG);
  }

  /** Threads OpenBLAS uses per call. */
  public static int numThreads() {
    try {
      return (int) GET_NUM_THREADS.handle().invokeExact();
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  /** Sets the threads OpenBLAS uses per call (process-wide; capped by its MAX_THREADS). */
  public static void setNumThreads(int threads) {
    if (threads < 1)
      throw new IllegalArgumentException("OpenBLAS threads must be >= 1: " + threads);
    MethodHandle h = SET_NUM_THREADS.handle();
    try {
      h.invokeExact(threads);
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  // ----------------------------------------------------------------------------------- helpers

  private static int op(boolean trans) {
    return trans ? TRANS : NO_TRANS;
  }

  private static String string(Downcall fn) {
    try {
      MemorySegment p = (MemorySegment) fn.handle().invokeExact();
      return p.equals(MemorySegment.NULL) ? "" : p.reinterpret(Long.MAX_VALUE).getString(0);
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  private static RuntimeException rethrow(Throwable t) {
    if (t instanceof RuntimeException r) return r;
    if (t instanceof Error e) throw e;
    return new IllegalStateException(t);
  }

  /** Validates a GEMM call the way BLAS would, plus what BLAS cannot: the buffers' sizes. */
  private static void check(
      String fn,
      boolean transA,
      boolean transB,
      int m,
      int n,
      int k,
      MemorySegment a,
      int lda,
      int aBytes,
      MemorySegment b,
      int ldb,
      int bBytes,
      MemorySegment c,
      int ldc,
      int cBytes) {
    if (m < 0 || n < 0 || k < 0) {
      throw new IllegalArgumentException(fn + ": negative size m=" + m + ", n=" + n + ", k=" + k);
    }
    // Stored shapes (rows x cols) of A, B, C.
    int aRows = transA ? k : m, aCols = transA ? m : k;
    int bRows = transB ? n : k, bCols = transB ? k : n;
    operand(fn, "A", transA, a, aRows, aCols, lda, aBytes, m, n, k);
    operand(fn, "B", transB, b, bRows, bCols, ldb, bBytes, m, n, k);
    operand(fn, "C", false, c, m, n, ldc, cBytes, m, n, k);
    if (c.isReadOnly()) throw new IllegalArgumentException(fn + ": C is a read-only segment");
  }

  private static void operand(
      String fn,
      String name,
      boolean trans,
      MemorySegment s,
      int rows,
      int cols,
      int ld,
      int elemBytes,
      int m,
      int n,
      int k) {
    String where =
        fn + "(m=" + m + ", n=" + n + ", k=" + k + "): " + name + (trans ? " (transposed)" : "");
    if (ld < Math.max(1, cols)) {
      throw new IllegalArgumentException(
          where
              + " is stored "
              + rows
              + " x "
              + cols
              + ", so its leading dimension must be >= "
              + Math.max(1, cols)
              + ", got "
              + ld);
    }
    if (!s.isNative()) throw new IllegalArgumentException(where + " is not a native segment");
    long need = rows == 0 || cols == 0 ? 0 : ((long) (rows - 1) * ld + cols) * elemBytes;
    if (s.byteSize() < need) {
      throw new IllegalArgumentException(
          where
              + " needs "
              + need
              + " bytes ("
              + rows
              + " x "
              + cols
              + ", leading dimension "
              + ld
              + "), segment has "
              + s.byteSize());
    }
  }
}
