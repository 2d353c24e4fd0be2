package io.kinema.tensor.cuda;

import io.kinema.ffi.cuda.CudaDevices;
import io.kinema.tensor.Backends;
import io.kinema.tensor.Device;
import io.kinema.tensor.backend.Backend;

/**
 * Registers the CUDA backend with {@link Backends} through {@link java.util.ServiceLoader} ({@code
 * META-INF/services/io.kinema.tensor.Backends$Provider}). Loaded only when a CUDA device is asked
 * for, so CPU-only use never touches the driver. Without a usable GPU (no driver, no such device, a
 * GPU older than sm_80, or a tensor jar built without the kernels), {@link #create} throws one
 * {@link IllegalStateException} saying what is missing.
 */
public final class CudaProvider implements Backends.Provider {
  @Override
  public Device.Kind kind() {
    return Device.Kind.CUDA;
  }

  @Override
  public Backend create(Device device) {
    if (!CudaDevices.available()) {
      throw new IllegalStateException(
          "cannot run on "
              + device
              + ": CUDA is not available: "
              + CudaDevices.unavailableReason());
    }
    int count = CudaDevices.count();
    if (device.index() >= count) {
      throw new IllegalStateException(
          "cannot run on " + device + ": this machine has " + count + " CUDA device(s)");
    }
    CudaDevices.Info info = CudaDevices.info(device.index());
    if (info.computeCapabilityMajor() < 8) {
      throw new IllegalStateException(
          "cannot run on "
              + info
              + ": Kinema's CUDA kernels need compute capability 8.0 or later (Ampere: cp.async,"
              + " BF16 tensor cores)");
    }
    try {
      CudaKernels.requirePtx();
    } catch (IllegalStateException e) {
      throw new IllegalStateException("cannot run on " + device + ": " + e.getMessage(), e);
    }
    return new CudaBackend(CudaDevice.open(device));
  }
}
