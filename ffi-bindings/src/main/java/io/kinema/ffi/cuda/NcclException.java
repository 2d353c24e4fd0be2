package io.kinema.ffi.cuda;

/**
 * An NCCL call ({@link Nccl}) returned an error {@code ncclResult_t}. The description is {@code
 * ncclGetErrorString}'s, followed by {@code ncclGetLastError}'s detail where there is one.
 */
public final class NcclException extends CudaException {
  NcclException(String call, int status, String statusName, String statusString) {
    super(call, status, statusName, statusString);
  }
}
