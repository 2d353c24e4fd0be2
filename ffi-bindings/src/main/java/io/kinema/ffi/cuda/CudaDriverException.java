package io.kinema.ffi.cuda;

/** A CUDA driver API call ({@link CudaDriver}) returned an error {@code CUresult}. */
public final class CudaDriverException extends CudaException {
  /** {@code CUDA_ERROR_OUT_OF_MEMORY}. */
  public static final int OUT_OF_MEMORY = 2;

  CudaDriverException(String call, int status, String statusName, String statusString) {
    super(call, status, statusName, statusString);
  }

  /** Whether the device ran out of memory (a caching allocator may free its cache and retry). */
  public boolean isOutOfMemory() {
    return status() == OUT_OF_MEMORY;
  }
}
