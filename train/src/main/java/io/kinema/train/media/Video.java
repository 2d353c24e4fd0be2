package io.kinema.train.media;

import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import java.awt.image.BufferedImage;
import java.util.Arrays;

/**
 * A short RGB clip: {@code frames x height x width x 3} floats in [0, 1], row-major (the layout of
 * a {@code [T, H, W, C]} tensor), played at {@code fps} frames per second.
 *
 * <p>The constructor copies and clamps the pixels: values outside [0, 1] are clipped (as diffusers
 * does with {@code clamp(0, 1)} before saving) and NaN becomes 0, so a diverged sample still gives
 * a viewable (black) video instead of failing a validation run. The record is immutable: {@link
 * #pixels()} returns a copy.
 *
 * @param pixels {@code frames * height * width * 3} values, RGB innermost
 * @param frames number of frames T, at least 1
 * @param height frame height H in pixels, at least 1
 * @param width frame width W in pixels, at least 1
 * @param fps playback rate, finite and positive
 */
public record Video(float[] pixels, int frames, int height, int width, double fps) {
  /** Channels per pixel (RGB). */
  public static final int CHANNELS = 3;

  public Video {
    if (pixels == null) throw new IllegalArgumentException("Video: pixels are null");
    if (frames < 1 || height < 1 || width < 1) {
      throw new IllegalArgumentException(
          "Video: frames, height and width must be >= 1, got T=%d H=%d W=%d"
              .formatted(frames, height, width));
    }
    long expected = (long) frames * height * width * CHANNELS;
    if (pixels.length != expected) {
      throw new IllegalArgumentException(
          "Video: %d pixel values for T=%d H=%d W=%d C=3, expected %d"
              .formatted(pixels.length, frames, height, width, expected));
    }
    if (!(fps > 0) || !Double.isFinite(fps)) {
      throw new IllegalArgumentException("Video: fps must be finite and > 0, got " + fps);
    }
    pixels = clampedCopy(pixels);
  }

  /**
   * A video from a {@code [T, H, W, 3]} tensor with values in [0, 1] (any dtype, any strides).
   *
   * @throws IllegalArgumentException if the shape is not {@code [T, H, W, 3]}
   */
  public static Video fromTensor(Tensor thwc, double fps) {
    long[] s = thwc.shape();
    if (s.length != 4 || s[3] != CHANNELS) {
      throw new IllegalArgumentException(
          "Video.fromTensor: expected a [T, H, W, 3] tensor, got " + thwc.describe());
    }
    return new Video(thwc.toFloatArray(), toInt(s[0]), toInt(s[1]), toInt(s[2]), fps);
  }

  /**
   * A video from a VAE decoder's output: {@code [3, T, H, W]} or {@code [1, 3, T, H, W]} with
   * values in [-1, 1], mapped to [0, 1] by {@code x / 2 + 0.5} (as diffusers' video post-processing
   * does).
   *
   * @throws IllegalArgumentException if the shape is neither of those
   */
  public static Video fromDecoderOutput(Tensor cthw, double fps) {
    long[] s = cthw.shape();
    boolean batched = s.length == 5 && s[0] == 1;
    if (!(s.length == 4 || batched) || s[batched ? 1 : 0] != CHANNELS) {
      throw new IllegalArgumentException(
          "Video.fromDecoderOutput: expected a [3, T, H, W] or [1, 3, T, H, W] tensor, got "
              + cthw.describe());
    }
    float[] thwc;
    try (var scope = Scope.open()) {
      Tensor x = batched ? cthw.squeeze(0) : cthw;
      thwc = x.permute(1, 2, 3, 0).toFloatArray();
    }
    for (int i = 0; i < thwc.length; i++) thwc[i] = thwc[i] * 0.5f + 0.5f;
    int o = batched ? 1 : 0;
    return new Video(thwc, toInt(s[o + 1]), toInt(s[o + 2]), toInt(s[o + 3]), fps);
  }

  /** A copy of the pixel values. */
  @Override
  public float[] pixels() {
    return pixels.clone();
  }

  /** The value of channel {@code c} (0 = R, 1 = G, 2 = B) at frame {@code t}, row y, column x. */
  public float value(int t, int y, int x, int c) {
    return pixels[index(t, y, x) + c];
  }

  /** The pixel at (t, y, x) as packed {@code 0xRRGGBB}, each channel rounded to 8 bits. */
  public int rgb(int t, int y, int x) {
    int i = index(t, y, x);
    return to8Bit(pixels[i]) << 16 | to8Bit(pixels[i + 1]) << 8 | to8Bit(pixels[i + 2]);
  }

  /** Frame {@code t} as an 8-bit RGB image, each pixel repeated {@code scale x scale} times. */
  public BufferedImage frame(int t, int scale) {
    if (t < 0 || t >= frames) {
      throw new IndexOutOfBoundsException("frame " + t + " of a " + frames + "-frame video");
    }
    checkScale(scale);
    var image = new BufferedImage(width * scale, height * scale, BufferedImage.TYPE_INT_RGB);
    int[] row = new int[width * scale];
    for (int y = 0; y < height; y++) {
      for (int x = 0; x < width; x++) Arrays.fill(row, x * scale, (x + 1) * scale, rgb(t, y, x));
      for (int dy = 0; dy < scale; dy++) image.setRGB(0, y * scale + dy, row.length, 1, row, 0, 0);
    }
    return image;
  }

  /** Playing time in seconds. */
  public double durationSeconds() {
    return frames / fps;
  }

  /**
   * The smallest integer upscale factor that makes the longer side at least {@code minLongSide}
   * pixels (1 when it already is): tiny clips such as 32 x 32 stay visible in a viewer.
   */
  public int scaleForLongSide(int minLongSide) {
    int longSide = Math.max(height, width);
    return Math.max(1, (minLongSide + longSide - 1) / longSide);
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof Video v
        && frames == v.frames
        && height == v.height
        && width == v.width
        && Double.compare(fps, v.fps) == 0
        && Arrays.equals(pixels, v.pixels);
  }

  @Override
  public int hashCode() {
    return 31 * Arrays.hashCode(pixels) + Double.hashCode(fps);
  }

  @Override
  public String toString() {
    return "Video[T=%d, H=%d, W=%d, fps=%s]".formatted(frames, height, width, fps);
  }

  /** {@code v} in [0, 1] to 0..255, rounding to nearest. */
  static int to8Bit(float v) {
    return Math.round(v * 255f);
  }

  static void checkScale(int scale) {
    if (scale < 1) throw new IllegalArgumentException("scale must be >= 1, got " + scale);
  }

  private int index(int t, int y, int x) {
    return ((t * height + y) * width + x) * CHANNELS;
  }

  private static float[] clampedCopy(float[] values) {
    float[] out = new float[values.length];
    for (int i = 0; i < values.length; i++) {
      float v = values[i];
      out[i] = v >= 1f ? 1f : v > 0f ? v : 0f; // NaN fails both tests and becomes 0
    }
    return out;
  }

  private static int toInt(long dim) {
    if (dim > Integer.MAX_VALUE) throw new IllegalArgumentException("dimension too large: " + dim);
    return (int) dim;
  }
}
