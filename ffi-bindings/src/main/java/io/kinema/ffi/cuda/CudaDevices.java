package io.kinema.ffi.cuda;

import io.kinema.ffi.cuda.CudaDriver.DeviceAttribute;
import java.util.ArrayList;
import java.util.List;

/**
 * Whether this machine can run CUDA, asked once and never throwing: {@link #count()} is 0 when the
 * driver is missing, fails to initialize or sees no device, and {@link #unavailableReason()} then
 * says why in one line (for logs and test skips: {@code "libcuda.so.1 not found in [...]"}, {@code
 * "cuInit failed: CUDA_ERROR_NO_DEVICE (no CUDA-capable device is detected)"}). GPU tests use
 * {@link io.kinema.ffi.cuda.junit.RequiresCuda}.
 */
public final class CudaDevices {
  private CudaDevices() {}

  /** One device's identity and the properties kernels are tuned by. */
  public record Info(
      int ordinal,
      String name,
      int computeCapabilityMajor,
      int computeCapabilityMinor,
      int multiprocessors,
      long totalMemory) {
    @Override
    public String toString() {
      return "cuda:"
          + ordinal
          + " "
          + name
          + " (sm_"
          + computeCapabilityMajor
          + computeCapabilityMinor
          + ", "
          + multiprocessors
          + " SMs, "
          + (totalMemory >> 20)
          + " MiB)";
    }
  }

  /** The probe's outcome: a device count, or 0 and why. */
  private record Probe(int count, String reason) {}

  private static volatile Probe probe;

  /** The number of CUDA devices; 0 (never an exception) without a driver or a device. */
  public static int count() {
    return probe().count;
  }

  /** Whether at least one CUDA device is usable. */
  public static boolean available() {
    return count() > 0;
  }

  /** Why no device is usable, in one line; null when {@link #available()}. */
  public static String unavailableReason() {
    return probe().reason;
  }

  /** The properties of every device (empty without one). */
  public static List<Info> list() {
    var out = new ArrayList<Info>();
    for (int i = 0; i < count(); i++) out.add(info(i));
    return out;
  }

  /** The properties of device {@code ordinal}; throws if it does not exist. */
  public static Info info(int ordinal) {
    if (ordinal < 0 || ordinal >= count()) {
      throw new IllegalArgumentException(
          "no CUDA device " + ordinal + ": " + count() + " device(s)" + reasonSuffix());
    }
    int d = CudaDriver.deviceGet(ordinal);
    return new Info(
        ordinal,
        CudaDriver.deviceGetName(d),
        CudaDriver.deviceGetAttribute(DeviceAttribute.COMPUTE_CAPABILITY_MAJOR, d),
        CudaDriver.deviceGetAttribute(DeviceAttribute.COMPUTE_CAPABILITY_MINOR, d),
        CudaDriver.deviceGetAttribute(DeviceAttribute.MULTIPROCESSOR_COUNT, d),
        CudaDriver.deviceTotalMem(d));
  }

  private static String reasonSuffix() {
    String r = unavailableReason();
    return r == null ? "" : " (" + r + ")";
  }

  private static Probe probe() {
    Probe p = probe;
    if (p == null) {
      synchronized (CudaDevices.class) {
        p = probe;
        if (p == null) probe = p = run();
      }
    }
    return p;
  }

  private static Probe run() {
    if (!CudaDriver.isAvailable()) return new Probe(0, CudaDriver.library().shortReason());
    try {
      CudaDriver.init();
      int n = CudaDriver.deviceGetCount();
      if (n > 0) return new Probe(n, null);
      return new Probe(
          0,
          "the CUDA driver (loaded from "
              + CudaDriver.library().location().orElse("?")
              + ") sees no device");
    } catch (CudaException e) {
      return new Probe(0, e.getMessage());
    } catch (RuntimeException | LinkageError e) {
      return new Probe(0, "probing the CUDA driver failed: " + e);
    }
  }
}
