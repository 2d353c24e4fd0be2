package io.kinema.ffi.cuda;

/**
 * A CUDA-library call returned an error status. Carries the call that failed (with its key
 * arguments), the numeric status and the library's own name and description of it, as the library
 * reports them ({@code cuGetErrorName}/{@code cuGetErrorString}, {@code cublasGetStatusName}/{@code
 * String}, {@code cudnnGetErrorString}, {@code ncclGetErrorString}). One subclass per library, so a
 * caller can catch, say, only driver errors.
 */
public abstract sealed class CudaException extends RuntimeException
    permits CudaDriverException, CublasException, CudnnException, NcclException {
  private final String call;
  private final int status;
  private final String statusName;
  private final String statusString;

  CudaException(String call, int status, String statusName, String statusString) {
    super(call + " failed: " + statusName + " (" + statusString + "), status " + status);
    this.call = call;
    this.status = status;
    this.statusName = statusName;
    this.statusString = statusString;
  }

  /** The call that failed, e.g. {@code "cuMemAlloc_v2(1073741824 bytes)"}. */
  public String call() {
    return call;
  }

  /** The numeric status the library returned (never 0). */
  public int status() {
    return status;
  }

  /** The status's name, e.g. {@code "CUDA_ERROR_OUT_OF_MEMORY"}. */
  public String statusName() {
    return statusName;
  }

  /** The library's description of the status, e.g. {@code "out of memory"}. */
  public String statusString() {
    return statusString;
  }
}
