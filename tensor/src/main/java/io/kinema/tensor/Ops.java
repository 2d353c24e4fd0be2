package io.kinema.tensor;

/** Argument checks shared by every op front-end. */
final class Ops {
  private Ops() {}

  /** All tensors on one device, or an error naming the op and the devices. */
  static Device sameDevice(String op, Tensor... ts) {
    Device d = null;
    for (Tensor t : ts) {
      if (t == null) continue;
      if (d == null) d = t.device();
      else if (!d.equals(t.device())) {
        StringBuilder sb = new StringBuilder(op + ": tensors are on different devices:");
        for (Tensor u : ts)
          if (u != null) sb.append(' ').append(u.describe()).append('@').append(u.device());
        throw new IllegalArgumentException(sb.toString());
      }
    }
    return d;
  }

  /** Fails unless {@code t} has a floating dtype. */
  static void requireFloating(String op, Tensor t) {
    if (!t.dtype().isFloatingPoint()) {
      throw new IllegalArgumentException(
          op + ": expected a floating-point tensor, got " + t.describe());
    }
  }
}
