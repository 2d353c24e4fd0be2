package io.kinema.ffi.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import io.kinema.ffi.CTypes;
import io.kinema.ffi.Downcall;
import io.kinema.ffi.NativeLibrary;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

/**
 * cuBLAS ({@code libcublas.so.13} or {@code .12}) through FFM: handles, streams, math mode,
 * workspace, and the mixed-precision GEMMs {@code cublasGemmEx} / {@code
 * cublasGemmStridedBatchedEx}. Optional: see {@link CudaLibrary#CUBLAS}; without it every call
 * throws {@link UnsupportedOperationException} with the reason. A non-zero {@code cublasStatus_t}
 * throws {@link CublasException} with {@code cublasGetStatusName}/{@code String}.
 *
 * <p>cuBLAS is column-major: {@code C = alpha op(A) op(B) + beta C} with op(A) m x k, op(B) k x n,
 * C m x n, each matrix stored column after column with leading dimension (column stride) {@code
 * ld}. A row-major product {@code C = A B} is the column-major {@code C^T = B^T A^T}: swap the
 * operands and m with n. Matrices are device addresses; {@code alpha} and {@code beta} are host
 * values of the compute type's {@linkplain ComputeType#scaleType() scale type} (float for the 32F
 * types). The calls are asynchronous in the handle's stream.
 */
public final class Cublas {
  private Cublas() {}

  /** {@code CUBLAS_DEFAULT_MATH}: tensor cores where precision allows. */
  public static final int DEFAULT_MATH = 0;

  /** {@code CUBLAS_PEDANTIC_MATH}: standard arithmetic only (for reference checks). */
  public static final int PEDANTIC_MATH = 2;

  /** {@code CUBLAS_TF32_TENSOR_OP_MATH}: lets f32 GEMMs use TF32 tensor cores. */
  public static final int TF32_TENSOR_OP_MATH = 3;

  /** {@code CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION}: a flag to OR into a mode. */
  public static final int MATH_DISALLOW_REDUCED_PRECISION_REDUCTION = 16;

  /** {@code CUBLAS_GEMM_DEFAULT}: let cuBLAS pick the algorithm. */
  public static final int GEMM_DEFAULT = -1;

  /**
   * {@code cublasComputeType_t}: the precision a GEMM accumulates in (names without the {@code
   * CUBLAS_} prefix). Also the compute type of {@link CublasLt#matmulDescCreate}.
   */
  public enum ComputeType {
    COMPUTE_16F(64, CudaDataType.R_16F),
    COMPUTE_16F_PEDANTIC(65, CudaDataType.R_16F),
    COMPUTE_32F(68, CudaDataType.R_32F),
    COMPUTE_32F_PEDANTIC(69, CudaDataType.R_32F),
    COMPUTE_32F_FAST_16F(74, CudaDataType.R_32F),
    COMPUTE_32F_FAST_16BF(75, CudaDataType.R_32F),
    COMPUTE_32F_FAST_TF32(77, CudaDataType.R_32F),
    COMPUTE_64F(70, CudaDataType.R_64F),
    COMPUTE_64F_PEDANTIC(71, CudaDataType.R_64F),
    COMPUTE_32I(72, CudaDataType.R_32I),
    COMPUTE_32I_PEDANTIC(73, CudaDataType.R_32I);

    private final int code;
    private final CudaDataType scaleType;

    ComputeType(int code, CudaDataType scaleType) {
      this.code = code;
      this.scaleType = scaleType;
    }

    /** The C enum value. */
    public int code() {
      return code;
    }

    /** The type of alpha and beta for this compute type (real types only). */
    public CudaDataType scaleType() {
      return scaleType;
    }

    /** The C name, e.g. {@code CUBLAS_COMPUTE_32F_FAST_TF32}. */
    public String cName() {
      return "CUBLAS_" + name();
    }

    int scaleBytes() {
      return switch (scaleType) {
        case R_16F -> 2;
        case R_64F -> 8;
        default -> 4;
      };
    }
  }

  private static final NativeLibrary LIBRARY = CudaLibrary.CUBLAS.library();

  private static final CTypes C =
      CTypes.standard()
          .ints(
              "cublasStatus_t",
              "cublasOperation_t",
              "cublasMath_t",
              "cublasComputeType_t",
              "cublasGemmAlgo_t",
              "cudaDataType",
              "libraryPropertyType")
          .pointers("cublasHandle_t", "cudaStream_t");

  private static Downcall fn(String prototype) {
    return LIBRARY.downcall(C, prototype);
  }

  private static final Downcall CREATE =
      fn("cublasStatus_t cublasCreate_v2(cublasHandle_t* handle)");
  private static final Downcall DESTROY =
      fn("cublasStatus_t cublasDestroy_v2(cublasHandle_t handle)");
  private static final Downcall GET_PROPERTY =
      fn("cublasStatus_t cublasGetProperty(libraryPropertyType type, int* value)");
  private static final Downcall SET_STREAM =
      fn("cublasStatus_t cublasSetStream_v2(cublasHandle_t handle, cudaStream_t streamId)");
  private static final Downcall SET_MATH_MODE =
      fn("cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode)");
  private static final Downcall SET_WORKSPACE =
      fn(
          "cublasStatus_t cublasSetWorkspace_v2(cublasHandle_t handle, void* workspace,"
              + " size_t workspaceSizeInBytes)");
  private static final Downcall GEMM_EX =
      fn(
          "cublasStatus_t cublasGemmEx(cublasHandle_t handle, cublasOperation_t transa,"
              + " cublasOperation_t transb, int m, int n, int k, const void* alpha, const void* A,"
              + " cudaDataType Atype, int lda, const void* B, cudaDataType Btype, int ldb,"
              + " const void* beta, void* C, cudaDataType Ctype, int ldc,"
              + " cublasComputeType_t computeType, cublasGemmAlgo_t algo)");
  private static final Downcall GEMM_STRIDED_BATCHED_EX =
      fn(
          "cublasStatus_t cublasGemmStridedBatchedEx(cublasHandle_t handle,"
              + " cublasOperation_t transa, cublasOperation_t transb, int m, int n, int k,"
              + " const void* alpha, const void* A, cudaDataType Atype, int lda,"
              + " long long int strideA, const void* B, cudaDataType Btype, int ldb,"
              + " long long int strideB, const void* beta, void* C, cudaDataType Ctype, int ldc,"
              + " long long int strideC, int batchCount, cublasComputeType_t computeType,"
              + " cublasGemmAlgo_t algo)");
  private static final Downcall GET_STATUS_NAME =
      fn("const char* cublasGetStatusName(cublasStatus_t status)");
  private static final Downcall GET_STATUS_STRING =
      fn("const char* cublasGetStatusString(cublasStatus_t status)");

  /** The library description (search order, where it was loaded from). */
  public static NativeLibrary library() {
    return LIBRARY;
  }

  /** Whether cuBLAS was found and loaded (searches on the first call). */
  public static boolean isAvailable() {
    return LIBRARY.isAvailable();
  }

  /** What was looked for where, when cuBLAS is unavailable; null when it is available. */
  public static String unavailableReason() {
    return LIBRARY.unavailableReason();
  }

  /** The loaded cuBLAS's version, e.g. {@code "12.6.4"} ({@code cublasGetProperty}). */
  public static String version() {
    return property(0) + "." + property(1) + "." + property(2);
  }

  private static int property(int type) {
    MethodHandle h = GET_PROPERTY.handle();
    try (Arena a = Arena.ofConfined()) {
      MemorySegment out = a.allocate(JAVA_INT);
      check((int) h.invokeExact(type, out), "cublasGetProperty(" + type + ")");
      return out.get(JAVA_INT, 0);
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
  }

  /**
   * {@code cublasCreate_v2}: a handle bound to the current context's device (creating one is slow:
   * keep it). Needs a current CUDA context.
   */
  public static MemorySegment create() {
    MethodHandle h = CREATE.handle();
    try (Arena a = Arena.ofConfined()) {
      MemorySegment out = a.allocate(ADDRESS);
      check((int) h.invokeExact(out), "cublasCreate_v2");
      return out.get(ADDRESS, 0);
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
  }

  /** {@code cublasDestroy_v2}. */
  public static void destroy(MemorySegment handle) {
    Ffi.handle("cublasDestroy_v2", "handle", handle);
    MethodHandle h = DESTROY.handle();
    int status;
    try {
      status = (int) h.invokeExact(handle);
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
    check(status, "cublasDestroy_v2");
  }

  /** {@code cublasSetStream_v2}: later calls on {@code handle} run in {@code stream}. */
  public static void setStream(MemorySegment handle, MemorySegment stream) {
    Ffi.handle("cublasSetStream_v2", "handle", handle);
    MethodHandle h = SET_STREAM.handle();
    int status;
    try {
      status = (int) h.invokeExact(handle, stream);
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
    check(status, "cublasSetStream_v2");
  }

  /** {@code cublasSetMathMode}: one of the {@code *_MATH} constants, maybe OR-ed with a flag. */
  public static void setMathMode(MemorySegment handle, int mode) {
    Ffi.handle("cublasSetMathMode", "handle", handle);
    MethodHandle h = SET_MATH_MODE.handle();
    int status;
    try {
      status = (int) h.invokeExact(handle, mode);
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
    check(status, "cublasSetMathMode(" + mode + ")");
  }

  /**
   * {@code cublasSetWorkspace_v2}: device memory cuBLAS may use as scratch (instead of allocating
   * its own); it must outlive the calls that use it and be at least 256-byte aligned.
   */
  public static void setWorkspace(MemorySegment handle, long workspace, long bytes) {
    Ffi.handle("cublasSetWorkspace_v2", "handle", handle);
    Ffi.nonNegative("cublasSetWorkspace_v2", "byte count", bytes);
    MethodHandle h = SET_WORKSPACE.handle();
    int status;
    try {
      status = (int) h.invokeExact(handle, Ffi.device(workspace), bytes);
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
    check(status, "cublasSetWorkspace_v2(" + bytes + " bytes)");
  }

  /**
   * {@code cublasGemmEx}: {@code C = alpha op(A) op(B) + beta C}, column-major, with operand types
   * {@code aType}/{@code bType}/{@code cType} and accumulation in {@code computeType}; {@code algo}
   * is usually {@link #GEMM_DEFAULT}.
   */
  public static void gemmEx(
      MemorySegment handle,
      boolean transA,
      boolean transB,
      int m,
      int n,
      int k,
      MemorySegment alpha,
      long a,
      CudaDataType aType,
      int lda,
      long b,
      CudaDataType bType,
      int ldb,
      MemorySegment beta,
      long c,
      CudaDataType cType,
      int ldc,
      ComputeType computeType,
      int algo) {
    String call = "cublasGemmEx";
    checkGemm(call, handle, m, n, k, alpha, beta, computeType);
    MethodHandle h = GEMM_EX.handle();
    int status;
    try {
      status =
          (int)
              h.invokeExact(
                  handle,
                  op(transA),
                  op(transB),
                  m,
                  n,
                  k,
                  alpha,
                  Ffi.device(a),
                  aType.code(),
                  lda,
                  Ffi.device(b),
                  bType.code(),
                  ldb,
                  beta,
                  Ffi.device(c),
                  cType.code(),
                  ldc,
                  computeType.code(),
                  algo);
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
    if (status != 0) {
      throw error(
          status,
          gemmCall(call, transA, transB, m, n, k, aType, lda, bType, ldb, cType, ldc, computeType));
    }
  }

  /**
   * {@code cublasGemmStridedBatchedEx}: {@code batchCount} independent {@link #gemmEx} products,
   * the i-th reading A at {@code a + i * strideA} elements (likewise B and C).
   */
  public static void gemmStridedBatchedEx(
      MemorySegment handle,
      boolean transA,
      boolean transB,
      int m,
      int n,
      int k,
      MemorySegment alpha,
      long a,
      CudaDataType aType,
      int lda,
      long strideA,
      long b,
      CudaDataType bType,
      int ldb,
      long strideB,
      MemorySegment beta,
      long c,
      CudaDataType cType,
      int ldc,
      long strideC,
      int batchCount,
      ComputeType computeType,
      int algo) {
    String call = "cublasGemmStridedBatchedEx";
    checkGemm(call, handle, m, n, k, alpha, beta, computeType);
    if (batchCount < 0) throw new IllegalArgumentException(call + ": batchCount < 0");
    MethodHandle h = GEMM_STRIDED_BATCHED_EX.handle();
    int status;
    try {
      status =
          (int)
              h.invokeExact(
                  handle,
                  op(transA),
                  op(transB),
                  m,
                  n,
                  k,
                  alpha,
                  Ffi.device(a),
                  aType.code(),
                  lda,
                  strideA,
                  Ffi.device(b),
                  bType.code(),
                  ldb,
                  strideB,
                  beta,
                  Ffi.device(c),
                  cType.code(),
                  ldc,
                  strideC,
                  batchCount,
                  computeType.code(),
                  algo);
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
    if (status != 0) {
      String what =
          gemmCall(call, transA, transB, m, n, k, aType, lda, bType, ldb, cType, ldc, computeType);
      throw error(status, what.substring(0, what.length() - 1) + ", batch " + batchCount + ")");
    }
  }

  /** {@code cublasGetStatusName}: e.g. {@code "CUBLAS_STATUS_NOT_SUPPORTED"}. */
  public static String getStatusName(int status) {
    MethodHandle h = GET_STATUS_NAME.handle();
    try {
      return Ffi.string((MemorySegment) h.invokeExact(status));
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
  }

  /** {@code cublasGetStatusString}: the status's description. */
  public static String getStatusString(int status) {
    MethodHandle h = GET_STATUS_STRING.handle();
    try {
      return Ffi.string((MemorySegment) h.invokeExact(status));
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
  }

  // ----------------------------------------------------------------------------- helpers

  /** {@code cublasOperation_t}: {@code CUBLAS_OP_T} or {@code CUBLAS_OP_N}. */
  static int op(boolean transpose) {
    return transpose ? 1 : 0;
  }

  private static void checkGemm(
      String call,
      MemorySegment handle,
      int m,
      int n,
      int k,
      MemorySegment alpha,
      MemorySegment beta,
      ComputeType computeType) {
    Ffi.handle(call, "handle", handle);
    if (m < 0 || n < 0 || k < 0) {
      throw new IllegalArgumentException(call + ": negative size m=" + m + ", n=" + n + ", k=" + k);
    }
    Ffi.hostBuffer(call, "alpha", alpha, computeType.scaleBytes());
    Ffi.hostBuffer(call, "beta", beta, computeType.scaleBytes());
  }

  private static String gemmCall(
      String call,
      boolean transA,
      boolean transB,
      int m,
      int n,
      int k,
      CudaDataType aType,
      int lda,
      CudaDataType bType,
      int ldb,
      CudaDataType cType,
      int ldc,
      ComputeType computeType) {
    return call
        + "("
        + (transA ? "T" : "N")
        + (transB ? "T" : "N")
        + ", m="
        + m
        + ", n="
        + n
        + ", k="
        + k
        + ", A "
        + aType
        + " lda="
        + lda
        + ", B "
        + bType
        + " ldb="
        + ldb
        + ", C "
        + cType
        + " ldc="
        + ldc
        + ", "
        + computeType.cName()
        + ")";
  }

  private static void check(int status, String call) {
    if (status != 0) throw error(status, call);
  }

  /** The exception for {@code status}, with cuBLAS's own name and description of it. */
  static CublasException error(int status, String call) {
    return new CublasException(call, status, getStatusName(status), getStatusString(status));
  }
}
