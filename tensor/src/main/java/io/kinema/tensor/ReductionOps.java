package io.kinema.tensor;

import io.kinema.tensor.backend.ReduceOp;

/**
 * Front-end of reductions: dims, keepdim, result dtype (PyTorch's rules). The backend always writes
 * a keepdim-shaped output; without keepdim the result is a view of it without the reduced dims.
 */
final class ReductionOps {
  private ReductionOps() {}

  /** {@code dims} null or empty means all dims. */
  static Tensor reduce(ReduceOp op, Tensor x, int[] dims, boolean keepdim) {
    return reduce(op, x, dims, keepdim, 0);
  }

  static Tensor argReduce(boolean max, Tensor x, int dim, boolean keepdim) {
    String name = max ? "argmax" : "argmin";
    int rank = x.dim();
    int d = Shapes.normalizeDim(name, dim, rank);
    if (rank == 0) {
      // A scalar is its own only element: index 0.
      try (Tensor flat = x.reshape(1)) {
        return argReduce(max, flat, 0, false);
      }
    }
    if (x.size(d) == 0) {
      throw new IllegalArgumentException(
          name
              + ": expected reduction dim "
              + d
              + " of "
              + x.describe()
              + " to have non-zero size");
    }
    long[] keepShape = x.shape();
    keepShape[d] = 1;
    Tensor out = Tensor.empty(DType.I64, x.device(), keepShape);
    x.backend().argReduce(max, x, d, out);
    return keepdim ? out : squeezeDims(out, new int[] {d});
  }

  static Tensor var(Tensor x, int[] dims, int correction, boolean keepdim) {
    return reduce(ReduceOp.VAR, x, dims, keepdim, correction);
  }

  static Tensor std(Tensor x, int[] dims, int correction, boolean keepdim) {
    return reduce(ReduceOp.STD, x, dims, keepdim, correction);
  }

  static Tensor norm(Tensor x, double p, int[] dims, boolean keepdim) {
    if (Double.isNaN(p)) {
      throw new IllegalArgumentException("norm: p must not be NaN (tensor " + x.describe() + ")");
    }
    return reduce(ReduceOp.NORM, x, dims, keepdim, p);
  }

  private static String name(ReduceOp op) {
    return switch (op) {
      case SUM -> "sum";
      case MEAN -> "mean";
      case MAX -> "max";
      case MIN -> "min";
      case PROD -> "prod";
      case NORM -> "norm";
      case VAR -> "var";
      case STD -> "std";
    };
  }

  private static Tensor reduce(ReduceOp op, Tensor x, int[] dims, boolean keepdim, double param) {
    String name = name(op);
    int rank = x.dim();
    int[] nd = Shapes.normalizeDims(name, dims, rank);
    if (rank == 0) nd = new int[0]; // dim 0 / -1 of a scalar name the scalar itself
    DType dt = resultType(op, x, name);
    long[] shape = x.shape();
    long[] keepShape = shape.clone();
    long count = 1;
    for (int d : nd) {
      count *= shape[d];
      keepShape[d] = 1;
    }
    if (count == 0) {
      for (int d : nd) {
        if (shape[d] != 0) continue;
        if (op == ReduceOp.MAX || op == ReduceOp.MIN) {
          throw new IllegalArgumentException(
              name
                  + ": expected reduction dim "
                  + d
                  + " of "
                  + x.describe()
                  + " to have non-zero size (the reduction has no identity)");
        }
        if (op == ReduceOp.NORM && param < 0) {
          throw new IllegalArgumentException(
              name
                  + ": cannot compute the "
                  + param
                  + " norm over dim "
                  + d
                  + " of "
                  + x.describe()
                  + ", which is empty (the reduction has no identity)");
        }
      }
    }
    Tensor out = Tensor.empty(dt, x.device(), keepShape);
    x.backend().reduce(op, x, nd, param, out);
    return keepdim ? out : squeezeDims(out, nd);
  }

  private static DType resultType(ReduceOp op, Tensor x, String name) {
    DType dt = x.dtype();
    if (dt.isFloatingPoint()) return dt;
    return switch (op) {
      case SUM, PROD -> DType.I64;
      case MAX, MIN -> dt;
      default ->
          throw new IllegalArgumentException(
              name
                  + ": could not infer output dtype. Input dtype must be either a floating point"
                  + " or complex dtype. Got: "
                  + x.describe());
    };
  }

  /** A view of keepdim-shaped {@code out} without {@code dims} (closes {@code out}). */
  private static Tensor squeezeDims(Tensor out, int[] dims) {
    if (dims.length == 0) return out;
    long[] shape = out.shape();
    long[] sh = new long[shape.length - dims.length];
    for (int d = 0, j = 0, k = 0; d < shape.length; d++) {
      if (k < dims.length && dims[k] == d) {
        k++;
        continue;
      }
      sh[j++] = shape[d];
    }
    try (out) {
      return out.view(sh);
    }
  }
}
