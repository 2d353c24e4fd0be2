package io.kinema.train.validation;

import io.kinema.tensor.Tensor;

/**
 * Turns one generated latent {@code [C, T, h, w]} (as the DiT produces it, normalized) into RGB
 * frames {@code [T, H, W, 3]} in [0, 1] for the video writers.
 */
@FunctionalInterface
public interface LatentDecoder {
  Tensor decode(Tensor latent);
}
