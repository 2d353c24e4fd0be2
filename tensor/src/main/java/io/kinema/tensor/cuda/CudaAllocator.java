package io.kinema.tensor.cuda;

import io.kinema.ffi.cuda.CudaDriver;
import io.kinema.ffi.cuda.CudaDriverException;
import io.kinema.tensor.backend.MemoryStats;
import io.kinema.tensor.backend.Storage;
import java.lang.foreign.MemorySegment;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * Device memory for tensors, with a cache: {@code cuMemAlloc}/{@code cuMemFree} synchronize the
 * device and cost tens of microseconds, so freed blocks are kept by size class and handed out
 * again.
 *
 * <ul>
 *   <li><b>Size classes</b>: requests round up to a multiple of 512 bytes below 1 MiB and of 2 MiB
 *       above, so the blocks of one training step's shapes are found again the next step. A small
 *       request takes a cached block of exactly its class; a large one the smallest cached block of
 *       at least its class and at most an eighth larger (blocks are never split).
 *   <li><b>Streams</b>: a block is cached for the stream it was allocated on and handed out again
 *       only on that stream. Work on one stream runs in order, so a block freed while kernels that
 *       use it are still queued can be reused at once: anything queued later on that stream runs
 *       after them. (The backend uses one stream per device.)
 *   <li><b>Release</b>: a {@link Storage}'s last reference returns its block to the cache — never
 *       the GC. {@link #emptyCache()} waits for the device and frees every cached block.
 *   <li><b>Out of memory</b>: the cache is freed and the allocation retried once; then a {@link
 *       CudaOutOfMemoryError} names the request and the allocator's state.
 * </ul>
 */
final class CudaAllocator {
  static final long SMALL_LIMIT = 1L << 20;
  static final long SMALL_STEP = 512;
  static final long LARGE_STEP = 2L << 20;

  private final CudaDevice device;

  /**
   * Cached blocks by stream, then by size. A stream's pool is never removed: every storage
   * allocated on the stream returns its block to it.
   */
  private final Map<CudaStream, TreeMap<Long, ArrayDeque<Long>>> cache = new HashMap<>();

  private long allocated;
  private long cached;
  private long peak;
  private long driverAllocations;

  CudaAllocator(CudaDevice device) {
    this.device = device;
  }

  /** The size class of a request of {@code bytes} (at least one small step). */
  static long sizeClass(long bytes) {
    if (bytes < 0) throw new IllegalArgumentException("negative allocation: " + bytes);
    long b = Math.max(bytes, 1);
    long step = b < SMALL_LIMIT ? SMALL_STEP : LARGE_STEP;
    return Math.ceilDiv(b, step) * step;
  }

  /** A block of at least {@code bytes} bytes for work on {@code stream}; contents undefined. */
  Storage allocate(long bytes, CudaStream stream) {
    long size = sizeClass(bytes);
    TreeMap<Long, ArrayDeque<Long>> pool;
    Block block;
    synchronized (this) {
      pool = cache.computeIfAbsent(stream, k -> new TreeMap<>());
      block = take(pool, size);
    }
    if (block == null) block = new Block(allocateFromDriver(bytes, size), size);
    synchronized (this) {
      allocated += block.size();
      peak = Math.max(peak, allocated);
    }
    MemorySegment segment = MemorySegment.ofAddress(block.address()).reinterpret(block.size());
    return new Storage(segment, device.device(), s -> giveBack(pool, s));
  }

  /** A device block: its address and its size (a size class, or a little more when reused). */
  private record Block(long address, long size) {}

  /**
   * A cached block for class {@code size} from {@code pool}, or null; the caller holds the lock. A
   * size's list stays in the pool when it empties: the same sizes come back every training step.
   */
  private Block take(TreeMap<Long, ArrayDeque<Long>> pool, long size) {
    if (size < SMALL_LIMIT) return take(pool.get(size), size); // exactly its class
    for (Map.Entry<Long, ArrayDeque<Long>> e :
        pool.subMap(size, true, size + size / 8, true).entrySet()) {
      if (!e.getValue().isEmpty()) return take(e.getValue(), e.getKey());
    }
    return null;
  }

  /** The most recently cached block of {@code blocks} (of {@code size}), or null when none. */
  private Block take(ArrayDeque<Long> blocks, long size) {
    if (blocks == null || blocks.isEmpty()) return null;
    cached -= size;
    return new Block(blocks.pop(), size);
  }

  private synchronized void giveBack(TreeMap<Long, ArrayDeque<Long>> pool, MemorySegment segment) {
    long size = segment.byteSize();
    allocated -= size;
    cached += size;
    pool.computeIfAbsent(size, k -> new ArrayDeque<>()).push(segment.address());
  }

  /** {@code cuMemAlloc}; on out-of-memory frees the cache and tries once more. */
  private long allocateFromDriver(long requested, long size) {
    device.bind();
    try {
      return memAlloc(size);
    } catch (CudaDriverException e) {
      if (!e.isOutOfMemory()) throw e;
    }
    long freed = emptyCache();
    try {
      return memAlloc(size);
    } catch (CudaDriverException e) {
      if (!e.isOutOfMemory()) throw e;
      throw new CudaOutOfMemoryError(outOfMemoryMessage(requested, size, freed), requested, e);
    }
  }

  private long memAlloc(long size) {
    long address = CudaDriver.memAlloc(size);
    synchronized (this) {
      driverAllocations++;
    }
    return address;
  }

  private String outOfMemoryMessage(long requested, long size, long freed) {
    String free;
    try {
      CudaDriver.MemInfo info = CudaDriver.memGetInfo();
      free = bytes(info.free()) + " free of " + bytes(info.total()) + " per the driver";
    } catch (RuntimeException e) {
      free = "free memory unknown (" + e.getMessage() + ")";
    }
    MemoryStats s = stats();
    return String.format(
        Locale.ROOT,
        "%s: out of memory allocating %s (%d bytes, size class %d): %s held by live tensors"
            + " (peak %s), %s of cached blocks freed before the retry; %s. Free tensors (close"
            + " them or their Scope) or use smaller shapes",
        device.device(),
        bytes(requested),
        requested,
        size,
        bytes(s.allocated()),
        bytes(s.peakAllocated()),
        bytes(freed),
        free);
  }

  /**
   * Waits for the device, then frees every cached block; returns the bytes freed. Blocks still held
   * by tensors are untouched.
   */
  long emptyCache() {
    List<Long> blocks = new ArrayList<>();
    long bytes;
    synchronized (this) {
      for (TreeMap<Long, ArrayDeque<Long>> pool : cache.values()) {
        for (ArrayDeque<Long> q : pool.values()) blocks.addAll(q);
        pool.clear(); // the pools stay: live storages return their blocks to them
      }
      bytes = cached;
      cached = 0;
    }
    if (blocks.isEmpty()) return 0;
    // cuMemFree of memory a queued kernel still uses is undefined: wait for the stream first.
    device.synchronize();
    for (long b : blocks) CudaDriver.memFree(b);
    return bytes;
  }

  synchronized MemoryStats stats() {
    return new MemoryStats(allocated, cached, peak);
  }

  /** Starts a new peak measurement at the current allocation. */
  synchronized void resetPeak() {
    peak = allocated;
  }

  /** How many blocks were ever taken from the driver (for tests of the cache). */
  synchronized long driverAllocations() {
    return driverAllocations;
  }

  static String bytes(long b) {
    if (b < 1024) return b + " B";
    if (b < 1L << 20) return String.format(Locale.ROOT, "%.1f KiB", b / 1024.0);
    if (b < 1L << 30) return String.format(Locale.ROOT, "%.1f MiB", b / (double) (1L << 20));
    return String.format(Locale.ROOT, "%.2f GiB", b / (double) (1L << 30));
  }
}
