package io.kinema.train.method;

import io.kinema.diffusion.flow.FlowMatching;
import io.kinema.tensor.Tensor;

/** The elementwise flow-matching errors the fine-tuning methods average (methods.md §1–2). */
final class FlowLosses {
  private FlowLosses() {}

  /**
   * The squared error per element, F32: {@code (v − (ε − x0))²}, or with {@code precondition}
   * {@code ((x_σ − σ·v) − x0)²}.
   *
   * @param sigma σ broadcastable against the latents ({@code [B]} per sample, or already shaped)
   */
  static Tensor mse(
      Tensor v, Tensor noisy, Tensor noise, Tensor x0, Tensor sigma, boolean precondition) {
    if (!precondition) return v.sub(FlowMatching.velocityTarget(x0, noise)).square();
    Tensor s = sigma.dim() == 1 ? FlowMatching.perSample(sigma, x0.dim()) : sigma;
    return noisy.sub(s.mul(v)).sub(x0).square();
  }
}
