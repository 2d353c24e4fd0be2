package io.kinema.tensor.backend;

/** Reductions over a set of dimensions. */
public enum ReduceOp {
  SUM,
  MEAN,
  MAX,
  MIN,
  PROD,
  /** Sum of squares (for norms and variance without a temporary). */
  SUM_SQUARES,
  /** Largest absolute value (infinity norm). */
  MAX_ABS
}
