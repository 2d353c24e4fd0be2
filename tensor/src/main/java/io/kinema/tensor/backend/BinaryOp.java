package io.kinema.tensor.backend;

/** Elementwise ops of two broadcast operands. Comparisons write BOOL. */
public enum BinaryOp {
  ADD,
  SUB,
  MUL,
  DIV,
  POW,
  MAXIMUM,
  MINIMUM,
  EQ,
  NE,
  LT,
  LE,
  GT,
  GE,
  AND,
  OR;

  /** True for ops whose result is BOOL. */
  public boolean isComparison() {
    return ordinal() >= EQ.ordinal();
  }
}
