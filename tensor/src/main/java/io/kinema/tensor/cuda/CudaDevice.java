package io.kinema.tensor.cuda;

import io.kinema.ffi.cuda.CudaDevices;
import io.kinema.ffi.cuda.CudaDriver;
import io.kinema.ffi.cuda.CudaDriver.DeviceAttribute;
import io.kinema.tensor.Device;
import java.lang.foreign.MemorySegment;

/**
 * One GPU as the backend uses it: its primary context (shared with cuBLAS and any other library in
 * the process), the one stream all of the backend's work runs on, and the properties launches are
 * sized by. Driver calls need the context current on the calling thread: every entry point of the
 * backend calls {@link #bind()} first.
 */
final class CudaDevice {
  private final Device device;
  private final int handle;
  private final MemorySegment context;
  private final CudaStream stream;
  private final CudaDevices.Info info;
  private final int maxSharedMemoryOptIn;

  private CudaDevice(Device device) {
    this.device = device;
    this.info = CudaDevices.info(device.index());
    this.handle = CudaDriver.deviceGet(device.index());
    this.context = CudaDriver.devicePrimaryCtxRetain(handle);
    bind();
    this.stream = CudaStream.create();
    this.maxSharedMemoryOptIn =
        CudaDriver.deviceGetAttribute(DeviceAttribute.MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, handle);
  }

  /** Opens CUDA device {@code device.index()} (the driver must be usable: see CudaProvider). */
  static CudaDevice open(Device device) {
    return new CudaDevice(device);
  }

  Device device() {
    return device;
  }

  CudaDevices.Info info() {
    return info;
  }

  int multiprocessors() {
    return info.multiprocessors();
  }

  /** The most dynamic shared memory one block may use once its kernel opts in. */
  int maxSharedMemoryOptIn() {
    return maxSharedMemoryOptIn;
  }

  CudaStream stream() {
    return stream;
  }

  /** Makes this device's context current on the calling thread (cheap; idempotent). */
  void bind() {
    CudaDriver.ctxSetCurrent(context);
  }

  /** Waits for all work the backend submitted to this device. */
  void synchronize() {
    bind();
    stream.synchronize();
  }

  @Override
  public String toString() {
    return info.toString();
  }
}
