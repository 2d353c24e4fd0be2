package io.kinema.train.checkpoint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CheckpointManagerTest {
  @TempDir Path dir;

  static void write(Path folder, String content) throws IOException {
    Files.writeString(folder.resolve("weights.bin"), content);
  }

  @Test
  void savesAtomicallyAndKeepsTheNewestN() throws IOException {
    CheckpointManager m = new CheckpointManager(dir, 2);
    for (long step : new long[] {10, 20, 30}) m.save(step, f -> write(f, "w" + step), "{}");
    assertEquals(List.of(dir.resolve("checkpoint-20"), dir.resolve("checkpoint-30")), m.list());
    assertEquals("w30", Files.readString(dir.resolve("checkpoint-30/weights.bin")));
    assertEquals(dir.resolve("checkpoint-30"), m.latest().orElseThrow());
    assertEquals(dir.resolve("checkpoint-30"), m.resolve("latest").orElseThrow());
    assertEquals(dir.resolve("checkpoint-30"), m.resolve(dir.toString()).orElseThrow());
    // Saving the same step again replaces it.
    m.save(30, f -> write(f, "again"), "{}");
    assertEquals("again", Files.readString(dir.resolve("checkpoint-30/weights.bin")));
  }

  @Test
  void aFailedSaveLeavesThePreviousCheckpointsAndNoFakeOne() throws IOException {
    CheckpointManager m = new CheckpointManager(dir, 0);
    m.save(1, f -> write(f, "one"), "{}");
    assertThrows(
        IOException.class,
        () ->
            m.save(
                2,
                f -> {
                  write(f, "half");
                  throw new IOException("disk full");
                },
                "{}"));
    assertEquals(List.of(dir.resolve("checkpoint-1")), m.list());
    assertFalse(Files.exists(dir.resolve("checkpoint-2")));
    m.removeLeftovers();
    try (var s = Files.list(dir)) {
      assertEquals(List.of(dir.resolve("checkpoint-1")), s.toList());
    }
  }

  @Test
  void anIncompleteFolderIsRefusedByName() throws IOException {
    Files.createDirectories(dir.resolve("checkpoint-5"));
    CheckpointManager m = new CheckpointManager(dir, 0);
    assertTrue(m.list().isEmpty());
    assertTrue(m.resolve("latest").isEmpty());
    var e =
        assertThrows(
            IllegalArgumentException.class,
            () -> m.resolve(dir.resolve("checkpoint-5").toString()));
    assertTrue(e.getMessage().contains("checkpoint-5 is incomplete"), e.getMessage());
  }

  @Test
  void configDifferencesNameTheKeys() {
    Map<String, Object> a =
        Map.of(
            "training",
            Map.of(
                "optimizer", Map.of("learning_rate", 1e-4), "loop", Map.of("max_train_steps", 10)),
            "method",
            Map.of("_target_", "A"));
    Map<String, Object> b =
        Map.of(
            "training",
            Map.of(
                "optimizer", Map.of("learning_rate", 2e-4), "loop", Map.of("max_train_steps", 99)),
            "method",
            Map.of("_target_", "A"));
    assertEquals(
        List.of("training.optimizer.learning_rate: 1.0E-4 -> 2.0E-4"),
        ConfigDiff.differences(a, b));
    assertEquals(List.of(), ConfigDiff.differences(a, a));
  }
}
