package io.kinema.train.tracking;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LossPlotTest {
  @TempDir Path dir;

  /** A noisy decaying loss from {@code start} to about {@code end}. */
  private static MetricSeries decaying(int steps, double start, double end, long seed) {
    var random = new SplittableRandom(seed);
    long[] s = new long[steps];
    double[] v = new double[steps];
    for (int i = 0; i < steps; i++) {
      s[i] = i + 1;
      double trend = start * Math.pow(end / start, (double) i / (steps - 1));
      v[i] = trend * (0.6 + 0.8 * random.nextDouble());
    }
    return new MetricSeries(s, v);
  }

  @Test
  void writesAPngOfTheRequestedSizeWithBothCurves() throws IOException {
    Path png = dir.resolve("loss.png");
    MetricSeries loss = decaying(300, 1.0, 0.05, 51);
    loss.values()[100] = Double.NaN; // a diverged step is left out, not a failure
    assertTrue(LossPlot.write(loss, png));

    BufferedImage image = ImageIO.read(png.toFile());
    assertEquals(LossPlot.DEFAULT_WIDTH, image.getWidth());
    assertEquals(LossPlot.DEFAULT_HEIGHT, image.getHeight());
    int dark = 0;
    int light = 0;
    for (int y = 0; y < image.getHeight(); y++) {
      for (int x = 0; x < image.getWidth(); x++) {
        int rgb = image.getRGB(x, y) & 0xFFFFFF;
        if (close(rgb, 0x0b3c68, 12)) dark++;
        if (close(rgb, 0x9cc1de, 24)) light++; // the raw colour at 38% over white
      }
    }
    assertTrue(dark > 300, "EMA pixels: " + dark);
    assertTrue(light > 300, "raw loss pixels: " + light);

    assertTrue(LossPlot.write(loss, png, 400, 300), "replaces the file");
    assertEquals(400, ImageIO.read(png.toFile()).getWidth());
  }

  @Test
  void logScaleOnlyWhenTheRangeSpansMoreThanTwoDecades() {
    assertTrue(LossPlot.spansDecades(decaying(50, 1.0, 0.001, 52).values()));
    assertFalse(LossPlot.spansDecades(new double[] {1.0, 0.5, 0.02}));
    assertFalse(LossPlot.spansDecades(new double[] {1.0, 0.0, 0.001}), "zero: no log axis");
    assertFalse(LossPlot.spansDecades(new double[] {}));
  }

  @Test
  void emaIsBiasCorrected() {
    assertArrayEquals(new double[] {2, 2, 2}, LossPlot.ema(new double[] {2, 2, 2}, 0.9), 1e-12);
    double[] ema = LossPlot.ema(new double[] {1, 0}, 0.5);
    assertEquals(1, ema[0], 1e-12);
    assertEquals((0.5 * 0.5 * 1) / (1 - 0.25), ema[1], 1e-12);
  }

  @Test
  void renderingFailureWarnsOnceAndWritesNothing() throws IOException {
    Path png = dir.resolve("loss.png");
    PrintStream stderr = System.err;
    var captured = new ByteArrayOutputStream();
    System.setErr(new PrintStream(captured, true));
    try {
      for (int attempt = 0; attempt < 3; attempt++) {
        assertFalse(
            LossPlot.write(
                decaying(10, 1, 0.5, 53),
                png,
                200,
                100,
                chart -> {
                  throw new InternalError("Probable fatal error: No fonts found.");
                }));
      }
    } finally {
      System.setErr(stderr);
    }
    assertFalse(Files.exists(png));
    List<String> warnings = captured.toString().lines().toList();
    assertEquals(1, warnings.size(), warnings.toString());
    assertTrue(warnings.getFirst().contains("No fonts found"), warnings.toString());
  }

  @Test
  void nothingToPlotWritesNothing() throws IOException {
    Path png = dir.resolve("loss.png");
    assertFalse(LossPlot.write(new MetricSeries(new long[] {1}, new double[] {Double.NaN}), png));
    assertFalse(Files.exists(png));
  }

  private static boolean close(int rgb, int target, int tolerance) {
    for (int shift = 0; shift <= 16; shift += 8) {
      if (Math.abs(((rgb >>> shift) & 0xFF) - ((target >>> shift) & 0xFF)) > tolerance) {
        return false;
      }
    }
    return true;
  }
}
