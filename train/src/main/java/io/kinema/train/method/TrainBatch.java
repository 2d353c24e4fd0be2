package io.kinema.train.method;

import io.kinema.tensor.Tensor;

/**
 * One micro-batch as a method sees it, on the training device.
 *
 * @param latents clean latents {@code x0} {@code [B, C, T, h, w]} in F32, already normalized for
 *     the DiT and cropped to {@code num_latent_t}
 * @param context text embeddings {@code [B, L, D]} (zero-padded to the text length; CFG-dropped
 *     rows are zeros)
 * @param mask text attention mask {@code [B, L]} (1 for real tokens)
 * @param rows the data set's global row index of each sample (for logs and checks)
 */
public record TrainBatch(Tensor latents, Tensor context, Tensor mask, long[] rows)
    implements AutoCloseable {
  public TrainBatch {
    if (latents.dim() != 5) {
      throw new IllegalArgumentException(
          "TrainBatch: latents must be [B, C, T, h, w], got " + latents.describe());
    }
    if (context.dim() != 3 || context.size(0) != latents.size(0)) {
      throw new IllegalArgumentException(
          "TrainBatch: context must be [B, L, D] with B = "
              + latents.size(0)
              + ", got "
              + context.describe());
    }
  }

  public long batchSize() {
    return latents.size(0);
  }

  @Override
  public void close() {
    latents.close();
    context.close();
    mask.close();
  }
}
