package io.kinema.train.data;

/**
 * One row to write in FastVideo's T2V layout ({@code pyarrow_schema_t2v}): the tensors and the
 * metadata columns the preprocessing pipeline fills.
 *
 * @param id the {@code id} column (the source video's stem)
 * @param fileName the source file's name
 * @param caption the prompt
 * @param mediaType {@code "video"} or {@code "image"}
 * @param width pixel width of the preprocessed frames
 * @param height pixel height of the preprocessed frames
 * @param numFrames latent frames T (FastVideo stores the latent frame count here)
 * @param durationSec duration of the source clip
 * @param fps frame rate of the source clip
 * @param latent the VAE latent in C order, {@code product(latentShape)} floats
 * @param latentShape {@code [C, T, h, w]}
 * @param textEmbedding the text encoder's hidden states of the real tokens, {@code L * D} floats
 * @param textShape {@code [L, D]}
 */
public record LatentRecord(
    String id,
    String fileName,
    String caption,
    String mediaType,
    long width,
    long height,
    long numFrames,
    double durationSec,
    double fps,
    float[] latent,
    long[] latentShape,
    float[] textEmbedding,
    long[] textShape) {

  public LatentRecord {
    check(latent, latentShape, 4, "latent");
    check(textEmbedding, textShape, 2, "textEmbedding");
  }

  private static void check(float[] values, long[] shape, int rank, String name) {
    if (values == null || shape == null || shape.length != rank) {
      throw new IllegalArgumentException(
          "LatentRecord: " + name + " needs values and a shape of rank " + rank);
    }
    long n = 1;
    for (long d : shape) {
      if (d < 0)
        throw new IllegalArgumentException("LatentRecord: negative dim in " + name + " shape");
      n *= d;
    }
    if (n != values.length) {
      throw new IllegalArgumentException(
          "LatentRecord: "
              + name
              + " has "
              + values.length
              + " values, shape "
              + RowDecoder.format(shape)
              + " needs "
              + n);
    }
  }
}
