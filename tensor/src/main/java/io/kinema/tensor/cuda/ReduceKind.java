package io.kinema.tensor.cuda;

import io.kinema.tensor.backend.ReduceOp;

/**
 * What each element contributes to a reduction kernel and how contributions combine: the {@code
 * kind} argument of the {@code kinema_reduce_*} kernels ({@link #code()}, the {@code KINEMA_KIND_*}
 * constants of {@code kinema_cuda.h}). Mirrors the CPU's per-element kinds; {@link #of(ReduceOp,
 * double)} picks the first pass of an op.
 */
public enum ReduceKind {
  SUM,
  SUM_ABS,
  SUM_SQ,
  /** (x - mean)^2 with the mean read per output: the second pass of VAR/STD. */
  SUM_SQDEV,
  /** |x|^p. */
  SUM_POW,
  COUNT_NZ,
  PROD,
  MAX,
  MIN,
  MAX_ABS,
  MIN_ABS;

  /** The kernels' integer code. */
  public int code() {
    return ordinal();
  }

  /** The kind of {@code op}'s (first) pass; {@code p} is NORM's order. */
  public static ReduceKind of(ReduceOp op, double p) {
    return switch (op) {
      case SUM, MEAN, VAR, STD -> SUM;
      case PROD -> PROD;
      case MAX -> MAX;
      case MIN -> MIN;
      case NORM -> {
        if (p == 2) yield SUM_SQ;
        if (p == 1) yield SUM_ABS;
        if (p == Double.POSITIVE_INFINITY) yield MAX_ABS;
        if (p == Double.NEGATIVE_INFINITY) yield MIN_ABS;
        if (p == 0) yield COUNT_NZ;
        yield SUM_POW;
      }
    };
  }
}
