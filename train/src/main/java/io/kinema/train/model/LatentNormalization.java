package io.kinema.train.model;

import io.kinema.tensor.Tensor;

/**
 * The per-channel normalization between VAE latents and what the DiT sees (wan-dit.md §1): {@code
 * z_n = (z − mean_c) / std_c} with the Wan 2.1 VAE's statistics, or none (the demo's latent map is
 * already unit-scale).
 */
public enum LatentNormalization {
  /** The Wan 2.1 VAE's 16 channel means and standard deviations. */
  WAN,
  /** Latents are used as stored. */
  NONE;

  private static final double[] WAN_MEAN = {
    -0.7571, -0.7089, -0.9113, 0.1075, -0.1745, 0.9653, -0.1517, 1.5508,
    0.4134, -0.0715, 0.5517, -0.3632, -0.1922, -0.9497, 0.2503, -0.2921
  };
  private static final double[] WAN_STD = {
    2.8184, 1.4541, 2.3275, 2.6558, 1.2196, 1.7708, 2.6052, 2.0743,
    3.2687, 2.1526, 2.8652, 1.5579, 1.6382, 1.1253, 2.8251, 1.9160
  };

  /** Normalizes stored latents {@code [B, C, T, h, w]} for the DiT. */
  public Tensor normalize(Tensor z) {
    if (this == NONE) return z.alias();
    checkChannels(z);
    return z.sub(stat(WAN_MEAN, z)).div(stat(WAN_STD, z));
  }

  /** Inverts {@link #normalize}. */
  public Tensor denormalize(Tensor z) {
    if (this == NONE) return z.alias();
    checkChannels(z);
    return z.mul(stat(WAN_STD, z)).add(stat(WAN_MEAN, z));
  }

  private static void checkChannels(Tensor z) {
    if (z.dim() < 4 || z.size(z.dim() - 4) != WAN_MEAN.length) {
      throw new IllegalArgumentException(
          "Wan latent normalization needs 16 channels at dim -4, got " + z.describe());
    }
  }

  /** The statistic shaped to broadcast over {@code [..., C, T, h, w]}. */
  private static Tensor stat(double[] values, Tensor z) {
    return Tensor.of(values, values.length, 1, 1, 1).to(z.dtype()).to(z.device());
  }
}
