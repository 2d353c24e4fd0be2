package io.kinema.train.data.synthetic;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.kinema.train.data.Batch;
import io.kinema.train.data.DataException;
import io.kinema.train.data.LatentLoader;
import io.kinema.train.data.LoaderConfig;
import io.kinema.train.data.ParquetLatentDataset;
import io.kinema.train.data.Sample;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SyntheticDatasetTest {
  @TempDir Path tmp;

  private final SyntheticDataset.Params params =
      new SyntheticDataset.Params(70, 3, 8, 32, 32, 32, 32);

  @Test
  void writesFastVideoRowsThatDecodeBackToTheClips() throws IOException {
    Path dir = tmp.resolve("shapes");
    SyntheticDataset.Written w = SyntheticDataset.write(dir, params);
    assertFalse(w.reused());
    assertEquals(70, w.rows());
    ParquetLatentDataset ds = ParquetLatentDataset.open(dir);
    assertEquals(70, ds.size());
    assertEquals(3, ds.files().size()); // 32 + 32 + 6 rows
    ShapesClips clips = new ShapesClips(8, 32, 32);
    CaptionEmbedder embedder = new CaptionEmbedder(32);
    for (int i : new int[] {0, 33, 69}) {
      Sample s = ds.get(i);
      ShapesClips.Clip clip = clips.clip(3, i);
      assertEquals(clip.caption(), s.caption());
      assertEquals(String.format("shapes-%05d", i), s.id());
      assertArrayEquals(new long[] {16, 8, 16, 16}, s.latentShape());
      assertArrayEquals(clip.pixels(), DemoLatentMap.decode(s.latent(), s.latentShape()), 1e-6f);
      assertArrayEquals(embedder.embed(clip.caption()), s.textEmbedding());
      assertArrayEquals(embedder.shape(clip.caption()), s.textShape());
    }
    JsonObject validation =
        JsonParser.parseString(Files.readString(w.validationJson())).getAsJsonObject();
    var data = validation.getAsJsonArray("data");
    assertEquals(4, data.size());
    assertEquals(
        SyntheticDataset.VALIDATION_CAPTIONS,
        data.asList().stream().map(e -> e.getAsJsonObject().get("caption").getAsString()).toList());
    assertEquals(32, data.get(0).getAsJsonObject().get("height").getAsInt());
    try (var loader = new LatentLoader(ds, LoaderConfig.of(4, 0).withTextLen(8))) {
      Batch b = loader.next();
      assertArrayEquals(new long[] {4, 16, 8, 16, 16}, b.latentShape());
      assertArrayEquals(new long[] {4, 8, 32}, b.textShape());
    }
  }

  @Test
  void anIdenticalSetIsReusedAndADifferentOrDamagedOneRebuilt() throws IOException {
    Path dir = tmp.resolve("shapes");
    SyntheticDataset.write(dir, params);
    Path part = dir.resolve("part-00000.parquet");
    FileTime written = FileTime.fromMillis(1_000_000);
    Files.setLastModifiedTime(part, written);
    assertTrue(SyntheticDataset.write(dir, params).reused());
    assertEquals(written, Files.getLastModifiedTime(part));

    var other = new SyntheticDataset.Params(40, 3, 8, 32, 32, 32, 32);
    assertFalse(SyntheticDataset.write(dir, other).reused());
    assertEquals(40, ParquetLatentDataset.open(dir).size());
    assertEquals(2, ParquetLatentDataset.open(dir).files().size());

    byte[] bytes = Files.readAllBytes(part);
    bytes[bytes.length / 2] ^= 1;
    Files.write(part, bytes);
    assertFalse(SyntheticDataset.write(dir, other).reused());
    assertTrue(SyntheticDataset.write(dir, other).reused());
    assertEquals(40, ParquetLatentDataset.open(dir).size());
  }

  @Test
  void aFolderWithOtherParquetFilesIsRefused() throws IOException {
    Path dir = Files.createDirectories(tmp.resolve("mixed"));
    Files.writeString(dir.resolve("mine.parquet"), "x");
    DataException e = assertThrows(DataException.class, () -> SyntheticDataset.write(dir, params));
    assertEquals(
        dir + " holds mine.parquet, which is not part of a synthetic dataset; use an empty folder",
        e.getMessage());
    assertEquals(List.of(dir.resolve("mine.parquet")), Files.list(dir).toList());
  }
}
