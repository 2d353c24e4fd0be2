package io.kinema.ffi.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_DOUBLE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.kinema.ffi.CFunction;
import io.kinema.ffi.CTypes;
import io.kinema.ffi.Downcall;
import io.kinema.ffi.NativeLibrary;
import io.kinema.ffi.cuda.junit.CudaCondition;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemoryLayout.PathElement;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/**
 * What can be checked without a GPU: every binding's prototypes parse into descriptors (loading a
 * binding class builds them all, no library needed), struct layouts match the C structs, absent
 * libraries explain themselves, argument checks fire before any native call, and, where a library
 * is installed, it exports every symbol bound.
 */
class CudaBindingsTest {
  private static final Map<CudaLibrary, String> PREFIXES =
      Map.of(
          CudaLibrary.DRIVER, "cu",
          CudaLibrary.CUBLAS, "cublas",
          CudaLibrary.CUBLASLT, "cublasLt",
          CudaLibrary.CUDNN, "cudnn",
          CudaLibrary.NCCL, "nccl");

  @Test
  void everyDowncallIsDeclaredByAPrototypeOfItsLibrary() {
    var symbols = new HashSet<String>();
    int total = 0;
    for (var e : Bindings.CLASSES.entrySet()) {
      Map<String, Downcall> downcalls = Bindings.downcalls(e.getKey());
      assertTrue(downcalls.size() >= 10, e.getKey() + " binds " + downcalls.size());
      for (var d : downcalls.entrySet()) {
        Downcall fn = d.getValue();
        String where = e.getKey().getSimpleName() + "." + d.getKey();
        assertTrue(fn.library() == e.getValue().library(), where + " binds the wrong library");
        CFunction decl = fn.declaration().orElseThrow(() -> new AssertionError(where));
        assertEquals(fn.symbol(), decl.name());
        assertTrue(fn.symbol().startsWith(PREFIXES.get(e.getValue())), where + ": " + fn.symbol());
        assertTrue(symbols.add(fn.symbol()), "bound twice: " + fn.symbol());
        assertEquals(decl.parameterTypes().size(), fn.descriptor().argumentLayouts().size());
        total++;
      }
    }
    assertTrue(total >= 100, "only " + total + " downcalls");
  }

  @Test
  void statusFunctionsReturnA32BitStatus() {
    for (Class<?> binding : Bindings.CLASSES.keySet()) {
      for (Downcall fn : Bindings.downcalls(binding).values()) {
        String ret = fn.declaration().orElseThrow().returnType();
        if (ret.endsWith("Status_t") || ret.equals("CUresult") || ret.equals("ncclResult_t")) {
          assertEquals(JAVA_INT, fn.descriptor().returnLayout().orElseThrow(), fn.symbol());
        }
      }
    }
  }

  @Test
  void descriptorsFollowTheCTypes() {
    var driver = Bindings.downcalls(CudaDriver.class);
    // CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr, const void *, size_t, CUstream)
    assertEquals(
        FunctionDescriptor.of(JAVA_INT, JAVA_LONG, ADDRESS, JAVA_LONG, ADDRESS),
        driver.get("MEMCPY_HTOD_ASYNC").descriptor());
    // CUresult cuLaunchKernel(CUfunction, 7 x unsigned int, CUstream, void **, void **)
    var launch = driver.get("LAUNCH_KERNEL").descriptor().argumentLayouts();
    assertEquals(11, launch.size());
    for (int i = 1; i <= 7; i++) assertEquals(JAVA_INT, launch.get(i));
    var cublas = Bindings.downcalls(Cublas.class);
    // long long int strides in the strided-batched GEMM
    var batched = cublas.get("GEMM_STRIDED_BATCHED_EX").descriptor().argumentLayouts();
    assertEquals(23, batched.size());
    assertEquals(JAVA_LONG, batched.get(10));
    assertEquals(JAVA_LONG, batched.get(14));
    assertEquals(JAVA_LONG, batched.get(19));
    // NCCL's unique id is passed by value: a 128-byte struct argument.
    var init = Bindings.downcalls(Nccl.class).get("COMM_INIT_RANK").descriptor();
    assertEquals(Nccl.UNIQUE_ID, init.argumentLayouts().get(2));
  }

  @Test
  void structLayoutsMatchTheCStructs() {
    StructLayout h = CublasLt.HEURISTIC_RESULT;
    assertEquals(96, h.byteSize());
    assertEquals(64, offset(h, "workspaceSize"));
    assertEquals(72, offset(h, "state"));
    assertEquals(76, offset(h, "wavesCount"));
    assertEquals(80, offset(h, "reserved"));
    StructLayout p = Cudnn.ALGO_PERF;
    assertEquals(48, p.byteSize());
    assertEquals(4, offset(p, "status"));
    assertEquals(8, offset(p, "time"));
    assertEquals(16, offset(p, "memory"));
    assertEquals(24, offset(p, "determinism"));
    assertEquals(28, offset(p, "mathType"));
    assertEquals(32, offset(p, "reserved"));
    assertEquals(128, Nccl.UNIQUE_ID.byteSize());
  }

  private static long offset(MemoryLayout l, String field) {
    return l.byteOffset(PathElement.groupElement(field));
  }

  @Test
  void absentLibrariesSayWhatWasLookedForWhere() {
    int absent = 0;
    for (CudaLibrary lib : CudaLibrary.values()) {
      if (lib.isAvailable()) continue;
      absent++;
      String reason = lib.unavailableReason();
      String id = lib.library().id();
      for (String name : lib.library().names()) assertTrue(reason.contains(name), reason);
      assertTrue(reason.contains("-Dkinema." + id + ".path"), reason);
      assertTrue(reason.contains(lib.library().envName()), reason);
      String line = lib.shortReason();
      assertFalse(line.contains("\n"), line);
      assertTrue(line.contains(lib.library().names().get(0)), line);
    }
    assumeTrue(absent > 0, "every CUDA library is installed here");
  }

  @Test
  void callsIntoAnAbsentLibraryNameTheFunctionAndTheReason() {
    assumeFalse(CudaLibrary.CUBLAS.isAvailable(), "cuBLAS is installed here");
    var e = assertThrows(UnsupportedOperationException.class, Cublas::create);
    assertTrue(
        e.getMessage().startsWith("cublasCreate_v2 is unavailable: cublas library not found"),
        e.getMessage());
    assumeFalse(CudaLibrary.DRIVER.isAvailable(), "the CUDA driver is installed here");
    var d = assertThrows(UnsupportedOperationException.class, () -> CudaDriver.memAlloc(16));
    assertTrue(
        d.getMessage().startsWith("cuMemAlloc_v2 is unavailable: cuda library"), d.getMessage());
  }

  @Test
  void withoutADriverThereAreNoDevicesAndOneLineSaysWhy() {
    assumeFalse(CudaDriver.isAvailable(), "the CUDA driver is installed here");
    assertEquals(0, CudaDevices.count());
    assertFalse(CudaDevices.available());
    assertTrue(CudaDevices.list().isEmpty());
    String reason = CudaDevices.unavailableReason();
    assertTrue(reason.startsWith("libcuda.so.1 not found in ["), reason);
    assertTrue(reason.endsWith("] nor by the dynamic loader"), reason);
    assertFalse(reason.contains("\n"), reason);
    assertEquals("CUDA tests skipped: " + reason, CudaCondition.skipReason());
    var e = assertThrows(IllegalArgumentException.class, () -> CudaDevices.info(0));
    assertTrue(e.getMessage().contains("no CUDA device 0: 0 device(s)"), e.getMessage());
  }

  @Test
  void installedLibrariesExportEverySymbolBound() {
    int checked = 0;
    for (var e : Bindings.CLASSES.entrySet()) {
      if (!e.getValue().isAvailable()) continue;
      for (Downcall fn : Bindings.downcalls(e.getKey()).values()) {
        if (Bindings.OPTIONAL.contains(fn.symbol())) continue;
        assertTrue(fn.isPresent(), fn.unavailableReason());
        checked++;
      }
    }
    assumeTrue(checked > 0, "no CUDA library installed here to look symbols up in");
  }

  @Test
  void argumentsAreCheckedBeforeAnyNativeCall() {
    MemorySegment heap = MemorySegment.ofArray(new float[4]);
    MemorySegment none = MemorySegment.NULL;
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment small = arena.allocate(8);
      rejects(
          "cuMemcpyHtoDAsync_v2: source is not a native segment",
          () -> CudaDriver.memcpyHtoDAsync(0, heap, 16, none));
      rejects(
          "cuMemcpyDtoHAsync_v2: destination holds 8 bytes, needs 16",
          () -> CudaDriver.memcpyDtoHAsync(small, 0, 16, none));
      rejects("cuMemAlloc_v2: negative byte count: -1", () -> CudaDriver.memAlloc(-1));
      rejects("cuStreamDestroy_v2: stream is NULL", () -> CudaDriver.streamDestroy(none));
      rejects(
          "cuLaunchKernel: grid and block sizes must be >= 1: grid 0x1x1, block 32x1x1",
          () -> CudaDriver.launchKernel(small, 0, 1, 1, 32, 1, 1, 0, none, none));
      MemorySegment alpha = arena.allocateFrom(JAVA_FLOAT, 1f);
      MemorySegment handle = arena.allocate(8);
      rejects(
          "cublasGemmEx: negative size m=-1, n=2, k=3",
          () -> gemm(handle, -1, alpha, alpha, Cublas.ComputeType.COMPUTE_32F));
      rejects(
          "cublasGemmEx: alpha holds 4 bytes, needs 8",
          () -> gemm(handle, 1, alpha, alpha, Cublas.ComputeType.COMPUTE_64F));
      rejects(
          "cudnnSetTensorNdDescriptor(FLOAT, dims [1, 2, 3], strides [6, 3]): as many strides as"
              + " dims needed",
          () ->
              Cudnn.setTensorNdDescriptor(
                  handle, Cudnn.DataType.FLOAT, new int[] {1, 2, 3}, new int[] {6, 3}));
      rejects(
          "ncclAllReduce: negative count: -5",
          () ->
              Nccl.allReduce(
                  0, 0, -5, Nccl.DataType.FLOAT32, Nccl.RedOp.SUM, handle, MemorySegment.NULL));
      rejects(
          "cublasLtMatmulDescSetAttribute(TRANSA, 4294967296): value does not fit 32 bits",
          () ->
              CublasLt.matmulDescSetAttribute(
                  handle, CublasLt.MatmulDescAttribute.TRANSA, 1L << 32));
    }
  }

  private static void gemm(
      MemorySegment handle,
      int m,
      MemorySegment alpha,
      MemorySegment beta,
      Cublas.ComputeType type) {
    Cublas.gemmEx(
        handle,
        false,
        false,
        m,
        2,
        3,
        alpha,
        0,
        CudaDataType.R_32F,
        1,
        0,
        CudaDataType.R_32F,
        3,
        beta,
        0,
        CudaDataType.R_32F,
        1,
        type,
        Cublas.GEMM_DEFAULT);
  }

  private static void rejects(String message, Executable call) {
    var e = assertThrows(IllegalArgumentException.class, call);
    assertEquals(message, e.getMessage());
  }

  @Test
  void kernelParamsPointToEachValueInOrder() {
    try (Arena arena = Arena.ofConfined()) {
      var params = new KernelParams(arena).pointer(0x7f00_1234_5678L).f32(2.5f).i32(-7).f64(0.125);
      assertEquals(4, params.count());
      MemorySegment array = params.build();
      assertEquals(4 * ADDRESS.byteSize(), array.byteSize());
      assertEquals(0x7f00_1234_5678L, slot(array, 0, 8).get(JAVA_LONG, 0));
      assertEquals(2.5f, slot(array, 1, 4).get(JAVA_FLOAT, 0));
      assertEquals(-7, slot(array, 2, 4).get(JAVA_INT, 0));
      assertEquals(0.125, slot(array, 3, 8).get(JAVA_DOUBLE, 0));
    }
  }

  private static MemorySegment slot(MemorySegment array, int i, long bytes) {
    MemorySegment p = array.getAtIndex(ADDRESS, i).reinterpret(bytes);
    assertEquals(0, p.address() % bytes, "parameter " + i + " is not aligned");
    return p;
  }

  @Test
  void exceptionsCarryTheCallAndTheLibrarysNameAndString() {
    var e =
        new CudaDriverException(
            "cuMemAlloc_v2(1024 bytes)", 2, "CUDA_ERROR_OUT_OF_MEMORY", "out of memory");
    assertEquals(
        "cuMemAlloc_v2(1024 bytes) failed: CUDA_ERROR_OUT_OF_MEMORY (out of memory), status 2",
        e.getMessage());
    assertTrue(e.isOutOfMemory());
    assertEquals("cuMemAlloc_v2(1024 bytes)", e.call());
    assertEquals(2, e.status());
    CudaException n = new NcclException("ncclGroupEnd", 4, "ncclInvalidArgument", "invalid");
    assertEquals("ncclInvalidArgument", n.statusName());
    assertEquals("ncclInvalidArgument", Nccl.resultName(4));
    assertEquals("ncclResult_t 42", Nccl.resultName(42));
  }

  /**
   * The toolkit-folder search on a real CUDA install: the CUDA runtime (which Kinema does not bind,
   * but toolkits ship) is found under {@code /usr/local/cuda*}{@code /lib64} and answers a call;
   * without a driver it reports an error status instead of devices.
   */
  @Test
  void toolkitFoldersFindTheInstalledCudaRuntime() throws Throwable {
    NativeLibrary cudart =
        NativeLibrary.builder("cudart-probe")
            .names("libcudart.so.13", "libcudart.so.12")
            .requiredSymbol("cudaGetDeviceCount")
            .toolkitFolders("/usr/local/cuda/lib64", "/usr/local/cuda-*/lib64")
            .standardFolders(List.of())
            .environment(Map.<String, String>of()::get)
            .loaderLookup(false)
            .build();
    assumeTrue(cudart.isAvailable(), cudart.shortReason());
    assertTrue(cudart.location().orElseThrow().startsWith("/usr/local/cuda"));
    Downcall count =
        cudart.downcall(
            CTypes.standard().ints("cudaError_t"), "cudaError_t cudaGetDeviceCount(int *count)");
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment n = arena.allocate(JAVA_INT);
      int status = (int) count.handle().invokeExact(n);
      assertEquals(CudaDevices.available(), status == 0, "cudaGetDeviceCount returned " + status);
    }
  }
}
