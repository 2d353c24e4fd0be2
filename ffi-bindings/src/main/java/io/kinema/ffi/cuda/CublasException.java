package io.kinema.ffi.cuda;

/** A cuBLAS or cuBLASLt call ({@link Cublas}, {@link CublasLt}) returned an error status. */
public final class CublasException extends CudaException {
  CublasException(String call, int status, String statusName, String statusString) {
    super(call, status, statusName, statusString);
  }
}
