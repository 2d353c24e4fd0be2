package io.kinema.tensor;

/**
 * The weight and bias gradients of {@link Tensor#linear} as one op (what autograd's rule calls, and
 * what hand-written backward code may call): {@code dW = g^T x} over all leading dims of the
 * output's gradient {@code g} and the input {@code x} flattened into rows, and {@code db = g}
 * summed over those rows. On CUDA the bias gradient comes out of the weight-gradient GEMM
 * (cuBLASLt's {@code BGRADB} epilogue) instead of a separate reduction. Not recorded by autograd.
 */
public final class LinearGrad {
  private LinearGrad() {}

  /** The gradients of a linear's weight [out, in] and bias [out] (null when not asked for). */
  public record Grads(Tensor weight, Tensor bias) {}

  /**
   * The gradients of {@code input.linear(weight, bias)}'s weight and, when {@code withBias}, its
   * bias, given the output's gradient {@code gradOutput} [..., out] and the {@code input} [..., in]
   * (same leading dims, one floating dtype): contiguous tensors in that dtype.
   */
  public static Grads weightAndBias(Tensor gradOutput, Tensor input, boolean withBias) {
    return LinalgOps.weightGrads(gradOutput, input, withBias);
  }
}
