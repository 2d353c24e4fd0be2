package io.kinema.diffusion.flow;

/**
 * The density training timesteps are drawn from (SD3's schemes, diffusers' and FastVideo's {@code
 * compute_density_for_timestep_sampling}; spec flow-matching.md §4). Each scheme maps random draws
 * to {@code u ∈ [0, 1]}; {@link TimestepSampler} turns u into a table index.
 */
public sealed interface WeightingScheme {
  /** {@code u ~ U[0, 1)}. */
  record Uniform() implements WeightingScheme {}

  /** {@code u = sigmoid(n)}, {@code n ~ N(mean, std)} (SD3's {@code lognorm}; defaults 0, 1). */
  record LogitNormal(double mean, double std) implements WeightingScheme {
    public LogitNormal {
      if (!(std >= 0) || Double.isInfinite(std) || !Double.isFinite(mean)) {
        throw new IllegalArgumentException(
            "logit_normal: needs a finite mean and std >= 0, got mean=" + mean + ", std=" + std);
      }
    }
  }

  /**
   * {@code u = 1 − r − scale·(cos²(π·r/2) − 1 + r)}, {@code r ~ U[0, 1)} (SD3's mode sampling with
   * heavy tails; default scale 1).
   */
  record Mode(double scale) implements WeightingScheme {
    public Mode {
      if (!Double.isFinite(scale)) {
        throw new IllegalArgumentException("mode: mode_scale must be finite, got " + scale);
      }
    }
  }

  /**
   * The scheme named as in the YAML / diffusers ({@code uniform}, {@code logit_normal}, {@code
   * mode}); any other name means uniform, as in the reference function. The parameters of the other
   * schemes are ignored.
   */
  static WeightingScheme of(String name, double logitMean, double logitStd, double modeScale) {
    return switch (name) {
      case "logit_normal" -> new LogitNormal(logitMean, logitStd);
      case "mode" -> new Mode(modeScale);
      default -> new Uniform();
    };
  }
}
