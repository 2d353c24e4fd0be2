package io.kinema.train.data.synthetic;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * Renders the demo dataset's videos: a coloured shape (square, circle or triangle) moving left,
 * right, up or down across a plain dark background, with a caption such as {@code "a red circle
 * moving left"}. Small enough to train a tiny video model on a CPU in minutes, and structured
 * enough that the model must read the caption (colour, shape, direction) to get it right.
 *
 * <p>Clip {@code i} of a dataset with seed {@code s} is a pure function of {@code (s, i)}: the
 * combination of shape, colour and direction comes from a seeded shuffle of all 60 combinations (so
 * any 60 consecutive clips show each exactly once), and the size, start position and speed are
 * jittered from {@code (s, i)}.
 *
 * <p>Pixels are RGB in [0, 1], laid out {@code [3, T, H, W]} (channels first, like the video
 * tensors a VAE takes).
 */
public final class ShapesClips {
  /** The shapes drawn. */
  public enum Shape {
    SQUARE,
    CIRCLE,
    TRIANGLE
  }

  /** The colours used, with their RGB values. */
  public enum Colour {
    RED(0.95f, 0.15f, 0.15f),
    GREEN(0.15f, 0.85f, 0.2f),
    BLUE(0.2f, 0.35f, 1.0f),
    YELLOW(0.95f, 0.9f, 0.15f),
    WHITE(0.95f, 0.95f, 0.95f);
    final float r, g, b;

    Colour(float r, float g, float b) {
      this.r = r;
      this.g = g;
      this.b = b;
    }
  }

  /** Directions of motion; {@code dx, dy} in image coordinates (y grows downwards). */
  public enum Direction {
    LEFT(-1, 0),
    RIGHT(1, 0),
    UP(0, -1),
    DOWN(0, 1);
    final int dx, dy;

    Direction(int dx, int dy) {
      this.dx = dx;
      this.dy = dy;
    }
  }

  /** What a clip shows; its caption is {@code "a <colour> <shape> moving <direction>"}. */
  public record Content(Shape shape, Colour colour, Direction direction) {
    public String caption() {
      return "a "
          + colour.name().toLowerCase(Locale.ROOT)
          + " "
          + shape.name().toLowerCase(Locale.ROOT)
          + " moving "
          + direction.name().toLowerCase(Locale.ROOT);
    }
  }

  /**
   * One rendered clip.
   *
   * @param content what it shows
   * @param frames T
   * @param height H
   * @param width W
   * @param pixels {@code [3, T, H, W]} RGB in [0, 1]
   */
  public record Clip(Content content, int frames, int height, int width, float[] pixels) {
    public String caption() {
      return content.caption();
    }
  }

  /** The background grey level, in every channel. */
  public static final float BACKGROUND = 0.08f;

  private final int frames, height, width;

  /** Clips of {@code frames} frames of {@code height x width} pixels (at least 8x8). */
  public ShapesClips(int frames, int height, int width) {
    if (frames < 2 || height < 8 || width < 8) {
      throw new IllegalArgumentException(
          "ShapesClips: need >= 2 frames of >= 8x8 pixels, got "
              + frames
              + " frames of "
              + height
              + "x"
              + width);
    }
    this.frames = frames;
    this.height = height;
    this.width = width;
  }

  /** Every combination of shape, colour and direction (60). */
  public static List<Content> allContents() {
    List<Content> all = new ArrayList<>();
    for (Shape s : Shape.values()) {
      for (Colour c : Colour.values()) {
        for (Direction d : Direction.values()) all.add(new Content(s, c, d));
      }
    }
    return all;
  }

  /** Clip {@code index} of the dataset with {@code seed} (see the class comment). */
  public Clip clip(long seed, int index) {
    List<Content> all = allContents();
    int round = index / all.size();
    // A fresh shuffle of the combinations for every round of 60 clips.
    SplittableRandom order = new SplittableRandom(mix(seed, -1 - round));
    for (int i = all.size() - 1; i > 0; i--) {
      int j = order.nextInt(i + 1);
      all.set(i, all.set(j, all.get(i)));
    }
    return render(all.get(index % all.size()), new SplittableRandom(mix(seed, index)));
  }

  /**
   * Renders {@code content} with size, start and speed drawn from {@code rnd}: the shape (about a
   * quarter of the frame) travels 50-70 % of the free space in its direction over the clip, from a
   * start anywhere its whole path fits. Wan's DiT sees only relative positions (RoPE), so what it
   * can learn is how each frame follows from the previous one (the same shape, a step further in
   * the caption's direction), not where in the frame a clip begins; random starts keep the data
   * about exactly that.
   */
  public Clip render(Content content, SplittableRandom rnd) {
    int extent = Math.min(height, width);
    double radius = extent * (0.14 + 0.06 * rnd.nextDouble());
    double freeX = width - 2 * radius, freeY = height - 2 * radius;
    Direction d = content.direction();
    double free = d.dx != 0 ? freeX : freeY;
    double travel = free * (0.5 + 0.2 * rnd.nextDouble());
    // Start anywhere the whole path fits: along the motion within the free space left, across it
    // anywhere in the frame.
    double x0 = radius + rnd.nextDouble() * (d.dx != 0 ? freeX - travel : freeX);
    double y0 = radius + rnd.nextDouble() * (d.dy != 0 ? freeY - travel : freeY);
    if (d.dx < 0) x0 = width - x0;
    if (d.dy < 0) y0 = height - y0;
    float[] pixels = new float[3 * frames * height * width];
    java.util.Arrays.fill(pixels, BACKGROUND);
    int plane = frames * height * width;
    for (int t = 0; t < frames; t++) {
      double progress = travel * t / (frames - 1);
      double cx = x0 + d.dx * progress, cy = y0 + d.dy * progress;
      for (int y = 0; y < height; y++) {
        for (int x = 0; x < width; x++) {
          if (!inside(content.shape(), x + 0.5 - cx, y + 0.5 - cy, radius)) continue;
          int at = (t * height + y) * width + x;
          pixels[at] = content.colour().r;
          pixels[plane + at] = content.colour().g;
          pixels[2 * plane + at] = content.colour().b;
        }
      }
    }
    return new Clip(content, frames, height, width, pixels);
  }

  /** Whether offset (dx, dy) from the centre is inside the shape of "radius" r. */
  private static boolean inside(Shape shape, double dx, double dy, double r) {
    return switch (shape) {
      case SQUARE -> Math.abs(dx) <= r * 0.85 && Math.abs(dy) <= r * 0.85;
      case CIRCLE -> dx * dx + dy * dy <= r * r;
      // Apex up, base down: the half-width grows from 0 at the top to r at the bottom.
      case TRIANGLE -> dy >= -r && dy <= r && Math.abs(dx) <= (dy + r) / 2;
    };
  }

  /** SplitMix64's finalizer over (seed, index): independent streams per clip. */
  private static long mix(long seed, long index) {
    long z = seed + 0x9E3779B97F4A7C15L * (index + 1);
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return z ^ (z >>> 31);
  }

  public int frames() {
    return frames;
  }

  public int height() {
    return height;
  }

  public int width() {
    return width;
  }
}
