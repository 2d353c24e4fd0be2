package io.kinema.train.data.synthetic;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;

class DemoLatentMapTest {
  @Test
  void decodeInvertsEncode() {
    Random rnd = new Random(5);
    int t = 3, h = 6, w = 10;
    float[] pixels = new float[3 * t * h * w];
    for (int i = 0; i < pixels.length; i++) pixels[i] = rnd.nextFloat();
    float[] latent = DemoLatentMap.encode(pixels, t, h, w);
    long[] shape = DemoLatentMap.latentShape(t, h, w);
    assertArrayEquals(new long[] {16, 3, 3, 5}, shape);
    assertEquals(16 * 3 * 3 * 5, latent.length);
    assertArrayEquals(pixels, DemoLatentMap.decode(latent, shape), 1e-6f);
  }

  @Test
  void theRotationIsOrthogonalAndMixesEveryChannel() {
    double[][] q = DemoLatentMap.rotation();
    for (int i = 0; i < 16; i++) {
      for (int j = 0; j < 16; j++) {
        double dot = 0;
        for (int k = 0; k < 16; k++) dot += q[i][k] * q[j][k];
        assertEquals(i == j ? 1 : 0, dot, 1e-12);
      }
    }
    // A single bright pixel reaches every latent channel.
    float[] pixels = new float[3 * 2 * 2];
    pixels[0] = 1;
    float[] latent = DemoLatentMap.encode(pixels, 1, 2, 2);
    float[] dark = DemoLatentMap.encode(new float[12], 1, 2, 2);
    for (int c = 0; c < 16; c++) assertTrue(Math.abs(latent[c] - dark[c]) > 1e-4, "channel " + c);
  }

  @Test
  void decodingClampsToTheUnitRange() {
    float[] latent = new float[16];
    java.util.Arrays.fill(latent, 50f);
    for (float p : DemoLatentMap.decode(latent, new long[] {16, 1, 1, 1})) {
      assertTrue(p >= 0 && p <= 1);
    }
  }

  @Test
  void badShapesAreRefused() {
    assertThrows(
        IllegalArgumentException.class, () -> DemoLatentMap.encode(new float[27], 1, 3, 3));
    assertThrows(
        IllegalArgumentException.class,
        () -> DemoLatentMap.decode(new float[16], new long[] {8, 1, 1, 2}));
  }
}
