package io.kinema.train.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.apache.parquet.ParquetReadOptions;
import org.apache.parquet.conf.PlainParquetConfiguration;
import org.apache.parquet.example.data.Group;
import org.apache.parquet.example.data.simple.convert.GroupRecordConverter;
import org.apache.parquet.hadoop.ParquetFileReader;
import org.apache.parquet.hadoop.metadata.CompressionCodecName;
import org.apache.parquet.io.ColumnIOFactory;
import org.apache.parquet.io.LocalInputFile;
import org.apache.parquet.schema.MessageType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ParquetRoundTripTest {
  @TempDir Path tmp;

  private List<LatentRecord> writeRecords(Path dir, int n, int rowsPerFile) {
    Random rnd = new Random(7);
    List<LatentRecord> records = new ArrayList<>();
    try (var w = new ParquetLatentWriter(dir, rowsPerFile)) {
      for (int i = 0; i < n; i++) {
        LatentRecord r = ParquetFixtures.record(rnd, i, new long[] {4, 3, 2, 2}, 1 + i % 5, 8);
        w.write(r);
        records.add(r);
      }
      assertEquals(n, w.rowsWritten());
    }
    return records;
  }

  @Test
  void writtenRowsReadBackExactly() {
    Path dir = tmp.resolve("data");
    List<LatentRecord> records = writeRecords(dir, 10, 4);
    ParquetLatentDataset ds = ParquetLatentDataset.open(dir);
    assertEquals(10, ds.size());
    assertEquals(
        List.of(
            dir.resolve("part-00000.parquet"),
            dir.resolve("part-00001.parquet"),
            dir.resolve("part-00002.parquet")),
        ds.files());
    assertEquals(4, ds.latentChannels());
    assertEquals(8, ds.textDim());
    for (int i = 0; i < 10; i++) {
      Sample s = ds.get(i);
      LatentRecord r = records.get(i);
      assertEquals(i, s.rowIndex());
      assertEquals(r.id(), s.id());
      assertEquals(r.caption(), s.caption());
      assertArrayEquals(r.latent(), s.latent());
      assertArrayEquals(r.latentShape(), s.latentShape());
      assertArrayEquals(r.textEmbedding(), s.textEmbedding());
      assertArrayEquals(r.textShape(), s.textShape());
    }
    assertEquals(new RowLocation(dir.resolve("part-00002.parquet"), 0, 1, 1), ds.locate(9));
  }

  @Test
  void filesHaveFastVideosSchemaAllColumnsAndZstd() throws IOException {
    Path dir = tmp.resolve("data");
    List<LatentRecord> records = writeRecords(dir, 3, 5);
    Path file = dir.resolve("part-00000.parquet");
    try (var r =
        ParquetFileReader.open(
            new LocalInputFile(file),
            ParquetReadOptions.builder(new PlainParquetConfiguration()).build())) {
      MessageType schema = r.getFooter().getFileMetaData().getSchema();
      assertEquals(FastVideoSchema.T2V, schema);
      assertEquals(
          List.of(
              "id",
              "vae_latent_bytes",
              "vae_latent_shape",
              "vae_latent_dtype",
              "text_embedding_bytes",
              "text_embedding_shape",
              "text_embedding_dtype",
              "file_name",
              "caption",
              "media_type",
              "width",
              "height",
              "num_frames",
              "duration_sec",
              "fps"),
          schema.getFields().stream().map(f -> f.getName()).toList());
      r.getRowGroups()
          .forEach(
              b ->
                  b.getColumns()
                      .forEach(c -> assertEquals(CompressionCodecName.ZSTD, c.getCodec())));
      var pages = r.readNextRowGroup();
      var rr =
          new ColumnIOFactory()
              .getColumnIO(schema)
              .getRecordReader(pages, new GroupRecordConverter(schema));
      Group g = rr.read();
      LatentRecord first = records.get(0);
      assertEquals("clip-0.mp4", g.getString("file_name", 0));
      assertEquals("video", g.getString("media_type", 0));
      assertEquals("float32", g.getString("vae_latent_dtype", 0));
      assertEquals("float32", g.getString("text_embedding_dtype", 0));
      assertEquals(64, g.getLong("width", 0));
      assertEquals(48, g.getLong("height", 0));
      assertEquals(3, g.getLong("num_frames", 0));
      assertEquals(2.5, g.getDouble("duration_sec", 0));
      assertEquals(16.0, g.getDouble("fps", 0));
      assertArrayEquals(
          ParquetFixtures.bytes(first.latent()), g.getBinary("vae_latent_bytes", 0).getBytes());
      Group shape = g.getGroup("vae_latent_shape", 0);
      assertEquals(4, shape.getFieldRepetitionCount("list"));
      assertEquals(4, shape.getGroup("list", 0).getLong("element", 0));
      assertEquals(3, shape.getGroup("list", 1).getLong("element", 0));
    }
  }

  @Test
  void writerLeavesNoTempFilesAndRefusesAFolderWithParts() throws IOException {
    Path dir = tmp.resolve("data");
    writeRecords(dir, 5, 2);
    try (Stream<Path> list = Files.list(dir)) {
      assertEquals(
          List.of("part-00000.parquet", "part-00001.parquet", "part-00002.parquet"),
          list.map(p -> p.getFileName().toString()).sorted().toList());
    }
    DataException e = assertThrows(DataException.class, () -> new ParquetLatentWriter(dir, 2));
    assertEquals(
        dir + " already holds 3 part-*.parquet files; write into an empty folder", e.getMessage());
  }

  @Test
  void repeatsAndSourcesConcatenateInOrder() {
    Path a = tmp.resolve("a"), b = tmp.resolve("b");
    writeRecords(a, 3, 2);
    writeRecords(b, 2, 2);
    ParquetLatentDataset ds = ParquetLatentDataset.open(a + ":2," + b, DatasetOptions.defaults());
    assertEquals(8, ds.size());
    assertEquals(List.of(0, 1, 2, 0, 1, 2, 0, 1), ids(ds));
    assertArrayEquals(ds.get(0).latent(), ds.get(3).latent());
    assertEquals(a.resolve("part-00001.parquet"), ds.locate(5).file());
    assertEquals(b.resolve("part-00000.parquet"), ds.locate(7).file());
  }

  @Test
  void filesAreFoundRecursivelyInAbsolutePathOrder() throws IOException {
    Path root = tmp.resolve("root");
    writeRecords(root.resolve("z"), 1, 1);
    writeRecords(root.resolve("a/deep"), 2, 1);
    Files.writeString(root.resolve("notes.txt"), "not data");
    ParquetLatentDataset ds = ParquetLatentDataset.open(root);
    assertEquals(
        List.of(
            root.resolve("a/deep/part-00000.parquet"),
            root.resolve("a/deep/part-00001.parquet"),
            root.resolve("z/part-00000.parquet")),
        ds.files());
  }

  @Test
  void rowGroupsAreCutByBytesAndRandomAccessCrossesThem() {
    Path dir = tmp.resolve("data");
    Random rnd = new Random(9);
    List<LatentRecord> records = new ArrayList<>();
    // Rows of 4 * (48 + 24) + 256 = 544 bytes: 3 fit 2000 bytes.
    try (var w = new ParquetLatentWriter(dir, 10, 2000)) {
      for (int i = 0; i < 10; i++) {
        LatentRecord r = ParquetFixtures.record(rnd, i, new long[] {4, 3, 2, 2}, 3, 8);
        w.write(r);
        records.add(r);
      }
    }
    ParquetLatentDataset ds = ParquetLatentDataset.open(dir);
    assertEquals(List.of(dir.resolve("part-00000.parquet")), ds.files());
    Path file = dir.resolve("part-00000.parquet");
    assertEquals(new RowLocation(file, 0, 2, 2), ds.locate(2));
    assertEquals(new RowLocation(file, 1, 0, 3), ds.locate(3));
    assertEquals(new RowLocation(file, 3, 0, 9), ds.locate(9));
    for (int i : new int[] {9, 0, 4, 8, 3, 7, 1, 6, 2, 5}) {
      assertArrayEquals(records.get(i).latent(), ds.get(i).latent());
    }
  }

  /**
   * {@code duckdb-t2v.parquet} was written by DuckDB 1.5 (an independent C++ Parquet writer;
   * pyarrow was not installable here) with the T2V columns: row i ({@code id "row-i"}) has latent
   * {@code [4,2,1,2]} with values {@code i + k/8} and text {@code [i+1, 3]} with values {@code -(i
   * + k/16)}, k the flat index; zstd. DuckDB also read our files back exactly (checked by hand).
   */
  @Test
  void readsAFileWrittenByAnotherParquetImplementation() throws Exception {
    Path file = Path.of(getClass().getResource("duckdb-t2v.parquet").toURI());
    ParquetLatentDataset ds = ParquetLatentDataset.open(file);
    assertEquals(5, ds.size());
    for (int i = 0; i < 5; i++) {
      Sample s = ds.get(i);
      assertEquals("row-" + i, s.id());
      assertEquals("caption " + i, s.caption());
      assertArrayEquals(new long[] {4, 2, 1, 2}, s.latentShape());
      assertArrayEquals(new long[] {i + 1, 3}, s.textShape());
      for (int k = 0; k < 16; k++) assertEquals(i + k / 8f, s.latent()[k]);
      for (int k = 0; k < 3 * (i + 1); k++)
        assertEquals(-(i + k / 16f), s.textEmbedding()[k]); // -0.0 first
    }
  }

  @Test
  void dataPathStringsParse() {
    assertEquals(
        List.of(
            new DataSource(Path.of("data/a"), 2),
            new DataSource(Path.of("data/b"), 1),
            new DataSource(Path.of("c:d"), 1),
            new DataSource(Path.of("e"), 0)),
        DataSource.parseList(" data/a:2, data/b ,c:d,e:0"));
    assertThrows(IllegalArgumentException.class, () -> DataSource.parseList(" , "));
  }

  @Test
  void aSmallCacheEvictsAndStillReadsEveryRow() {
    Path dir = tmp.resolve("data");
    List<LatentRecord> records = writeRecords(dir, 12, 3);
    ParquetLatentDataset ds =
        ParquetLatentDataset.open(
            List.of(new DataSource(dir)), DatasetOptions.defaults().withCacheBytes(0));
    Random rnd = new Random(3);
    for (int k = 0; k < 40; k++) {
      int i = rnd.nextInt(12);
      assertArrayEquals(records.get(i).latent(), ds.get(i).latent());
    }
    assertTrue(ds.get(11).caption().endsWith("11"));
  }

  private static List<Integer> ids(ParquetLatentDataset ds) {
    List<Integer> ids = new ArrayList<>();
    for (long i = 0; i < ds.size(); i++) ids.add(Integer.parseInt(ds.get(i).id().substring(5)));
    return ids;
  }
}
