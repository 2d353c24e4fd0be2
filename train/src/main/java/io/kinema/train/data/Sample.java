package io.kinema.train.data;

/**
 * One decoded row of a preprocessed dataset: plain arrays in C order, ready to be batched on a
 * worker thread (no tensors, no native memory).
 *
 * <p>Arrays are shared, not copied: treat them as read-only. Records compare arrays by identity.
 *
 * @param rowIndex the global row index in the dataset (repeats and files concatenated)
 * @param id the {@code id} column (the source video's stem)
 * @param caption the {@code caption} column
 * @param latent the VAE latent, {@code product(latentShape)} floats; empty for text-only data
 * @param latentShape {@code [C, T, h, w]}; empty for text-only data
 * @param textEmbedding the text encoder's hidden states of the real tokens, {@code L * D} floats
 * @param textShape {@code [L, D]}
 */
public record Sample(
    long rowIndex,
    String id,
    String caption,
    float[] latent,
    long[] latentShape,
    float[] textEmbedding,
    long[] textShape) {

  /** Whether this row carries a latent (T2V data) or only text (text-only data). */
  public boolean hasLatent() {
    return latentShape.length > 0;
  }
}
