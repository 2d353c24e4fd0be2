package io.kinema.train.data;

/**
 * How a {@link LatentLoader} batches a dataset (FastVideo's {@code training.data} keys).
 *
 * @param batchSize samples per batch ({@code train_batch_size})
 * @param textLen tokens per text embedding after padding/cropping (512 for UMT5)
 * @param numLatentT latent frames kept ({@code latents[:, :, :num_latent_t]}); 0 keeps all
 * @param cfgRate probability of replacing a sample's text embedding by zeros ({@code
 *     training_cfg_rate})
 * @param seed seed of the shuffle and the CFG-dropout draws ({@code data.seed})
 * @param numWorkers background threads decoding batches ({@code dataloader_num_workers}); 0 decodes
 *     on the calling thread
 * @param prefetch batches decoded ahead when {@code numWorkers > 0}
 * @param dropLast drop the last incomplete batch of an epoch; otherwise it is filled up with the
 *     first rows of the epoch's order (FastVideo's padding)
 * @param shuffle visit the rows in a fresh random order each epoch; false: in data-set order
 */
public record LoaderConfig(
    int batchSize,
    int textLen,
    int numLatentT,
    double cfgRate,
    long seed,
    int numWorkers,
    int prefetch,
    boolean dropLast,
    boolean shuffle) {

  public LoaderConfig {
    require(batchSize >= 1, "batchSize must be >= 1, got " + batchSize);
    require(textLen >= 1, "textLen must be >= 1, got " + textLen);
    require(numLatentT >= 0, "numLatentT must be >= 0 (0 keeps all frames), got " + numLatentT);
    require(cfgRate >= 0 && cfgRate <= 1, "cfgRate must be in [0, 1], got " + cfgRate);
    require(numWorkers >= 0, "numWorkers must be >= 0, got " + numWorkers);
    require(prefetch >= 1, "prefetch must be >= 1, got " + prefetch);
  }

  /**
   * FastVideo's defaults for the rest: 512 text tokens, all latent frames, no CFG dropout, no
   * workers, drop_last, shuffled.
   */
  public static LoaderConfig of(int batchSize, long seed) {
    return new LoaderConfig(batchSize, 512, 0, 0.0, seed, 0, 2, true, true);
  }

  public LoaderConfig withTextLen(int textLen) {
    return new LoaderConfig(
        batchSize, textLen, numLatentT, cfgRate, seed, numWorkers, prefetch, dropLast, shuffle);
  }

  public LoaderConfig withNumLatentT(int numLatentT) {
    return new LoaderConfig(
        batchSize, textLen, numLatentT, cfgRate, seed, numWorkers, prefetch, dropLast, shuffle);
  }

  public LoaderConfig withCfgRate(double cfgRate) {
    return new LoaderConfig(
        batchSize, textLen, numLatentT, cfgRate, seed, numWorkers, prefetch, dropLast, shuffle);
  }

  /** {@code numWorkers} workers and {@code 2 * numWorkers} batches of prefetch (at least 2). */
  public LoaderConfig withNumWorkers(int numWorkers) {
    return new LoaderConfig(
        batchSize,
        textLen,
        numLatentT,
        cfgRate,
        seed,
        numWorkers,
        Math.max(2, 2 * numWorkers),
        dropLast,
        shuffle);
  }

  public LoaderConfig withDropLast(boolean dropLast) {
    return new LoaderConfig(
        batchSize, textLen, numLatentT, cfgRate, seed, numWorkers, prefetch, dropLast, shuffle);
  }

  public LoaderConfig withShuffle(boolean shuffle) {
    return new LoaderConfig(
        batchSize, textLen, numLatentT, cfgRate, seed, numWorkers, prefetch, dropLast, shuffle);
  }

  private static void require(boolean ok, String message) {
    if (!ok) throw new IllegalArgumentException("LoaderConfig: " + message);
  }
}
