package io.kinema.tensor;

/** Copies between devices; one side is always the host. */
final class Transfers {
  private Transfers() {}

  static Tensor copyTo(Tensor src, Device target) {
    Device from = src.device();
    if (from.kind() != Device.Kind.CPU && target.kind() != Device.Kind.CPU) {
      try (Tensor host = copyTo(src, Device.CPU)) {
        return copyTo(host, target);
      }
    }
    Device accel = from.kind() == Device.Kind.CPU ? target : from;
    try (Tensor c = src.contiguous()) {
      Tensor out = Tensor.empty(src.dtype(), target, src.shape());
      Backends.of(accel).transfer(c, out);
      return out;
    }
  }
}
