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
 * @param shard which rows of the step's global batch these are: all of them on one device, a
 *     data-parallel replica's share otherwise
 */
public record TrainBatch(Tensor latents, Tensor context, Tensor mask, long[] rows, Shard shard)
    implements AutoCloseable {
  /**
   * Rows {@code [first, first + size)} of a global batch of {@code globalSize} samples. Methods
   * draw their per-sample randomness for the whole global batch and keep their rows, so a sample
   * gets the same noise and timesteps whatever the number of replicas.
   */
  public record Shard(int first, int size, int globalSize) {
    public Shard {
      if (first < 0 || size < 1 || first + size > globalSize) {
        throw new IllegalArgumentException(
            "Shard: rows [" + first + ", " + (first + size) + ") of " + globalSize);
      }
    }

    /** All {@code size} rows. */
    public static Shard whole(int size) {
      return new Shard(0, size, size);
    }

    public boolean isWhole() {
      return size == globalSize;
    }

    /** This shard's rows of {@code t}, a tensor over the global batch (dim 0). */
    public Tensor of(Tensor t) {
      return isWhole() ? t : t.narrow(0, first, size);
    }

    /** This shard's values of {@code perSample}, {@code width} values per global sample. */
    public float[] of(float[] perSample, int width) {
      return isWhole()
          ? perSample
          : java.util.Arrays.copyOfRange(perSample, first * width, (first + size) * width);
    }

    /** This shard's values of {@code perSample}, {@code width} values per global sample. */
    public long[] of(long[] perSample, int width) {
      return isWhole()
          ? perSample
          : java.util.Arrays.copyOfRange(perSample, first * width, (first + size) * width);
    }
  }

  /** The whole batch (one device). */
  public TrainBatch(Tensor latents, Tensor context, Tensor mask, long[] rows) {
    this(latents, context, mask, rows, Shard.whole(Math.toIntExact(latents.size(0))));
  }

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
    if (shard.size() != latents.size(0)) {
      throw new IllegalArgumentException(
          "TrainBatch: " + shard + " does not match latents " + latents.describe());
    }
  }

  /** {@code shape} with dim 0 widened to the global batch (for draws over all replicas' rows). */
  public long[] globalShape(long[] shape) {
    long[] g = shape.clone();
    g[0] = shard.globalSize();
    return g;
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
