package io.kinema.train.media;

import java.util.SplittableRandom;

/** Random test clips with a fixed seed. */
final class TestVideos {
  private TestVideos() {}

  /** Independent uniform values per channel and pixel. */
  static Video noise(int frames, int height, int width, double fps, long seed) {
    var random = new SplittableRandom(seed);
    float[] pixels = new float[frames * height * width * 3];
    for (int i = 0; i < pixels.length; i++) pixels[i] = (float) random.nextDouble();
    return new Video(pixels, frames, height, width, fps);
  }

  /**
   * Each frame a grid of {@code block x block} squares of one random 8-bit colour each: few colours
   * (a GIF palette holds them exactly) and flat areas (H.264 keeps them close).
   */
  static Video blocks(int frames, int height, int width, int block, double fps, long seed) {
    var random = new SplittableRandom(seed);
    float[] pixels = new float[frames * height * width * 3];
    int rows = (height + block - 1) / block;
    int cols = (width + block - 1) / block;
    for (int t = 0; t < frames; t++) {
      int[][] colours = new int[rows * cols][3];
      for (int[] c : colours) for (int k = 0; k < 3; k++) c[k] = random.nextInt(256);
      for (int y = 0; y < height; y++) {
        for (int x = 0; x < width; x++) {
          int[] c = colours[(y / block) * cols + x / block];
          for (int k = 0; k < 3; k++) pixels[((t * height + y) * width + x) * 3 + k] = c[k] / 255f;
        }
      }
    }
    return new Video(pixels, frames, height, width, fps);
  }
}
