package io.kinema.train.data;

import static io.kinema.train.data.ParquetFixtures.bytes;
import static io.kinema.train.data.ParquetFixtures.goodRow;
import static io.kinema.train.data.ParquetFixtures.randomFloats;
import static io.kinema.train.data.ParquetFixtures.row;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.apache.parquet.example.data.Group;
import org.apache.parquet.schema.MessageType;
import org.apache.parquet.schema.MessageTypeParser;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Schema and row validation: each bad input gives an exact message naming file and row. */
class BadDataTest {
  private static final MessageType T2V = FastVideoSchema.T2V;

  @TempDir Path tmp;
  private final Random rnd = new Random(11);

  /** Writes {@code data/part-00003.parquet} with good rows 0 and 2 around {@code bad} at row 1. */
  private Path fileWithBadRow(Group bad) throws IOException {
    Path dir = Files.createDirectories(tmp.resolve("data"));
    Path file = dir.resolve("part-00003.parquet");
    ParquetFixtures.writeRows(
        file, T2V, List.of(goodRow(T2V, rnd, "a"), bad, goodRow(T2V, rnd, "c")));
    return file;
  }

  private String errorOfRow1(Group bad) throws IOException {
    Path file = fileWithBadRow(bad);
    ParquetLatentDataset ds = ParquetLatentDataset.open(file.getParent());
    ds.get(0);
    ds.get(2);
    DataException e = assertThrows(DataException.class, () -> ds.get(1));
    String prefix = file + " row 1: ";
    assertTrue(e.getMessage().startsWith(prefix), e.getMessage());
    return e.getMessage().substring(prefix.length());
  }

  private Group latentRow(byte[] latent, long[] shape, String dtype) {
    return row(T2V, "b", latent, shape, dtype, bytes(randomFloats(rnd, 24)), new long[] {3, 8});
  }

  private Group textRow(byte[] text, long[] shape) {
    return row(
        T2V, "b", bytes(randomFloats(rnd, 32)), new long[] {4, 2, 2, 2}, "float32", text, shape);
  }

  @Test
  void wrongByteCount() throws IOException {
    assertEquals(
        "vae_latent_bytes has 64 bytes, shape [4,2,2,2] needs 128",
        errorOfRow1(latentRow(new byte[64], new long[] {4, 2, 2, 2}, "float32")));
  }

  @Test
  void wrongTextByteCount() throws IOException {
    assertEquals(
        "text_embedding_bytes has 100 bytes, shape [3,8] needs 96",
        errorOfRow1(textRow(new byte[100], new long[] {3, 8})));
  }

  @Test
  void wrongRank() throws IOException {
    assertEquals(
        "vae_latent_shape [4,4,2] has rank 3, expected [C, T, h, w]",
        errorOfRow1(latentRow(new byte[128], new long[] {4, 4, 2}, "float32")));
    assertEquals(
        "text_embedding_shape [24] has rank 1, expected [L, D]",
        errorOfRow1(textRow(new byte[96], new long[] {24})));
  }

  @Test
  void zeroOrNegativeDimension() throws IOException {
    assertEquals(
        "vae_latent_shape [4,0,2,2] has a dimension < 1",
        errorOfRow1(latentRow(new byte[0], new long[] {4, 0, 2, 2}, "float32")));
  }

  @Test
  void channelAndTextDimMismatchWithTheFirstRow() throws IOException {
    assertEquals(
        "vae_latent_shape [2,4,2,2] has 2 channels, the dataset's first row has 4",
        errorOfRow1(latentRow(new byte[128], new long[] {2, 4, 2, 2}, "float32")));
    assertEquals(
        "text_embedding_shape [4,6] has D = 6, the dataset's first row has D = 8",
        errorOfRow1(textRow(new byte[96], new long[] {4, 6})));
  }

  @Test
  void nonFiniteValues() throws IOException {
    float[] v = randomFloats(rnd, 32);
    v[5] = Float.NaN;
    assertEquals(
        "vae_latent_bytes holds NaN at element 5 of [4,2,2,2]",
        errorOfRow1(latentRow(bytes(v), new long[] {4, 2, 2, 2}, "float32")));
    float[] t = randomFloats(rnd, 24);
    t[23] = Float.NEGATIVE_INFINITY;
    assertEquals(
        "text_embedding_bytes holds -Infinity at element 23 of [3,8]",
        errorOfRow1(textRow(bytes(t), new long[] {3, 8})));
  }

  @Test
  void onlyFloat32DtypeIsAccepted() throws IOException {
    assertEquals(
        "vae_latent_dtype is \"bfloat16\"; only float32 data is supported",
        errorOfRow1(latentRow(new byte[128], new long[] {4, 2, 2, 2}, "bfloat16")));
  }

  @Test
  void float32SpellingsAndAnAbsentDtypeAreAccepted() throws IOException {
    Path dir = Files.createDirectories(tmp.resolve("ok"));
    List<Group> rows = new ArrayList<>();
    for (String dtype : new String[] {"float32", "torch.float32", "float", null}) {
      rows.add(latentRow(bytes(randomFloats(rnd, 32)), new long[] {4, 2, 2, 2}, dtype));
    }
    ParquetFixtures.writeRows(dir.resolve("x.parquet"), T2V, rows);
    ParquetLatentDataset ds = ParquetLatentDataset.open(dir);
    for (int i = 0; i < 4; i++) assertEquals(32, ds.get(i).latent().length);
  }

  @Test
  void textWithABatchDimOfOneIsSqueezed() throws IOException {
    Path dir = Files.createDirectories(tmp.resolve("ok"));
    ParquetFixtures.writeRows(
        dir.resolve("x.parquet"),
        T2V,
        List.of(textRow(bytes(randomFloats(rnd, 24)), new long[] {1, 3, 8})));
    assertArrayEquals(new long[] {3, 8}, ParquetLatentDataset.open(dir).get(0).textShape());
  }

  @Test
  void aBadFirstRowFailsTheOpen() throws IOException {
    Path dir = Files.createDirectories(tmp.resolve("data"));
    Path file = dir.resolve("part-00000.parquet");
    ParquetFixtures.writeRows(
        file, T2V, List.of(latentRow(new byte[4], new long[] {4, 2, 2, 2}, "float32")));
    DataException e = assertThrows(DataException.class, () -> ParquetLatentDataset.open(dir));
    assertEquals(
        file + " row 0: vae_latent_bytes has 4 bytes, shape [4,2,2,2] needs 128", e.getMessage());
  }

  @Test
  void missingColumnsAreNamed() throws IOException {
    MessageType noLatent =
        MessageTypeParser.parseMessageType(
            """
            message schema {
              optional binary id (STRING);
              optional binary text_embedding_bytes;
              optional group text_embedding_shape (LIST) {
                repeated group list { optional int64 element; }
              }
              optional binary text_embedding_dtype (STRING);
              optional binary caption (STRING);
            }
            """);
    Path dir = Files.createDirectories(tmp.resolve("text"));
    Path file = dir.resolve("prompts.parquet");
    ParquetFixtures.writeRows(file, noLatent, List.of(goodRow(noLatent, rnd, "p")));
    DataException e = assertThrows(DataException.class, () -> ParquetLatentDataset.open(dir));
    assertEquals(
        file
            + ": missing columns vae_latent_bytes, vae_latent_shape; a FastVideo t2v file needs"
            + " id, caption, vae_latent_bytes, vae_latent_shape, text_embedding_bytes,"
            + " text_embedding_shape (found [id, text_embedding_bytes, text_embedding_shape,"
            + " text_embedding_dtype, caption])",
        e.getMessage());
    // The same file is valid text-only data, and T2V files can be read as text-only too.
    var textOnly = DatasetOptions.defaults().withKind(DatasetKind.TEXT_ONLY);
    Sample s = ParquetLatentDataset.open(List.of(new DataSource(dir)), textOnly).get(0);
    assertFalse(s.hasLatent());
    assertEquals(24, s.textEmbedding().length);
    ParquetFixtures.writeDataset(tmp.resolve("t2v"), 2, 2, 1);
    Sample t =
        ParquetLatentDataset.open(List.of(new DataSource(tmp.resolve("t2v"))), textOnly).get(1);
    assertFalse(t.hasLatent());
  }

  @Test
  void wrongColumnTypesAreNamed() throws IOException {
    MessageType flatShape =
        MessageTypeParser.parseMessageType(
            """
            message schema {
              optional binary id (STRING);
              optional binary caption (STRING);
              optional binary vae_latent_bytes;
              optional int64 vae_latent_shape;
              optional binary text_embedding_bytes;
              optional group text_embedding_shape (LIST) {
                repeated group list { optional int64 element; }
              }
            }
            """);
    Path dir = Files.createDirectories(tmp.resolve("data"));
    Path file = dir.resolve("a.parquet");
    ParquetFixtures.writeRows(file, flatShape, List.of());
    DataException e = assertThrows(DataException.class, () -> ParquetLatentDataset.open(dir));
    assertEquals(
        file
            + ": column vae_latent_shape is optional int64 vae_latent_shape, expected a"
            + " list<int64> shape",
        e.getMessage());
  }

  @Test
  void unreadableFilesAndEmptyFoldersAreNamed() throws IOException {
    Path dir = Files.createDirectories(tmp.resolve("data"));
    DataException empty = assertThrows(DataException.class, () -> ParquetLatentDataset.open(dir));
    assertEquals("data_path " + dir + " holds no .parquet files", empty.getMessage());
    Path missing = tmp.resolve("nope");
    DataException none =
        assertThrows(DataException.class, () -> ParquetLatentDataset.open(missing));
    assertEquals("data_path " + missing + ": no such file or folder", none.getMessage());
    Path junk = dir.resolve("junk.parquet");
    Files.writeString(junk, "this is not parquet");
    DataException bad = assertThrows(DataException.class, () -> ParquetLatentDataset.open(dir));
    assertTrue(
        bad.getMessage().startsWith(junk + ": not a readable Parquet file"), bad.getMessage());
  }

  @Test
  void skipModeLeavesBadRowsOutAndCountsThem() throws IOException {
    Path dir = Files.createDirectories(tmp.resolve("data"));
    List<Group> rows = new ArrayList<>();
    for (int i = 0; i < 10; i++) {
      rows.add(
          i == 0 || i == 6
              ? latentRow(new byte[8], new long[] {4, 2, 2, 2}, "float32")
              : goodRow(T2V, rnd, "r" + i));
    }
    Path file = dir.resolve("part-00000.parquet");
    ParquetFixtures.writeRows(file, T2V, rows);
    var skip = DatasetOptions.defaults().withOnBadRow(OnBadRow.SKIP);
    ParquetLatentDataset ds = ParquetLatentDataset.open(List.of(new DataSource(dir)), skip);
    assertEquals(10, ds.size());
    assertEquals(1, ds.skippedRows()); // row 0 was found bad while looking for the first good row
    assertEquals(
        file + " row 0: vae_latent_bytes has 8 bytes, shape [4,2,2,2] needs 128",
        ds.firstSkipReason().orElseThrow());
    try (var loader = new LatentLoader(ds, LoaderConfig.of(2, 5).withTextLen(4))) {
      Set<Long> seen = new HashSet<>();
      int samples = 0;
      while (loader.state().epoch() < 2) {
        Batch batch = loader.next(); // a batch of two bad rows would be passed over
        if (batch.epoch() == 2) break;
        samples += batch.size();
        for (long r : batch.rowIndices()) seen.add(r);
      }
      assertEquals(16, samples);
      assertEquals(Set.of(1L, 2L, 3L, 4L, 5L, 7L, 8L, 9L), seen);
      assertEquals(2, loader.skippedRows());
      assertThrows(DataException.class, () -> ds.get(6));
    }
  }
}
