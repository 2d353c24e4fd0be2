package io.kinema.tensor.backend;

/** Elementwise ops of one operand. {@link #POW} and {@link #CLAMP} read scalar parameters. */
public enum UnaryOp {
  NEG,
  ABS,
  EXP,
  LOG,
  SQRT,
  RSQRT,
  SIN,
  COS,
  TANH,
  SIGMOID,
  RELU,
  /** x * Phi(x) with the exact normal CDF (erf). */
  GELU,
  /** The tanh approximation of GELU (PyTorch's approximate="tanh"). */
  GELU_TANH,
  SILU,
  SQUARE,
  RECIPROCAL,
  ERF,
  SIGN,
  /** x^p1. */
  POW,
  /** min(max(x, p1), p2); NaN bounds mean "no bound". */
  CLAMP,
  /** Logical not: writes BOOL. */
  NOT
}
