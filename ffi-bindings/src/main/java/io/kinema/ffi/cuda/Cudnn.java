package io.kinema.ffi.cuda;

import static java.lang.foreign.MemoryLayout.paddingLayout;
import static java.lang.foreign.MemoryLayout.sequenceLayout;
import static java.lang.foreign.MemoryLayout.structLayout;
import static java.lang.foreign.ValueLayout.ADDRESS;
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
import java.util.Arrays;
import java.util.List;

/**
 * cuDNN ({@code libcudnn.so.9} or {@code .8}) through FFM: handles, N-d tensor, filter and
 * convolution descriptors, and the convolutions (forward, backward data, backward filter) with
 * their algorithm searches and workspace queries. This is cuDNN's classic convolution API (marked
 * deprecated in cuDNN 9 in favour of the graph API, but supported throughout 9.x); 3-D convolutions
 * are 5-d tensors (N, C, D, H, W). Optional: see {@link CudaLibrary#CUDNN}; without it every call
 * throws {@link UnsupportedOperationException} with the reason. A non-zero {@code cudnnStatus_t}
 * throws {@link CudnnException}.
 *
 * <p>Descriptors are host objects (create once per shape, keep); data are device addresses; {@code
 * alpha} and {@code beta} are host values ({@code float} for half, bfloat16 and float tensors,
 * {@code double} for double tensors). Calls run in the handle's stream.
 */
public final class Cudnn {
  private Cudnn() {}

  /** {@code cudnnDataType_t} ({@code CUDNN_DATA_<name>}). */
  public enum DataType {
    FLOAT(0),
    DOUBLE(1),
    HALF(2),
    INT8(3),
    INT32(4),
    UINT8(6),
    BFLOAT16(9),
    INT64(10),
    BOOLEAN(11),
    FP8_E4M3(12),
    FP8_E5M2(13);

    private final int code;

    DataType(int code) {
      this.code = code;
    }

    /** The C enum value. */
    public int code() {
      return code;
    }
  }

  /** {@code cudnnTensorFormat_t} ({@code CUDNN_TENSOR_<name>}): a filter's memory order. */
  public enum TensorFormat {
    /** Channels-first: (K, C, [D,] H, W). */
    NCHW(0),
    /** Channels-last: (K, [D,] H, W, C). */
    NHWC(1);

    private final int code;

    TensorFormat(int code) {
      this.code = code;
    }

    /** The C enum value. */
    public int code() {
      return code;
    }
  }

  /** {@code cudnnConvolutionMode_t} ({@code CUDNN_<name>}). */
  public enum ConvolutionMode {
    /** True convolution: the filter is flipped. */
    CONVOLUTION(0),
    /** Cross-correlation, what deep-learning frameworks call convolution. */
    CROSS_CORRELATION(1);

    private final int code;

    ConvolutionMode(int code) {
      this.code = code;
    }

    /** The C enum value. */
    public int code() {
      return code;
    }
  }

  /** {@code cudnnMathType_t} ({@code CUDNN_<name>}): whether tensor cores may be used. */
  public enum MathType {
    DEFAULT_MATH(0),
    TENSOR_OP_MATH(1),
    TENSOR_OP_MATH_ALLOW_CONVERSION(2),
    FMA_MATH(3);

    private final int code;

    MathType(int code) {
      this.code = code;
    }

    /** The C enum value. */
    public int code() {
      return code;
    }
  }

  /**
   * One algorithm of a convolution search ({@code cudnnConvolution*AlgoPerf_t}): the algorithm code
   * for the convolution call, its measured (Find) or estimated time, the workspace it needs,
   * whether its results are reproducible, and the math type it used.
   */
  public record AlgoPerf(
      int algo, float timeMs, long workspaceBytes, boolean deterministic, int mathType) {}

  /** {@code cudnnConvolution{Fwd,BwdData,BwdFilter}AlgoPerf_t}: one layout for all three. */
  static final StructLayout ALGO_PERF =
      structLayout(
              JAVA_INT.withName("algo"),
              JAVA_INT.withName("status"),
              JAVA_FLOAT.withName("time"),
              paddingLayout(4),
              JAVA_LONG.withName("memory"),
              JAVA_INT.withName("determinism"),
              JAVA_INT.withName("mathType"),
              sequenceLayout(3, JAVA_INT).withName("reserved"),
              paddingLayout(4))
          .withName("cudnnConvolutionFwdAlgoPerf_t");

  private static final long PERF_STATUS = offset("status");
  private static final long PERF_TIME = offset("time");
  private static final long PERF_MEMORY = offset("memory");
  private static final long PERF_DETERMINISM = offset("determinism");
  private static final long PERF_MATH_TYPE = offset("mathType");

  private static long offset(String field) {
    return ALGO_PERF.byteOffset(MemoryLayout.PathElement.groupElement(field));
  }

  private static final NativeLibrary LIBRARY = CudaLibrary.CUDNN.library();

  private static final CTypes C =
      CTypes.standard()
          .ints(
              "cudnnStatus_t",
              "cudnnDataType_t",
              "cudnnTensorFormat_t",
              "cudnnConvolutionMode_t",
              "cudnnMathType_t",
              "cudnnConvolutionFwdAlgo_t",
              "cudnnConvolutionBwdDataAlgo_t",
              "cudnnConvolutionBwdFilterAlgo_t")
          .pointers(
              "cudnnHandle_t",
              "cudaStream_t",
              "cudnnTensorDescriptor_t",
              "cudnnFilterDescriptor_t",
              "cudnnConvolutionDescriptor_t");

  private static Downcall fn(String prototype) {
    return LIBRARY.downcall(C, prototype);
  }

  private static final Downcall GET_VERSION = fn("size_t cudnnGetVersion(void)");
  private static final Downcall GET_ERROR_STRING =
      fn("const char * cudnnGetErrorString(cudnnStatus_t status)");
  // cuDNN 9 only: the detailed message of the thread's last error.
  private static final Downcall GET_LAST_ERROR_STRING =
      fn("void cudnnGetLastErrorString(char *message, size_t max_size)");
  private static final Downcall CREATE = fn("cudnnStatus_t cudnnCreate(cudnnHandle_t *handle)");
  private static final Downcall DESTROY = fn("cudnnStatus_t cudnnDestroy(cudnnHandle_t handle)");
  private static final Downcall SET_STREAM =
      fn("cudnnStatus_t cudnnSetStream(cudnnHandle_t handle, cudaStream_t streamId)");
  private static final Downcall CREATE_TENSOR_DESCRIPTOR =
      fn("cudnnStatus_t cudnnCreateTensorDescriptor(cudnnTensorDescriptor_t *tensorDesc)");
  private static final Downcall SET_TENSOR_ND_DESCRIPTOR =
      fn(
          "cudnnStatus_t cudnnSetTensorNdDescriptor(cudnnTensorDescriptor_t tensorDesc,"
              + " cudnnDataType_t dataType, int nbDims, const int dimA[], const int strideA[])");
  private static final Downcall DESTROY_TENSOR_DESCRIPTOR =
      fn("cudnnStatus_t cudnnDestroyTensorDescriptor(cudnnTensorDescriptor_t tensorDesc)");
  private static final Downcall CREATE_FILTER_DESCRIPTOR =
      fn("cudnnStatus_t cudnnCreateFilterDescriptor(cudnnFilterDescriptor_t *filterDesc)");
  private static final Downcall SET_FILTER_ND_DESCRIPTOR =
      fn(
          "cudnnStatus_t cudnnSetFilterNdDescriptor(cudnnFilterDescriptor_t filterDesc,"
              + " cudnnDataType_t dataType, cudnnTensorFormat_t format, int nbDims,"
              + " const int filterDimA[])");
  private static final Downcall DESTROY_FILTER_DESCRIPTOR =
      fn("cudnnStatus_t cudnnDestroyFilterDescriptor(cudnnFilterDescriptor_t filterDesc)");
  private static final Downcall CREATE_CONVOLUTION_DESCRIPTOR =
      fn(
          "cudnnStatus_t cudnnCreateConvolutionDescriptor(cudnnConvolutionDescriptor_t"
              + " *convDesc)");
  private static final Downcall SET_CONVOLUTION_ND_DESCRIPTOR =
      fn(
          "cudnnStatus_t cudnnSetConvolutionNdDescriptor(cudnnConvolutionDescriptor_t convDesc,"
              + " int arrayLength, const int padA[], const int filterStrideA[],"
              + " const int dilationA[], cudnnConvolutionMode_t mode,"
              + " cudnnDataType_t computeType)");
  private static final Downcall SET_CONVOLUTION_MATH_TYPE =
      fn(
          "cudnnStatus_t cudnnSetConvolutionMathType(cudnnConvolutionDescriptor_t convDesc,"
              + " cudnnMathType_t mathType)");
  private static final Downcall SET_CONVOLUTION_GROUP_COUNT =
      fn(
          "cudnnStatus_t cudnnSetConvolutionGroupCount(cudnnConvolutionDescriptor_t convDesc,"
              + " int groupCount)");
  private static final Downcall DESTROY_CONVOLUTION_DESCRIPTOR =
      fn(
          "cudnnStatus_t cudnnDestroyConvolutionDescriptor(cudnnConvolutionDescriptor_t"
              + " convDesc)");
  private static final Downcall GET_CONVOLUTION_ND_FORWARD_OUTPUT_DIM =
      fn(
          "cudnnStatus_t cudnnGetConvolutionNdForwardOutputDim(const"
              + " cudnnConvolutionDescriptor_t convDesc,"
              + " const cudnnTensorDescriptor_t inputTensorDesc,"
              + " const cudnnFilterDescriptor_t filterDesc, int nbDims, int tensorOuputDimA[])");
  private static final Downcall FIND_CONVOLUTION_FORWARD_ALGORITHM =
      fn(
          "cudnnStatus_t cudnnFindConvolutionForwardAlgorithm(cudnnHandle_t handle,"
              + " const cudnnTensorDescriptor_t xDesc, const cudnnFilterDescriptor_t wDesc,"
              + " const cudnnConvolutionDescriptor_t convDesc,"
              + " const cudnnTensorDescriptor_t yDesc, const int requestedAlgoCount,"
              + " int *returnedAlgoCount, cudnnConvolutionFwdAlgoPerf_t *perfResults)");
  private static final Downcall GET_CONVOLUTION_FORWARD_ALGORITHM =
      fn(
          "cudnnStatus_t cudnnGetConvolutionForwardAlgorithm_v7(cudnnHandle_t handle,"
              + " const cudnnTensorDescriptor_t srcDesc,"
              + " const cudnnFilterDescriptor_t filterDesc,"
              + " const cudnnConvolutionDescriptor_t convDesc,"
              + " const cudnnTensorDescriptor_t destDesc, const int requestedAlgoCount,"
              + " int *returnedAlgoCount, cudnnConvolutionFwdAlgoPerf_t *perfResults)");
  private static final Downcall GET_CONVOLUTION_FORWARD_WORKSPACE_SIZE =
      fn(
          "cudnnStatus_t cudnnGetConvolutionForwardWorkspaceSize(cudnnHandle_t handle,"
              + " const cudnnTensorDescriptor_t xDesc, const cudnnFilterDescriptor_t wDesc,"
              + " const cudnnConvolutionDescriptor_t convDesc,"
              + " const cudnnTensorDescriptor_t yDesc, cudnnConvolutionFwdAlgo_t algo,"
              + " size_t *sizeInBytes)");
  private static final Downcall CONVOLUTION_FORWARD =
      fn(
          "cudnnStatus_t cudnnConvolutionForward(cudnnHandle_t handle, const void *alpha,"
              + " const cudnnTensorDescriptor_t xDesc, const void *x,"
              + " const cudnnFilterDescriptor_t wDesc, const void *w,"
              + " const cudnnConvolutionDescriptor_t convDesc, cudnnConvolutionFwdAlgo_t algo,"
              + " void *workSpace, size_t workSpaceSizeInBytes, const void *beta,"
              + " const cudnnTensorDescriptor_t yDesc, void *y)");
  private static final Downcall FIND_CONVOLUTION_BACKWARD_DATA_ALGORITHM =
      fn(
          "cudnnStatus_t cudnnFindConvolutionBackwardDataAlgorithm(cudnnHandle_t handle,"
              + " const cudnnFilterDescriptor_t wDesc, const cudnnTensorDescriptor_t dyDesc,"
              + " const cudnnConvolutionDescriptor_t convDesc,"
              + " const cudnnTensorDescriptor_t dxDesc, const int requestedAlgoCount,"
              + " int *returnedAlgoCount, cudnnConvolutionBwdDataAlgoPerf_t *perfResults)");
  private static final Downcall GET_CONVOLUTION_BACKWARD_DATA_ALGORITHM =
      fn(
          "cudnnStatus_t cudnnGetConvolutionBackwardDataAlgorithm_v7(cudnnHandle_t handle,"
              + " const cudnnFilterDescriptor_t filterDesc,"
              + " const cudnnTensorDescriptor_t diffDesc,"
              + " const cudnnConvolutionDescriptor_t convDesc,"
              + " const cudnnTensorDescriptor_t gradDesc, const int requestedAlgoCount,"
              + " int *returnedAlgoCount, cudnnConvolutionBwdDataAlgoPerf_t *perfResults)");
  private static final Downcall GET_CONVOLUTION_BACKWARD_DATA_WORKSPACE_SIZE =
      fn(
          "cudnnStatus_t cudnnGetConvolutionBackwardDataWorkspaceSize(cudnnHandle_t handle,"
              + " const cudnnFilterDescriptor_t wDesc, const cudnnTensorDescriptor_t dyDesc,"
              + " const cudnnConvolutionDescriptor_t convDesc,"
              + " const cudnnTensorDescriptor_t dxDesc, cudnnConvolutionBwdDataAlgo_t algo,"
              + " size_t *sizeInBytes)");
  private static final Downcall CONVOLUTION_BACKWARD_DATA =
      fn(
          "cudnnStatus_t cudnnConvolutionBackwardData(cudnnHandle_t handle, const void *alpha,"
              + " const cudnnFilterDescriptor_t wDesc, const void *w,"
              + " const cudnnTensorDescriptor_t dyDesc, const void *dy,"
              + " const cudnnConvolutionDescriptor_t convDesc,"
              + " cudnnConvolutionBwdDataAlgo_t algo, void *workSpace,"
              + " size_t workSpaceSizeInBytes, const void *beta,"
              + " const cudnnTensorDescriptor_t dxDesc, void *dx)");
  private static final Downcall FIND_CONVOLUTION_BACKWARD_FILTER_ALGORITHM =
      fn(
          "cudnnStatus_t cudnnFindConvolutionBackwardFilterAlgorithm(cudnnHandle_t handle,"
              + " const cudnnTensorDescriptor_t xDesc, const cudnnTensorDescriptor_t dyDesc,"
              + " const cudnnConvolutionDescriptor_t convDesc,"
              + " const cudnnFilterDescriptor_t dwDesc, const int requestedAlgoCount,"
              + " int *returnedAlgoCount, cudnnConvolutionBwdFilterAlgoPerf_t *perfResults)");
  private static final Downcall GET_CONVOLUTION_BACKWARD_FILTER_ALGORITHM =
      fn(
          "cudnnStatus_t cudnnGetConvolutionBackwardFilterAlgorithm_v7(cudnnHandle_t handle,"
              + " const cudnnTensorDescriptor_t srcDesc,"
              + " const cudnnTensorDescriptor_t diffDesc,"
              + " const cudnnConvolutionDescriptor_t convDesc,"
              + " const cudnnFilterDescriptor_t gradDesc, const int requestedAlgoCount,"
              + " int *returnedAlgoCount, cudnnConvolutionBwdFilterAlgoPerf_t *perfResults)");
  private static final Downcall GET_CONVOLUTION_BACKWARD_FILTER_WORKSPACE_SIZE =
      fn(
          "cudnnStatus_t cudnnGetConvolutionBackwardFilterWorkspaceSize(cudnnHandle_t handle,"
              + " const cudnnTensorDescriptor_t xDesc, const cudnnTensorDescriptor_t dyDesc,"
              + " const cudnnConvolutionDescriptor_t convDesc,"
              + " const cudnnFilterDescriptor_t gradDesc,"
              + " cudnnConvolutionBwdFilterAlgo_t algo, size_t *sizeInBytes)");
  private static final Downcall CONVOLUTION_BACKWARD_FILTER =
      fn(
          "cudnnStatus_t cudnnConvolutionBackwardFilter(cudnnHandle_t handle,"
              + " const void *alpha, const cudnnTensorDescriptor_t xDesc, const void *x,"
              + " const cudnnTensorDescriptor_t dyDesc, const void *dy,"
              + " const cudnnConvolutionDescriptor_t convDesc,"
              + " cudnnConvolutionBwdFilterAlgo_t algo, void *workSpace,"
              + " size_t workSpaceSizeInBytes, const void *beta,"
              + " const cudnnFilterDescriptor_t dwDesc, void *dw)");

  /** The library description (search order, where it was loaded from). */
  public static NativeLibrary library() {
    return LIBRARY;
  }

  /** Whether cuDNN was found and loaded (searches on the first call). */
  public static boolean isAvailable() {
    return LIBRARY.isAvailable();
  }

  /** What was looked for where, when cuDNN is unavailable; null when it is available. */
  public static String unavailableReason() {
    return LIBRARY.unavailableReason();
  }

  /** {@code cudnnGetVersion}: e.g. 91300 for 9.13.0 (8907 for 8.9.7). */
  public static long getVersion() {
    MethodHandle h = GET_VERSION.handle();
    try {
      return (long) h.invokeExact();
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
  }

  /** {@code cudnnCreate}: a handle on the current context's device (slow: keep it). */
  public static MemorySegment create() {
    return created(CREATE, "cudnnCreate");
  }

  /** {@code cudnnDestroy}. */
  public static void destroy(MemorySegment handle) {
    destroyed(DESTROY, "cudnnDestroy", handle);
  }

  /** {@code cudnnSetStream}: later calls on {@code handle} run in {@code stream}. */
  public static void setStream(MemorySegment handle, MemorySegment stream) {
    Ffi.handle("cudnnSetStream", "handle", handle);
    MethodHandle h = SET_STREAM.handle();
    int status;
    try {
      status = (int) h.invokeExact(handle, stream);
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
    check(status, "cudnnSetStream");
  }

  // ------------------------------------------------------------------------- descriptors

  /** {@code cudnnCreateTensorDescriptor}. */
  public static MemorySegment createTensorDescriptor() {
    return created(CREATE_TENSOR_DESCRIPTOR, "cudnnCreateTensorDescriptor");
  }

  /**
   * {@code cudnnSetTensorNdDescriptor}: a tensor of {@code dims} (3 to 8 of them; N, C, then the
   * spatial dims) with element {@code strides}.
   */
  public static void setTensorNdDescriptor(
      MemorySegment desc, DataType type, int[] dims, int[] strides) {
    String call =
        "cudnnSetTensorNdDescriptor("
            + type
            + ", dims "
            + Arrays.toString(dims)
            + ", strides "
            + Arrays.toString(strides)
            + ")";
    Ffi.handle(call, "descriptor", desc);
    if (dims.length != strides.length) {
      throw new IllegalArgumentException(call + ": as many strides as dims needed");
    }
    MethodHandle h = SET_TENSOR_ND_DESCRIPTOR.handle();
    try (Arena a = Arena.ofConfined()) {
      int status =
          (int)
              h.invokeExact(
                  desc,
                  type.code(),
                  dims.length,
                  a.allocateFrom(JAVA_INT, dims),
                  a.allocateFrom(JAVA_INT, strides));
      check(status, call);
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
  }

  /** {@code cudnnDestroyTensorDescriptor}. */
  public static void destroyTensorDescriptor(MemorySegment desc) {
    destroyed(DESTROY_TENSOR_DESCRIPTOR, "cudnnDestroyTensorDescriptor", desc);
  }

  /** {@code cudnnCreateFilterDescriptor}. */
  public static MemorySegment createFilterDescriptor() {
    return created(CREATE_FILTER_DESCRIPTOR, "cudnnCreateFilterDescriptor");
  }

  /**
   * {@code cudnnSetFilterNdDescriptor}: a filter of {@code dims} = (K out channels, C/groups in
   * channels, then the kernel's spatial dims), packed in {@code format} order.
   */
  public static void setFilterNdDescriptor(
      MemorySegment desc, DataType type, TensorFormat format, int[] dims) {
    String call =
        "cudnnSetFilterNdDescriptor("
            + type
            + ", "
            + format
            + ", dims "
            + Arrays.toString(dims)
            + ")";
    Ffi.handle(call, "descriptor", desc);
    MethodHandle h = SET_FILTER_ND_DESCRIPTOR.handle();
    try (Arena a = Arena.ofConfined()) {
      int status =
          (int)
              h.invokeExact(
                  desc, type.code(), format.code(), dims.length, a.allocateFrom(JAVA_INT, dims));
      check(status, call);
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
  }

  /** {@code cudnnDestroyFilterDescriptor}. */
  public static void destroyFilterDescriptor(MemorySegment desc) {
    destroyed(DESTROY_FILTER_DESCRIPTOR, "cudnnDestroyFilterDescriptor", desc);
  }

  /** {@code cudnnCreateConvolutionDescriptor}. */
  public static MemorySegment createConvolutionDescriptor() {
    return created(CREATE_CONVOLUTION_DESCRIPTOR, "cudnnCreateConvolutionDescriptor");
  }

  /**
   * {@code cudnnSetConvolutionNdDescriptor}: per spatial dim the zero padding, stride and dilation
   * (equal lengths: 3 for a 3-D convolution), the mode, and the type to compute in.
   */
  public static void setConvolutionNdDescriptor(
      MemorySegment desc,
      int[] pad,
      int[] stride,
      int[] dilation,
      ConvolutionMode mode,
      DataType computeType) {
    String call =
        "cudnnSetConvolutionNdDescriptor(pad "
            + Arrays.toString(pad)
            + ", stride "
            + Arrays.toString(stride)
            + ", dilation "
            + Arrays.toString(dilation)
            + ", "
            + mode
            + ", "
            + computeType
            + ")";
    Ffi.handle(call, "descriptor", desc);
    if (stride.length != pad.length || dilation.length != pad.length) {
      throw new IllegalArgumentException(call + ": pad, stride and dilation differ in length");
    }
    MethodHandle h = SET_CONVOLUTION_ND_DESCRIPTOR.handle();
    try (Arena a = Arena.ofConfined()) {
      int status =
          (int)
              h.invokeExact(
                  desc,
                  pad.length,
                  a.allocateFrom(JAVA_INT, pad),
                  a.allocateFrom(JAVA_INT, stride),
                  a.allocateFrom(JAVA_INT, dilation),
                  mode.code(),
                  computeType.code());
      check(status, call);
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
  }

  /** {@code cudnnSetConvolutionMathType}. */
  public static void setConvolutionMathType(MemorySegment desc, MathType mathType) {
    Ffi.handle("cudnnSetConvolutionMathType", "descriptor", desc);
    MethodHandle h = SET_CONVOLUTION_MATH_TYPE.handle();
    int status;
    try {
      status = (int) h.invokeExact(desc, mathType.code());
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
    check(status, "cudnnSetConvolutionMathType(" + mathType + ")");
  }

  /** {@code cudnnSetConvolutionGroupCount}: grouped (or depthwise) convolution. */
  public static void setConvolutionGroupCount(MemorySegment desc, int groups) {
    Ffi.handle("cudnnSetConvolutionGroupCount", "descriptor", desc);
    MethodHandle h = SET_CONVOLUTION_GROUP_COUNT.handle();
    int status;
    try {
      status = (int) h.invokeExact(desc, groups);
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
    check(status, "cudnnSetConvolutionGroupCount(" + groups + ")");
  }

  /** {@code cudnnDestroyConvolutionDescriptor}. */
  public static void destroyConvolutionDescriptor(MemorySegment desc) {
    destroyed(DESTROY_CONVOLUTION_DESCRIPTOR, "cudnnDestroyConvolutionDescriptor", desc);
  }

  /** {@code cudnnGetConvolutionNdForwardOutputDim}: the output's {@code nbDims} dims. */
  public static int[] getConvolutionNdForwardOutputDim(
      MemorySegment conv, MemorySegment x, MemorySegment w, int nbDims) {
    String call = "cudnnGetConvolutionNdForwardOutputDim";
    Ffi.handle(call, "convolution descriptor", conv);
    MethodHandle h = GET_CONVOLUTION_ND_FORWARD_OUTPUT_DIM.handle();
    try (Arena a = Arena.ofConfined()) {
      MemorySegment out = a.allocate(JAVA_INT, nbDims);
      check((int) h.invokeExact(conv, x, w, nbDims, out), call);
      return out.toArray(JAVA_INT);
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
  }

  // ---------------------------------------------------------------------------- forward

  /**
   * {@code cudnnFindConvolutionForwardAlgorithm}: runs the candidate algorithms (allocating its own
   * buffers) and returns the ones that worked, fastest first.
   */
  public static List<AlgoPerf> findConvolutionForwardAlgorithm(
      MemorySegment handle,
      MemorySegment x,
      MemorySegment w,
      MemorySegment conv,
      MemorySegment y,
      int requested) {
    return algorithms(
        FIND_CONVOLUTION_FORWARD_ALGORITHM,
        "cudnnFindConvolutionForwardAlgorithm",
        handle,
        x,
        w,
        conv,
        y,
        requested);
  }

  /** {@code cudnnGetConvolutionForwardAlgorithm_v7}: heuristics only, nothing runs; best first. */
  public static List<AlgoPerf> getConvolutionForwardAlgorithm(
      MemorySegment handle,
      MemorySegment x,
      MemorySegment w,
      MemorySegment conv,
      MemorySegment y,
      int requested) {
    return algorithms(
        GET_CONVOLUTION_FORWARD_ALGORITHM,
        "cudnnGetConvolutionForwardAlgorithm_v7",
        handle,
        x,
        w,
        conv,
        y,
        requested);
  }

  /** {@code cudnnGetConvolutionForwardWorkspaceSize}: bytes {@code algo} needs. */
  public static long getConvolutionForwardWorkspaceSize(
      MemorySegment handle,
      MemorySegment x,
      MemorySegment w,
      MemorySegment conv,
      MemorySegment y,
      int algo) {
    return workspaceSize(
        GET_CONVOLUTION_FORWARD_WORKSPACE_SIZE,
        "cudnnGetConvolutionForwardWorkspaceSize",
        handle,
        x,
        w,
        conv,
        y,
        algo);
  }

  /** {@code cudnnConvolutionForward}: {@code y = alpha conv(x, w) + beta y}. */
  public static void convolutionForward(
      MemorySegment handle,
      MemorySegment alpha,
      MemorySegment xDesc,
      long x,
      MemorySegment wDesc,
      long w,
      MemorySegment conv,
      int algo,
      long workspace,
      long workspaceBytes,
      MemorySegment beta,
      MemorySegment yDesc,
      long y) {
    convolution(
        CONVOLUTION_FORWARD,
        "cudnnConvolutionForward",
        handle,
        alpha,
        xDesc,
        x,
        wDesc,
        w,
        conv,
        algo,
        workspace,
        workspaceBytes,
        beta,
        yDesc,
        y);
  }

  // ----------------------------------------------------------------------- backward data

  /**
   * {@code cudnnFindConvolutionBackwardDataAlgorithm}: measured, working algorithms, fastest first.
   */
  public static List<AlgoPerf> findConvolutionBackwardDataAlgorithm(
      MemorySegment handle,
      MemorySegment w,
      MemorySegment dy,
      MemorySegment conv,
      MemorySegment dx,
      int requested) {
    return algorithms(
        FIND_CONVOLUTION_BACKWARD_DATA_ALGORITHM,
        "cudnnFindConvolutionBackwardDataAlgorithm",
        handle,
        w,
        dy,
        conv,
        dx,
        requested);
  }

  /** {@code cudnnGetConvolutionBackwardDataAlgorithm_v7}: heuristics only; best first. */
  public static List<AlgoPerf> getConvolutionBackwardDataAlgorithm(
      MemorySegment handle,
      MemorySegment w,
      MemorySegment dy,
      MemorySegment conv,
      MemorySegment dx,
      int requested) {
    return algorithms(
        GET_CONVOLUTION_BACKWARD_DATA_ALGORITHM,
        "cudnnGetConvolutionBackwardDataAlgorithm_v7",
        handle,
        w,
        dy,
        conv,
        dx,
        requested);
  }

  /** {@code cudnnGetConvolutionBackwardDataWorkspaceSize}. */
  public static long getConvolutionBackwardDataWorkspaceSize(
      MemorySegment handle,
      MemorySegment w,
      MemorySegment dy,
      MemorySegment conv,
      MemorySegment dx,
      int algo) {
    return workspaceSize(
        GET_CONVOLUTION_BACKWARD_DATA_WORKSPACE_SIZE,
        "cudnnGetConvolutionBackwardDataWorkspaceSize",
        handle,
        w,
        dy,
        conv,
        dx,
        algo);
  }

  /** {@code cudnnConvolutionBackwardData}: {@code dx = alpha conv^T(dy, w) + beta dx}. */
  public static void convolutionBackwardData(
      MemorySegment handle,
      MemorySegment alpha,
      MemorySegment wDesc,
      long w,
      MemorySegment dyDesc,
      long dy,
      MemorySegment conv,
      int algo,
      long workspace,
      long workspaceBytes,
      MemorySegment beta,
      MemorySegment dxDesc,
      long dx) {
    convolution(
        CONVOLUTION_BACKWARD_DATA,
        "cudnnConvolutionBackwardData",
        handle,
        alpha,
        wDesc,
        w,
        dyDesc,
        dy,
        conv,
        algo,
        workspace,
        workspaceBytes,
        beta,
        dxDesc,
        dx);
  }

  // --------------------------------------------------------------------- backward filter

  /** {@code cudnnFindConvolutionBackwardFilterAlgorithm}: measured, working algorithms. */
  public static List<AlgoPerf> findConvolutionBackwardFilterAlgorithm(
      MemorySegment handle,
      MemorySegment x,
      MemorySegment dy,
      MemorySegment conv,
      MemorySegment dw,
      int requested) {
    return algorithms(
        FIND_CONVOLUTION_BACKWARD_FILTER_ALGORITHM,
        "cudnnFindConvolutionBackwardFilterAlgorithm",
        handle,
        x,
        dy,
        conv,
        dw,
        requested);
  }

  /** {@code cudnnGetConvolutionBackwardFilterAlgorithm_v7}: heuristics only; best first. */
  public static List<AlgoPerf> getConvolutionBackwardFilterAlgorithm(
      MemorySegment handle,
      MemorySegment x,
      MemorySegment dy,
      MemorySegment conv,
      MemorySegment dw,
      int requested) {
    return algorithms(
        GET_CONVOLUTION_BACKWARD_FILTER_ALGORITHM,
        "cudnnGetConvolutionBackwardFilterAlgorithm_v7",
        handle,
        x,
        dy,
        conv,
        dw,
        requested);
  }

  /** {@code cudnnGetConvolutionBackwardFilterWorkspaceSize}. */
  public static long getConvolutionBackwardFilterWorkspaceSize(
      MemorySegment handle,
      MemorySegment x,
      MemorySegment dy,
      MemorySegment conv,
      MemorySegment dw,
      int algo) {
    return workspaceSize(
        GET_CONVOLUTION_BACKWARD_FILTER_WORKSPACE_SIZE,
        "cudnnGetConvolutionBackwardFilterWorkspaceSize",
        handle,
        x,
        dy,
        conv,
        dw,
        algo);
  }

  /** {@code cudnnConvolutionBackwardFilter}: {@code dw = alpha conv_w^T(x, dy) + beta dw}. */
  public static void convolutionBackwardFilter(
      MemorySegment handle,
      MemorySegment alpha,
      MemorySegment xDesc,
      long x,
      MemorySegment dyDesc,
      long dy,
      MemorySegment conv,
      int algo,
      long workspace,
      long workspaceBytes,
      MemorySegment beta,
      MemorySegment dwDesc,
      long dw) {
    convolution(
        CONVOLUTION_BACKWARD_FILTER,
        "cudnnConvolutionBackwardFilter",
        handle,
        alpha,
        xDesc,
        x,
        dyDesc,
        dy,
        conv,
        algo,
        workspace,
        workspaceBytes,
        beta,
        dwDesc,
        dw);
  }

  // ------------------------------------------------------------------------------ errors

  /** {@code cudnnGetErrorString}: the status's name, e.g. {@code "CUDNN_STATUS_BAD_PARAM"}. */
  public static String getErrorString(int status) {
    MethodHandle h = GET_ERROR_STRING.handle();
    try {
      return Ffi.string((MemorySegment) h.invokeExact(status));
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
  }

  /**
   * {@code cudnnGetLastErrorString}: cuDNN 9's detailed message of this thread's last error; ""
   * when there is none or the library is cuDNN 8.
   */
  public static String getLastErrorString() {
    if (!GET_LAST_ERROR_STRING.isPresent()) return "";
    MethodHandle h = GET_LAST_ERROR_STRING.handle();
    try (Arena a = Arena.ofConfined()) {
      MemorySegment message = a.allocate(1024);
      h.invokeExact(message, 1024L);
      return message.getString(0).strip();
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
    Ffi.handle(call, "handle", object);
    MethodHandle h = fn.handle();
    int status;
    try {
      status = (int) h.invokeExact(object);
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
    check(status, call);
  }

  /** The six algorithm queries share one signature: (handle, 4 descriptors, n, *count, perf[]). */
  private static List<AlgoPerf> algorithms(
      Downcall fn,
      String call,
      MemorySegment handle,
      MemorySegment d1,
      MemorySegment d2,
      MemorySegment conv,
      MemorySegment d3,
      int requested) {
    Ffi.handle(call, "handle", handle);
    if (requested < 1) throw new IllegalArgumentException(call + ": requested < 1");
    MethodHandle h = fn.handle();
    try (Arena a = Arena.ofConfined()) {
      MemorySegment perf = a.allocate(ALGO_PERF, requested);
      MemorySegment count = a.allocate(JAVA_INT);
      check((int) h.invokeExact(handle, d1, d2, conv, d3, requested, count, perf), call);
      var out = new ArrayList<AlgoPerf>();
      for (int i = 0; i < count.get(JAVA_INT, 0); i++) {
        MemorySegment p = perf.asSlice(i * ALGO_PERF.byteSize(), ALGO_PERF.byteSize());
        if (p.get(JAVA_INT, PERF_STATUS) != 0) continue; // this algorithm failed
        out.add(
            new AlgoPerf(
                p.get(JAVA_INT, 0),
                p.get(JAVA_FLOAT, PERF_TIME),
                p.get(JAVA_LONG, PERF_MEMORY),
                p.get(JAVA_INT, PERF_DETERMINISM) == 1,
                p.get(JAVA_INT, PERF_MATH_TYPE)));
      }
      return out;
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
  }

  /** The three workspace queries: (handle, 4 descriptors, algo, size_t *bytes). */
  private static long workspaceSize(
      Downcall fn,
      String call,
      MemorySegment handle,
      MemorySegment d1,
      MemorySegment d2,
      MemorySegment conv,
      MemorySegment d3,
      int algo) {
    Ffi.handle(call, "handle", handle);
    MethodHandle h = fn.handle();
    try (Arena a = Arena.ofConfined()) {
      MemorySegment out = a.allocate(JAVA_LONG);
      check((int) h.invokeExact(handle, d1, d2, conv, d3, algo, out), call + "(algo " + algo + ")");
      return out.get(JAVA_LONG, 0);
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
  }

  /** The three convolutions: (handle, alpha, desc, data, desc, data, conv, algo, ws, beta, out). */
  private static void convolution(
      Downcall fn,
      String call,
      MemorySegment handle,
      MemorySegment alpha,
      MemorySegment desc1,
      long data1,
      MemorySegment desc2,
      long data2,
      MemorySegment conv,
      int algo,
      long workspace,
      long workspaceBytes,
      MemorySegment beta,
      MemorySegment outDesc,
      long out) {
    Ffi.handle(call, "handle", handle);
    Ffi.hostBuffer(call, "alpha", alpha, 4);
    Ffi.hostBuffer(call, "beta", beta, 4);
    Ffi.nonNegative(call, "workspace size", workspaceBytes);
    MethodHandle h = fn.handle();
    int status;
    try {
      status =
          (int)
              h.invokeExact(
                  handle,
                  alpha,
                  desc1,
                  Ffi.device(data1),
                  desc2,
                  Ffi.device(data2),
                  conv,
                  algo,
                  Ffi.device(workspace),
                  workspaceBytes,
                  beta,
                  outDesc,
                  Ffi.device(out));
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
    if (status != 0)
      throw error(status, call + "(algo " + algo + ", workspace " + workspaceBytes + " bytes)");
  }

  private static void check(int status, String call) {
    if (status != 0) throw error(status, call);
  }

  /** The exception for {@code status}: cuDNN's name for it and its detailed last error. */
  static CudnnException error(int status, String call) {
    String name = getErrorString(status);
    String detail = getLastErrorString();
    return new CudnnException(call, status, name, detail.isEmpty() ? name : detail);
  }
}
