package io.kinema.diffusion.flow;

import io.kinema.tensor.Tensor;

/**
 * A denoiser as the samplers and training methods see it: the velocity prediction {@code v ≈ ε −
 * x0} for noisy latents {@code x} {@code [B, ...]} at timesteps {@code t} {@code [B]} ({@code
 * 1000·σ}) under a text condition {@code context} {@code [B, L, D]}. The Wan DiT implements it; so
 * does any test model.
 */
@FunctionalInterface
public interface FlowModel {
  Tensor predict(Tensor x, Tensor t, Tensor context);
}
