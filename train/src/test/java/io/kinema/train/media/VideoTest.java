package io.kinema.train.media;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import java.awt.image.BufferedImage;
import org.junit.jupiter.api.Test;

class VideoTest {
  @Test
  void clampsOutOfRangeAndNanAndCopiesInput() {
    float[] pixels = {-0.5f, 0.25f, 1.5f, Float.NaN, Float.POSITIVE_INFINITY, 1f};
    var video = new Video(pixels, 1, 1, 2, 8);
    assertArrayEquals(new float[] {0f, 0.25f, 1f, 0f, 1f, 1f}, video.pixels());
    pixels[1] = 0.75f;
    assertEquals(0.25f, video.value(0, 0, 0, 1), "the record keeps its own copy");
    video.pixels()[1] = 0.9f;
    assertEquals(0.25f, video.value(0, 0, 0, 1), "pixels() returns a copy");
  }

  @Test
  void badShapesAndRatesNameTheProblem() {
    var e =
        assertThrows(IllegalArgumentException.class, () -> new Video(new float[11], 1, 2, 2, 8));
    assertEquals("Video: 11 pixel values for T=1 H=2 W=2 C=3, expected 12", e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> new Video(new float[0], 0, 2, 2, 8));
    assertThrows(IllegalArgumentException.class, () -> new Video(new float[12], 1, 2, 2, 0));
    assertThrows(
        IllegalArgumentException.class, () -> new Video(new float[12], 1, 2, 2, Double.NaN));
  }

  @Test
  void frameUpscalesByRepeatingPixels() {
    Video video = TestVideos.noise(2, 3, 5, 8, 1);
    BufferedImage image = video.frame(1, 3);
    assertEquals(15, image.getWidth());
    assertEquals(9, image.getHeight());
    for (int y = 0; y < 9; y++) {
      for (int x = 0; x < 15; x++) {
        assertEquals(
            video.rgb(1, y / 3, x / 3), image.getRGB(x, y) & 0xFFFFFF, "at " + x + "," + y);
      }
    }
    int r = Math.round(video.value(1, 2, 4, 0) * 255);
    assertEquals(r, video.rgb(1, 2, 4) >>> 16);
  }

  @Test
  void scaleForLongSide() {
    assertEquals(8, TestVideos.noise(1, 32, 32, 8, 2).scaleForLongSide(256));
    assertEquals(6, TestVideos.noise(1, 30, 45, 8, 2).scaleForLongSide(256)); // 45 * 6 = 270
    assertEquals(1, TestVideos.noise(1, 300, 20, 8, 2).scaleForLongSide(256));
  }

  @Test
  void fromTensorAndFromDecoderOutput() {
    Video expected = TestVideos.noise(3, 4, 5, 16, 3);
    float[] thwc = expected.pixels();
    float[] cthw = new float[thwc.length];
    for (int t = 0; t < 3; t++) {
      for (int y = 0; y < 4; y++) {
        for (int x = 0; x < 5; x++) {
          for (int c = 0; c < 3; c++) {
            cthw[((c * 3 + t) * 4 + y) * 5 + x] = expected.value(t, y, x, c) * 2 - 1;
          }
        }
      }
    }
    try (var scope = Scope.open()) {
      assertEquals(expected, Video.fromTensor(Tensor.of(thwc, 3, 4, 5, 3), 16));
      assertVideosClose(expected, Video.fromDecoderOutput(Tensor.of(cthw, 3, 3, 4, 5), 16));
      assertVideosClose(expected, Video.fromDecoderOutput(Tensor.of(cthw, 1, 3, 3, 4, 5), 16));
      var e =
          assertThrows(
              IllegalArgumentException.class,
              () -> Video.fromTensor(Tensor.of(new float[24], 2, 4, 3), 16));
      assertTrue(e.getMessage().contains("[T, H, W, 3]"), e.getMessage());
      assertThrows(
          IllegalArgumentException.class,
          () -> Video.fromDecoderOutput(Tensor.of(new float[24], 2, 1, 3, 4), 16));
    }
  }

  private static void assertVideosClose(Video expected, Video actual) {
    assertEquals(expected.toString(), actual.toString());
    assertArrayEquals(expected.pixels(), actual.pixels(), 1e-6f);
  }
}
