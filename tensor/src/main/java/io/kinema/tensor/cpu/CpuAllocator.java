package io.kinema.tensor.cpu;

import io.kinema.tensor.Device;
import io.kinema.tensor.backend.MemoryStats;
import io.kinema.tensor.backend.Storage;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Map;

/**
 * Host memory for tensors: 64-byte aligned blocks from libc, freed the moment their last reference
 * goes. Large blocks are cached by size class and reused, because on these VMs a fresh large
 * allocation faults its pages in again on every use. The cache is bounded (system property {@code
 * kinema.cpu.cacheBytes}, default 1 GiB) and can be emptied.
 */
public final class CpuAllocator {
  /** Alignment of every block: a cache line and a full AVX-512 vector. */
  public static final long ALIGNMENT = 64;

  /** Blocks below this size go straight back to libc (its own bins are fast for them). */
  private static final long CACHE_MIN_BYTES = 64 * 1024;

  private static final MethodHandle POSIX_MEMALIGN;
  private static final MethodHandle FREE;

  static {
    Linker linker = Linker.nativeLinker();
    var libc = linker.defaultLookup();
    POSIX_MEMALIGN =
        linker.downcallHandle(
            libc.find("posix_memalign").orElseThrow(),
            FunctionDescriptor.of(
                ValueLayout.JAVA_INT,
                ValueLayout.ADDRESS,
                ValueLayout.JAVA_LONG,
                ValueLayout.JAVA_LONG));
    FREE =
        linker.downcallHandle(
            libc.find("free").orElseThrow(), FunctionDescriptor.ofVoid(ValueLayout.ADDRESS));
  }

  private static final CpuAllocator INSTANCE =
      new CpuAllocator(Long.getLong("kinema.cpu.cacheBytes", 1L << 30));

  private final long cacheLimit;
  private final Map<Long, ArrayDeque<MemorySegment>> cache = new HashMap<>();
  private long allocated;
  private long cached;
  private long peak;
  private final Storage.Releaser releaser = this::giveBack;

  private CpuAllocator(long cacheLimit) {
    this.cacheLimit = cacheLimit;
  }

  /** The process-wide host allocator. */
  public static CpuAllocator get() {
    return INSTANCE;
  }

  /** A new storage of at least {@code bytes} bytes; contents are undefined. */
  public Storage allocate(long bytes) {
    if (bytes < 0) throw new IllegalArgumentException("negative allocation: " + bytes);
    long size = sizeClass(Math.max(bytes, 1));
    MemorySegment seg = null;
    synchronized (this) {
      ArrayDeque<MemorySegment> q = cache.get(size);
      if (q != null && !q.isEmpty()) {
        seg = q.pop();
        cached -= size;
      }
      allocated += size;
      peak = Math.max(peak, allocated);
    }
    if (seg == null) seg = malloc(size);
    return new Storage(seg, Device.CPU, releaser);
  }

  private void giveBack(MemorySegment seg) {
    long size = seg.byteSize();
    synchronized (this) {
      allocated -= size;
      if (size >= CACHE_MIN_BYTES && cached + size <= cacheLimit) {
        cache.computeIfAbsent(size, k -> new ArrayDeque<>()).push(seg);
        cached += size;
        return;
      }
    }
    free(seg);
  }

  /** Frees every cached block. */
  public void emptyCache() {
    synchronized (this) {
      for (ArrayDeque<MemorySegment> q : cache.values()) for (MemorySegment s : q) free(s);
      cache.clear();
      cached = 0;
    }
  }

  public synchronized MemoryStats stats() {
    return new MemoryStats(allocated, cached, peak);
  }

  public synchronized void resetPeak() {
    peak = allocated;
  }

  /**
   * Rounds a request up to its size class: multiples of 64 bytes below 64 KiB, then steps of an
   * eighth of the power of two below it (at most 12.5% waste), so freed blocks are found again.
   */
  static long sizeClass(long bytes) {
    long aligned = (bytes + ALIGNMENT - 1) & -ALIGNMENT;
    if (aligned < CACHE_MIN_BYTES) return aligned;
    long step = Long.highestOneBit(aligned) >>> 3;
    return (aligned + step - 1) / step * step;
  }

  private static MemorySegment malloc(long size) {
    try (var arena = java.lang.foreign.Arena.ofConfined()) {
      MemorySegment out = arena.allocate(ValueLayout.ADDRESS);
      int rc = (int) POSIX_MEMALIGN.invokeExact(out, ALIGNMENT, size);
      if (rc != 0) {
        throw new OutOfMemoryError(
            "cpu: cannot allocate "
                + size
                + " bytes of native memory (posix_memalign rc="
                + rc
                + ")");
      }
      return out.get(ValueLayout.ADDRESS, 0).reinterpret(size);
    } catch (Error | RuntimeException e) {
      throw e;
    } catch (Throwable t) {
      throw new IllegalStateException(t);
    }
  }

  private static void free(MemorySegment seg) {
    try {
      FREE.invokeExact(seg);
    } catch (Throwable t) {
      throw new IllegalStateException(t);
    }
  }
}
