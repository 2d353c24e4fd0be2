package io.kinema.tensor;

import java.util.Arrays;

/**
 * Fused backwards of activations, one backend call each (what autograd's rules call, and what
 * hand-written backward code may call). Not recorded by autograd.
 */
public final class ActivationGrad {
  private ActivationGrad() {}

  /**
   * The gradient of {@code input.geluTanh()} given the output's gradient: {@code gradOutput
   * gelu_tanh'(input)}, with {@code gelu_tanh'(x) = (1 + t) / 2 + x / 2 (1 - t^2) c (1 + 3 a x^2)},
   * {@code t = tanh(c (x + a x^3))}, {@code a = 0.044715}, {@code c = sqrt(2 / pi)}. Both operands
   * have one shape and floating dtype (the result's); computed in f32 (f64 for F64) and rounded
   * once. On the CPU the F32/F64 bits are those of the formula written as tensor ops.
   */
  public static Tensor geluTanh(Tensor gradOutput, Tensor input) {
    String op = "gelu_tanh backward";
    Ops.requireFloating(op, input);
    Ops.sameDevice(op, gradOutput, input);
    if (gradOutput.dtype() != input.dtype() || !Arrays.equals(gradOutput.shape(), input.shape())) {
      throw new IllegalArgumentException(
          op
              + ": gradOutput must have input's shape and dtype ("
              + input.describe()
              + "), got "
              + gradOutput.describe());
    }
    Tensor dx = Tensor.empty(input.dtype(), input.device(), input.shape());
    try {
      input.backend().geluTanhBackward(gradOutput, input, dx);
    } catch (RuntimeException e) {
      dx.close();
      throw e;
    }
    return dx;
  }
}
