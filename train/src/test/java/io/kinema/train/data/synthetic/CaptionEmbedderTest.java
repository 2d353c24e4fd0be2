package io.kinema.train.data.synthetic;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

class CaptionEmbedderTest {
  private final CaptionEmbedder embedder = new CaptionEmbedder(16);

  private float[] token(float[] e, int p) {
    return Arrays.copyOfRange(e, p * 16, (p + 1) * 16);
  }

  @Test
  void oneTokenPerWordPlusTheEndToken() {
    assertEquals(
        List.of("a", "red", "circle", "moving", "left", "</s>"),
        CaptionEmbedder.tokens("A red circle, moving LEFT."));
    assertArrayEquals(new long[] {6, 16}, embedder.shape("a red circle moving left"));
    assertEquals(6 * 16, embedder.embed("a red circle moving left").length);
    assertArrayEquals(new long[] {1, 16}, embedder.shape(""));
  }

  @Test
  void theSameCaptionAlwaysGivesTheSameEmbedding() {
    float[] a = embedder.embed("a blue square moving up");
    assertArrayEquals(a, new CaptionEmbedder(16).embed("a blue square moving up"));
    assertArrayEquals(a, embedder.embed("A  blue square moving up!"));
  }

  @Test
  void aWordHasTheSameVectorWhereverItIsAtTheSamePosition() {
    float[] red = embedder.embed("a red circle moving left");
    float[] blue = embedder.embed("a blue circle moving left");
    assertArrayEquals(token(red, 0), token(blue, 0));
    assertFalse(Arrays.equals(token(red, 1), token(blue, 1)));
    assertArrayEquals(token(red, 2), token(blue, 2));
    // The same word at another position differs only by the position code.
    float[] shifted = embedder.embed("red");
    float[] diff = new float[16];
    for (int i = 0; i < 16; i++) diff[i] = token(red, 1)[i] - token(shifted, 0)[i];
    for (int i = 0; i < 16; i++) {
      double angle1 = 1 / Math.pow(10000, (double) (i & ~1) / 16);
      double expected = (i % 2 == 0 ? Math.sin(angle1) - 0 : Math.cos(angle1) - 1) / 2;
      assertEquals(expected, diff[i], 1e-5);
    }
  }
}
