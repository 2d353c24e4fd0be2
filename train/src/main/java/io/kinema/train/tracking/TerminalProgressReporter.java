package io.kinema.train.tracking;

import java.io.PrintStream;
import java.text.DecimalFormat;
import java.text.DecimalFormatSymbols;
import java.time.Duration;
import java.util.Locale;
import java.util.logging.Level;
import java.util.logging.Logger;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;

/**
 * Progress as a bar redrawn in place (me.tongfei:progressbar), for an interactive terminal. The bar
 * measures the terminal through JLine, which logs warnings (e.g. about falling back to a dumb
 * terminal) through java.util.logging; those are muted so they never reach the console.
 */
final class TerminalProgressReporter implements ProgressReporter {
  /** Held strongly: java.util.logging keeps loggers weakly, and a new one would log again. */
  private static final Logger JLINE_LOG = Logger.getLogger("org.jline");

  static {
    JLINE_LOG.setLevel(Level.OFF);
  }

  private final ProgressBar bar;
  private boolean silent;

  TerminalProgressReporter(long startStep, long totalSteps, PrintStream out) {
    bar =
        new ProgressBarBuilder()
            .setTaskName("train")
            .setInitialMax(totalSteps)
            .startsFrom(startStep, Duration.ZERO)
            .setUnit(" it", 1)
            .showSpeed(new DecimalFormat("0.00", DecimalFormatSymbols.getInstance(Locale.ROOT)))
            .setConsumer(new ConsoleProgressBarConsumer(out))
            .build();
  }

  @Override
  public void update(long step, double loss) {
    if (silent) return;
    try {
      bar.stepTo(step);
      bar.setExtraMessage(" loss " + LineProgressReporter.loss(loss));
    } catch (RuntimeException e) {
      silent = true; // the console is gone; training goes on
    }
  }

  @Override
  public void close() {
    try {
      bar.close();
    } catch (RuntimeException e) {
      // Nothing to finish on a console that is gone.
    }
  }
}
