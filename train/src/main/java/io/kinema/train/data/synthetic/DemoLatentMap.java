package io.kinema.train.data.synthetic;

import java.util.SplittableRandom;

/**
 * The demo's stand-in for a video VAE: a fixed, exactly invertible map between RGB pixels and a
 * 16-channel latent at half the resolution. Real training uses the Wan VAE's latents, preprocessed
 * into the dataset (16 channels, 8x spatial and 4x temporal compression); this map only gives the
 * synthetic demo latents of the same channel count without any model weights.
 *
 * <p>Each 2x2 patch of RGB (12 values, ordered channel, row, column) is scaled from [0, 1] to [-1,
 * 1], padded with 4 zeros and rotated by a fixed orthogonal 16x16 matrix {@code Q}: a latent
 * position holds {@code Q [v; 0]}. There is no temporal compression: latent T = frames. {@link
 * #decode} applies {@code Q^T}, keeps the first 12 values and maps them back to pixels clamped to
 * [0, 1]. The rotation spreads every pixel over all 16 channels, so, as with a real VAE, no channel
 * is a plain colour and the data lie in a subspace the model has to learn; what a model puts in the
 * 4 unused directions is simply discarded by decoding.
 *
 * <p>{@code Q} is the Gram–Schmidt orthonormalization of a 16x16 Gaussian matrix drawn from a fixed
 * seed with fdlibm functions, so it is identical on every JVM.
 */
public final class DemoLatentMap {
  /** Latent channels, as in Wan's VAE. */
  public static final int CHANNELS = 16;

  /** Pixels per latent position along each spatial axis. */
  public static final int PATCH = 2;

  /** Values of one patch: 3 colours x 2 x 2. */
  private static final int PATCH_VALUES = 3 * PATCH * PATCH;

  private static final double[][] Q = rotation(0x6b696e656d61L); // "kinema"

  private DemoLatentMap() {}

  /** The latent shape {@code [16, T, H/2, W/2]} of a clip of {@code frames x height x width}. */
  public static long[] latentShape(int frames, int height, int width) {
    checkPixels(frames, height, width);
    return new long[] {CHANNELS, frames, height / PATCH, width / PATCH};
  }

  /** Encodes {@code [3, T, H, W]} pixels in [0, 1] to a {@code [16, T, H/2, W/2]} latent. */
  public static float[] encode(float[] pixels, int frames, int height, int width) {
    checkPixels(frames, height, width);
    if (pixels.length != 3 * frames * height * width) {
      throw new IllegalArgumentException(
          "DemoLatentMap.encode: "
              + pixels.length
              + " pixel values for [3, "
              + frames
              + ", "
              + height
              + ", "
              + width
              + "]");
    }
    int h = height / PATCH, w = width / PATCH;
    int positions = frames * h * w;
    float[] latent = new float[CHANNELS * positions];
    double[] v = new double[PATCH_VALUES];
    for (int t = 0; t < frames; t++) {
      for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
          for (int k = 0; k < PATCH_VALUES; k++) {
            int c = k / 4, dy = (k / 2) % 2, dx = k % 2;
            int at = ((c * frames + t) * height + PATCH * y + dy) * width + PATCH * x + dx;
            v[k] = 2.0 * pixels[at] - 1.0;
          }
          int pos = (t * h + y) * w + x;
          for (int o = 0; o < CHANNELS; o++) {
            double z = 0;
            for (int k = 0; k < PATCH_VALUES; k++) z += Q[o][k] * v[k];
            latent[o * positions + pos] = (float) z;
          }
        }
      }
    }
    return latent;
  }

  /**
   * Decodes a {@code [16, T, h, w]} latent to {@code [3, T, 2h, 2w]} pixels clamped to [0, 1] (the
   * inverse of {@link #encode} on its image).
   */
  public static float[] decode(float[] latent, long[] latentShape) {
    if (latentShape.length != 4
        || latentShape[0] != CHANNELS
        || latent.length != latentShape[0] * latentShape[1] * latentShape[2] * latentShape[3]) {
      throw new IllegalArgumentException(
          "DemoLatentMap.decode: expected a [16, T, h, w] latent, got "
              + java.util.Arrays.toString(latentShape)
              + " with "
              + latent.length
              + " values");
    }
    int frames = (int) latentShape[1], h = (int) latentShape[2], w = (int) latentShape[3];
    int height = PATCH * h, width = PATCH * w, positions = frames * h * w;
    float[] pixels = new float[3 * frames * height * width];
    for (int t = 0; t < frames; t++) {
      for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
          int pos = (t * h + y) * w + x;
          for (int k = 0; k < PATCH_VALUES; k++) {
            double v = 0;
            for (int o = 0; o < CHANNELS; o++) v += Q[o][k] * latent[o * positions + pos];
            int c = k / 4, dy = (k / 2) % 2, dx = k % 2;
            int at = ((c * frames + t) * height + PATCH * y + dy) * width + PATCH * x + dx;
            pixels[at] = (float) Math.clamp((v + 1.0) / 2.0, 0.0, 1.0);
          }
        }
      }
    }
    return pixels;
  }

  /** A copy of the rotation {@code Q} (rows are latent channels). */
  static double[][] rotation() {
    double[][] copy = new double[CHANNELS][];
    for (int i = 0; i < CHANNELS; i++) copy[i] = Q[i].clone();
    return copy;
  }

  private static void checkPixels(int frames, int height, int width) {
    if (frames < 1
        || height < PATCH
        || width < PATCH
        || height % PATCH != 0
        || width % PATCH != 0) {
      throw new IllegalArgumentException(
          "DemoLatentMap: need >= 1 frame of even height and width, got "
              + frames
              + " x "
              + height
              + " x "
              + width);
    }
  }

  /** Orthonormal rows from modified Gram–Schmidt on a seeded Gaussian matrix. */
  private static double[][] rotation(long seed) {
    SplittableRandom rnd = new SplittableRandom(seed);
    double[][] q = new double[CHANNELS][CHANNELS];
    for (int i = 0; i < CHANNELS; i++) {
      for (int j = 0; j < CHANNELS; j++) {
        double u1 = 1.0 - rnd.nextDouble(), u2 = rnd.nextDouble();
        q[i][j] = StrictMath.sqrt(-2 * StrictMath.log(u1)) * StrictMath.cos(2 * Math.PI * u2);
      }
      for (int p = 0; p < i; p++) {
        double dot = 0;
        for (int j = 0; j < CHANNELS; j++) dot += q[i][j] * q[p][j];
        for (int j = 0; j < CHANNELS; j++) q[i][j] -= dot * q[p][j];
      }
      double norm = 0;
      for (int j = 0; j < CHANNELS; j++) norm += q[i][j] * q[i][j];
      norm = StrictMath.sqrt(norm);
      for (int j = 0; j < CHANNELS; j++) q[i][j] /= norm;
    }
    return q;
  }
}
