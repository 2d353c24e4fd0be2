package io.kinema.train.tracking;

import io.kinema.train.AtomicFiles;
import io.kinema.train.media.Headless;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Function;
import javax.imageio.ImageIO;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.XYStyler;
import org.knowm.xchart.style.markers.SeriesMarkers;

/**
 * Renders the loss curve to a PNG ({@code loss.png}) with XChart: the raw loss as a light line and
 * its exponential moving average as a dark one, over "step". The y axis turns logarithmic when the
 * losses span more than two decades. NaN and infinite losses are left out.
 *
 * <p>A plot is a convenience, so a machine whose Java2D cannot render text (no fonts) gets a
 * warning on stderr (once per JVM) instead of a failed run.
 */
public final class LossPlot {
  /** Default image size in pixels. */
  public static final int DEFAULT_WIDTH = 800;

  public static final int DEFAULT_HEIGHT = 500;

  /** Weight of the past in the moving average: {@code ema = s * ema + (1 - s) * loss}. */
  public static final double SMOOTHING = 0.9;

  private static final Color RAW = new Color(0x1f, 0x77, 0xb4, 0x60);
  private static final Color SMOOTHED = new Color(0x0b, 0x3c, 0x68);

  /** A machine that cannot render plots says so once, not at every plot. */
  private static final AtomicBoolean warned = new AtomicBoolean();

  static {
    Headless.ensure();
  }

  private LossPlot() {}

  /** Writes the plot at the default size; see {@link #write(MetricSeries, Path, int, int)}. */
  public static boolean write(MetricSeries loss, Path png) throws IOException {
    return write(loss, png, DEFAULT_WIDTH, DEFAULT_HEIGHT);
  }

  /**
   * Writes the plot of {@code loss} to {@code png}, replacing it atomically.
   *
   * @return false, writing nothing, when the series has no finite point or the plot could not be
   *     rendered here (a warning then says why)
   * @throws IOException if the file cannot be written
   */
  public static boolean write(MetricSeries loss, Path png, int width, int height)
      throws IOException {
    return write(loss, png, width, height, BitmapEncoder::getBufferedImage);
  }

  /** {@link #write(MetricSeries, Path, int, int)} with the chart rendered by {@code renderer}. */
  static boolean write(
      MetricSeries loss, Path png, int width, int height, Function<XYChart, BufferedImage> renderer)
      throws IOException {
    if (width < 1 || height < 1) {
      throw new IllegalArgumentException("LossPlot: size %dx%d".formatted(width, height));
    }
    MetricSeries finite = finitePoints(loss);
    if (finite.size() == 0) return false;
    BufferedImage image;
    try {
      image = renderer.apply(chart(finite, width, height));
    } catch (OutOfMemoryError | StackOverflowError e) {
      throw e;
    } catch (Exception | Error e) {
      // Font failures surface as Error, InternalError, UnsatisfiedLinkError or NPE.
      if (!warned.getAndSet(true)) {
        System.err.println(
            "warning: " + png + " not written: Java2D cannot render the plot here (" + e + ")");
      }
      return false;
    }
    AtomicFiles.write(
        png,
        temp -> {
          if (!ImageIO.write(image, "png", temp.toFile())) {
            throw new IOException("no PNG writer in this JRE for " + png);
          }
        });
    return true;
  }

  /**
   * The moving average of {@code values}, bias-corrected so the first points are not pulled to 0.
   */
  static double[] ema(double[] values, double smoothing) {
    double[] out = new double[values.length];
    double average = 0;
    double weight = 1;
    for (int i = 0; i < values.length; i++) {
      average = smoothing * average + (1 - smoothing) * values[i];
      weight *= smoothing;
      out[i] = average / (1 - weight);
    }
    return out;
  }

  /** Whether positive {@code values} span more than two decades (max / min > 100). */
  static boolean spansDecades(double[] values) {
    double min = Arrays.stream(values).min().orElse(0);
    double max = Arrays.stream(values).max().orElse(0);
    return min > 0 && max / min > 100;
  }

  private static XYChart chart(MetricSeries loss, int width, int height) {
    XYChart chart =
        new XYChartBuilder()
            .width(width)
            .height(height)
            .title("Training loss")
            .xAxisTitle("step")
            .yAxisTitle("loss")
            .build();
    XYStyler styler = chart.getStyler();
    boolean logarithmic = spansDecades(loss.values());
    styler.setYAxisLogarithmic(logarithmic);
    if (!logarithmic) styler.setYAxisDecimalPattern(decimalPattern(loss.values()));
    styler.setChartBackgroundColor(Color.WHITE);
    styler.setLegendPosition(Styler.LegendPosition.InsideNE);
    // From 0 with sparse ticks, the step axis reads 0, 100, 200 rather than 1, 24, 47, ...
    styler.setXAxisMin(0.0);
    styler.setXAxisTickMarkSpacingHint(90);
    double[] steps = Arrays.stream(loss.steps()).asDoubleStream().toArray();
    style(chart.addSeries("loss", steps, loss.values()), RAW, 1f);
    style(chart.addSeries("EMA " + SMOOTHING, steps, ema(loss.values(), SMOOTHING)), SMOOTHED, 2f);
    return chart;
  }

  /** Plain decimals for ordinary losses, scientific notation when all are tiny. */
  static String decimalPattern(double[] values) {
    double max = Arrays.stream(values).map(Math::abs).max().orElse(0);
    return max > 0 && max < 1e-3 ? "0.##E0" : "0.####";
  }

  private static void style(XYSeries series, Color color, float width) {
    series.setMarker(SeriesMarkers.NONE);
    series.setLineColor(color);
    series.setLineStyle(new BasicStroke(width));
  }

  private static MetricSeries finitePoints(MetricSeries series) {
    int n = 0;
    long[] steps = new long[series.size()];
    double[] values = new double[series.size()];
    for (int i = 0; i < series.size(); i++) {
      if (Double.isFinite(series.values()[i])) {
        steps[n] = series.steps()[i];
        values[n++] = series.values()[i];
      }
    }
    return new MetricSeries(Arrays.copyOf(steps, n), Arrays.copyOf(values, n));
  }
}
