package io.kinema.train.tracking;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.junit.jupiter.api.Test;

class ProgressReporterTest {
  private static final long SECOND = 1_000_000_000L;

  @Test
  void plainLinesEveryNStepsAndAtTheEnd() {
    var out = new ByteArrayOutputStream();
    var clock = new AtomicLong(0);
    try (var progress =
        new LineProgressReporter(100, 500, 20, new PrintStream(out, true), clock::get)) {
      for (long step = 101; step <= 500; step++) {
        clock.addAndGet(SECOND * 10 / 24); // 2.4 it/s
        progress.update(step, 0.0312);
      }
    }
    List<String> lines = out.toString(StandardCharsets.UTF_8).lines().toList();
    assertEquals(20, lines.size());
    assertEquals("step 120/500  loss 0.0312  2.4 it/s  ETA 2m38s", lines.getFirst());
    assertEquals("step 500/500  loss 0.0312  2.4 it/s  ETA 0s", lines.getLast());
  }

  @Test
  void slowStepsShowSecondsPerStepAndHours() {
    var clock = new AtomicLong(0);
    var progress =
        new LineProgressReporter(
            0, 2000, 1, new PrintStream(OutputStream.nullOutputStream()), clock::get);
    clock.set(13 * SECOND);
    assertEquals("step 2/2000  loss 1.250e-05  6.5 s/it  ETA 3h36m", progress.line(2, 1.25e-5));
    assertEquals("step 0/2000  loss NaN  -- it/s  ETA --", progress.line(0, Double.NaN));
  }

  @Test
  void formats() {
    assertEquals("0.0312", LineProgressReporter.loss(0.0312));
    assertEquals("0.0000", LineProgressReporter.loss(0));
    assertEquals("1.234e+05", LineProgressReporter.loss(123400));
    assertEquals("45s", LineProgressReporter.duration(45.2));
    assertEquals("2m38s", LineProgressReporter.duration(158));
    assertEquals("1h02m", LineProgressReporter.duration(3720));
  }

  @Test
  void aBrokenConsoleSilencesTheReporterInsteadOfFailingTraining() {
    var broken =
        new PrintStream(OutputStream.nullOutputStream()) {
          @Override
          public void println(String x) {
            throw new IllegalStateException("console closed");
          }
        };
    var progress = new LineProgressReporter(0, 10, 1, broken, System::nanoTime);
    for (long step = 1; step <= 10; step++) progress.update(step, 0.5); // does not throw
    progress.close();

    // A stream whose writes fail with IOException: PrintStream swallows them.
    var failing =
        new PrintStream(
            new OutputStream() {
              @Override
              public void write(int b) throws IOException {
                throw new IOException("broken pipe");
              }
            });
    try (var p = ProgressReporter.lines(0, 10, 1, failing)) {
      for (long step = 1; step <= 10; step++) p.update(step, 0.5);
    }
  }

  @Test
  void consoleReporterUnderTestsIsPlainLines() {
    // Surefire's stdout is a pipe, not a terminal.
    assertFalse(ProgressReporter.isInteractiveTerminal());
    try (var progress = ProgressReporter.forConsole(0, 5, 100)) {
      assertInstanceOf(LineProgressReporter.class, progress);
    }
  }

  @Test
  void terminalBarRendersAndKeepsJLineQuiet() throws Exception {
    var out = new ByteArrayOutputStream();
    try (var bar = new TerminalProgressReporter(0, 50, new PrintStream(out, true))) {
      for (long step = 1; step <= 50; step++) bar.update(step, 0.0312);
    }
    String shown = out.toString(StandardCharsets.UTF_8);
    assertTrue(shown.contains("train"), shown);
    assertTrue(shown.contains("50/50 it"), shown);
    assertTrue(shown.contains("loss 0.0312"), shown);
    assertFalse(Logger.getLogger("org.jline").isLoggable(Level.WARNING), "JLine warnings muted");
  }
}
