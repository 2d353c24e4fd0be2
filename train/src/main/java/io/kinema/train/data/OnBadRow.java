package io.kinema.train.data;

/** What the dataset does with a row that fails validation (wrong byte count, shape, NaN, ...). */
public enum OnBadRow {
  /** Throw a {@link DataException} naming the file and row (the default). */
  FAIL,
  /** Leave the row out of its batch and count it ({@link ParquetLatentDataset#skippedRows()}). */
  SKIP
}
