package io.kinema.train.tracking;

import java.io.PrintStream;
import java.util.Locale;
import java.util.function.LongSupplier;

/**
 * Progress as plain lines, for output that is not a terminal. The speed is the average since the
 * reporter started; below one step per second it is shown as seconds per step, as tqdm does.
 */
final class LineProgressReporter implements ProgressReporter {
  private final long startStep;
  private final long totalSteps;
  private final int every;
  private final PrintStream out;
  private final LongSupplier nanoTime;
  private final long startNanos;
  private boolean silent;

  LineProgressReporter(
      long startStep, long totalSteps, int every, PrintStream out, LongSupplier nanoTime) {
    if (every < 1) throw new IllegalArgumentException("progress: every must be >= 1, got " + every);
    if (totalSteps < startStep) {
      throw new IllegalArgumentException(
          "progress: total steps %d < start step %d".formatted(totalSteps, startStep));
    }
    this.startStep = startStep;
    this.totalSteps = totalSteps;
    this.every = every;
    this.out = out;
    this.nanoTime = nanoTime;
    this.startNanos = nanoTime.getAsLong();
  }

  @Override
  public void update(long step, double loss) {
    if (silent || (step % every != 0 && step != totalSteps)) return;
    try {
      out.println(line(step, loss));
      out.flush();
    } catch (RuntimeException e) {
      silent = true; // the console is gone; training goes on
    }
  }

  @Override
  public void close() {
    if (!silent) out.flush();
  }

  /** E.g. {@code step 120/500 loss 0.0312 2.4 it/s ETA 2m38s}. */
  String line(long step, double loss) {
    double seconds = (nanoTime.getAsLong() - startNanos) * 1e-9;
    long done = step - startStep;
    String speed = "-- it/s";
    String eta = "--";
    if (done > 0 && seconds > 0) {
      double perSecond = done / seconds;
      speed =
          perSecond >= 1
              ? String.format(Locale.ROOT, "%.1f it/s", perSecond)
              : String.format(Locale.ROOT, "%.1f s/it", 1 / perSecond);
      eta = duration(Math.max(0, totalSteps - step) / perSecond);
    }
    return "step %d/%d  loss %s  %s  ETA %s".formatted(step, totalSteps, loss(loss), speed, eta);
  }

  /** Four decimals for ordinary losses, scientific notation for very small or large ones. */
  static String loss(double loss) {
    double magnitude = Math.abs(loss);
    if (!Double.isFinite(loss)) return Double.toString(loss);
    if (magnitude == 0 || (magnitude >= 1e-3 && magnitude < 1e4)) {
      return String.format(Locale.ROOT, "%.4f", loss);
    }
    return String.format(Locale.ROOT, "%.3e", loss);
  }

  /** 45s, 2m38s, 1h02m. */
  static String duration(double seconds) {
    long s = Math.round(seconds);
    if (s < 60) return s + "s";
    if (s < 3600) return "%dm%02ds".formatted(s / 60, s % 60);
    return "%dh%02dm".formatted(s / 3600, (s % 3600) / 60);
  }
}
