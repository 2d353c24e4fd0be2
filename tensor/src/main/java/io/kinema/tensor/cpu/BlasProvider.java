package io.kinema.tensor.cpu;

import io.kinema.ffi.openblas.OpenBlas;
import io.kinema.tensor.DType;
import io.kinema.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.util.Locale;

/**
 * Which GEMM the CPU backend runs for F32/F64 matmul: ours (Vector API, the default) or OpenBLAS
 * through FFM, for comparison and as a fallback. Chosen once per process by the system property
 * {@code kinema.blas}, else the environment variable {@code KINEMA_BLAS}: {@code java} (default) or
 * {@code openblas}. Selecting OpenBLAS where it is missing throws on first use, with the places it
 * was looked for; it never falls back silently.
 *
 * <p>GEMMs here are row-major and overwrite C: {@code C = op(A) @ op(B)}, op(A) m x k, op(B) k x n;
 * a transposed operand is stored as its transpose. Offsets and leading dimensions are in elements.
 * OpenBLAS parallelizes each call itself (its own threads, {@code OPENBLAS_NUM_THREADS}), so call
 * it from one thread, not from inside {@link Parallel}.
 */
public final class BlasProvider {
  private BlasProvider() {}

  /** The GEMM implementations to choose from. */
  public enum Kind {
    /** Kinema's own Vector API GEMM. */
    JAVA,
    /** OpenBLAS's cblas_sgemm / cblas_dgemm. */
    OPENBLAS
  }

  public static final String PROPERTY = "kinema.blas";
  public static final String ENV = "KINEMA_BLAS";

  /** The selection, or the message of why it cannot be used; resolved on first use. */
  private record Choice(Kind kind, String error) {}

  private static volatile Choice choice;

  /**
   * The GEMM selected for this process. Throws {@link IllegalStateException} (on every call) when
   * the setting is invalid or names OpenBLAS and OpenBLAS is unavailable.
   */
  public static Kind selected() {
    Choice c = choice;
    if (c == null) {
      synchronized (BlasProvider.class) {
        c = choice;
        if (c == null) choice = c = choose();
      }
    }
    if (c.error != null) throw new IllegalStateException(c.error);
    return c.kind;
  }

  /** Whether F32/F64 matmul should go to OpenBLAS ({@link #selected()} is OPENBLAS). */
  public static boolean useOpenBlas() {
    return selected() == Kind.OPENBLAS;
  }

  private static Choice choose() {
    String prop = System.getProperty(PROPERTY);
    String env = System.getenv(ENV);
    String source =
        prop != null && !prop.isBlank() ? "-D" + PROPERTY + "=" + prop : ENV + "=" + env;
    Kind kind;
    try {
      kind = parse(prop, env);
    } catch (IllegalArgumentException e) {
      return new Choice(null, e.getMessage());
    }
    if (kind == Kind.OPENBLAS && !OpenBlas.isAvailable()) {
      return new Choice(
          null, source + " selects OpenBLAS for matmul, but " + OpenBlas.unavailableReason());
    }
    return new Choice(kind, null);
  }

  /** The kind named by the property, else by the environment value; JAVA when both are unset. */
  static Kind parse(String property, String env) {
    boolean fromProperty = property != null && !property.isBlank();
    String v = fromProperty ? property : env;
    String source = fromProperty ? "-D" + PROPERTY : ENV;
    if (v == null || v.isBlank()) return Kind.JAVA;
    return switch (v.strip().toLowerCase(Locale.ROOT)) {
      case "java" -> Kind.JAVA;
      case "openblas" -> Kind.OPENBLAS;
      default ->
          throw new IllegalArgumentException(
              source
                  + "="
                  + v
                  + " is not a GEMM provider: expected 'java' (default) or 'openblas'");
    };
  }

  /** {@code C = op(A) @ op(B)} in f32 through OpenBLAS (regardless of the selection). */
  public static void sgemm(
      boolean transA,
      boolean transB,
      int m,
      int n,
      int k,
      MemorySegment a,
      long aOffset,
      int lda,
      MemorySegment b,
      long bOffset,
      int ldb,
      MemorySegment c,
      long cOffset,
      int ldc) {
    OpenBlas.sgemm(
        transA,
        transB,
        m,
        n,
        k,
        1f,
        a.asSlice(aOffset * 4),
        lda,
        b.asSlice(bOffset * 4),
        ldb,
        0f,
        c.asSlice(cOffset * 4),
        ldc);
  }

  /** {@code C = op(A) @ op(B)} in f64 through OpenBLAS (regardless of the selection). */
  public static void dgemm(
      boolean transA,
      boolean transB,
      int m,
      int n,
      int k,
      MemorySegment a,
      long aOffset,
      int lda,
      MemorySegment b,
      long bOffset,
      int ldb,
      MemorySegment c,
      long cOffset,
      int ldc) {
    OpenBlas.dgemm(
        transA,
        transB,
        m,
        n,
        k,
        1.0,
        a.asSlice(aOffset * 8),
        lda,
        b.asSlice(bOffset * 8),
        ldb,
        0.0,
        c.asSlice(cOffset * 8),
        ldc);
  }

  /**
   * {@code out[..., M, N] = a[..., M, K] @ b[..., K, N]} through OpenBLAS, with {@link
   * io.kinema.tensor.backend.Backend#matmul}'s contract (same rank, batch dims already broadcast to
   * out's, possibly as stride-0 views). Returns false, having written nothing, when BLAS cannot
   * take these operands as they are: a dtype other than F32/F64, a matrix whose rows and columns
   * both have non-unit strides, an out that is not row-major, or sizes beyond 32-bit BLAS ints. The
   * caller then runs its own GEMM.
   */
  public static boolean matmul(Tensor a, Tensor b, Tensor out) {
    DType dt = out.dtype();
    if ((dt != DType.F32 && dt != DType.F64) || a.dtype() != dt || b.dtype() != dt) return false;
    int r = out.dim();
    if (r < 2 || a.dim() != r || b.dim() != r) return false;
    long mL = out.size(r - 2), nL = out.size(r - 1), kL = a.size(r - 1);
    if (mL > Integer.MAX_VALUE || nL > Integer.MAX_VALUE || kL > Integer.MAX_VALUE) return false;
    int m = (int) mL, n = (int) nL, k = (int) kL;

    // Each matrix as (transposed?, leading dim), or -1 when BLAS cannot read it in place.
    long la = layout(m, k, a.stride(r - 2), a.stride(r - 1));
    long lb = layout(k, n, b.stride(r - 2), b.stride(r - 1));
    long lc = layout(m, n, out.stride(r - 2), out.stride(r - 1));
    if (la < 0 || lb < 0 || lc < 0 || isTransposed(lc)) return false;

    long batches = 1;
    for (int d = 0; d < r - 2; d++) batches *= out.size(d);
    if (batches == 0 || m == 0 || n == 0) return true;

    MemorySegment as = a.storage().segment(), bs = b.storage().segment();
    MemorySegment cs = out.storage().segment();
    long[] index = new long[r - 2];
    for (long bi = 0; bi < batches; bi++) {
      long ao = a.offset(), bo = b.offset(), co = out.offset();
      for (int d = 0; d < r - 2; d++) {
        ao += index[d] * a.stride(d);
        bo += index[d] * b.stride(d);
        co += index[d] * out.stride(d);
      }
      if (dt == DType.F32) {
        sgemm(
            isTransposed(la),
            isTransposed(lb),
            m,
            n,
            k,
            as,
            ao,
            ld(la),
            bs,
            bo,
            ld(lb),
            cs,
            co,
            ld(lc));
      } else {
        dgemm(
            isTransposed(la),
            isTransposed(lb),
            m,
            n,
            k,
            as,
            ao,
            ld(la),
            bs,
            bo,
            ld(lb),
            cs,
            co,
            ld(lc));
      }
      for (int d = r - 3; d >= 0; d--) { // next batch index, row-major
        if (++index[d] < out.size(d)) break;
        index[d] = 0;
      }
    }
    return true;
  }

  private static final long TRANSPOSED = 1L << 32;

  /**
   * How BLAS reads a rows x cols matrix with these strides: its leading dimension, plus {@link
   * #TRANSPOSED} when it is column-major; -1 when neither works. A dim of size 1 has no meaningful
   * stride, so it never disqualifies a layout.
   */
  private static long layout(int rows, int cols, long rowStride, long colStride) {
    if (rows == 0 || cols == 0) return Math.max(1, cols); // nothing is read
    if ((cols <= 1 || colStride == 1) && (rows <= 1 || rowStride >= Math.max(1, cols))) {
      long ld = rows <= 1 ? Math.max(1, cols) : rowStride;
      return ld <= Integer.MAX_VALUE ? ld : -1;
    }
    if ((rows <= 1 || rowStride == 1) && (cols <= 1 || colStride >= Math.max(1, rows))) {
      long ld = cols <= 1 ? Math.max(1, rows) : colStride;
      return ld <= Integer.MAX_VALUE ? ld | TRANSPOSED : -1;
    }
    return -1;
  }

  private static boolean isTransposed(long layout) {
    return (layout & TRANSPOSED) != 0;
  }

  private static int ld(long layout) {
    return (int) (layout & 0xFFFF_FFFFL);
  }
}
