package io.kinema.train.data;

import java.util.ArrayList;
import java.util.List;

/**
 * Stacks samples into a {@link Batch} (FastVideo's {@code collate_rows_from_parquet_schema}):
 * latents cropped to {@code num_latent_t} frames, text embeddings zero-padded or cropped to {@code
 * textLen} tokens with their mask, and CFG dropout applied per sample.
 */
final class BatchCollator {
  private BatchCollator() {}

  static Batch collate(
      List<Sample> samples, LoaderConfig config, long epoch, long index, ParquetLatentDataset ds) {
    int n = samples.size();
    long[] rowIndices = new long[n];
    List<String> ids = new ArrayList<>(n), captions = new ArrayList<>(n);
    boolean[] dropped = new boolean[n];
    for (int i = 0; i < n; i++) {
      Sample s = samples.get(i);
      rowIndices[i] = s.rowIndex();
      ids.add(s.id());
      captions.add(s.caption());
      dropped[i] =
          config.cfgRate() > 0
              && PhiloxDraws.uniform(config.seed() ^ s.rowIndex()) < config.cfgRate();
    }
    float[] latents = new float[0];
    long[] latentShape = new long[0];
    if (samples.get(0).hasLatent()) {
      latentShape = latentShape(samples, config.numLatentT(), epoch, index, ds);
      int per = Math.toIntExact(latentShape[1] * latentShape[2] * latentShape[3] * latentShape[4]);
      latents = new float[Math.multiplyExact(n, per)];
      for (int i = 0; i < n; i++) cropFrames(samples.get(i), latentShape, latents, i * per);
    }
    int len = config.textLen();
    int dim = Math.toIntExact(samples.get(0).textShape()[1]);
    float[] text = new float[Math.multiplyExact(n, Math.multiplyExact(len, dim))];
    float[] mask = new float[n * len];
    for (int i = 0; i < n; i++) {
      Sample s = samples.get(i);
      int tokens = (int) Math.min(s.textShape()[0], len);
      if (!dropped[i]) System.arraycopy(s.textEmbedding(), 0, text, i * len * dim, tokens * dim);
      for (int t = 0; t < tokens; t++) mask[i * len + t] = 1f;
    }
    return new Batch(
        epoch,
        index,
        latents,
        latentShape,
        text,
        new long[] {n, len, dim},
        mask,
        dropped,
        List.copyOf(ids),
        List.copyOf(captions),
        rowIndices);
  }

  /** {@code [B, C, T', h, w]} with {@code T' = min(T, numLatentT)}; all rows must agree. */
  private static long[] latentShape(
      List<Sample> samples, int numLatentT, long epoch, long index, ParquetLatentDataset ds) {
    long[] first = cropped(samples.get(0).latentShape(), numLatentT);
    for (Sample s : samples) {
      long[] shape = cropped(s.latentShape(), numLatentT);
      if (!java.util.Arrays.equals(shape, first)) {
        throw new DataException(
            "batch "
                + index
                + " of epoch "
                + epoch
                + ": rows have different latent shapes"
                + (numLatentT > 0 ? " after cropping to num_latent_t = " + numLatentT : "")
                + ": "
                + describe(samples.get(0), ds)
                + " has "
                + RowDecoder.format(samples.get(0).latentShape())
                + ", "
                + describe(s, ds)
                + " has "
                + RowDecoder.format(s.latentShape())
                + "; use batch size 1 or set num_latent_t");
      }
    }
    return new long[] {samples.size(), first[0], first[1], first[2], first[3]};
  }

  private static long[] cropped(long[] shape, int numLatentT) {
    long[] c = shape.clone();
    if (numLatentT > 0) c[1] = Math.min(c[1], numLatentT);
    return c;
  }

  private static String describe(Sample s, ParquetLatentDataset ds) {
    RowLocation at = ds.locate(s.rowIndex());
    return at.file() + " row " + at.rowInFile();
  }

  /** Copies the first {@code shape[2]} frames of each channel of the sample's latent. */
  private static void cropFrames(Sample s, long[] shape, float[] out, int at) {
    int channels = (int) shape[1];
    int frame = (int) (shape[3] * shape[4]);
    int keep = (int) shape[2] * frame;
    int stored = (int) s.latentShape()[1] * frame;
    if (keep == stored) {
      System.arraycopy(s.latent(), 0, out, at, channels * keep);
      return;
    }
    for (int c = 0; c < channels; c++) {
      System.arraycopy(s.latent(), c * stored, out, at + c * keep, keep);
    }
  }
}
