package io.kinema.tensor.cuda;

/**
 * The device could not supply a block even after the allocator freed its cache and retried. The
 * message names the request and the allocator's state; the cause is the driver's error.
 */
public final class CudaOutOfMemoryError extends OutOfMemoryError {
  private static final long serialVersionUID = 1L;

  private final long requestedBytes;

  CudaOutOfMemoryError(String message, long requestedBytes, Throwable cause) {
    super(message);
    this.requestedBytes = requestedBytes;
    initCause(cause);
  }

  /** The size that was asked for (before rounding to a size class). */
  public long requestedBytes() {
    return requestedBytes;
  }
}
