package io.kinema.tensor.backend;

/** Distributions the counter-based generator fills tensors with. */
public enum RandomKind {
  /** Uniform on [a, b). */
  UNIFORM,
  /** Normal with mean a and standard deviation b. */
  NORMAL,
  /** Integers uniform on [a, b). */
  INTEGERS
}
