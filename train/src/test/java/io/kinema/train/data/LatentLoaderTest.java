package io.kinema.train.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kinema.diffusion.flow.CfgDropout;
import io.kinema.tensor.DType;
import io.kinema.tensor.Device;
import io.kinema.tensor.Generator;
import io.kinema.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.apache.parquet.example.data.Group;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LatentLoaderTest {
  @TempDir static Path tmp;
  static ParquetLatentDataset data; // 23 rows of [4,3,2,2] latents, 1..6 tokens of dim 8

  @BeforeAll
  static void write() {
    ParquetFixtures.writeDataset(tmp.resolve("data"), 23, 5, 42);
    data = ParquetLatentDataset.open(tmp.resolve("data"));
  }

  private static List<Batch> take(LatentLoader loader, int n) {
    List<Batch> batches = new ArrayList<>();
    for (int i = 0; i < n; i++) batches.add(loader.next());
    return batches;
  }

  private static List<Batch> run(LoaderConfig config, LoaderState start, int n) {
    try (var loader = new LatentLoader(data, config, start)) {
      return take(loader, n);
    }
  }

  private static void assertSameBatches(List<Batch> expected, List<Batch> actual) {
    assertEquals(expected.size(), actual.size());
    for (int i = 0; i < expected.size(); i++) {
      Batch a = expected.get(i), b = actual.get(i);
      String at = "batch " + i;
      assertEquals(a.position(), b.position(), at);
      assertArrayEquals(a.rowIndices(), b.rowIndices(), at);
      assertArrayEquals(a.latents(), b.latents(), at);
      assertArrayEquals(a.latentShape(), b.latentShape(), at);
      assertArrayEquals(a.textEmbeddings(), b.textEmbeddings(), at);
      assertArrayEquals(a.textShape(), b.textShape(), at);
      assertArrayEquals(a.textMask(), b.textMask(), at);
      assertArrayEquals(a.cfgDropped(), b.cfgDropped(), at);
      assertEquals(a.ids(), b.ids(), at);
      assertEquals(a.captions(), b.captions(), at);
    }
  }

  @Test
  void batchesAreIdenticalForAnyNumberOfWorkers() {
    LoaderConfig base = LoaderConfig.of(4, 9).withCfgRate(0.3).withTextLen(5);
    List<Batch> serial = run(base, LoaderState.START, 17); // over three epochs of 5
    for (int workers : new int[] {1, 3}) {
      assertSameBatches(serial, run(base.withNumWorkers(workers), LoaderState.START, 17));
    }
  }

  @Test
  void eachEpochIsAFreshPermutation() {
    try (var loader = new LatentLoader(data, LoaderConfig.of(4, 1).withDropLast(false))) {
      assertEquals(6, loader.batchesPerEpoch());
      List<long[]> epochs = new ArrayList<>();
      for (int e = 0; e < 3; e++) {
        long[] order = new long[24];
        for (int b = 0; b < 6; b++) {
          Batch batch = loader.next();
          assertEquals(new LoaderState(e, b), batch.position());
          System.arraycopy(batch.rowIndices(), 0, order, 4 * b, 4);
        }
        // 23 rows, then the epoch's first row again to fill the last batch (drop_last off).
        long[] rows = Arrays.copyOf(order, 23);
        Arrays.sort(rows);
        for (int i = 0; i < 23; i++) assertEquals(i, rows[i]);
        assertEquals(order[0], order[23]);
        epochs.add(order);
      }
      assertFalse(Arrays.equals(epochs.get(0), epochs.get(1)));
      assertFalse(Arrays.equals(epochs.get(1), epochs.get(2)));
    }
  }

  @Test
  void withoutShuffleEveryEpochVisitsTheRowsInOrder() {
    try (var loader = new LatentLoader(data, LoaderConfig.of(4, 1).withShuffle(false))) {
      for (int e = 0; e < 2; e++) {
        for (int b = 0; b < 5; b++) {
          long[] rows = loader.next().rowIndices();
          for (int i = 0; i < 4; i++) assertEquals(b * 4L + i, rows[i], "epoch " + e);
        }
      }
    }
  }

  @Test
  void dropLastDropsTheTail() {
    try (var loader = new LatentLoader(data, LoaderConfig.of(4, 1))) {
      assertEquals(5, loader.batchesPerEpoch());
      List<Batch> epoch = take(loader, 5);
      assertEquals(new LoaderState(1, 0), loader.state());
      assertEquals(
          20,
          epoch.stream().mapToLong(b -> Arrays.stream(b.rowIndices()).distinct().count()).sum());
    }
    var tooBig = LoaderConfig.of(24, 1);
    DataException e = assertThrows(DataException.class, () -> new LatentLoader(data, tooBig));
    assertEquals("dataset has 23 rows, fewer than one batch of 24 (drop_last)", e.getMessage());
  }

  @Test
  void resumingFromAStateContinuesTheSameSequence() {
    LoaderConfig config = LoaderConfig.of(3, 5).withCfgRate(0.5).withTextLen(4);
    List<Batch> whole = run(config, LoaderState.START, 20);
    LoaderState at;
    try (var first = new LatentLoader(data, config.withNumWorkers(2))) {
      take(first, 9);
      at = first.state();
    }
    assertEquals(new LoaderState(1, 2), at); // 7 batches per epoch
    List<Batch> resumed = run(config.withNumWorkers(3), at, 11);
    assertSameBatches(whole.subList(9, 20), resumed);
    var bad = new LoaderState(0, 7);
    assertThrows(IllegalArgumentException.class, () -> new LatentLoader(data, config, bad));
  }

  @Test
  void batchesHoldTheRowsCroppedAndPadded() {
    LoaderConfig config = LoaderConfig.of(5, 3).withNumLatentT(2).withTextLen(4);
    Batch b = run(config, LoaderState.START, 1).get(0);
    assertArrayEquals(new long[] {5, 4, 2, 2, 2}, b.latentShape());
    assertArrayEquals(new long[] {5, 4, 8}, b.textShape());
    for (int i = 0; i < 5; i++) {
      Sample s = data.get(b.rowIndices()[i]);
      assertEquals(s.id(), b.ids().get(i));
      assertEquals(s.caption(), b.captions().get(i));
      for (int c = 0; c < 4; c++) {
        // Channel c keeps its first 2 of 3 frames of 2x2.
        float[] expected = Arrays.copyOfRange(s.latent(), c * 12, c * 12 + 8);
        int at = i * 32 + c * 8;
        assertArrayEquals(expected, Arrays.copyOfRange(b.latents(), at, at + 8));
      }
      int tokens = (int) s.textShape()[0];
      for (int t = 0; t < 4; t++) {
        float[] row = Arrays.copyOfRange(b.textEmbeddings(), (i * 4 + t) * 8, (i * 4 + t + 1) * 8);
        float[] expected =
            t < tokens ? Arrays.copyOfRange(s.textEmbedding(), t * 8, t * 8 + 8) : new float[8];
        assertArrayEquals(expected, row);
        assertEquals(t < tokens ? 1f : 0f, b.textMask()[i * 4 + t]);
      }
    }
  }

  @Test
  void cfgDropoutFollowsThePerRowRuleAtTheConfiguredRate() throws IOException {
    // Many tiny rows: text-only data with 1 token of dim 2.
    Path dir = Files.createDirectories(tmp.resolve("many"));
    Random rnd = new Random(1);
    List<Group> rows = new ArrayList<>();
    for (int i = 0; i < 2000; i++) {
      rows.add(
          ParquetFixtures.row(
              FastVideoSchema.T2V,
              "r" + i,
              new byte[4],
              new long[] {1, 1, 1, 1},
              "float32",
              ParquetFixtures.bytes(new float[] {1 + rnd.nextFloat(), 1}),
              new long[] {1, 2}));
    }
    ParquetFixtures.writeRows(dir.resolve("a.parquet"), FastVideoSchema.T2V, rows);
    var ds = ParquetLatentDataset.open(List.of(new DataSource(dir)), DatasetOptions.defaults());
    double rate = 0.3;
    long seed = 1234;
    CfgDropout reference = new CfgDropout(rate);
    int dropped = 0;
    try (var loader =
        new LatentLoader(ds, LoaderConfig.of(50, seed).withCfgRate(rate).withTextLen(2))) {
      for (int b = 0; b < 40; b++) {
        Batch batch = loader.next();
        for (int i = 0; i < 50; i++) {
          boolean drop = batch.cfgDropped()[i];
          assertEquals(reference.dropsSample(seed, batch.rowIndices()[i]), drop);
          float first = batch.textEmbeddings()[i * 4];
          assertEquals(drop, first == 0f);
          assertEquals(1f, batch.textMask()[i * 2]); // the mask keeps the real token
          assertEquals(0f, batch.textMask()[i * 2 + 1]);
          if (drop) dropped++;
        }
      }
    }
    // 2000 Bernoulli(0.3) draws: standard deviation ~0.01.
    assertEquals(rate, dropped / 2000.0, 0.035);
  }

  @Test
  void aWorkerExceptionSurfacesWithItsMessage() throws IOException {
    Path dir = Files.createDirectories(tmp.resolve("bad"));
    Random rnd = new Random(2);
    List<Group> rows = new ArrayList<>();
    for (int i = 0; i < 12; i++) {
      rows.add(
          i == 7
              ? ParquetFixtures.row(
                  FastVideoSchema.T2V,
                  "x",
                  new byte[12],
                  new long[] {4, 2, 2, 2},
                  "float32",
                  new byte[96],
                  new long[] {3, 8})
              : ParquetFixtures.goodRow(FastVideoSchema.T2V, rnd, "r" + i));
    }
    Path file = dir.resolve("part-00000.parquet");
    ParquetFixtures.writeRows(file, FastVideoSchema.T2V, rows);
    var ds = ParquetLatentDataset.open(dir);
    try (var loader = new LatentLoader(ds, LoaderConfig.of(4, 0).withNumWorkers(2))) {
      DataException e = assertThrows(DataException.class, () -> take(loader, 3));
      assertEquals(
          file + " row 7: vae_latent_bytes has 12 bytes, shape [4,2,2,2] needs 128",
          e.getMessage());
      assertThrows(IllegalStateException.class, loader::next);
    }
  }

  @Test
  void textOnlyBatchesCarryNoLatents() {
    var textOnly = DatasetOptions.defaults().withKind(DatasetKind.TEXT_ONLY);
    var ds = ParquetLatentDataset.open(List.of(new DataSource(tmp.resolve("data"))), textOnly);
    try (var loader = new LatentLoader(ds, LoaderConfig.of(3, 2).withTextLen(6))) {
      Batch b = loader.next();
      assertFalse(b.hasLatents());
      assertEquals(0, b.latents().length);
      assertArrayEquals(new long[] {3, 6, 8}, b.textShape());
    }
  }

  @Test
  void rowsOfDifferentLatentShapesCannotShareABatch() throws IOException {
    Path dir = Files.createDirectories(tmp.resolve("mixed"));
    Random rnd = new Random(4);
    try (var w = new ParquetLatentWriter(dir, 10)) {
      w.write(ParquetFixtures.record(rnd, 0, new long[] {4, 3, 2, 2}, 2, 8));
      w.write(ParquetFixtures.record(rnd, 1, new long[] {4, 2, 2, 2}, 2, 8));
    }
    var ds = ParquetLatentDataset.open(dir);
    assertEquals(2, run(ds, LoaderConfig.of(2, 0).withNumLatentT(2)).latentShape()[2]);
    DataException e = assertThrows(DataException.class, () -> run(ds, LoaderConfig.of(2, 0)));
    Path file = dir.resolve("part-00000.parquet");
    long first = run(ds, LoaderConfig.of(1, 0)).rowIndices()[0];
    String a = file + " row " + first + " has " + (first == 0 ? "[4,3,2,2]" : "[4,2,2,2]");
    String b = file + " row " + (1 - first) + " has " + (first == 0 ? "[4,2,2,2]" : "[4,3,2,2]");
    assertEquals(
        "batch 0 of epoch 0: rows have different latent shapes: "
            + a
            + ", "
            + b
            + "; use batch size 1 or set num_latent_t",
        e.getMessage());
  }

  private static Batch run(ParquetLatentDataset ds, LoaderConfig config) {
    try (var loader = new LatentLoader(ds, config)) {
      return loader.next();
    }
  }

  @Test
  void closeStopsTheWorkers() throws InterruptedException {
    var loader = new LatentLoader(data, LoaderConfig.of(2, 0).withNumWorkers(3));
    loader.next();
    assertTrue(loaderThreads() > 0);
    loader.close();
    for (int i = 0; i < 100 && loaderThreads() > 0; i++) Thread.sleep(10);
    assertEquals(0, loaderThreads());
    assertThrows(IllegalStateException.class, loader::next);
  }

  private static long loaderThreads() {
    return Thread.getAllStackTraces().keySet().stream()
        .filter(t -> t.getName().startsWith("kinema-loader-") && t.isAlive())
        .count();
  }

  @Test
  void uniformDrawsEqualTheEnginesGenerator() {
    for (long seed : new long[] {0, 1, -7, 1L << 40, 123456789}) {
      double expected;
      try (Tensor t = Tensor.rand(new Generator(seed), DType.F64, Device.CPU, 1)) {
        expected = t.toDoubleArray()[0];
      }
      assertEquals(expected, PhiloxDraws.uniform(seed));
    }
  }

  @Test
  void permutationsAreUniform() {
    // All 6 orders of 3 elements over 6000 seeds: each ~1000 (sd ~29).
    Map<String, Integer> counts = new HashMap<>();
    for (long seed = 0; seed < 6000; seed++) {
      counts.merge(Arrays.toString(PhiloxDraws.permutation(3, seed, 0)), 1, Integer::sum);
    }
    assertEquals(6, counts.size());
    counts.values().forEach(c -> assertEquals(1000, c, 150));
    int[] big = PhiloxDraws.permutation(1001, 5, 3);
    int[] sorted = big.clone();
    Arrays.sort(sorted);
    for (int i = 0; i < 1001; i++) assertEquals(i, sorted[i]);
    assertArrayEquals(big, PhiloxDraws.permutation(1001, 5, 3));
    assertNotEquals(Arrays.toString(big), Arrays.toString(PhiloxDraws.permutation(1001, 5, 4)));
    assertEquals(0, PhiloxDraws.permutation(0, 1, 0).length);
    assertArrayEquals(new int[] {0}, PhiloxDraws.permutation(1, 1, 0));
  }
}
