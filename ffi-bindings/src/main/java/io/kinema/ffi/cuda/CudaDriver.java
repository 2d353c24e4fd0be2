package io.kinema.ffi.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import io.kinema.ffi.CTypes;
import io.kinema.ffi.Downcall;
import io.kinema.ffi.NativeLibrary;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

/**
 * The CUDA driver API ({@code libcuda.so.1}) through FFM: devices, primary contexts, memory,
 * streams, events, modules and kernel launches. Optional: see {@link CudaLibrary#DRIVER} for where
 * it is looked for; without it {@link #isAvailable()} is false and every call throws {@link
 * UnsupportedOperationException} with the reason.
 *
 * <p>Each method is one C function: {@code cuX(out, a, b)} is {@code x(a, b)} returning {@code
 * out}, arguments in C order, the versioned symbols the header maps to ({@code cuMemAlloc} is
 * {@code cuMemAlloc_v2}). A non-zero {@code CUresult} throws {@link CudaDriverException} with the
 * driver's error name and string and the failed call. Types: device addresses ({@code CUdeviceptr})
 * are {@code long}s; devices ({@code CUdevice}) are {@code int}s; contexts, streams, events,
 * modules and functions are opaque {@link MemorySegment} handles ({@link MemorySegment#NULL} is the
 * default stream); host memory is a native {@link MemorySegment}, checked against the byte count.
 *
 * <p>Calls other than {@link #init}, the device queries and the error strings need a current
 * context on the calling thread: {@code ctxSetCurrent(devicePrimaryCtxRetain(device))}.
 */
public final class CudaDriver {
  private CudaDriver() {}

  /** {@code CU_STREAM_DEFAULT}: the stream synchronizes with the legacy default stream. */
  public static final int STREAM_DEFAULT = 0;

  /** {@code CU_STREAM_NON_BLOCKING}: the stream does not synchronize with the default stream. */
  public static final int STREAM_NON_BLOCKING = 1;

  /** {@code CU_EVENT_DEFAULT}. */
  public static final int EVENT_DEFAULT = 0;

  /** {@code CU_EVENT_BLOCKING_SYNC}: waiting on the event blocks the thread instead of spinning. */
  public static final int EVENT_BLOCKING_SYNC = 1;

  /** {@code CU_EVENT_DISABLE_TIMING}: cheaper events for synchronization only. */
  public static final int EVENT_DISABLE_TIMING = 2;

  /** Device properties for {@link #deviceGetAttribute} ({@code CU_DEVICE_ATTRIBUTE_<name>}). */
  public enum DeviceAttribute {
    MAX_THREADS_PER_BLOCK(1),
    MAX_BLOCK_DIM_X(2),
    MAX_GRID_DIM_X(5),
    MAX_SHARED_MEMORY_PER_BLOCK(8),
    TOTAL_CONSTANT_MEMORY(9),
    WARP_SIZE(10),
    MAX_REGISTERS_PER_BLOCK(12),
    CLOCK_RATE(13),
    MULTIPROCESSOR_COUNT(16),
    INTEGRATED(18),
    PCI_BUS_ID(33),
    MEMORY_CLOCK_RATE(36),
    GLOBAL_MEMORY_BUS_WIDTH(37),
    L2_CACHE_SIZE(38),
    MAX_THREADS_PER_MULTIPROCESSOR(39),
    ASYNC_ENGINE_COUNT(40),
    UNIFIED_ADDRESSING(41),
    COMPUTE_CAPABILITY_MAJOR(75),
    COMPUTE_CAPABILITY_MINOR(76),
    MAX_SHARED_MEMORY_PER_MULTIPROCESSOR(81),
    CONCURRENT_MANAGED_ACCESS(89),
    COOPERATIVE_LAUNCH(95),
    MAX_SHARED_MEMORY_PER_BLOCK_OPTIN(97),
    MAX_BLOCKS_PER_MULTIPROCESSOR(106),
    MEMORY_POOLS_SUPPORTED(115);

    private final int code;

    DeviceAttribute(int code) {
      this.code = code;
    }

    /** The {@code CUdevice_attribute} value. */
    public int code() {
      return code;
    }
  }

  /** Kernel attributes for {@link #funcSetAttribute} ({@code CU_FUNC_ATTRIBUTE_<name>}). */
  public enum FunctionAttribute {
    /** Dynamic shared memory a launch may ask for, up to the device's opt-in maximum. */
    MAX_DYNAMIC_SHARED_SIZE_BYTES(8),
    /** Percentage of L1/shared memory to prefer as shared memory. */
    PREFERRED_SHARED_MEMORY_CARVEOUT(9);

    private final int code;

    FunctionAttribute(int code) {
      this.code = code;
    }

    /** The {@code CUfunction_attribute} value. */
    public int code() {
      return code;
    }
  }

  /** Free and total device memory of the current context's device, in bytes. */
  public record MemInfo(long free, long total) {}

  private static final NativeLibrary LIBRARY = CudaLibrary.DRIVER.library();

  private static final CTypes C =
      CTypes.standard()
          .ints("CUresult", "CUdevice", "CUdevice_attribute", "CUfunction_attribute")
          .longs("CUdeviceptr")
          .pointers("CUcontext", "CUstream", "CUevent", "CUmodule", "CUfunction");

  private static Downcall fn(String prototype) {
    return LIBRARY.downcall(C, prototype);
  }

  private static final Downcall INIT = fn("CUresult cuInit(unsigned int Flags)");
  private static final Downcall DRIVER_GET_VERSION =
      fn("CUresult cuDriverGetVersion(int *driverVersion)");
  private static final Downcall DEVICE_GET_COUNT = fn("CUresult cuDeviceGetCount(int *count)");
  private static final Downcall DEVICE_GET =
      fn("CUresult cuDeviceGet(CUdevice *device, int ordinal)");
  private static final Downcall DEVICE_GET_NAME =
      fn("CUresult cuDeviceGetName(char *name, int len, CUdevice dev)");
  private static final Downcall DEVICE_GET_ATTRIBUTE =
      fn("CUresult cuDeviceGetAttribute(int *pi, CUdevice_attribute attrib, CUdevice dev)");
  private static final Downcall DEVICE_TOTAL_MEM =
      fn("CUresult cuDeviceTotalMem_v2(size_t *bytes, CUdevice dev)");
  private static final Downcall DEVICE_PRIMARY_CTX_RETAIN =
      fn("CUresult cuDevicePrimaryCtxRetain(CUcontext *pctx, CUdevice dev)");
  private static final Downcall DEVICE_PRIMARY_CTX_RELEASE =
      fn("CUresult cuDevicePrimaryCtxRelease_v2(CUdevice dev)");
  private static final Downcall CTX_SET_CURRENT = fn("CUresult cuCtxSetCurrent(CUcontext ctx)");
  private static final Downcall CTX_GET_CURRENT = fn("CUresult cuCtxGetCurrent(CUcontext *pctx)");
  private static final Downcall CTX_SYNCHRONIZE = fn("CUresult cuCtxSynchronize(void)");
  private static final Downcall MEM_GET_INFO =
      fn("CUresult cuMemGetInfo_v2(size_t *free, size_t *total)");
  private static final Downcall MEM_ALLOC =
      fn("CUresult cuMemAlloc_v2(CUdeviceptr *dptr, size_t bytesize)");
  private static final Downcall MEM_FREE = fn("CUresult cuMemFree_v2(CUdeviceptr dptr)");
  private static final Downcall MEM_ALLOC_HOST =
      fn("CUresult cuMemAllocHost_v2(void **pp, size_t bytesize)");
  private static final Downcall MEM_FREE_HOST = fn("CUresult cuMemFreeHost(void *p)");
  private static final Downcall MEMCPY_HTOD_ASYNC =
      fn(
          "CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dstDevice, const void *srcHost,"
              + " size_t ByteCount, CUstream hStream)");
  private static final Downcall MEMCPY_DTOH_ASYNC =
      fn(
          "CUresult cuMemcpyDtoHAsync_v2(void *dstHost, CUdeviceptr srcDevice, size_t ByteCount,"
              + " CUstream hStream)");
  private static final Downcall MEMCPY_DTOD_ASYNC =
      fn(
          "CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr dstDevice, CUdeviceptr srcDevice,"
              + " size_t ByteCount, CUstream hStream)");
  private static final Downcall MEMSET_D8_ASYNC =
      fn(
          "CUresult cuMemsetD8Async(CUdeviceptr dstDevice, unsigned char uc, size_t N,"
              + " CUstream hStream)");
  private static final Downcall MEMSET_D32_ASYNC =
      fn(
          "CUresult cuMemsetD32Async(CUdeviceptr dstDevice, unsigned int ui, size_t N,"
              + " CUstream hStream)");
  private static final Downcall STREAM_CREATE =
      fn("CUresult cuStreamCreate(CUstream *phStream, unsigned int Flags)");
  private static final Downcall STREAM_DESTROY =
      fn("CUresult cuStreamDestroy_v2(CUstream hStream)");
  private static final Downcall STREAM_SYNCHRONIZE =
      fn("CUresult cuStreamSynchronize(CUstream hStream)");
  private static final Downcall STREAM_WAIT_EVENT =
      fn("CUresult cuStreamWaitEvent(CUstream hStream, CUevent hEvent, unsigned int Flags)");
  private static final Downcall EVENT_CREATE =
      fn("CUresult cuEventCreate(CUevent *phEvent, unsigned int Flags)");
  private static final Downcall EVENT_RECORD =
      fn("CUresult cuEventRecord(CUevent hEvent, CUstream hStream)");
  private static final Downcall EVENT_SYNCHRONIZE =
      fn("CUresult cuEventSynchronize(CUevent hEvent)");
  // The unversioned symbol: every driver has it; cuda.h 12.8+ maps the name to a _v2 that older
  // drivers lack, with the same signature.
  private static final Downcall EVENT_ELAPSED_TIME =
      fn("CUresult cuEventElapsedTime(float *pMilliseconds, CUevent hStart, CUevent hEnd)");
  private static final Downcall EVENT_DESTROY = fn("CUresult cuEventDestroy_v2(CUevent hEvent)");
  private static final Downcall MODULE_LOAD_DATA =
      fn("CUresult cuModuleLoadData(CUmodule *module, const void *image)");
  private static final Downcall MODULE_UNLOAD = fn("CUresult cuModuleUnload(CUmodule hmod)");
  private static final Downcall MODULE_GET_FUNCTION =
      fn("CUresult cuModuleGetFunction(CUfunction *hfunc, CUmodule hmod, const char *name)");
  private static final Downcall FUNC_SET_ATTRIBUTE =
      fn(
          "CUresult cuFuncSetAttribute(CUfunction hfunc, CUfunction_attribute attrib, int"
              + " value)");
  private static final Downcall LAUNCH_KERNEL =
      fn(
          "CUresult cuLaunchKernel(CUfunction f, unsigned int gridDimX, unsigned int gridDimY,"
              + " unsigned int gridDimZ, unsigned int blockDimX, unsigned int blockDimY,"
              + " unsigned int blockDimZ, unsigned int sharedMemBytes, CUstream hStream,"
              + " void **kernelParams, void **extra)");
  private static final Downcall GET_ERROR_NAME =
      fn("CUresult cuGetErrorName(CUresult error, const char **pStr)");
  private static final Downcall GET_ERROR_STRING =
      fn("CUresult cuGetErrorString(CUresult error, const char **pStr)");

  /** The library description (search order, where it was loaded from). */
  public static NativeLibrary library() {
    return LIBRARY;
  }

  /** Whether {@code libcuda.so.1} was found and loaded (searches on the first call). */
  public static boolean isAvailable() {
    return LIBRARY.isAvailable();
  }

  /** What was looked for where, when the driver is unavailable; null when it is available. */
  public static String unavailableReason() {
    return LIBRARY.unavailableReason();
  }

  // ------------------------------------------------------------------------ initialization

  /** {@code cuInit(0)}: initializes the driver; call once per process before anything else. */
  public static void init() {
    MethodHandle h = INIT.handle();
    int status;
    try {
      status = (int) h.invokeExact(0);
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
    check(status, "cuInit(0)");
  }

  /** {@code cuDriverGetVersion}: the CUDA version the driver supports, e.g. 12040 for 12.4. */
  public static int driverGetVersion() {
    MethodHandle h = DRIVER_GET_VERSION.handle();
    try (Arena a = Arena.ofConfined()) {
      MemorySegment out = a.allocate(JAVA_INT);
      check((int) h.invokeExact(out), "cuDriverGetVersion");
      return out.get(JAVA_INT, 0);
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
  }

  // ------------------------------------------------------------------------------- devices

  /** {@code cuDeviceGetCount}: the number of CUDA devices. */
  public static int deviceGetCount() {
    MethodHandle h = DEVICE_GET_COUNT.handle();
    try (Arena a = Arena.ofConfined()) {
      MemorySegment out = a.allocate(JAVA_INT);
      check((int) h.invokeExact(out), "cuDeviceGetCount");
      return out.get(JAVA_INT, 0);
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
  }

  /** {@code cuDeviceGet}: the device handle of ordinal {@code ordinal} (0-based). */
  public static int deviceGet(int ordinal) {
    MethodHandle h = DEVICE_GET.handle();
    try (Arena a = Arena.ofConfined()) {
      MemorySegment out = a.allocate(JAVA_INT);
      check((int) h.invokeExact(out, ordinal), "cuDeviceGet(ordinal " + ordinal + ")");
      return out.get(JAVA_INT, 0);
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
  }

  /** {@code cuDeviceGetName}: e.g. {@code "NVIDIA H100 80GB HBM3"}. */
  public static String deviceGetName(int device) {
    MethodHandle h = DEVICE_GET_NAME.handle();
    try (Arena a = Arena.ofConfined()) {
      MemorySegment name = a.allocate(256);
      check((int) h.invokeExact(name, 256, device), "cuDeviceGetName(device " + device + ")");
      return name.getString(0);
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
  }

  /** {@code cuDeviceGetAttribute}. */
  public static int deviceGetAttribute(DeviceAttribute attribute, int device) {
    MethodHandle h = DEVICE_GET_ATTRIBUTE.handle();
    try (Arena a = Arena.ofConfined()) {
      MemorySegment out = a.allocate(JAVA_INT);
      int status = (int) h.invokeExact(out, attribute.code(), device);
      check(status, "cuDeviceGetAttribute(" + attribute + ", device " + device + ")");
      return out.get(JAVA_INT, 0);
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
  }

  /** {@code cuDeviceTotalMem_v2}: the device's memory in bytes. */
  public static long deviceTotalMem(int device) {
    MethodHandle h = DEVICE_TOTAL_MEM.handle();
    try (Arena a = Arena.ofConfined()) {
      MemorySegment out = a.allocate(JAVA_LONG);
      check((int) h.invokeExact(out, device), "cuDeviceTotalMem_v2(device " + device + ")");
      return out.get(JAVA_LONG, 0);
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
  }

  // ------------------------------------------------------------------------------ contexts

  /**
   * {@code cuDevicePrimaryCtxRetain}: the device's primary context (the one the runtime, cuBLAS and
   * cuDNN use), retained until {@link #devicePrimaryCtxRelease}.
   */
  public static MemorySegment devicePrimaryCtxRetain(int device) {
    MethodHandle h = DEVICE_PRIMARY_CTX_RETAIN.handle();
    try (Arena a = Arena.ofConfined()) {
      MemorySegment out = a.allocate(ADDRESS);
      int status = (int) h.invokeExact(out, device);
      check(status, "cuDevicePrimaryCtxRetain(device " + device + ")");
      return out.get(ADDRESS, 0);
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
  }

  /** {@code cuDevicePrimaryCtxRelease_v2}: releases one retain of the primary context. */
  public static void devicePrimaryCtxRelease(int device) {
    MethodHandle h = DEVICE_PRIMARY_CTX_RELEASE.handle();
    int status;
    try {
      status = (int) h.invokeExact(device);
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
    check(status, "cuDevicePrimaryCtxRelease_v2(device " + device + ")");
  }

  /** {@code cuCtxSetCurrent}: binds {@code ctx} to the calling thread (NULL unbinds). */
  public static void ctxSetCurrent(MemorySegment ctx) {
    MethodHandle h = CTX_SET_CURRENT.handle();
    int status;
    try {
      status = (int) h.invokeExact(ctx);
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
    check(status, "cuCtxSetCurrent");
  }

  /** {@code cuCtxGetCurrent}: the calling thread's context, {@link MemorySegment#NULL} if none. */
  public static MemorySegment ctxGetCurrent() {
    MethodHandle h = CTX_GET_CURRENT.handle();
    try (Arena a = Arena.ofConfined()) {
      MemorySegment out = a.allocate(ADDRESS);
      check((int) h.invokeExact(out), "cuCtxGetCurrent");
      return out.get(ADDRESS, 0);
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
  }

  /** {@code cuCtxSynchronize}: waits for all work in the current context. */
  public static void ctxSynchronize() {
    MethodHandle h = CTX_SYNCHRONIZE.handle();
    int status;
    try {
      status = (int) h.invokeExact();
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
    check(status, "cuCtxSynchronize");
  }

  // -------------------------------------------------------------------------------- memory

  /** {@code cuMemGetInfo_v2}: free and total memory of the current context's device. */
  public static MemInfo memGetInfo() {
    MethodHandle h = MEM_GET_INFO.handle();
    try (Arena a = Arena.ofConfined()) {
      MemorySegment free = a.allocate(JAVA_LONG), total = a.allocate(JAVA_LONG);
      check((int) h.invokeExact(free, total), "cuMemGetInfo_v2");
      return new MemInfo(free.get(JAVA_LONG, 0), total.get(JAVA_LONG, 0));
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
  }

  /**
   * {@code cuMemAlloc_v2}: {@code bytes} of device memory (256-byte aligned). Out of memory throws
   * a {@link CudaDriverException} whose {@link CudaDriverException#isOutOfMemory()} is true.
   */
  public static long memAlloc(long bytes) {
    Ffi.nonNegative("cuMemAlloc_v2", "byte count", bytes);
    MethodHandle h = MEM_ALLOC.handle();
    try (Arena a = Arena.ofConfined()) {
      MemorySegment out = a.allocate(JAVA_LONG);
      check((int) h.invokeExact(out, bytes), "cuMemAlloc_v2(" + bytes + " bytes)");
      return out.get(JAVA_LONG, 0);
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
  }

  /** {@code cuMemFree_v2}. */
  public static void memFree(long dptr) {
    MethodHandle h = MEM_FREE.handle();
    int status;
    try {
      status = (int) h.invokeExact(dptr);
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
    check(status, "cuMemFree_v2(0x" + Long.toHexString(dptr) + ")");
  }

  /**
   * {@code cuMemAllocHost_v2}: {@code bytes} of page-locked host memory (fast, asynchronous
   * copies), as a segment of that size. Free it with {@link #memFreeHost}; the segment is not
   * bounded by an arena, so it must not be used after that.
   */
  public static MemorySegment memAllocHost(long bytes) {
    Ffi.nonNegative("cuMemAllocHost_v2", "byte count", bytes);
    MethodHandle h = MEM_ALLOC_HOST.handle();
    try (Arena a = Arena.ofConfined()) {
      MemorySegment out = a.allocate(ADDRESS);
      check((int) h.invokeExact(out, bytes), "cuMemAllocHost_v2(" + bytes + " bytes)");
      return out.get(ADDRESS, 0).reinterpret(bytes);
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
  }

  /** {@code cuMemFreeHost}: frees memory from {@link #memAllocHost}. */
  public static void memFreeHost(MemorySegment p) {
    MethodHandle h = MEM_FREE_HOST.handle();
    int status;
    try {
      status = (int) h.invokeExact(p);
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
    check(status, "cuMemFreeHost");
  }

  /**
   * {@code cuMemcpyHtoDAsync_v2}: copies {@code bytes} from host {@code src} to device {@code dst}
   * in stream order. Asynchronous only from page-locked memory; {@code src} must stay valid until
   * the stream reaches the copy.
   */
  public static void memcpyHtoDAsync(
      long dst, MemorySegment src, long bytes, MemorySegment stream) {
    String call = "cuMemcpyHtoDAsync_v2";
    Ffi.nonNegative(call, "byte count", bytes);
    Ffi.hostBuffer(call, "source", src, bytes);
    MethodHandle h = MEMCPY_HTOD_ASYNC.handle();
    int status;
    try {
      status = (int) h.invokeExact(dst, src, bytes, stream);
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
    if (status != 0) throw error(status, call + "(" + bytes + " bytes)");
  }

  /**
   * {@code cuMemcpyDtoHAsync_v2}: copies {@code bytes} from device {@code src} to host {@code dst}.
   */
  public static void memcpyDtoHAsync(
      MemorySegment dst, long src, long bytes, MemorySegment stream) {
    String call = "cuMemcpyDtoHAsync_v2";
    Ffi.nonNegative(call, "byte count", bytes);
    Ffi.hostBuffer(call, "destination", dst, bytes);
    if (dst.isReadOnly()) throw new IllegalArgumentException(call + ": destination is read-only");
    MethodHandle h = MEMCPY_DTOH_ASYNC.handle();
    int status;
    try {
      status = (int) h.invokeExact(dst, src, bytes, stream);
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
    if (status != 0) throw error(status, call + "(" + bytes + " bytes)");
  }

  /** {@code cuMemcpyDtoDAsync_v2}: copies {@code bytes} between device buffers. */
  public static void memcpyDtoDAsync(long dst, long src, long bytes, MemorySegment stream) {
    Ffi.nonNegative("cuMemcpyDtoDAsync_v2", "byte count", bytes);
    MethodHandle h = MEMCPY_DTOD_ASYNC.handle();
    int status;
    try {
      status = (int) h.invokeExact(dst, src, bytes, stream);
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
    if (status != 0) throw error(status, "cuMemcpyDtoDAsync_v2(" + bytes + " bytes)");
  }

  /** {@code cuMemsetD8Async}: sets {@code count} bytes at {@code dst} to {@code value}. */
  public static void memsetD8Async(long dst, byte value, long count, MemorySegment stream) {
    Ffi.nonNegative("cuMemsetD8Async", "count", count);
    MethodHandle h = MEMSET_D8_ASYNC.handle();
    int status;
    try {
      status = (int) h.invokeExact(dst, value, count, stream);
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
    if (status != 0) throw error(status, "cuMemsetD8Async(" + count + " bytes)");
  }

  /**
   * {@code cuMemsetD32Async}: sets {@code count} 32-bit words at {@code dst} (4-byte aligned) to
   * {@code value} (e.g. {@code Float.floatToRawIntBits(1f)}).
   */
  public static void memsetD32Async(long dst, int value, long count, MemorySegment stream) {
    Ffi.nonNegative("cuMemsetD32Async", "count", count);
    MethodHandle h = MEMSET_D32_ASYNC.handle();
    int status;
    try {
      status = (int) h.invokeExact(dst, value, count, stream);
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
    if (status != 0) throw error(status, "cuMemsetD32Async(" + count + " words)");
  }

  // ------------------------------------------------------------------------ streams, events

  /** {@code cuStreamCreate} with {@link #STREAM_DEFAULT} or {@link #STREAM_NON_BLOCKING}. */
  public static MemorySegment streamCreate(int flags) {
    MethodHandle h = STREAM_CREATE.handle();
    try (Arena a = Arena.ofConfined()) {
      MemorySegment out = a.allocate(ADDRESS);
      check((int) h.invokeExact(out, flags), "cuStreamCreate(flags " + flags + ")");
      return out.get(ADDRESS, 0);
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
  }

  /** {@code cuStreamDestroy_v2}: pending work still completes. */
  public static void streamDestroy(MemorySegment stream) {
    Ffi.handle("cuStreamDestroy_v2", "stream", stream);
    MethodHandle h = STREAM_DESTROY.handle();
    int status;
    try {
      status = (int) h.invokeExact(stream);
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
    check(status, "cuStreamDestroy_v2");
  }

  /** {@code cuStreamSynchronize}: waits until the stream's work is done. */
  public static void streamSynchronize(MemorySegment stream) {
    MethodHandle h = STREAM_SYNCHRONIZE.handle();
    int status;
    try {
      status = (int) h.invokeExact(stream);
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
    check(status, "cuStreamSynchronize");
  }

  /** {@code cuStreamWaitEvent}: later work in {@code stream} waits for {@code event} (flags 0). */
  public static void streamWaitEvent(MemorySegment stream, MemorySegment event, int flags) {
    Ffi.handle("cuStreamWaitEvent", "event", event);
    MethodHandle h = STREAM_WAIT_EVENT.handle();
    int status;
    try {
      status = (int) h.invokeExact(stream, event, flags);
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
    check(status, "cuStreamWaitEvent");
  }

  /** {@code cuEventCreate} with {@code EVENT_*} flags. */
  public static MemorySegment eventCreate(int flags) {
    MethodHandle h = EVENT_CREATE.handle();
    try (Arena a = Arena.ofConfined()) {
      MemorySegment out = a.allocate(ADDRESS);
      check((int) h.invokeExact(out, flags), "cuEventCreate(flags " + flags + ")");
      return out.get(ADDRESS, 0);
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
  }

  /** {@code cuEventRecord}: the event completes when {@code stream} reaches this point. */
  public static void eventRecord(MemorySegment event, MemorySegment stream) {
    Ffi.handle("cuEventRecord", "event", event);
    MethodHandle h = EVENT_RECORD.handle();
    int status;
    try {
      status = (int) h.invokeExact(event, stream);
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
    check(status, "cuEventRecord");
  }

  /** {@code cuEventSynchronize}: waits for the event. */
  public static void eventSynchronize(MemorySegment event) {
    Ffi.handle("cuEventSynchronize", "event", event);
    MethodHandle h = EVENT_SYNCHRONIZE.handle();
    int status;
    try {
      status = (int) h.invokeExact(event);
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
    check(status, "cuEventSynchronize");
  }

  /** {@code cuEventElapsedTime}: milliseconds between two completed, timing-enabled events. */
  public static float eventElapsedTime(MemorySegment start, MemorySegment end) {
    Ffi.handle("cuEventElapsedTime", "start event", start);
    Ffi.handle("cuEventElapsedTime", "end event", end);
    MethodHandle h = EVENT_ELAPSED_TIME.handle();
    try (Arena a = Arena.ofConfined()) {
      MemorySegment out = a.allocate(JAVA_FLOAT);
      check((int) h.invokeExact(out, start, end), "cuEventElapsedTime");
      return out.get(JAVA_FLOAT, 0);
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
  }

  /** {@code cuEventDestroy_v2}. */
  public static void eventDestroy(MemorySegment event) {
    Ffi.handle("cuEventDestroy_v2", "event", event);
    MethodHandle h = EVENT_DESTROY.handle();
    int status;
    try {
      status = (int) h.invokeExact(event);
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
    check(status, "cuEventDestroy_v2");
  }

  // ----------------------------------------------------------------------- modules, kernels

  /**
   * {@code cuModuleLoadData}: loads a module from an image in host memory: PTX text (NUL
   * terminated: the driver compiles it for the current device), a cubin or a fatbin.
   */
  public static MemorySegment moduleLoadData(MemorySegment image) {
    Ffi.hostBuffer("cuModuleLoadData", "image", image, 1);
    MethodHandle h = MODULE_LOAD_DATA.handle();
    try (Arena a = Arena.ofConfined()) {
      MemorySegment out = a.allocate(ADDRESS);
      check((int) h.invokeExact(out, image), "cuModuleLoadData(" + image.byteSize() + " bytes)");
      return out.get(ADDRESS, 0);
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
  }

  /** {@link #moduleLoadData(MemorySegment)} of PTX source text. */
  public static MemorySegment moduleLoadData(String ptx) {
    try (Arena a = Arena.ofConfined()) {
      return moduleLoadData(a.allocateFrom(ptx));
    }
  }

  /** {@code cuModuleUnload}. */
  public static void moduleUnload(MemorySegment module) {
    Ffi.handle("cuModuleUnload", "module", module);
    MethodHandle h = MODULE_UNLOAD.handle();
    int status;
    try {
      status = (int) h.invokeExact(module);
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
    check(status, "cuModuleUnload");
  }

  /** {@code cuModuleGetFunction}: the kernel named {@code name} (its PTX entry name). */
  public static MemorySegment moduleGetFunction(MemorySegment module, String name) {
    Ffi.handle("cuModuleGetFunction", "module", module);
    MethodHandle h = MODULE_GET_FUNCTION.handle();
    try (Arena a = Arena.ofConfined()) {
      MemorySegment out = a.allocate(ADDRESS);
      int status = (int) h.invokeExact(out, module, a.allocateFrom(name));
      check(status, "cuModuleGetFunction(\"" + name + "\")");
      return out.get(ADDRESS, 0);
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
  }

  /**
   * {@code cuFuncSetAttribute}, e.g. {@link FunctionAttribute#MAX_DYNAMIC_SHARED_SIZE_BYTES} before
   * launching with more than 48 KiB of dynamic shared memory.
   */
  public static void funcSetAttribute(
      MemorySegment function, FunctionAttribute attribute, int value) {
    Ffi.handle("cuFuncSetAttribute", "function", function);
    MethodHandle h = FUNC_SET_ATTRIBUTE.handle();
    int status;
    try {
      status = (int) h.invokeExact(function, attribute.code(), value);
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
    check(status, "cuFuncSetAttribute(" + attribute + ", " + value + ")");
  }

  /**
   * {@code cuLaunchKernel}: launches {@code function} on a grid of blocks in {@code stream}. {@code
   * kernelParams} is the C array {@code void *params[]} holding one pointer per kernel parameter,
   * each to that parameter's value ({@link KernelParams} builds it); the driver copies the values
   * during the call.
   */
  public static void launchKernel(
      MemorySegment function,
      int gridX,
      int gridY,
      int gridZ,
      int blockX,
      int blockY,
      int blockZ,
      int sharedMemBytes,
      MemorySegment stream,
      MemorySegment kernelParams) {
    Ffi.handle("cuLaunchKernel", "function", function);
    if (gridX < 1 || gridY < 1 || gridZ < 1 || blockX < 1 || blockY < 1 || blockZ < 1) {
      throw new IllegalArgumentException(
          "cuLaunchKernel: grid and block sizes must be >= 1: grid "
              + dims(gridX, gridY, gridZ)
              + ", block "
              + dims(blockX, blockY, blockZ));
    }
    Ffi.nonNegative("cuLaunchKernel", "shared memory", sharedMemBytes);
    if (!kernelParams.equals(MemorySegment.NULL)) {
      Ffi.hostBuffer("cuLaunchKernel", "kernelParams", kernelParams, 0);
    }
    MethodHandle h = LAUNCH_KERNEL.handle();
    int status;
    try {
      status =
          (int)
              h.invokeExact(
                  function,
                  gridX,
                  gridY,
                  gridZ,
                  blockX,
                  blockY,
                  blockZ,
                  sharedMemBytes,
                  stream,
                  kernelParams,
                  MemorySegment.NULL);
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
    if (status != 0) {
      throw error(
          status,
          "cuLaunchKernel(grid "
              + dims(gridX, gridY, gridZ)
              + ", block "
              + dims(blockX, blockY, blockZ)
              + ", shared "
              + sharedMemBytes
              + " bytes)");
    }
  }

  // -------------------------------------------------------------------------------- errors

  /** {@code cuGetErrorName}: e.g. {@code "CUDA_ERROR_OUT_OF_MEMORY"}; null for an unknown code. */
  public static String getErrorName(int status) {
    MethodHandle h = GET_ERROR_NAME.handle();
    try (Arena a = Arena.ofConfined()) {
      MemorySegment out = a.allocate(ADDRESS);
      return (int) h.invokeExact(status, out) == 0 ? Ffi.stringAt(out) : null;
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
  }

  /** {@code cuGetErrorString}: e.g. {@code "out of memory"}; null for an unknown code. */
  public static String getErrorString(int status) {
    MethodHandle h = GET_ERROR_STRING.handle();
    try (Arena a = Arena.ofConfined()) {
      MemorySegment out = a.allocate(ADDRESS);
      return (int) h.invokeExact(status, out) == 0 ? Ffi.stringAt(out) : null;
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
  }

  private static void check(int status, String call) {
    if (status != 0) throw error(status, call);
  }

  /** The exception for {@code status}, with the driver's own name and description of it. */
  static CudaDriverException error(int status, String call) {
    String name = getErrorName(status);
    String text = getErrorString(status);
    return new CudaDriverException(
        call,
        status,
        name != null ? name : "CUresult " + status,
        text != null ? text : "unknown to this driver");
  }

  private static String dims(int x, int y, int z) {
    return x + "x" + y + "x" + z;
  }
}
