package io.kinema.train.data;

import io.kinema.train.AtomicFiles;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.apache.parquet.conf.PlainParquetConfiguration;
import org.apache.parquet.example.data.Group;
import org.apache.parquet.example.data.simple.SimpleGroup;
import org.apache.parquet.hadoop.ParquetFileWriter;
import org.apache.parquet.hadoop.ParquetWriter;
import org.apache.parquet.hadoop.example.ExampleParquetWriter;
import org.apache.parquet.hadoop.metadata.CompressionCodecName;
import org.apache.parquet.io.LocalOutputFile;
import org.apache.parquet.io.api.Binary;

/**
 * Writes rows in FastVideo's preprocessed T2V Parquet layout (what its {@code ParquetDatasetWriter}
 * writes with pyarrow; spec training-infra.md §5): every column of {@code pyarrow_schema_t2v},
 * tensors as little-endian float32 bytes with an int64 shape list and {@code "float32"} dtype, zstd
 * compression, {@code rowsPerFile} rows per file named {@code part-00000.parquet}, {@code
 * part-00001.parquet}, ... The last file holds the remainder.
 *
 * <p>Each file is written to {@code <name>.tmp} and renamed when complete, so a reader never sees a
 * partial file. Row groups hold about 32 MiB (at least one row; the row count is fixed from the
 * first row of each file). pyarrow writes one group per file; any reader accepts both, and the
 * smaller unit bounds what a shuffled read costs when the dataset is larger than the reader's
 * cache, since Parquet cannot read less than a row group. (parquet-java's own byte-based cut would
 * first check the size after 100 rows: 800 MiB for 480p Wan latents.)
 *
 * <p>Not thread-safe.
 */
public final class ParquetLatentWriter implements AutoCloseable {
  /** Target row-group size; see the class comment. */
  static final long ROW_GROUP_BYTES = 32L << 20;

  private final Path dir;
  private final int rowsPerFile;
  private final long rowGroupBytes;
  private final List<Path> written = new ArrayList<>();
  private ParquetWriter<Group> current;
  private Path currentTemp;
  private int rowsInCurrent;
  private long rows;

  /**
   * A writer into {@code dir} (created if missing), which must not already hold {@code
   * part-*.parquet} files: mixing rows of two runs would silently change the dataset.
   */
  public ParquetLatentWriter(Path dir, int rowsPerFile) {
    this(dir, rowsPerFile, ROW_GROUP_BYTES);
  }

  /** As above with another row-group target (tests use tiny groups). */
  ParquetLatentWriter(Path dir, int rowsPerFile, long rowGroupBytes) {
    this.rowGroupBytes = rowGroupBytes;
    if (rowsPerFile < 1) {
      throw new IllegalArgumentException(
          "ParquetLatentWriter: rowsPerFile must be >= 1, got " + rowsPerFile);
    }
    this.dir = dir;
    this.rowsPerFile = rowsPerFile;
    try {
      Files.createDirectories(dir);
      try (Stream<Path> list = Files.list(dir)) {
        List<Path> old = list.filter(p -> isPartFile(p.getFileName().toString())).toList();
        if (!old.isEmpty()) {
          throw new DataException(
              dir
                  + " already holds "
                  + old.size()
                  + " part-*.parquet files; write into an empty folder");
        }
      }
    } catch (IOException e) {
      throw new DataException(
          dir + ": cannot create the output folder (" + e.getMessage() + ")", e);
    }
  }

  static boolean isPartFile(String name) {
    return name.matches("part-\\d{5,}\\.parquet");
  }

  /** Appends one row. */
  public void write(LatentRecord r) {
    if (current == null) open(r);
    Group g = new SimpleGroup(FastVideoSchema.T2V);
    g.append("id", r.id());
    g.append("vae_latent_bytes", Binary.fromConstantByteArray(littleEndian(r.latent())));
    appendShape(g, "vae_latent_shape", r.latentShape());
    g.append("vae_latent_dtype", "float32");
    g.append("text_embedding_bytes", Binary.fromConstantByteArray(littleEndian(r.textEmbedding())));
    appendShape(g, "text_embedding_shape", r.textShape());
    g.append("text_embedding_dtype", "float32");
    g.append("file_name", r.fileName());
    g.append("caption", r.caption());
    g.append("media_type", r.mediaType());
    g.append("width", r.width());
    g.append("height", r.height());
    g.append("num_frames", r.numFrames());
    g.append("duration_sec", r.durationSec());
    g.append("fps", r.fps());
    try {
      current.write(g);
    } catch (IOException e) {
      abort();
      throw new DataException(currentName() + ": write failed (" + e.getMessage() + ")", e);
    }
    rows++;
    if (++rowsInCurrent == rowsPerFile) finish();
  }

  /** The files completed so far. */
  public List<Path> files() {
    return List.copyOf(written);
  }

  public long rowsWritten() {
    return rows;
  }

  /** Completes the last, partial file. */
  @Override
  public void close() {
    if (current != null) finish();
  }

  private void open(LatentRecord first) {
    currentTemp = dir.resolve(currentName() + ".tmp");
    long rowBytes = 4L * (first.latent().length + first.textEmbedding().length) + 256;
    int groupRows = Math.clamp(rowGroupBytes / rowBytes, 1, rowsPerFile);
    try {
      current =
          ExampleParquetWriter.builder(new LocalOutputFile(currentTemp))
              .withConf(new PlainParquetConfiguration())
              .withType(FastVideoSchema.T2V)
              .withCompressionCodec(CompressionCodecName.ZSTD)
              .withWriteMode(ParquetFileWriter.Mode.OVERWRITE)
              .withRowGroupRowCountLimit(groupRows)
              // Tensor bytes never repeat and their min/max mean nothing: no dictionary attempt,
              // no statistics (each would copy every value).
              .withDictionaryEncoding("vae_latent_bytes", false)
              .withDictionaryEncoding("text_embedding_bytes", false)
              .withStatisticsEnabled("vae_latent_bytes", false)
              .withStatisticsEnabled("text_embedding_bytes", false)
              .build();
    } catch (IOException e) {
      throw new DataException(currentTemp + ": cannot be created (" + e.getMessage() + ")", e);
    }
    rowsInCurrent = 0;
  }

  private void finish() {
    Path target = dir.resolve(currentName());
    try {
      current.close();
      current = null;
      AtomicFiles.publish(currentTemp, target);
    } catch (IOException e) {
      abort();
      throw new DataException(target + ": cannot be completed (" + e.getMessage() + ")", e);
    }
    written.add(target);
  }

  /** Drops the file being written after a failure. */
  private void abort() {
    try {
      if (current != null) current.close();
    } catch (IOException | RuntimeException ignored) {
      // the write already failed; the temp file is deleted below
    }
    current = null;
    try {
      Files.deleteIfExists(currentTemp);
    } catch (IOException ignored) {
      // best effort: a stray .tmp file is never read as data
    }
  }

  private String currentName() {
    return String.format("part-%05d.parquet", written.size());
  }

  private static void appendShape(Group g, String field, long[] shape) {
    Group list = g.addGroup(field);
    for (long d : shape) list.addGroup("list").append("element", d);
  }

  private static byte[] littleEndian(float[] values) {
    ByteBuffer b = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
    b.asFloatBuffer().put(values);
    return b.array();
  }
}
