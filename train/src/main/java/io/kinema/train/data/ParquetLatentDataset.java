package io.kinema.train.data;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;

/**
 * FastVideo's preprocessed Parquet dataset (spec training-infra.md §5) with random access by global
 * row index, for shuffled training.
 *
 * <p>The rows are those of every {@code *.parquet} file under each {@link DataSource} (searched
 * recursively, sorted by absolute path), each source's files repeated {@code repeat} times, the
 * sources concatenated in order. Opening reads each file's footer (row counts, schema check) and
 * decodes the first row, which fixes the latent channel count and text hidden size every other row
 * must have. Rows are read a row group at a time through a byte-bounded LRU cache (see {@link
 * RowGroupCache} for why), decoded and validated on each access.
 *
 * <p>Thread-safe: loader workers call {@link #get} concurrently.
 */
public final class ParquetLatentDataset {
  private final DatasetOptions options;
  private final List<LatentFile> files; // one entry per repeat
  private final long[] fileStarts; // fileStarts[i] = first global row of files[i]; last = size
  private final RowGroupCache cache;
  private final RowDecoder.Reference reference;
  private final Set<Long> skipped = ConcurrentHashMap.newKeySet();
  private final AtomicReference<String> firstSkip = new AtomicReference<>();

  private ParquetLatentDataset(List<LatentFile> files, DatasetOptions options) {
    this.options = options;
    this.files = List.copyOf(files);
    this.fileStarts = new long[files.size() + 1];
    for (int i = 0; i < files.size(); i++) fileStarts[i + 1] = fileStarts[i] + files.get(i).rows();
    this.cache = new RowGroupCache(options.cacheBytes());
    this.reference = findReference();
  }

  /** Opens the rows of {@code sources} (see the class comment). */
  public static ParquetLatentDataset open(List<DataSource> sources, DatasetOptions options) {
    if (sources.isEmpty())
      throw new DataException("data_path is empty: name a folder of .parquet files");
    Map<Path, LatentFile> opened = new LinkedHashMap<>();
    List<LatentFile> files = new ArrayList<>();
    for (DataSource source : sources) {
      List<Path> paths = parquetFiles(source.path());
      for (int r = 0; r < source.repeat(); r++) {
        for (Path p : paths) {
          files.add(
              opened.computeIfAbsent(
                  p.toAbsolutePath().normalize(), k -> LatentFile.open(p, options.kind())));
        }
      }
    }
    return new ParquetLatentDataset(files, options);
  }

  /** Opens a {@code data_path} string ({@link DataSource#parseList}). */
  public static ParquetLatentDataset open(String dataPath, DatasetOptions options) {
    return open(DataSource.parseList(dataPath), options);
  }

  /** Opens one file or folder with the {@linkplain DatasetOptions#defaults() default options}. */
  public static ParquetLatentDataset open(Path path) {
    return open(List.of(new DataSource(path)), DatasetOptions.defaults());
  }

  /** The {@code *.parquet} files under {@code path} (or {@code path} itself), by absolute path. */
  static List<Path> parquetFiles(Path path) {
    if (Files.isRegularFile(path)) return List.of(path);
    if (!Files.isDirectory(path)) {
      throw new DataException("data_path " + path + ": no such file or folder");
    }
    List<Path> found;
    try (Stream<Path> walk = Files.walk(path, java.nio.file.FileVisitOption.FOLLOW_LINKS)) {
      found =
          walk.filter(p -> p.getFileName().toString().endsWith(".parquet"))
              .filter(Files::isRegularFile)
              .sorted(Comparator.comparing(p -> p.toAbsolutePath().normalize().toString()))
              .toList();
    } catch (IOException | java.io.UncheckedIOException e) {
      throw new DataException(
          "data_path " + path + ": cannot be listed (" + e.getMessage() + ")", e);
    }
    if (found.isEmpty()) throw new DataException("data_path " + path + " holds no .parquet files");
    return found;
  }

  /** Total rows, repeats included. */
  public long size() {
    return fileStarts[fileStarts.length - 1];
  }

  public DatasetKind kind() {
    return options.kind();
  }

  public DatasetOptions options() {
    return options;
  }

  /** The files in row order, one entry per repeat. */
  public List<Path> files() {
    return files.stream().map(LatentFile::path).toList();
  }

  /** Latent channels C of every row (from the first row); -1 for text-only data. */
  public long latentChannels() {
    return reference.channels();
  }

  /** Text hidden size D of every row (from the first row). */
  public long textDim() {
    return reference.textDim();
  }

  /** The file, row group and row that hold global row {@code row}. */
  public RowLocation locate(long row) {
    int f = fileOf(row);
    LatentFile file = files.get(f);
    long inFile = row - fileStarts[f];
    int group = file.groupOf(inFile);
    return new RowLocation(file.path(), group, inFile - file.groupStart(group), inFile);
  }

  /** Row {@code row}, decoded and validated; a bad row throws whatever {@link OnBadRow} says. */
  public Sample get(long row) {
    return decode(row, reference);
  }

  /**
   * Row {@code row}, or empty if it is bad and the dataset {@linkplain OnBadRow#SKIP skips} bad
   * rows (the row is then counted in {@link #skippedRows}).
   */
  public Optional<Sample> tryGet(long row) {
    try {
      return Optional.of(get(row));
    } catch (DataException e) {
      if (options.onBadRow() == OnBadRow.FAIL) throw e;
      if (skipped.add(row)) firstSkip.compareAndSet(null, e.getMessage());
      return Optional.empty();
    }
  }

  /** How many distinct rows {@link #tryGet} has skipped so far. */
  public long skippedRows() {
    return skipped.size();
  }

  /** The reason the first skipped row was skipped, for a log line. */
  public Optional<String> firstSkipReason() {
    return Optional.ofNullable(firstSkip.get());
  }

  private Sample decode(long row, RowDecoder.Reference ref) {
    if (row < 0 || row >= size()) {
      throw new IndexOutOfBoundsException("row " + row + " of a dataset of " + size() + " rows");
    }
    int f = fileOf(row);
    LatentFile file = files.get(f);
    long inFile = row - fileStarts[f];
    int group = file.groupOf(inFile);
    List<RawRow> rows =
        cache.get(
            new RowGroupCache.Key(file.path().toAbsolutePath().normalize().toString(), group),
            () -> file.readRowGroup(group));
    RawRow raw = rows.get(Math.toIntExact(inFile - file.groupStart(group)));
    return RowDecoder.decode(raw, options.kind(), ref, file.name(), inFile, row);
  }

  /** The first good row's dimensions (bad rows before it are skipped or fail, per the options). */
  private RowDecoder.Reference findReference() {
    if (size() == 0) throw new DataException("data_path holds no rows (" + files() + ")");
    for (long row = 0; row < size(); row++) {
      try {
        return RowDecoder.Reference.of(decode(row, RowDecoder.Reference.NONE));
      } catch (DataException e) {
        if (options.onBadRow() == OnBadRow.FAIL) throw e;
        if (skipped.add(row)) firstSkip.compareAndSet(null, e.getMessage());
      }
    }
    throw new DataException("data_path holds no valid rows; the first problem: " + firstSkip.get());
  }

  private int fileOf(long row) {
    int lo = 0, hi = files.size() - 1;
    while (lo < hi) {
      int mid = (lo + hi + 1) >>> 1;
      if (fileStarts[mid] <= row) lo = mid;
      else hi = mid - 1;
    }
    return lo; // the last file starting at or before row: empty files before it are passed over
  }
}
