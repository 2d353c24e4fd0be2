package io.kinema.train.data;

/**
 * Where a {@link LatentLoader} stands: the next batch it returns is batch {@code batch} of epoch
 * {@code epoch}. Saved with a checkpoint, it restarts the loader so that the following batches
 * equal those of an uninterrupted run.
 *
 * @param epoch the epoch of the next batch, from 0
 * @param batch the index of the next batch within its epoch, from 0
 */
public record LoaderState(long epoch, long batch) {
  /** The start of training. */
  public static final LoaderState START = new LoaderState(0, 0);

  public LoaderState {
    if (epoch < 0 || batch < 0) {
      throw new IllegalArgumentException(
          "LoaderState: epoch and batch must be >= 0, got (" + epoch + ", " + batch + ")");
    }
  }
}
