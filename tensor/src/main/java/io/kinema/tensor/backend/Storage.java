package io.kinema.tensor.backend;

import io.kinema.tensor.Device;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A reference-counted block of device memory shared by a tensor and its views. The block goes back
 * to its allocator when the last reference is released — never when the GC notices.
 */
public final class Storage {
  /** Returns a block to whoever allocated it. */
  public interface Releaser {
    void release(MemorySegment segment);
  }

  private final MemorySegment segment;
  private final Device device;
  private final Releaser releaser;
  private final AtomicInteger refs = new AtomicInteger(1);
  private volatile long version;

  public Storage(MemorySegment segment, Device device, Releaser releaser) {
    this.segment = segment;
    this.device = device;
    this.releaser = releaser;
  }

  /** The memory; on the CPU a native segment, on CUDA a device address of the right size. */
  public MemorySegment segment() {
    if (refs.get() <= 0) throw new IllegalStateException("storage used after it was released");
    return segment;
  }

  public Device device() {
    return device;
  }

  public long byteSize() {
    return segment.byteSize();
  }

  /** Adds a reference (a new view). */
  public Storage retain() {
    int r;
    do {
      r = refs.get();
      if (r <= 0) throw new IllegalStateException("storage used after it was released");
    } while (!refs.compareAndSet(r, r + 1));
    return this;
  }

  /** Drops a reference; the last one frees the memory. */
  public void release() {
    int r = refs.decrementAndGet();
    if (r == 0) releaser.release(segment);
    else if (r < 0) throw new IllegalStateException("storage released more often than retained");
  }

  /**
   * Counts in-place writes through any view. Autograd compares it with the value it saw when it
   * saved a tensor, so data changed before backward is detected instead of silently used.
   */
  public long version() {
    return version;
  }

  /** Records an in-place write. */
  public void bumpVersion() {
    version++;
  }

  /** Live references (for tests and diagnostics). */
  public int refCount() {
    return refs.get();
  }
}
