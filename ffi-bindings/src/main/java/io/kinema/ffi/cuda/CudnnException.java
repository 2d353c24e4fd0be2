package io.kinema.ffi.cuda;

/**
 * A cuDNN call ({@link Cudnn}) returned an error status. The name is {@code cudnnGetErrorString}'s;
 * the description is cuDNN 9's detailed last-error message where there is one.
 */
public final class CudnnException extends CudaException {
  CudnnException(String call, int status, String statusName, String statusString) {
    super(call, status, statusName, statusString);
  }
}
