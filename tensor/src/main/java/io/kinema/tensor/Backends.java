package io.kinema.tensor;

import io.kinema.tensor.backend.Backend;
import io.kinema.tensor.cpu.CpuBackend;
import java.util.Map;
import java.util.ServiceLoader;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Finds the {@link Backend} of a device. The CPU backend is built in; others (CUDA) register
 * through {@link Provider} with {@link ServiceLoader}, so a missing one is a clear error rather
 * than a class-loading failure.
 */
public final class Backends {
  /** Supplies backends for one device kind. */
  public interface Provider {
    Device.Kind kind();

    /** The backend of {@code device}; throws with an explanation when it cannot run here. */
    Backend create(Device device);
  }

  private static final Map<Device, Backend> BACKENDS = new ConcurrentHashMap<>();

  private Backends() {}

  /** The backend that runs ops on {@code device}. */
  public static Backend of(Device device) {
    return BACKENDS.computeIfAbsent(device, Backends::create);
  }

  private static Backend create(Device device) {
    if (device.kind() == Device.Kind.CPU) return CpuBackend.INSTANCE;
    for (Provider p : ServiceLoader.load(Provider.class)) {
      if (p.kind() == device.kind()) return p.create(device);
    }
    throw new IllegalStateException(
        "no backend for device "
            + device
            + ": the "
            + device.kind()
            + " backend is not on the class path");
  }
}
