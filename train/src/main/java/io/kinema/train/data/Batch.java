package io.kinema.train.data;

import java.util.List;

/**
 * A training batch as plain Java arrays in C order, built on a loader worker thread; the training
 * thread turns it into tensors ({@code Tensor.of(latents, latentShape)}). The layout follows
 * FastVideo's batch dict ({@code vae_latent}, {@code text_embedding}, {@code text_attention_mask},
 * {@code caption_text}).
 *
 * <p>Arrays are owned by the batch and never reused by the loader. Records compare arrays by
 * identity.
 *
 * @param epoch the epoch this batch belongs to
 * @param indexInEpoch the batch's index within its epoch
 * @param latents {@code [B, C, T, h, w]} floats, {@code T} cropped to {@code num_latent_t}; empty
 *     for text-only data
 * @param latentShape {@code [B, C, T, h, w]}; empty for text-only data
 * @param textEmbeddings {@code [B, textLen, D]}: each row's {@code [L, D]} embedding, zero-padded
 *     or cropped to {@code textLen} tokens; all zeros where the sample's condition was CFG-dropped
 * @param textShape {@code [B, textLen, D]}
 * @param textMask {@code [B, textLen]}: 1 for the row's {@code min(L, textLen)} real tokens, else 0
 *     (unchanged by CFG dropout, as in FastVideo)
 * @param cfgDropped which samples had their text embedding replaced by zeros
 * @param ids the rows' {@code id} column
 * @param captions the rows' captions
 * @param rowIndices the rows' global indices in the dataset
 */
public record Batch(
    long epoch,
    long indexInEpoch,
    float[] latents,
    long[] latentShape,
    float[] textEmbeddings,
    long[] textShape,
    float[] textMask,
    boolean[] cfgDropped,
    List<String> ids,
    List<String> captions,
    long[] rowIndices) {

  /** The number of samples (B). */
  public int size() {
    return rowIndices.length;
  }

  /** Whether the batch carries latents (T2V data) or only text (text-only data). */
  public boolean hasLatents() {
    return latentShape.length > 0;
  }

  /** The position of this batch, as a loader state that would return it next. */
  public LoaderState position() {
    return new LoaderState(epoch, indexInEpoch);
  }
}
