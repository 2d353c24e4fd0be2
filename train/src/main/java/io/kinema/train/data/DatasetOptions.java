package io.kinema.train.data;

/**
 * How {@link ParquetLatentDataset} reads.
 *
 * @param kind the expected layout ({@code preprocessed_data_type})
 * @param onBadRow fail on a bad row, or skip and count it
 * @param cacheBytes bound on the decoded row groups kept in memory (at least one is always kept)
 */
public record DatasetOptions(DatasetKind kind, OnBadRow onBadRow, long cacheBytes) {
  public DatasetOptions {
    if (kind == null || onBadRow == null) {
      throw new IllegalArgumentException("DatasetOptions: kind and onBadRow must be set");
    }
    if (cacheBytes < 0) {
      throw new IllegalArgumentException(
          "DatasetOptions: cacheBytes must be >= 0, got " + cacheBytes);
    }
  }

  /**
   * T2V rows, failing on bad rows, with a cache of a quarter of the heap up to 1 GiB: enough to
   * hold a small dataset whole (each row group is read once) while a large one streams through it.
   */
  public static DatasetOptions defaults() {
    return new DatasetOptions(DatasetKind.T2V, OnBadRow.FAIL, defaultCacheBytes());
  }

  public DatasetOptions withKind(DatasetKind kind) {
    return new DatasetOptions(kind, onBadRow, cacheBytes);
  }

  public DatasetOptions withOnBadRow(OnBadRow onBadRow) {
    return new DatasetOptions(kind, onBadRow, cacheBytes);
  }

  public DatasetOptions withCacheBytes(long cacheBytes) {
    return new DatasetOptions(kind, onBadRow, cacheBytes);
  }

  static long defaultCacheBytes() {
    return Math.min(1L << 30, Runtime.getRuntime().maxMemory() / 4);
  }
}
