package io.kinema.train.tracking;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class MetricsLogTest {
  @TempDir Path dir;

  /** The metrics a fake run logs at {@code step}: random but the same for the same step. */
  private static Map<String, Object> metrics(long step) {
    var random = new SplittableRandom(step);
    var m = new LinkedHashMap<String, Object>();
    m.put("loss", random.nextDouble());
    m.put("grad_norm", random.nextDouble() * 10);
    m.put("lr", 1e-4);
    m.put("step_time_s", random.nextDouble());
    m.put("mem_allocated_bytes", random.nextLong(1L << 40));
    m.put("phase", step < 5 ? "warmup" : "train");
    return m;
  }

  private static void run(MetricsLog log, long from, long to) throws IOException {
    for (long step = from; step <= to; step++) log.append(step, metrics(step));
  }

  @Test
  void linesAreJsonWithStepFirstInTheMapsOrder() throws IOException {
    Path file = dir.resolve("metrics.jsonl");
    try (var log = MetricsLog.create(file)) {
      var m = new LinkedHashMap<String, Object>();
      m.put("loss", 0.0312);
      m.put("lr", 1.0e-4);
      m.put("samples_per_s", 2.5f);
      m.put("mem_allocated_bytes", 1234567890123L);
      m.put("note", "ok \"quoted\"");
      log.append(120, m);
      // Unordered maps are written sorted, so lines are reproducible across JVM runs.
      log.append(121, Map.of("z", 1, "a", 2, "m", 3));
      log.append(122, Map.of("loss", Double.NaN, "grad_norm", Double.POSITIVE_INFINITY));
    }
    assertEquals(
        List.of(
            "{\"step\":120,\"loss\":0.0312,\"lr\":1.0E-4,\"samples_per_s\":2.5,"
                + "\"mem_allocated_bytes\":1234567890123,\"note\":\"ok \\\"quoted\\\"\"}",
            "{\"step\":121,\"a\":2,\"m\":3,\"z\":1}",
            "{\"step\":122,\"grad_norm\":Infinity,\"loss\":NaN}"),
        Files.readAllLines(file));
  }

  @Test
  void resumeDropsLinesAfterTheCheckpointSoTheFileEqualsAnUninterruptedRun() throws IOException {
    Path straight = dir.resolve("straight.jsonl");
    try (var log = MetricsLog.create(straight)) {
      run(log, 1, 30);
    }

    Path resumed = dir.resolve("resumed.jsonl");
    try (var log = MetricsLog.create(resumed)) {
      run(log, 1, 23); // checkpoint at 20, then killed after step 23 ...
    }
    // ... mid-write of step 24's line.
    Files.writeString(resumed, "{\"step\":24,\"loss\":0.1", StandardOpenOption.APPEND);
    try (var log = MetricsLog.resume(resumed, 20)) {
      run(log, 21, 30);
    }
    assertEquals(Files.readString(straight), Files.readString(resumed));
  }

  @Test
  void resumeWithoutAFileStartsOne() throws IOException {
    Path file = dir.resolve("sub/metrics.jsonl");
    try (var log = MetricsLog.resume(file, 10)) {
      log.append(11, Map.of("loss", 0.5));
    }
    assertEquals(List.of("{\"step\":11,\"loss\":0.5}"), Files.readAllLines(file));
  }

  @Test
  void badLinesAndValuesNameTheProblem() throws IOException {
    Path file = dir.resolve("metrics.jsonl");
    Files.writeString(file, "{\"step\":1}\nnot json\n{\"step\":3}\n");
    var e = assertThrows(IOException.class, () -> MetricsLog.resume(file, 5));
    assertTrue(e.getMessage().startsWith(file + ":2: not a JSON object"), e.getMessage());

    Files.writeString(file, "{\"step\":1}\n{\"loss\":3}\n");
    e = assertThrows(IOException.class, () -> MetricsLog.resume(file, 5));
    assertEquals(file + ":2: no numeric \"step\"", e.getMessage());

    try (var log = MetricsLog.create(dir.resolve("other.jsonl"))) {
      var bad =
          assertThrows(IllegalArgumentException.class, () -> log.append(1, Map.of("x", List.of())));
      assertTrue(bad.getMessage().contains("metric 'x'"), bad.getMessage());
      assertThrows(IllegalArgumentException.class, () -> log.append(1, Map.of("step", 2)));
    }
  }

  @Test
  void readSeriesReturnsOneMetric() throws IOException {
    Path file = dir.resolve("metrics.jsonl");
    try (var log = MetricsLog.create(file)) {
      log.append(1, Map.of("loss", 0.5, "lr", 1e-3));
      log.append(2, Map.of("lr", 1e-3)); // no loss this step
      log.append(3, Map.of("loss", Double.NaN));
      log.append(4, Map.of("loss", 0.25));
      log.append(5, Map.of("loss", "n/a")); // not a number: left out
      log.append(6, Map.of("loss", Double.NEGATIVE_INFINITY));
    }
    MetricSeries loss = MetricsLog.readSeries(file, "loss");
    assertArrayEquals(new long[] {1, 3, 4, 6}, loss.steps());
    assertArrayEquals(
        new double[] {0.5, Double.NaN, 0.25, Double.NEGATIVE_INFINITY}, loss.values());
  }
}
