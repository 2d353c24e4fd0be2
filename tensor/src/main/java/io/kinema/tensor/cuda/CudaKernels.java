package io.kinema.tensor.cuda;

import io.kinema.ffi.cuda.CudaDriver;
import io.kinema.ffi.cuda.CudaDriver.FunctionAttribute;
import io.kinema.tensor.cuda.KernelCatalog.Kernel;
import io.kinema.tensor.cuda.KernelCatalog.Module;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.EnumMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Kinema's kernels on one device: loads each PTX module on first use (the driver compiles it for
 * the GPU; its disk cache makes later runs fast), looks functions up once, raises the
 * dynamic-shared-memory limit of kernels that need more than 48 KiB, and launches with arguments
 * checked against {@link KernelCatalog} ({@link KernelArgs}).
 */
final class CudaKernels {
  /** Threads per block of the grid-stride kernels (their catalogued block size). */
  static final int BLOCK = 256;

  private final CudaDevice device;
  private final Map<Module, MemorySegment> modules = new EnumMap<>(Module.class);
  private final Map<String, MemorySegment> functions = new ConcurrentHashMap<>();

  CudaKernels(CudaDevice device) {
    this.device = device;
  }

  /** Throws unless every module's PTX is on the class path (the jar was built with nvcc). */
  static void requirePtx() {
    for (Module m : Module.values()) {
      if (m.ptx().isEmpty()) {
        throw new IllegalStateException(
            "the CUDA kernels are missing: class-path resource "
                + m.resource()
                + " not found. The tensor module was built without nvcc (build-ptx.sh found no"
                + " CUDA toolkit), so it ships no PTX; install the CUDA toolkit (or pass"
                + " -Dkinema.nvcc=PATH) and rebuild. See docs/GPU.md");
      }
    }
  }

  /** A launch shape: {@code x * y} blocks of {@code blockX * blockY} threads. */
  record Grid(long x, long y, int blockX, int blockY) {
    /** {@code blocks} blocks of {@code threads} threads, in one dimension. */
    static Grid of(long blocks, int threads) {
      return new Grid(blocks, 1, threads, 1);
    }
  }

  /**
   * Launches {@code name} on {@code grid} with the catalogued dynamic shared memory, in the
   * device's stream. An empty grid launches nothing.
   */
  void launch(String name, Grid grid, Object... args) {
    if (grid.x() == 0 || grid.y() == 0) return;
    Kernel k = KernelCatalog.kernel(name);
    if (grid.x() > Integer.MAX_VALUE || grid.y() > 65535) {
      throw new UnsupportedOperationException(
          "not supported on CUDA yet: "
              + name
              + " on a grid of "
              + grid.x()
              + " x "
              + grid.y()
              + " blocks (the most is 2^31-1 x 65535): the tensor is too large for this kernel");
    }
    MemorySegment f = function(k);
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment params = KernelArgs.encode(k, arena, args);
      CudaDriver.launchKernel(
          f,
          (int) grid.x(),
          (int) grid.y(),
          1,
          grid.blockX(),
          grid.blockY(),
          1,
          k.launch().dynamicSmem(),
          device.stream().handle(),
          params);
    }
  }

  /** A 1-d launch of {@code blocks} blocks of the kernel's catalogued block size. */
  void launch(String name, long blocks, Object... args) {
    var l = KernelCatalog.kernel(name).launch();
    launch(name, new Grid(blocks, 1, l.blockX(), l.blockY()), args);
  }

  /** The grid of a grid-stride kernel over {@code work} items: enough blocks to fill the GPU. */
  long gridStride(long work) {
    return Math.max(1, Math.min(Math.ceilDiv(work, BLOCK), 32L * device.multiprocessors()));
  }

  /**
   * Threads per block for a kernel that reduces rows of {@code n} elements with one block each:
   * about 8 elements per thread, a power of two from 32 to 1024.
   */
  static int rowThreads(long n) {
    long t = Math.max(32, Long.highestOneBit(Math.max(1, Math.ceilDiv(n, 8)) * 2 - 1));
    return (int) Math.min(1024, t);
  }

  /** Streaming multiprocessors of the device (grids are sized by it). */
  int multiprocessors() {
    return device.multiprocessors();
  }

  MemorySegment function(Kernel k) {
    MemorySegment f = functions.get(k.name());
    if (f != null) return f;
    synchronized (this) {
      f = functions.get(k.name());
      if (f != null) return f;
      f = CudaDriver.moduleGetFunction(module(k.module()), k.name());
      int smem = k.launch().dynamicSmem();
      if (k.launch().needsSmemOptIn()) {
        if (smem > device.maxSharedMemoryOptIn()) {
          throw new UnsupportedOperationException(
              "not supported on this GPU: "
                  + k.name()
                  + " needs "
                  + smem
                  + " bytes of shared memory per block, "
                  + device
                  + " allows "
                  + device.maxSharedMemoryOptIn());
        }
        CudaDriver.funcSetAttribute(f, FunctionAttribute.MAX_DYNAMIC_SHARED_SIZE_BYTES, smem);
      }
      functions.put(k.name(), f);
      return f;
    }
  }

  private MemorySegment module(Module m) {
    MemorySegment loaded = modules.get(m);
    if (loaded != null) return loaded;
    byte[] ptx =
        m.ptx()
            .orElseThrow(
                () ->
                    new IllegalStateException(
                        "the CUDA kernel module " + m.resource() + " is missing"));
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment image = arena.allocate(ptx.length);
      MemorySegment.copy(ptx, 0, image, java.lang.foreign.ValueLayout.JAVA_BYTE, 0, ptx.length);
      loaded = CudaDriver.moduleLoadData(image);
    }
    modules.put(m, loaded);
    return loaded;
  }
}
