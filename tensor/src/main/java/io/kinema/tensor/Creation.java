package io.kinema.tensor;

import io.kinema.tensor.backend.Backend;
import io.kinema.tensor.backend.RandomKind;
import io.kinema.tensor.cpu.Elements;
import io.kinema.tensor.cpu.Half;
import io.kinema.tensor.cpu.Parallel;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Factories that compute their values: ranges, identity, random draws (PyTorch semantics). Ranges
 * are computed in double on the host and converted to the dtype (truncating toward zero for
 * integers), then moved to the device; random draws run on the device from a {@link Generator}.
 */
final class Creation {
  private Creation() {}

  /** Host elements a thread should get before another is woken. */
  private static final long GRAIN = 1 << 16;

  static Tensor arange(double start, double end, double step, DType dtype, Device device) {
    if (!Double.isFinite(start) || !Double.isFinite(end) || !Double.isFinite(step)) {
      throw new IllegalArgumentException(
          "arange: start, end and step must be finite, got start="
              + start
              + ", end="
              + end
              + ", step="
              + step);
    }
    if (step == 0) throw new IllegalArgumentException("arange: step must be nonzero");
    if ((end > start && step < 0) || (end < start && step > 0)) {
      throw new IllegalArgumentException(
          "arange: upper bound and step sign are inconsistent (start="
              + start
              + ", end="
              + end
              + ", step="
              + step
              + ")");
    }
    double size = Math.ceil((end - start) / step);
    if (!(size < Long.MAX_VALUE)) {
      throw new IllegalArgumentException(
          "arange: " + size + " elements are too many (start=" + start + ", end=" + end + ")");
    }
    long n = (long) size;
    Tensor host = Tensor.empty(dtype, n);
    writeAffine(host, 0, n, start, step, 0);
    return toDevice(host, device);
  }

  static Tensor linspace(double start, double end, long steps, DType dtype, Device device) {
    if (steps < 0) {
      throw new IllegalArgumentException("linspace: number of steps must be >= 0, got " + steps);
    }
    if (!Double.isFinite(start) || !Double.isFinite(end)) {
      throw new IllegalArgumentException(
          "linspace: start and end must be finite, got start=" + start + ", end=" + end);
    }
    Tensor host = Tensor.empty(dtype, steps);
    if (steps == 1) {
      writeAffine(host, 0, 1, start, 0, 0);
    } else if (steps > 1) {
      // As PyTorch: the first half counts up from start, the second half down from end, so both
      // ends are exact and the result is symmetric.
      double step = (end - start) / (steps - 1);
      long half = steps / 2;
      writeAffine(host, 0, half, start, step, 0);
      writeAffine(host, half, steps, end, step, steps - 1);
    }
    return toDevice(host, device);
  }

  static Tensor eye(long n, long m, DType dtype, Device device) {
    if (n < 0 || m < 0) {
      throw new IllegalArgumentException("eye: sizes must be >= 0, got n=" + n + ", m=" + m);
    }
    Tensor out = Tensor.zeros(dtype, device, n, m);
    long diag = Math.min(n, m);
    if (diag > 0) {
      // The diagonal is the strided view with step m + 1; fill it on the device.
      try (Tensor d =
          new Tensor(out.storage().retain(), dtype, new long[] {diag}, new long[] {m + 1}, 0)) {
        d.fill(1);
      }
    }
    return out;
  }

  static Tensor rand(Generator gen, DType dtype, Device device, long[] shape) {
    requireFloating("rand", dtype);
    return draw("rand", RandomKind.UNIFORM, gen, 0, 1, dtype, device, shape);
  }

  static Tensor randn(Generator gen, DType dtype, Device device, long[] shape) {
    requireFloating("randn", dtype);
    return draw("randn", RandomKind.NORMAL, gen, 0, 1, dtype, device, shape);
  }

  static Tensor randint(
      Generator gen, long low, long high, DType dtype, Device device, long[] shape) {
    if (low >= high) {
      throw new IllegalArgumentException(
          "randint: expected low < high, got low=" + low + ", high=" + high);
    }
    long min, max; // the integers the dtype holds exactly (high is exclusive, so high - 1 <= max)
    switch (dtype) {
      case I64, F64 -> { // the backend takes the bounds as doubles: exact within +-2^53
        min = -(1L << 53);
        max = (1L << 53) - 1;
      }
      case I32 -> {
        min = Integer.MIN_VALUE;
        max = Integer.MAX_VALUE;
      }
      case U8 -> {
        min = 0;
        max = 255;
      }
      case BOOL -> {
        min = 0;
        max = 1;
      }
      case F32 -> {
        min = -(1L << 24);
        max = 1L << 24;
      }
      case F16 -> {
        min = -(1L << 11);
        max = 1L << 11;
      }
      case BF16 -> {
        min = -(1L << 8);
        max = 1L << 8;
      }
      default -> throw new AssertionError(dtype);
    }
    if (low < min || high - 1 > max) {
      throw new IllegalArgumentException(
          "randint: [low, high) = ["
              + low
              + ", "
              + high
              + ") does not fit "
              + dtype
              + ", which holds the integers in ["
              + min
              + ", "
              + max
              + "] exactly");
    }
    return draw("randint", RandomKind.INTEGERS, gen, low, high, dtype, device, shape);
  }

  private static void requireFloating(String op, DType dtype) {
    if (!dtype.isFloatingPoint()) {
      throw new IllegalArgumentException(
          op + ": expected a floating-point dtype, got " + dtype + "; use randint for integers");
    }
  }

  /** Allocates the output, reserves its counters from {@code gen} and fills it on the device. */
  private static Tensor draw(
      String op,
      RandomKind kind,
      Generator gen,
      double a,
      double b,
      DType dtype,
      Device device,
      long[] shape) {
    if (gen == null) throw new IllegalArgumentException(op + ": generator is null");
    for (long d : shape) {
      if (d < 0) throw new IllegalArgumentException(op + ": negative size in " + Shapes.str(shape));
    }
    Backend backend = Backends.of(device);
    Tensor out = Tensor.empty(dtype, device, shape);
    try {
      long start = gen.reserve(Backend.randomCounters(out.numel(), dtype));
      backend.random(kind, gen.seed(), start, a, b, out);
      return out;
    } catch (RuntimeException | Error e) {
      out.close();
      throw e;
    }
  }

  // ---------------------------------------------------------------- host ranges

  /** Moves a freshly built host tensor to {@code device} (closing the host copy). */
  private static Tensor toDevice(Tensor host, Device device) {
    if (device.kind() == Device.Kind.CPU) return host;
    try (host) {
      return host.to(device);
    }
  }

  /**
   * Writes {@code base + step * (i - pivot)}, computed in double and converted to the dtype, into
   * elements [from, to) of the contiguous host tensor {@code t}.
   */
  private static void writeAffine(
      Tensor t, long from, long to, double base, double step, long pivot) {
    MemorySegment s = t.storage().segment();
    DType dt = t.dtype();
    Parallel.forRange(
        to - from,
        GRAIN,
        (lo, hi) -> {
          long i0 = from + lo, i1 = from + hi;
          switch (dt) {
            case F64 -> {
              for (long i = i0; i < i1; i++)
                s.setAtIndex(ValueLayout.JAVA_DOUBLE, i, base + step * (i - pivot));
            }
            case F32 -> {
              for (long i = i0; i < i1; i++)
                s.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) (base + step * (i - pivot)));
            }
            case BF16 -> {
              for (long i = i0; i < i1; i++) {
                float v = (float) (base + step * (i - pivot));
                s.setAtIndex(ValueLayout.JAVA_SHORT, i, Half.floatToBf16(v));
              }
            }
            case F16 -> {
              for (long i = i0; i < i1; i++) {
                float v = (float) (base + step * (i - pivot));
                s.setAtIndex(ValueLayout.JAVA_SHORT, i, Half.floatToF16(v));
              }
            }
            case I64 -> {
              for (long i = i0; i < i1; i++)
                s.setAtIndex(ValueLayout.JAVA_LONG, i, (long) (base + step * (i - pivot)));
            }
            default -> {
              for (long i = i0; i < i1; i++)
                Elements.setDouble(s, dt, i, base + step * (i - pivot));
            }
          }
        });
  }
}
