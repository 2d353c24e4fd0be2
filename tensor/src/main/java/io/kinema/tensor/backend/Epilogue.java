package io.kinema.tensor.backend;

/**
 * What a fused {@code linear} applies to each element after the product and the bias (cuBLASLt's
 * epilogues {@code BIAS} and {@code GELU_BIAS}; the CPU GEMM's store).
 */
public enum Epilogue {
  /** Nothing: {@code y = x W^T + b}. */
  NONE,
  /** The tanh approximation of GELU, as {@link UnaryOp#GELU_TANH}: {@code y = gelu(x W^T + b)}. */
  GELU_TANH
}
