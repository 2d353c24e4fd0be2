package io.kinema.tensor.cuda;

import io.kinema.ffi.cuda.CudaDriver;
import java.lang.foreign.MemorySegment;

/**
 * Host &lt;-&gt; device copies through two page-locked (pinned) staging buffers, reused for the
 * life of the backend. Copies from pageable memory make the driver stage through its own small
 * buffers synchronously; with ours a copy is cut into chunks and the host's memcpy of one chunk
 * overlaps the DMA of the other. An event per buffer says when the DMA that read (or wrote) it is
 * done, so a buffer is never overwritten early.
 *
 * <ul>
 *   <li>{@link #toDevice} returns once the data is in the staging buffers: the source may be freed
 *       at once, and work queued later on the stream sees the data (stream order).
 *   <li>{@link #toHost} returns once the data is in the destination: it waits for everything queued
 *       before it on the stream.
 * </ul>
 *
 * The buffers are {@code kinema.cuda.stagingBytes} each (default 16 MiB), allocated on first use.
 * One copy runs at a time per device.
 */
final class PinnedStaging {
  /** Bytes per staging buffer. */
  static final long CHUNK = Long.getLong("kinema.cuda.stagingBytes", 16L << 20);

  private final CudaDevice device;
  private final MemorySegment[] buffers = new MemorySegment[2];
  private final MemorySegment[] events = new MemorySegment[2];
  private final boolean[] inFlight = new boolean[2];

  PinnedStaging(CudaDevice device) {
    if (CHUNK < 4096) {
      throw new IllegalArgumentException("kinema.cuda.stagingBytes must be >= 4096, got " + CHUNK);
    }
    this.device = device;
  }

  /**
   * Copies {@code bytes} from host {@code src} (at byte {@code srcOffset}) to device {@code dst}.
   */
  synchronized void toDevice(MemorySegment src, long srcOffset, long dst, long bytes) {
    if (bytes == 0) return;
    device.bind();
    CudaStream stream = device.stream();
    int slot = 0;
    for (long done = 0; done < bytes; done += CHUNK, slot ^= 1) {
      long len = Math.min(CHUNK, bytes - done);
      MemorySegment buf = acquire(slot);
      MemorySegment.copy(src, srcOffset + done, buf, 0, len);
      CudaDriver.memcpyHtoDAsync(dst + done, buf, len, stream.handle());
      release(slot, stream);
    }
  }

  /**
   * Copies {@code bytes} from device {@code src} to host {@code dst} (at byte {@code dstOffset});
   * on return the data is there.
   */
  synchronized void toHost(long src, MemorySegment dst, long dstOffset, long bytes) {
    if (bytes == 0) return;
    device.bind();
    CudaStream stream = device.stream();
    long chunks = Math.ceilDiv(bytes, CHUNK);
    // Keep one DMA ahead: chunk c + 1 is in flight while chunk c is copied out on the host.
    issueToHost(src, bytes, 0, stream);
    for (long c = 0; c < chunks; c++) {
      if (c + 1 < chunks) issueToHost(src, bytes, c + 1, stream);
      int slot = (int) (c & 1);
      MemorySegment buf = acquire(slot);
      long len = Math.min(CHUNK, bytes - c * CHUNK);
      MemorySegment.copy(buf, 0, dst, dstOffset + c * CHUNK, len);
    }
  }

  private void issueToHost(long src, long bytes, long c, CudaStream stream) {
    int slot = (int) (c & 1);
    long len = Math.min(CHUNK, bytes - c * CHUNK);
    MemorySegment buf = acquire(slot);
    CudaDriver.memcpyDtoHAsync(buf, src + c * CHUNK, len, stream.handle());
    release(slot, stream);
  }

  /** Buffer {@code slot}, once the DMA that last used it has finished. */
  private MemorySegment acquire(int slot) {
    if (buffers[slot] == null) {
      buffers[slot] = CudaDriver.memAllocHost(CHUNK);
      events[slot] = CudaStream.newEvent();
    }
    if (inFlight[slot]) {
      CudaDriver.eventSynchronize(events[slot]);
      inFlight[slot] = false;
    }
    return buffers[slot];
  }

  /** Marks buffer {@code slot} as used by the DMA just queued on {@code stream}. */
  private void release(int slot, CudaStream stream) {
    stream.record(events[slot]);
    inFlight[slot] = true;
  }
}
