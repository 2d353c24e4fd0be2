package io.kinema.ffi.cuda;

import java.util.function.Supplier;

/**
 * Prints what Kinema finds of CUDA on this machine: each library's file (or why it is missing) and
 * version, then the devices. For checking a machine before a GPU run, and for bug reports:
 *
 * <pre>{@code java -cp train.jar io.kinema.ffi.cuda.CudaInfo}</pre>
 *
 * Exits 0 when at least one device is usable, 1 otherwise.
 */
public final class CudaInfo {
  private CudaInfo() {}

  public static void main(String[] args) {
    report(CudaLibrary.DRIVER, () -> cudaVersion(CudaDriver.driverGetVersion()));
    report(CudaLibrary.CUBLAS, Cublas::version);
    report(CudaLibrary.CUBLASLT, () -> Long.toString(CublasLt.getVersion()));
    report(CudaLibrary.CUDNN, () -> Long.toString(Cudnn.getVersion()));
    report(CudaLibrary.NCCL, () -> Integer.toString(Nccl.getVersion()));
    if (!CudaDevices.available()) {
      System.out.println("devices: none (" + CudaDevices.unavailableReason() + ")");
      System.exit(1);
    }
    System.out.println("devices: " + CudaDevices.count());
    CudaDevices.list().forEach(d -> System.out.println("  " + d));
  }

  private static void report(CudaLibrary library, Supplier<String> version) {
    String id = library.library().id();
    if (!library.isAvailable()) {
      System.out.println(id + ": not available (" + library.shortReason() + ")");
      return;
    }
    String v;
    try {
      v = version.get();
    } catch (RuntimeException e) { // e.g. the driver loads but cuInit has not run or fails
      v = "version unknown: " + e.getMessage();
    }
    System.out.println(id + ": " + library.library().location().orElse("?") + " (" + v + ")");
  }

  /** The driver's 12040 as "12.4". */
  private static String cudaVersion(int v) {
    return (v / 1000) + "." + (v % 1000) / 10;
  }
}
