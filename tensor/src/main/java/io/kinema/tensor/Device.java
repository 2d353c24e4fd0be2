package io.kinema.tensor;

import java.util.Locale;

/**
 * Where a tensor's storage lives: {@code cpu}, or {@code cuda:N}. Part of every tensor's type; an
 * op given tensors on different devices fails with a message naming both.
 */
public record Device(Kind kind, int index) {
  /** Device families. */
  public enum Kind {
    CPU,
    CUDA
  }

  /** The host. */
  public static final Device CPU = new Device(Kind.CPU, 0);

  public Device {
    if (index < 0) throw new IllegalArgumentException("device index must be >= 0, got " + index);
    if (kind == Kind.CPU && index != 0) throw new IllegalArgumentException("cpu has no index");
  }

  /** The N-th CUDA device. */
  public static Device cuda(int index) {
    return new Device(Kind.CUDA, index);
  }

  /** Parses {@code cpu}, {@code cuda} or {@code cuda:N}. */
  public static Device parse(String s) {
    String t = s.trim().toLowerCase(Locale.ROOT);
    if (t.equals("cpu")) return CPU;
    if (t.equals("cuda")) return cuda(0);
    if (t.startsWith("cuda:")) {
      try {
        return cuda(Integer.parseInt(t.substring(5)));
      } catch (NumberFormatException e) {
        // fall through to the error below
      }
    }
    throw new IllegalArgumentException("unknown device '" + s + "': expected cpu or cuda:N");
  }

  @Override
  public String toString() {
    return kind == Kind.CPU ? "cpu" : "cuda:" + index;
  }
}
