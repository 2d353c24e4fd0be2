package io.kinema.ffi.cuda;

import static java.lang.foreign.MemoryLayout.sequenceLayout;
import static java.lang.foreign.MemoryLayout.structLayout;
import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import io.kinema.ffi.CTypes;
import io.kinema.ffi.Downcall;
import io.kinema.ffi.NativeLibrary;
import java.lang.foreign.Arena;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.invoke.MethodHandle;
import java.util.ArrayList;
import java.util.List;

/**
 * cuBLASLt ({@code libcublasLt.so.13} or {@code .12}) through FFM: matmuls described by
 * descriptors, with fused epilogues (bias, GELU, ReLU and their gradients). Optional: see {@link
 * CudaLibrary#CUBLASLT}; without it every call throws {@link UnsupportedOperationException} with
 * the reason. Errors throw {@link CublasException} with {@code cublasLtGetStatusName}/{@code
 * String}.
 *
 * <p>A matmul {@code D = epilogue(alpha op(A) op(B) + beta C)}: create a {@linkplain
 * #matmulDescCreate matmul descriptor} (compute and scale type; then transposes, epilogue, bias
 * pointer as {@linkplain MatmulDescAttribute attributes}), one {@linkplain #matrixLayoutCreate
 * layout} per matrix (type, rows, columns, leading dimension; column-major unless {@link
 * MatrixLayoutAttribute#ORDER} says {@link Order#ROW}; batch count and stride as attributes), a
 * {@linkplain #matmulPreferenceCreate preference} with the workspace limit, ask {@link
 * #matmulAlgoGetHeuristic} for algorithms, and run {@link #matmul}. Descriptors are host objects:
 * create them once per shape and keep them.
 */
public final class CublasLt {
  private CublasLt() {}

  /** {@code cublasLtMatmulHeuristicResult_t}: 96 bytes on every platform cuBLASLt supports. */
  static final StructLayout HEURISTIC_RESULT =
      structLayout(
              sequenceLayout(8, JAVA_LONG).withName("algo"),
              JAVA_LONG.withName("workspaceSize"),
              JAVA_INT.withName("state"),
              JAVA_FLOAT.withName("wavesCount"),
              sequenceLayout(4, JAVA_INT).withName("reserved"))
          .withName("cublasLtMatmulHeuristicResult_t");

  private static final long RESULT_WORKSPACE = offset("workspaceSize");
  private static final long RESULT_STATE = offset("state");
  private static final long RESULT_WAVES = offset("wavesCount");

  private static long offset(String field) {
    return HEURISTIC_RESULT.byteOffset(MemoryLayout.PathElement.groupElement(field));
  }

  /** {@code cublasLtMatmulAlgo_t}: an opaque 64-byte algorithm description. */
  public static final long ALGO_BYTES = 64;

  /** How an attribute's value is stored (the C attribute docs give each one's type). */
  private enum Width {
    I8,
    I32,
    I64;

    int bytes() {
      return switch (this) {
        case I8 -> 1;
        case I32 -> 4;
        case I64 -> 8;
      };
    }
  }

  /** {@code cublasLtMatmulDescAttributes_t} ({@code CUBLASLT_MATMUL_DESC_<name>}). */
  public enum MatmulDescAttribute {
    /** {@code cublasLtPointerMode_t}: where alpha and beta live (default: host). */
    POINTER_MODE(2, Width.I32),
    /** {@code cublasOperation_t} of A: 1 to transpose. */
    TRANSA(3, Width.I32),
    /** {@code cublasOperation_t} of B: 1 to transpose. */
    TRANSB(4, Width.I32),
    /** An {@link Epilogue} code. */
    EPILOGUE(7, Width.I32),
    /** Device address of the bias vector (length: D's rows), or of the bias gradient. */
    BIAS_POINTER(8, Width.I64),
    /** Elements between the bias vectors of consecutive batch entries. */
    BIAS_BATCH_STRIDE(10, Width.I64),
    /** Device address of the epilogue's extra matrix (GELU input, ReLU mask). */
    EPILOGUE_AUX_POINTER(11, Width.I64),
    /** Leading dimension of the auxiliary matrix. */
    EPILOGUE_AUX_LD(12, Width.I64),
    /** Elements between consecutive batch entries of the auxiliary matrix. */
    EPILOGUE_AUX_BATCH_STRIDE(13, Width.I64),
    /** SMs to plan for (0: all). */
    SM_COUNT_TARGET(15, Width.I32),
    /** {@link CudaDataType} code of the auxiliary matrix. */
    EPILOGUE_AUX_DATA_TYPE(22, Width.I32),
    /** {@link CudaDataType} code of the bias vector (default: D's type, or the scale type). */
    BIAS_DATA_TYPE(26, Width.I32);

    private final int code;
    private final Width width;

    MatmulDescAttribute(int code, Width width) {
      this.code = code;
      this.width = width;
    }

    /** The C enum value. */
    public int code() {
      return code;
    }
  }

  /** {@code cublasLtMatrixLayoutAttribute_t} ({@code CUBLASLT_MATRIX_LAYOUT_<name>}). */
  public enum MatrixLayoutAttribute {
    /** An {@link Order} code. */
    ORDER(1, Width.I32),
    /** Matrices in the batch (default 1). */
    BATCH_COUNT(5, Width.I32),
    /** Elements from one batch entry's matrix to the next. */
    STRIDED_BATCH_OFFSET(6, Width.I64);

    private final int code;
    private final Width width;

    MatrixLayoutAttribute(int code, Width width) {
      this.code = code;
      this.width = width;
    }

    /** The C enum value. */
    public int code() {
      return code;
    }
  }

  /** {@code cublasLtMatmulPreferenceAttributes_t} ({@code CUBLASLT_MATMUL_PREF_<name>}). */
  public enum PreferenceAttribute {
    /** Largest workspace, in bytes, an algorithm may use (default 0: none). */
    MAX_WORKSPACE_BYTES(1, Width.I64),
    /** Guaranteed alignment of A's address, in bytes (default 256). */
    MIN_ALIGNMENT_A_BYTES(5, Width.I32),
    /** Guaranteed alignment of B's address. */
    MIN_ALIGNMENT_B_BYTES(6, Width.I32),
    /** Guaranteed alignment of C's address. */
    MIN_ALIGNMENT_C_BYTES(7, Width.I32),
    /** Guaranteed alignment of D's address. */
    MIN_ALIGNMENT_D_BYTES(8, Width.I32);

    private final int code;
    private final Width width;

    PreferenceAttribute(int code, Width width) {
      this.code = code;
      this.width = width;
    }

    /** The C enum value. */
    public int code() {
      return code;
    }
  }

  /** {@code cublasLtEpilogue_t} ({@code CUBLASLT_EPILOGUE_<name>}): what follows the product. */
  public enum Epilogue {
    DEFAULT(1),
    RELU(2),
    RELU_AUX(130),
    BIAS(4),
    RELU_BIAS(6),
    RELU_AUX_BIAS(134),
    DRELU(136),
    DRELU_BGRAD(152),
    GELU(32),
    GELU_AUX(160),
    GELU_BIAS(36),
    GELU_AUX_BIAS(164),
    DGELU(192),
    DGELU_BGRAD(208),
    BGRADA(256),
    BGRADB(512);

    private final int code;

    Epilogue(int code) {
      this.code = code;
    }

    /** The C enum value. */
    public int code() {
      return code;
    }
  }

  /** {@code cublasLtOrder_t} ({@code CUBLASLT_ORDER_<name>}): how a matrix is laid out. */
  public enum Order {
    /** Column-major; the leading dimension is the column stride. */
    COL(0),
    /** Row-major; the leading dimension is the row stride. */
    ROW(1);

    private final int code;

    Order(int code) {
      this.code = code;
    }

    /** The C enum value. */
    public int code() {
      return code;
    }
  }

  /**
   * One algorithm {@link #matmulAlgoGetHeuristic} proposes: the opaque algorithm ({@value
   * #ALGO_BYTES} bytes, for {@link #matmul}), the workspace it needs, and its estimated waves (1.0:
   * fills the GPU once).
   */
  public record Heuristic(MemorySegment algo, long workspaceSize, float wavesCount) {}

  private static final NativeLibrary LIBRARY = CudaLibrary.CUBLASLT.library();

  private static final CTypes C =
      CTypes.standard()
          .ints(
              "cublasStatus_t",
              "cublasComputeType_t",
              "cudaDataType",
              "cudaDataType_t",
              "cublasLtMatmulDescAttributes_t",
              "cublasLtMatrixLayoutAttribute_t",
              "cublasLtMatmulPreferenceAttributes_t")
          .pointers(
              "cublasLtHandle_t",
              "cublasLtMatmulDesc_t",
              "cublasLtMatrixLayout_t",
              "cublasLtMatmulPreference_t",
              "cudaStream_t");

  private static Downcall fn(String prototype) {
    return LIBRARY.downcall(C, prototype);
  }

  private static final Downcall CREATE =
      fn("cublasStatus_t cublasLtCreate(cublasLtHandle_t* lightHandle)");
  private static final Downcall DESTROY =
      fn("cublasStatus_t cublasLtDestroy(cublasLtHandle_t lightHandle)");
  private static final Downcall GET_VERSION = fn("size_t cublasLtGetVersion(void)");
  private static final Downcall MATMUL_DESC_CREATE =
      fn(
          "cublasStatus_t cublasLtMatmulDescCreate(cublasLtMatmulDesc_t* matmulDesc,"
              + " cublasComputeType_t computeType, cudaDataType_t scaleType)");
  private static final Downcall MATMUL_DESC_DESTROY =
      fn("cublasStatus_t cublasLtMatmulDescDestroy(cublasLtMatmulDesc_t matmulDesc)");
  private static final Downcall MATMUL_DESC_SET_ATTRIBUTE =
      fn(
          "cublasStatus_t cublasLtMatmulDescSetAttribute(cublasLtMatmulDesc_t matmulDesc,"
              + " cublasLtMatmulDescAttributes_t attr, const void* buf, size_t sizeInBytes)");
  private static final Downcall MATRIX_LAYOUT_CREATE =
      fn(
          "cublasStatus_t cublasLtMatrixLayoutCreate(cublasLtMatrixLayout_t* matLayout,"
              + " cudaDataType type, uint64_t rows, uint64_t cols, int64_t ld)");
  private static final Downcall MATRIX_LAYOUT_DESTROY =
      fn("cublasStatus_t cublasLtMatrixLayoutDestroy(cublasLtMatrixLayout_t matLayout)");
  private static final Downcall MATRIX_LAYOUT_SET_ATTRIBUTE =
      fn(
          "cublasStatus_t cublasLtMatrixLayoutSetAttribute(cublasLtMatrixLayout_t matLayout,"
              + " cublasLtMatrixLayoutAttribute_t attr, const void* buf, size_t sizeInBytes)");
  private static final Downcall MATMUL_PREFERENCE_CREATE =
      fn("cublasStatus_t cublasLtMatmulPreferenceCreate(cublasLtMatmulPreference_t* pref)");
  private static final Downcall MATMUL_PREFERENCE_DESTROY =
      fn("cublasStatus_t cublasLtMatmulPreferenceDestroy(cublasLtMatmulPreference_t pref)");
  private static final Downcall MATMUL_PREFERENCE_SET_ATTRIBUTE =
      fn(
          "cublasStatus_t cublasLtMatmulPreferenceSetAttribute(cublasLtMatmulPreference_t pref,"
              + " cublasLtMatmulPreferenceAttributes_t attr, const void* buf, size_t"
              + " sizeInBytes)");
  private static final Downcall MATMUL_ALGO_GET_HEURISTIC =
      fn(
          "cublasStatus_t cublasLtMatmulAlgoGetHeuristic(cublasLtHandle_t lightHandle,"
              + " cublasLtMatmulDesc_t operationDesc, cublasLtMatrixLayout_t Adesc,"
              + " cublasLtMatrixLayout_t Bdesc, cublasLtMatrixLayout_t Cdesc,"
              + " cublasLtMatrixLayout_t Ddesc, cublasLtMatmulPreference_t preference,"
              + " int requestedAlgoCount,"
              + " cublasLtMatmulHeuristicResult_t heuristicResultsArray[],"
              + " int* returnAlgoCount)");
  private static final Downcall MATMUL =
      fn(
          "cublasStatus_t cublasLtMatmul(cublasLtHandle_t lightHandle,"
              + " cublasLtMatmulDesc_t computeDesc, const void* alpha, const void* A,"
              + " cublasLtMatrixLayout_t Adesc, const void* B, cublasLtMatrixLayout_t Bdesc,"
              + " const void* beta, const void* C, cublasLtMatrixLayout_t Cdesc, void* D,"
              + " cublasLtMatrixLayout_t Ddesc, const cublasLtMatmulAlgo_t* algo,"
              + " void* workspace, size_t workspaceSizeInBytes, cudaStream_t stream)");
  private static final Downcall GET_STATUS_NAME =
      fn("const char* cublasLtGetStatusName(cublasStatus_t status)");
  private static final Downcall GET_STATUS_STRING =
      fn("const char* cublasLtGetStatusString(cublasStatus_t status)");

  /** The library description (search order, where it was loaded from). */
  public static NativeLibrary library() {
    return LIBRARY;
  }

  /** Whether cuBLASLt was found and loaded (searches on the first call). */
  public static boolean isAvailable() {
    return LIBRARY.isAvailable();
  }

  /** What was looked for where, when cuBLASLt is unavailable; null when it is available. */
  public static String unavailableReason() {
    return LIBRARY.unavailableReason();
  }

  /** {@code cublasLtGetVersion}: e.g. 120604 for 12.6.4. */
  public static long getVersion() {
    MethodHandle h = GET_VERSION.handle();
    try {
      return (long) h.invokeExact();
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
  }

  /** {@code cublasLtCreate}: a handle (host object; needs a current CUDA context). */
  public static MemorySegment create() {
    return created(CREATE, "cublasLtCreate");
  }

  /** {@code cublasLtDestroy}. */
  public static void destroy(MemorySegment handle) {
    destroyed(DESTROY, "cublasLtDestroy", handle);
  }

  // ---------------------------------------------------------------------- matmul descriptor

  /**
   * {@code cublasLtMatmulDescCreate}: accumulation in {@code computeType}, alpha and beta of {@code
   * scaleType} (usually {@code computeType.scaleType()}).
   */
  public static MemorySegment matmulDescCreate(
      Cublas.ComputeType computeType, CudaDataType scaleType) {
    MethodHandle h = MATMUL_DESC_CREATE.handle();
    try (Arena a = Arena.ofConfined()) {
      MemorySegment out = a.allocate(ADDRESS);
      int status = (int) h.invokeExact(out, computeType.code(), scaleType.code());
      check(status, "cublasLtMatmulDescCreate(" + computeType.cName() + ", " + scaleType + ")");
      return out.get(ADDRESS, 0);
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
  }

  /** {@code cublasLtMatmulDescDestroy}. */
  public static void matmulDescDestroy(MemorySegment desc) {
    destroyed(MATMUL_DESC_DESTROY, "cublasLtMatmulDescDestroy", desc);
  }

  /**
   * {@code cublasLtMatmulDescSetAttribute}: sets {@code attribute} to {@code value}, stored with
   * the attribute's C type (a device address is its {@code long}).
   */
  public static void matmulDescSetAttribute(
      MemorySegment desc, MatmulDescAttribute attribute, long value) {
    setAttribute(
        MATMUL_DESC_SET_ATTRIBUTE,
        "cublasLtMatmulDescSetAttribute",
        desc,
        attribute.code,
        attribute.toString(),
        attribute.width,
        value);
  }

  // ------------------------------------------------------------------------ matrix layouts

  /**
   * {@code cublasLtMatrixLayoutCreate}: a {@code rows x cols} matrix of {@code type} with leading
   * dimension {@code ld} (column-major by default).
   */
  public static MemorySegment matrixLayoutCreate(CudaDataType type, long rows, long cols, long ld) {
    String call = "cublasLtMatrixLayoutCreate(" + type + ", " + rows + " x " + cols + ", ld " + ld;
    if (rows < 0 || cols < 0 || ld < 0) {
      throw new IllegalArgumentException(call + "): negative size");
    }
    MethodHandle h = MATRIX_LAYOUT_CREATE.handle();
    try (Arena a = Arena.ofConfined()) {
      MemorySegment out = a.allocate(ADDRESS);
      check((int) h.invokeExact(out, type.code(), rows, cols, ld), call + ")");
      return out.get(ADDRESS, 0);
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
  }

  /** {@code cublasLtMatrixLayoutDestroy}. */
  public static void matrixLayoutDestroy(MemorySegment layout) {
    destroyed(MATRIX_LAYOUT_DESTROY, "cublasLtMatrixLayoutDestroy", layout);
  }

  /** {@code cublasLtMatrixLayoutSetAttribute}, e.g. batch count and stride, row order. */
  public static void matrixLayoutSetAttribute(
      MemorySegment layout, MatrixLayoutAttribute attribute, long value) {
    setAttribute(
        MATRIX_LAYOUT_SET_ATTRIBUTE,
        "cublasLtMatrixLayoutSetAttribute",
        layout,
        attribute.code,
        attribute.toString(),
        attribute.width,
        value);
  }

  // ---------------------------------------------------------------------------- preference

  /** {@code cublasLtMatmulPreferenceCreate}: no workspace allowed until set. */
  public static MemorySegment matmulPreferenceCreate() {
    return created(MATMUL_PREFERENCE_CREATE, "cublasLtMatmulPreferenceCreate");
  }

  /** {@code cublasLtMatmulPreferenceDestroy}. */
  public static void matmulPreferenceDestroy(MemorySegment preference) {
    destroyed(MATMUL_PREFERENCE_DESTROY, "cublasLtMatmulPreferenceDestroy", preference);
  }

  /** {@code cublasLtMatmulPreferenceSetAttribute}, e.g. the maximum workspace. */
  public static void matmulPreferenceSetAttribute(
      MemorySegment preference, PreferenceAttribute attribute, long value) {
    setAttribute(
        MATMUL_PREFERENCE_SET_ATTRIBUTE,
        "cublasLtMatmulPreferenceSetAttribute",
        preference,
        attribute.code,
        attribute.toString(),
        attribute.width,
        value);
  }

  // -------------------------------------------------------------------------------- matmul

  /**
   * {@code cublasLtMatmulAlgoGetHeuristic}: up to {@code requested} algorithms for the matmul, best
   * first, each algorithm copied into {@code arena}. Empty when none supports it.
   */
  public static List<Heuristic> matmulAlgoGetHeuristic(
      MemorySegment handle,
      MemorySegment desc,
      MemorySegment aLayout,
      MemorySegment bLayout,
      MemorySegment cLayout,
      MemorySegment dLayout,
      MemorySegment preference,
      int requested,
      Arena arena) {
    String call = "cublasLtMatmulAlgoGetHeuristic";
    Ffi.handle(call, "handle", handle);
    if (requested < 1) throw new IllegalArgumentException(call + ": requested < 1");
    MethodHandle h = MATMUL_ALGO_GET_HEURISTIC.handle();
    try (Arena a = Arena.ofConfined()) {
      MemorySegment results = a.allocate(HEURISTIC_RESULT, requested);
      MemorySegment count = a.allocate(JAVA_INT);
      int status =
          (int)
              h.invokeExact(
                  handle,
                  desc,
                  aLayout,
                  bLayout,
                  cLayout,
                  dLayout,
                  preference,
                  requested,
                  results,
                  count);
      check(status, call + "(" + requested + " requested)");
      var out = new ArrayList<Heuristic>();
      long size = HEURISTIC_RESULT.byteSize();
      for (int i = 0; i < count.get(JAVA_INT, 0); i++) {
        MemorySegment r = results.asSlice(i * size, size);
        if (r.get(JAVA_INT, RESULT_STATE) != 0) continue; // not CUBLAS_STATUS_SUCCESS
        MemorySegment algo = arena.allocate(ALGO_BYTES, 8).copyFrom(r.asSlice(0, ALGO_BYTES));
        out.add(
            new Heuristic(
                algo, r.get(JAVA_LONG, RESULT_WORKSPACE), r.get(JAVA_FLOAT, RESULT_WAVES)));
      }
      return out;
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
  }

  /**
   * {@code cublasLtMatmul}: {@code D = epilogue(alpha op(A) op(B) + beta C)} in {@code stream}.
   * Matrices are device addresses (C may equal D); {@code alpha}/{@code beta} are host values of
   * the descriptor's scale type; {@code algo} comes from {@link #matmulAlgoGetHeuristic} (or is
   * NULL to let cuBLASLt choose), with a workspace at least its {@code workspaceSize}.
   */
  public static void matmul(
      MemorySegment handle,
      MemorySegment desc,
      MemorySegment alpha,
      long a,
      MemorySegment aLayout,
      long b,
      MemorySegment bLayout,
      MemorySegment beta,
      long c,
      MemorySegment cLayout,
      long d,
      MemorySegment dLayout,
      MemorySegment algo,
      long workspace,
      long workspaceBytes,
      MemorySegment stream) {
    String call = "cublasLtMatmul";
    Ffi.handle(call, "handle", handle);
    Ffi.handle(call, "matmul descriptor", desc);
    Ffi.hostBuffer(call, "alpha", alpha, 2);
    Ffi.hostBuffer(call, "beta", beta, 2);
    if (!algo.equals(MemorySegment.NULL)) Ffi.hostBuffer(call, "algo", algo, ALGO_BYTES);
    Ffi.nonNegative(call, "workspace size", workspaceBytes);
    MethodHandle h = MATMUL.handle();
    int status;
    try {
      status =
          (int)
              h.invokeExact(
                  handle,
                  desc,
                  alpha,
                  Ffi.device(a),
                  aLayout,
                  Ffi.device(b),
                  bLayout,
                  beta,
                  Ffi.device(c),
                  cLayout,
                  Ffi.device(d),
                  dLayout,
                  algo,
                  Ffi.device(workspace),
                  workspaceBytes,
                  stream);
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
    if (status != 0) throw error(status, call + "(workspace " + workspaceBytes + " bytes)");
  }

  /** {@code cublasLtGetStatusName}. */
  public static String getStatusName(int status) {
    MethodHandle h = GET_STATUS_NAME.handle();
    try {
      return Ffi.string((MemorySegment) h.invokeExact(status));
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
  }

  /** {@code cublasLtGetStatusString}. */
  public static String getStatusString(int status) {
    MethodHandle h = GET_STATUS_STRING.handle();
    try {
      return Ffi.string((MemorySegment) h.invokeExact(status));
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
  }

  // ----------------------------------------------------------------------------- helpers

  /** Calls a {@code create(T* out)} function and returns the handle. */
  private static MemorySegment created(Downcall fn, String call) {
    MethodHandle h = fn.handle();
    try (Arena a = Arena.ofConfined()) {
      MemorySegment out = a.allocate(ADDRESS);
      check((int) h.invokeExact(out), call);
      return out.get(ADDRESS, 0);
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
  }

  /** Calls a {@code destroy(T)} function. */
  private static void destroyed(Downcall fn, String call, MemorySegment object) {
    Ffi.handle(call, "descriptor", object);
    MethodHandle h = fn.handle();
    int status;
    try {
      status = (int) h.invokeExact(object);
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
    check(status, call);
  }

  /** Calls a {@code setAttribute(object, attr, const void *buf, size_t size)} function. */
  private static void setAttribute(
      Downcall fn, String call, MemorySegment object, int code, String name, Width width, long v) {
    String what = call + "(" + name + ", " + v + ")";
    Ffi.handle(call, "descriptor", object);
    if (width == Width.I32 && v != (int) v && v != (v & 0xFFFF_FFFFL)) {
      throw new IllegalArgumentException(what + ": value does not fit 32 bits");
    }
    if (width == Width.I8 && v != (byte) v) {
      throw new IllegalArgumentException(what + ": value does not fit 8 bits");
    }
    MethodHandle h = fn.handle();
    try (Arena a = Arena.ofConfined()) {
      MemorySegment buf = a.allocate(8, 8);
      switch (width) {
        case I8 -> buf.set(JAVA_BYTE, 0, (byte) v);
        case I32 -> buf.set(JAVA_INT, 0, (int) v);
        case I64 -> buf.set(JAVA_LONG, 0, v);
      }
      long bytes = width.bytes();
      check((int) h.invokeExact(object, code, buf, bytes), what);
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
  }

  private static void check(int status, String call) {
    if (status != 0) throw error(status, call);
  }

  /** The exception for {@code status}, with cuBLASLt's own name and description of it. */
  static CublasException error(int status, String call) {
    return new CublasException(call, status, getStatusName(status), getStatusString(status));
  }
}
