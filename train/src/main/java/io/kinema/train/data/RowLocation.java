package io.kinema.train.data;

import java.nio.file.Path;

/**
 * Where a global row index lives.
 *
 * @param file the Parquet file
 * @param rowGroup the row group within the file
 * @param rowInGroup the row within the row group
 * @param rowInFile the row within the file (what error messages name)
 */
public record RowLocation(Path file, int rowGroup, long rowInGroup, long rowInFile) {}
