package io.kinema.tensor.cuda;

import io.kinema.ffi.cuda.CudaDriver;
import java.lang.foreign.MemorySegment;

/**
 * A CUDA stream: work submitted to it runs in submission order. The backend runs everything on one
 * stream per device, so kernels, cuBLAS calls and copies need no events among themselves; events
 * order the host against the stream (pinned staging buffers, {@link #synchronize()}).
 */
public final class CudaStream {
  private final MemorySegment handle;

  private CudaStream(MemorySegment handle) {
    this.handle = handle;
  }

  /**
   * A new stream that does not synchronize with the legacy default stream (so other libraries'
   * default-stream work does not serialize with ours). Needs the device's context to be current.
   */
  static CudaStream create() {
    return new CudaStream(CudaDriver.streamCreate(CudaDriver.STREAM_NON_BLOCKING));
  }

  /** The {@code CUstream} handle. */
  public MemorySegment handle() {
    return handle;
  }

  /** Blocks until every piece of work submitted so far has finished. */
  public void synchronize() {
    CudaDriver.streamSynchronize(handle);
  }

  /** An event for host/stream ordering (no timing: cheaper to record and wait on). */
  static MemorySegment newEvent() {
    return CudaDriver.eventCreate(CudaDriver.EVENT_DISABLE_TIMING);
  }

  /** Records {@code event} at the current end of this stream. */
  void record(MemorySegment event) {
    CudaDriver.eventRecord(event, handle);
  }
}
