package io.kinema.train.tracking;

import java.io.Console;
import java.io.PrintStream;

/**
 * Shows training progress on the console: step/total, loss, speed and ETA. On an interactive
 * terminal that is a progress bar redrawn in place; elsewhere (CI logs, pipes, files, tests) it is
 * a plain line every {@code every} steps and at the last step, such as {@code step 120/500 loss
 * 0.0312 2.4 it/s ETA 2m38s}.
 *
 * <p>Reporting never disturbs training: a failure to draw (a closed console, a broken pipe) turns
 * the reporter silent instead of throwing into the training loop.
 */
public sealed interface ProgressReporter extends AutoCloseable
    permits TerminalProgressReporter, LineProgressReporter {

  /**
   * A reporter on standard output: a bar if it is an interactive terminal, else plain lines.
   *
   * @param startStep the step training starts from (0, or the resumed step)
   * @param totalSteps the step training ends at
   * @param every print a plain line every this many steps
   */
  static ProgressReporter forConsole(long startStep, long totalSteps, int every) {
    return isInteractiveTerminal()
        ? new TerminalProgressReporter(startStep, totalSteps, System.out)
        : lines(startStep, totalSteps, every, System.out);
  }

  /** A reporter printing plain lines to {@code out} every {@code every} steps and at the end. */
  static ProgressReporter lines(long startStep, long totalSteps, int every, PrintStream out) {
    return new LineProgressReporter(startStep, totalSteps, every, out, System::nanoTime);
  }

  /** Whether standard output is an interactive terminal (not redirected, not a dumb terminal). */
  static boolean isInteractiveTerminal() {
    Console console = System.console();
    return console != null && console.isTerminal() && !"dumb".equals(System.getenv("TERM"));
  }

  /** Reports that {@code step} finished with loss {@code loss}. */
  void update(long step, double loss);

  /** Finishes the display (ends the bar's line). */
  @Override
  void close();
}
