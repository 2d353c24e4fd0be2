package io.kinema.tensor.cuda;

import io.kinema.ffi.cuda.CudaDriver;
import io.kinema.ffi.cuda.CudaDriver.FunctionAttribute;
import io.kinema.tensor.DType;
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
 *
 * <p>A launch costs the host one map lookup (name to catalog entry and function, resolved on first
 * use), the argument checks and encoding into the device's reusable parameter block (under its
 * lock), and the {@code cuLaunchKernel} downcall: no native allocation. {@code docs/PERFORMANCE.md}
 * ("CUDA host overhead per op") has the numbers.
 */
final class CudaKernels {
  /** Threads per block of the grid-stride kernels (their catalogued block size). */
  static final int BLOCK = 256;

  private final CudaDevice device;
  private final Map<Module, MemorySegment> modules = new EnumMap<>(Module.class);
  private final Map<String, Loaded> byName = new ConcurrentHashMap<>();
  private final Map<String, Loaded[]> byFamily = new ConcurrentHashMap<>();

  /**
   * The parameter block of this device's launches, rewritten by each under its lock. It lives as
   * long as the process, as the loaded modules do (the backend has no device teardown).
   */
  private final KernelArgs params = KernelArgs.forEveryKernel(Arena.global());

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
    launch(loaded(name), grid.x(), grid.y(), grid.blockX(), grid.blockY(), args);
  }

  /** A 1-d launch of {@code blocks} blocks of the kernel's catalogued block size. */
  void launch(String name, long blocks, Object... args) {
    Loaded k = loaded(name);
    var l = k.kernel().launch();
    launch(k, blocks, 1, l.blockX(), l.blockY(), args);
  }

  /**
   * Launches the kernel named {@code family} + the float dtype's suffix ({@code f32}, {@code bf16},
   * {@code f16}, {@code f64}), e.g. {@code ("kinema_softmax_", F32)} for {@code
   * kinema_softmax_f32}, on {@code grid}. The name is resolved once per family and dtype, not
   * concatenated per launch.
   */
  void launch(String family, DType type, Grid grid, Object... args) {
    launch(loaded(family, type), grid.x(), grid.y(), grid.blockX(), grid.blockY(), args);
  }

  /** {@link #launch(String, DType, Grid, Object...)} on a 1-d grid of the catalogued block. */
  void launch(String family, DType type, long blocks, Object... args) {
    Loaded k = loaded(family, type);
    var l = k.kernel().launch();
    launch(k, blocks, 1, l.blockX(), l.blockY(), args);
  }

  private void launch(Loaded k, long gridX, long gridY, int blockX, int blockY, Object[] args) {
    if (gridX == 0 || gridY == 0) return;
    if (gridX > Integer.MAX_VALUE || gridY > 65535) {
      throw new UnsupportedOperationException(
          "not supported on CUDA yet: "
              + k.kernel().name()
              + " on a grid of "
              + gridX
              + " x "
              + gridY
              + " blocks (the most is 2^31-1 x 65535): the tensor is too large for this kernel");
    }
    // cuLaunchKernel copies the values during the call (see KernelArgs), so the next launch may
    // rewrite the block as soon as this one returns; the lock keeps two threads out of it at once.
    synchronized (params) {
      CudaDriver.launchKernel(
          k.function(),
          (int) gridX,
          (int) gridY,
          1,
          blockX,
          blockY,
          1,
          k.kernel().launch().dynamicSmem(),
          device.stream().handle(),
          params.encode(k.kernel(), args));
    }
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

  /** The function of kernel {@code name} on this device (loading its module on first use). */
  MemorySegment function(String name) {
    return loaded(name).function();
  }

  /**
   * A catalogued kernel with its function on this device: one map lookup per launch finds both (the
   * catalog entry and the function are resolved once, on first use).
   */
  private record Loaded(Kernel kernel, MemorySegment function) {}

  private Loaded loaded(String name) {
    Loaded k = byName.get(name);
    return k != null ? k : load(name);
  }

  /** The kernel {@code family + suffix(type)}, by family then dtype ordinal. */
  private Loaded loaded(String family, DType type) {
    Loaded[] byType = byFamily.computeIfAbsent(family, f -> new Loaded[DType.values().length]);
    Loaded k = byType[type.ordinal()];
    if (k == null) {
      // A race stores the same entry twice; Loaded's final fields make it safe to publish so.
      k = loaded(family + CudaElementwise.suffix(type));
      byType[type.ordinal()] = k;
    }
    return k;
  }

  private synchronized Loaded load(String name) {
    Loaded k = byName.get(name);
    if (k != null) return k;
    Kernel kernel = KernelCatalog.kernel(name);
    MemorySegment f = CudaDriver.moduleGetFunction(module(kernel.module()), kernel.name());
    int smem = kernel.launch().dynamicSmem();
    if (kernel.launch().needsSmemOptIn()) {
      if (smem > device.maxSharedMemoryOptIn()) {
        throw new UnsupportedOperationException(
            "not supported on this GPU: "
                + kernel.name()
                + " needs "
                + smem
                + " bytes of shared memory per block, "
                + device
                + " allows "
                + device.maxSharedMemoryOptIn());
      }
      CudaDriver.funcSetAttribute(f, FunctionAttribute.MAX_DYNAMIC_SHARED_SIZE_BYTES, smem);
    }
    k = new Loaded(kernel, f);
    byName.put(name, k);
    return k;
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
