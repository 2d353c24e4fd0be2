package io.kinema.diffusion.flow;

import io.kinema.tensor.DType;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;

/**
 * SD3's per-sample loss weights, diffusers' {@code compute_loss_weighting_for_sd3} (FastVideo
 * trains unweighted, i.e. {@link #NONE}).
 */
public enum LossWeighting {
  /** {@code w = σ⁻²} (returned as F32, like the reference's {@code .float()}). */
  SIGMA_SQRT,
  /** {@code w = 2 / (π·(1 − 2σ + 2σ²))}. */
  COSMAP,
  /** {@code w = 1}. */
  NONE;

  /** The scheme named as in diffusers; any other name means {@link #NONE}, as there. */
  public static LossWeighting of(String name) {
    return switch (name) {
      case "sigma_sqrt" -> SIGMA_SQRT;
      case "cosmap" -> COSMAP;
      default -> NONE;
    };
  }

  /** The weight for one σ, in double precision. */
  public double weight(double sigma) {
    return switch (this) {
      case SIGMA_SQRT -> 1 / (sigma * sigma);
      case COSMAP -> 2 / (Math.PI * (1 - 2 * sigma + 2 * sigma * sigma));
      case NONE -> 1;
    };
  }

  /** The weights for a tensor of σ (any shape): F32 for sigma_sqrt, σ's dtype otherwise. */
  public Tensor weights(Tensor sigmas) {
    if (!sigmas.dtype().isFloatingPoint()) {
      throw new IllegalArgumentException(
          "LossWeighting.weights: expected floating sigmas, got " + sigmas.describe());
    }
    try (var s = Scope.open()) {
      Tensor w =
          switch (this) {
            case SIGMA_SQRT ->
                sigmas.square().reciprocal().to(DType.F32); // PyTorch: x**-2 = 1/(x·x)
            case COSMAP -> {
              Tensor bot = sigmas.mul(-2.0).add(1.0).add(sigmas.square().mul(2.0));
              yield bot.mul(Math.PI).reciprocal().mul(2.0);
            }
            case NONE -> Tensor.onesLike(sigmas);
          };
      return s.keep(w);
    }
  }
}
