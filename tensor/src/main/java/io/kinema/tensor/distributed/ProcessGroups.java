package io.kinema.tensor.distributed;

import io.kinema.tensor.Device;
import java.util.HashSet;
import java.util.List;

/** Makes the {@link ProcessGroup} handles of a group of replicas, one per device. */
public final class ProcessGroups {
  private ProcessGroups() {}

  /**
   * One handle per entry of {@code devices}, element {@code i} rank i's: in-process rendezvous when
   * every entry is {@code cpu} (the same device may repeat: CPU replicas share the host), NCCL
   * ({@code ncclCommInitAll}) when every entry is a distinct CUDA device. Each rank must then be
   * driven by its own thread.
   *
   * @throws IllegalArgumentException for an empty list, CPU and CUDA mixed, or a CUDA device twice
   * @throws IllegalStateException when a CUDA device or NCCL is not usable, saying why
   */
  public static List<ProcessGroup> create(List<Device> devices) {
    if (devices.isEmpty()) throw new IllegalArgumentException("a process group needs a device");
    boolean cpu = devices.getFirst().kind() == Device.Kind.CPU;
    for (Device d : devices) {
      if ((d.kind() == Device.Kind.CPU) != cpu) {
        throw new IllegalArgumentException(
            "a process group's devices must all be cpu or all cuda, got " + devices);
      }
    }
    if (cpu) return InProcessGroup.create(devices.size());
    if (new HashSet<>(devices).size() != devices.size()) {
      throw new IllegalArgumentException(
          "each CUDA device may hold one rank of a process group, got " + devices);
    }
    return NcclProcessGroup.create(devices);
  }
}
