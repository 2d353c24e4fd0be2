package io.kinema.tensor.backend;

/**
 * Reductions over a set of dimensions; some read the scalar parameter of {@link Backend#reduce}.
 */
public enum ReduceOp {
  SUM,
  MEAN,
  MAX,
  MIN,
  PROD,
  /** {@code (sum |x|^p)^(1/p)}; p is the parameter (infinity: max |x|; 0: count of non-zeros). */
  NORM,
  /** Variance: sum of squared deviations / (n - correction); correction is the parameter. */
  VAR,
  /** Square root of {@link #VAR}. */
  STD
}
