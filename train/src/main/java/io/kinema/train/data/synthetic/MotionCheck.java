package io.kinema.train.data.synthetic;

import io.kinema.train.media.Video;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

/**
 * Measures whether a generated demo clip shows what its caption asks for: the captioned colour is
 * present, and its centroid travels the captioned way from the first frame to the last. The demo's
 * validation reports it, so "does the model move shapes the prompted way" is a number, not a look
 * at the GIFs.
 *
 * <p>A pixel counts as the shape's when it is within 0.3 per channel (root-mean-square) of the
 * caption's colour. A clip matches when the shape is found in the first and the last frame and its
 * centroid moves at least a fifth of the frame's shorter side along the captioned direction, and
 * more than twice as far along it as across it. Every clip of {@link ShapesClips} matches.
 */
public final class MotionCheck {
  private static final double COLOUR_TOLERANCE = 0.3;
  private static final int MIN_PIXELS = 3;

  private MotionCheck() {}

  /**
   * One clip's measurement.
   *
   * @param found whether the captioned colour shows in the first and the last frame
   * @param along centroid displacement along the captioned direction, in pixels (0 if not found)
   * @param across centroid displacement across it, in pixels (0 if not found)
   * @param matches whether the clip moves the captioned way (see the class comment)
   */
  public record Result(boolean found, double along, double across, boolean matches) {}

  /** The content a demo caption names ({@code "a <colour> <shape> moving <direction>"}), if any. */
  public static Optional<ShapesClips.Content> parse(String caption) {
    String[] w = caption.trim().toLowerCase(Locale.ROOT).split("\\s+");
    if (w.length != 5 || !w[0].equals("a") || !w[3].equals("moving")) return Optional.empty();
    try {
      return Optional.of(
          new ShapesClips.Content(
              ShapesClips.Shape.valueOf(w[2].toUpperCase(Locale.ROOT)),
              ShapesClips.Colour.valueOf(w[1].toUpperCase(Locale.ROOT)),
              ShapesClips.Direction.valueOf(w[4].toUpperCase(Locale.ROOT))));
    } catch (IllegalArgumentException e) {
      return Optional.empty();
    }
  }

  /** Measures {@code video} (RGB in [0, 1]) against {@code content}. */
  public static Result measure(ShapesClips.Content content, Video video) {
    double[] first = centroid(content.colour(), video, 0);
    double[] last = centroid(content.colour(), video, video.frames() - 1);
    if (first == null || last == null) return new Result(false, 0, 0, false);
    ShapesClips.Direction d = content.direction();
    double dx = last[0] - first[0], dy = last[1] - first[1];
    double along = dx * d.dx + dy * d.dy;
    double across = d.dx != 0 ? dy : dx;
    double needed = 0.2 * Math.min(video.height(), video.width());
    return new Result(true, along, across, along >= needed && along > 2 * Math.abs(across));
  }

  /**
   * A one-line summary of clips and their captions (captions that are not demo captions are
   * skipped), e.g. {@code "motion as captioned in 3/4 samples (mean 4.2 px the captioned way)"};
   * empty when no caption is a demo caption.
   */
  public static Optional<String> summary(List<String> captions, List<Video> videos) {
    int n = 0, ok = 0;
    double along = 0;
    for (int i = 0; i < videos.size(); i++) {
      Optional<ShapesClips.Content> c = parse(captions.get(i));
      if (c.isEmpty()) continue;
      Result r = measure(c.get(), videos.get(i));
      n++;
      if (r.matches()) ok++;
      along += r.along();
    }
    if (n == 0) return Optional.empty();
    return Optional.of(
        String.format(
            Locale.ROOT,
            "motion as captioned in %d/%d samples (mean %.1f px the captioned way)",
            ok,
            n,
            along / n));
  }

  /** Centroid {x, y} of the pixels of {@code colour} in frame {@code t}, or null if too few. */
  private static double[] centroid(ShapesClips.Colour colour, Video v, int t) {
    double limit = 3 * COLOUR_TOLERANCE * COLOUR_TOLERANCE;
    double sx = 0, sy = 0;
    int n = 0;
    for (int y = 0; y < v.height(); y++) {
      for (int x = 0; x < v.width(); x++) {
        double dr = v.value(t, y, x, 0) - colour.r;
        double dg = v.value(t, y, x, 1) - colour.g;
        double db = v.value(t, y, x, 2) - colour.b;
        if (dr * dr + dg * dg + db * db < limit) {
          sx += x;
          sy += y;
          n++;
        }
      }
    }
    return n >= MIN_PIXELS ? new double[] {sx / n, sy / n} : null;
  }
}
