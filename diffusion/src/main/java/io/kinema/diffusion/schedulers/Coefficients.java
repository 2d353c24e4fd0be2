package io.kinema.diffusion.schedulers;

import io.kinema.tensor.DType;
import io.kinema.tensor.Tensor;

/** Scalar helpers that reproduce PyTorch's rounding of 0-dim tensor arithmetic. */
final class Coefficients {
  private Coefficients() {}

  /**
   * {@code t · c} where c is a 0-dim tensor in PyTorch: a 0-dim operand does not promote a
   * dimensioned one, so for a BF16/F16 tensor the coefficient is first rounded to that dtype (then
   * multiplied in f32 and rounded once).
   */
  static Tensor mul(Tensor t, double c) {
    return t.mul(roundTo(c, t.dtype()));
  }

  /** {@code t / c}, c rounded like {@link #mul}. */
  static Tensor div(Tensor t, double c) {
    return t.div(roundTo(c, t.dtype()));
  }

  /** {@code c} as a value of {@code dtype} (identity for F64). */
  static double roundTo(double c, DType dtype) {
    return switch (dtype) {
      case F64 -> c;
      case F32 -> (float) c;
      case BF16, F16 -> {
        try (Tensor s = Tensor.scalar(c, dtype)) {
          yield s.item();
        }
      }
      default -> c;
    };
  }

  /** Requires a floating tensor, naming the op. */
  static void requireFloating(String op, String what, Tensor t) {
    if (!t.dtype().isFloatingPoint()) {
      throw new IllegalArgumentException(
          op + ": expected a floating " + what + ", got " + t.describe());
    }
  }

  static void requireSameShape(String op, Tensor a, Tensor b) {
    if (!java.util.Arrays.equals(a.shape(), b.shape())) {
      throw new IllegalArgumentException(
          op
              + ": model output "
              + a.describe()
              + " and sample "
              + b.describe()
              + " must have the same shape");
    }
  }
}
