package io.kinema.train.data.synthetic;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kinema.train.data.synthetic.ShapesClips.Clip;
import io.kinema.train.data.synthetic.ShapesClips.Direction;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

class ShapesClipsTest {
  private final ShapesClips clips = new ShapesClips(8, 32, 32);

  /** Centroid (x, y) and count of the non-background pixels of frame t. */
  private static double[] centroid(Clip c, int t) {
    int plane = c.frames() * c.height() * c.width();
    double sx = 0, sy = 0, n = 0;
    for (int y = 0; y < c.height(); y++) {
      for (int x = 0; x < c.width(); x++) {
        int at = (t * c.height() + y) * c.width() + x;
        boolean shape = false;
        for (int ch = 0; ch < 3; ch++)
          shape |= c.pixels()[ch * plane + at] != ShapesClips.BACKGROUND;
        if (shape) {
          sx += x;
          sy += y;
          n++;
        }
      }
    }
    return new double[] {sx / n, sy / n, n};
  }

  @Test
  void theShapeMovesInTheCaptionedDirection() {
    for (int i = 0; i < 120; i++) {
      Clip c = clips.clip(17, i);
      double[] first = centroid(c, 0), last = centroid(c, c.frames() - 1);
      // The shape crosses the frame: at the ends it may be partly outside, never gone.
      assertTrue(first[2] > 4 && last[2] > 4, c.caption() + ": shape too small or off frame");
      double dx = last[0] - first[0], dy = last[1] - first[1];
      Direction d = c.content().direction();
      String why = c.caption() + " moved (" + dx + ", " + dy + ")";
      assertTrue(dx * d.dx + dy * d.dy > 4, why); // at least 4 pixels along the direction
      assertEquals(0, d.dx == 0 ? dx : dy, 0.5, why); // and not across it (sampling jitter only)
      assertTrue(c.caption().endsWith("moving " + d.name().toLowerCase()), c.caption());
      double inside = centroid(c, c.frames() / 2)[2]; // mid-clip: fully inside
      for (int t = 0; t < c.frames(); t++) assertTrue(centroid(c, t)[2] <= inside * 1.25, why);
    }
  }

  @Test
  void pixelsAreTheBackgroundOrTheCaptionedColour() {
    Clip c = clips.clip(3, 5);
    ShapesClips.Colour colour = c.content().colour();
    int plane = 8 * 32 * 32;
    assertTrue(c.caption().startsWith("a " + colour.name().toLowerCase() + " "));
    for (int i = 0; i < plane; i++) {
      float r = c.pixels()[i], g = c.pixels()[plane + i], b = c.pixels()[2 * plane + i];
      boolean background =
          r == ShapesClips.BACKGROUND && g == ShapesClips.BACKGROUND && b == ShapesClips.BACKGROUND;
      boolean shape = r == colour.r && g == colour.g && b == colour.b;
      assertTrue(background || shape, "pixel " + i);
    }
  }

  @Test
  void sixtyConsecutiveClipsShowEveryCombinationOnce() {
    for (int round = 0; round < 2; round++) {
      Set<String> captions = new HashSet<>();
      for (int i = 0; i < 60; i++) captions.add(clips.clip(9, 60 * round + i).caption());
      assertEquals(60, captions.size());
    }
    assertEquals(
        "a red circle moving left",
        new ShapesClips.Content(ShapesClips.Shape.CIRCLE, ShapesClips.Colour.RED, Direction.LEFT)
            .caption());
  }

  @Test
  void clipsAreAPureFunctionOfSeedAndIndex() {
    assertArrayEquals(clips.clip(4, 11).pixels(), new ShapesClips(8, 32, 32).clip(4, 11).pixels());
    assertNotEquals(
        clips.clip(4, 11).caption() + java.util.Arrays.hashCode(clips.clip(4, 11).pixels()),
        clips.clip(5, 11).caption() + java.util.Arrays.hashCode(clips.clip(5, 11).pixels()));
  }

  @Test
  void otherSizesWork() {
    Clip c = new ShapesClips(4, 16, 24).clip(1, 0);
    assertEquals(3 * 4 * 16 * 24, c.pixels().length);
    assertTrue(centroid(c, 0)[2] > 4);
  }
}
