package io.kinema.tensor.distributed;

import io.kinema.tensor.DType;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.distributed.ProcessGroup.ReduceOp;

/** The argument checks every {@link ProcessGroup} implementation makes before a collective. */
final class Collectives {
  private Collectives() {}

  /** {@code t} is open, on the rank's device and contiguous. */
  static void tensor(String call, ProcessGroup g, String what, Tensor t) {
    if (t == null) throw new NullPointerException(name(call, g) + ": " + what + " is null");
    if (t.isClosed()) {
      throw new IllegalArgumentException(name(call, g) + ": " + what + " is closed");
    }
    if (!t.device().equals(g.device())) {
      throw new IllegalArgumentException(
          name(call, g) + ": " + what + " " + t.describe() + " is not on " + g.device());
    }
    if (!t.isContiguous()) {
      throw new IllegalArgumentException(
          name(call, g) + ": " + what + " " + t.describe() + " must be contiguous");
    }
  }

  /** {@code t} can be reduced with {@code op}. */
  static void reducible(String call, ProcessGroup g, Tensor t, ReduceOp op) {
    if (op == null) throw new NullPointerException(name(call, g) + ": op is null");
    if (t.dtype() == DType.BOOL) {
      throw new IllegalArgumentException(
          name(call, g) + ": cannot " + op + " " + t.describe() + " (BOOL is not a number type)");
    }
    if (op == ReduceOp.AVG && !t.dtype().isFloatingPoint()) {
      throw new IllegalArgumentException(
          name(call, g) + ": cannot AVG " + t.describe() + " (a floating-point dtype needed)");
    }
  }

  /** {@code big} has {@code worldSize} times {@code small}'s elements, of the same dtype. */
  static void worldSized(String call, ProcessGroup g, Tensor small, Tensor big, String bigName) {
    if (small.dtype() != big.dtype()) {
      throw new IllegalArgumentException(
          name(call, g)
              + ": input and output dtypes differ: "
              + small.describe()
              + ", "
              + big.describe());
    }
    if (big.numel() != small.numel() * g.worldSize()) {
      throw new IllegalArgumentException(
          name(call, g)
              + ": "
              + bigName
              + " "
              + big.describe()
              + " must have world size "
              + g.worldSize()
              + " x "
              + small.numel()
              + " elements");
    }
  }

  static void root(String call, ProcessGroup g, int root) {
    if (root < 0 || root >= g.worldSize()) {
      throw new IllegalArgumentException(
          name(call, g) + ": root " + root + " is not a rank of " + g.worldSize());
    }
  }

  /** {@code "allReduce (rank 1 of 2)"}: the prefix of every message. */
  static String name(String call, ProcessGroup g) {
    return call + " (rank " + g.rank() + " of " + g.worldSize() + ")";
  }
}
