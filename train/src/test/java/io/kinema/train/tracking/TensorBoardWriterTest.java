package io.kinema.train.tracking;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.kinema.train.tracking.EventFileReader.Event;
import io.kinema.train.tracking.EventFileReader.Scalar;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.InstantSource;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TensorBoardWriterTest {
  @TempDir Path dir;

  private static final Instant T0 = Instant.ofEpochSecond(1_750_000_000L, 250_000_000);

  @Test
  void writesFramedEventsWithScalars() throws IOException {
    var random = new SplittableRandom(41);
    float[] losses = new float[50];
    Path file;
    try (var tb =
        TensorBoardWriter.open(dir, OptionalLong.empty(), InstantSource.fixed(T0), "box")) {
      file = tb.file();
      for (int step = 0; step < losses.length; step++) {
        losses[step] = (float) random.nextDouble(0, 2);
        tb.addScalar("train/loss", losses[step], step);
        tb.addScalar("train/lr", 1e-4, step);
      }
      tb.addScalar("big/step", 1, 1L << 40);
      tb.addScalar("negative/step", -3.5, -7);
    }
    assertEquals(dir.resolve("events.out.tfevents.1750000000.box"), file);

    List<Event> events = EventFileReader.read(file);
    assertEquals(1 + 2 * losses.length + 2, events.size());
    Event first = events.getFirst();
    assertEquals("brain.Event:2", first.fileVersion());
    assertEquals(1_750_000_000.25, first.wallTime(), 1e-6);
    for (int step = 0; step < losses.length; step++) {
      Event loss = events.get(1 + 2 * step);
      assertEquals(step, loss.step());
      assertEquals(List.of(new Scalar("train/loss", losses[step])), loss.scalars());
      assertEquals(1_750_000_000.25, loss.wallTime(), 1e-6);
      assertEquals(List.of(new Scalar("train/lr", 1e-4f)), events.get(2 + 2 * step).scalars());
    }
    assertEquals(1L << 40, events.get(events.size() - 2).step());
    assertEquals(-7, events.getLast().step());
    assertEquals(List.of(new Scalar("negative/step", -3.5f)), events.getLast().scalars());
  }

  @Test
  void resumeMarksTheRestartForTensorBoardToPurge() throws IOException {
    Path first;
    try (var tb = TensorBoardWriter.open(dir, OptionalLong.empty(), InstantSource.fixed(T0), "h")) {
      first = tb.file();
      tb.addScalar("loss", 1, 1);
    }
    Path second;
    try (var tb = TensorBoardWriter.open(dir, OptionalLong.of(21), InstantSource.fixed(T0), "h")) {
      second = tb.file();
      tb.addScalar("loss", 0.5, 21);
    }
    assertNotEquals(first, second, "a restart in the same second gets its own file");
    assertEquals("events.out.tfevents.1750000000.h.1", second.getFileName().toString());
    List<Event> events = EventFileReader.read(second);
    assertEquals("brain.Event:2", events.get(0).fileVersion());
    assertEquals(21, events.get(1).step());
    assertEquals(1, events.get(1).sessionStatus(), "SessionLog.START");
    assertNull(events.get(1).scalars());
  }

  @Test
  void maskedCrcMatchesAnIndependentCrc32c() {
    // CRC32C("123456789") = 0xE3069283 (the standard check value).
    byte[] check = "123456789".getBytes(StandardCharsets.US_ASCII);
    int expected = Integer.rotateRight(0xE3069283, 15) + 0xa282ead8;
    assertEquals(expected, TfRecord.maskedCrc32c(check, 0, check.length));
    assertEquals(expected, EventFileReader.maskedCrc(check, 0, check.length));
  }

  @Test
  void hostNameIsSafeInAFileName() {
    assertTrue(TensorBoardWriter.hostName().matches("[A-Za-z0-9._-]+"));
  }

  /** TensorBoard's own reader, when python3 has the tensorboard package (CI usually has not). */
  @Test
  void tensorBoardReadsTheFile() throws Exception {
    assumeTrue(pythonHasTensorBoard(), "python3 with the tensorboard package not found");
    try (var tb = TensorBoardWriter.create(dir)) {
      for (int step = 1; step <= 5; step++) tb.addScalar("train/loss", 1.0 / step, step);
    }
    String script =
        """
        import sys
        from tensorboard.backend.event_processing import event_accumulator as ea
        acc = ea.EventAccumulator(sys.argv[1]); acc.Reload()
        for e in acc.Scalars("train/loss"): print(e.step, repr(e.value))
        """;
    List<String> out = python(script, dir.toString());
    var expected = new ArrayList<String>();
    for (int step = 1; step <= 5; step++)
      expected.add(step + " " + pythonRepr((float) (1.0 / step)));
    assertEquals(expected, out);
  }

  /** After a resume at step 20, TensorBoard shows the old run up to 20 and the new one after. */
  @Test
  void tensorBoardPurgesTheStepsRedoneAfterAResume() throws Exception {
    assumeTrue(pythonHasTensorBoard(), "python3 with the tensorboard package not found");
    try (var tb = TensorBoardWriter.create(dir)) {
      for (int step = 1; step <= 30; step++) tb.addScalar("loss", step, step);
    }
    try (var tb = TensorBoardWriter.resume(dir, 20)) {
      for (int step = 21; step <= 25; step++) tb.addScalar("loss", -step, step);
    }
    String script =
        """
        import sys
        from tensorboard.backend.event_processing import event_accumulator as ea
        acc = ea.EventAccumulator(sys.argv[1], purge_orphaned_data=True); acc.Reload()
        print(" ".join("%d:%g" % (e.step, e.value) for e in acc.Scalars("loss")))
        """;
    var expected = new StringBuilder();
    for (int step = 1; step <= 25; step++) {
      expected
          .append(step > 1 ? " " : "")
          .append(step)
          .append(':')
          .append(step > 20 ? -step : step);
    }
    assertEquals(List.of(expected.toString()), python(script, dir.toString()));
  }

  private static String pythonRepr(float f) {
    // Python prints the float32 widened to double with the shortest round-trip repr.
    return Double.toString((double) f).replaceAll("E(-?\\d+)", "e$1");
  }

  private static boolean pythonHasTensorBoard() {
    try {
      return python("import tensorboard", "").isEmpty();
    } catch (IOException | InterruptedException | AssertionError e) {
      return false;
    }
  }

  /**
   * Runs a python3 script; returns its stdout lines (stderr, e.g. TensorBoard's log, only on
   * failure).
   */
  private static List<String> python(String script, String arg)
      throws IOException, InterruptedException {
    Path stderr = Files.createTempFile("python", ".err");
    try {
      Process p =
          new ProcessBuilder("python3", "-c", script, arg).redirectError(stderr.toFile()).start();
      List<String> lines =
          new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).lines().toList();
      assertTrue(p.waitFor(60, TimeUnit.SECONDS), "python3 timed out");
      assertEquals(0, p.exitValue(), Files.readString(stderr));
      return lines;
    } finally {
      Files.delete(stderr);
    }
  }
}
