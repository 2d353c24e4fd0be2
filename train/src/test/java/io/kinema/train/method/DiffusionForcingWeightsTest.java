package io.kinema.train.method;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/** The per-frame loss weights of diffusion-forcing SFT (methods.md §2, step 7). */
class DiffusionForcingWeightsTest {
  @Test
  void gaussianOverTheTableIndexWithMeanOne() {
    double[] w = DiffusionForcingSftMethod.indexWeights(1000);
    double sum = 0;
    for (double v : w) sum += v;
    assertEquals(1.0, sum / w.length, 1e-12);
    assertEquals(0.0, w[0], 0.0);
    assertEquals(1.5796, w[500], 1e-4);
    assertEquals(0.00487, w[999], 1e-5);
    // Independent recomputation of one entry in double.
    double min = Math.exp(-2 * 0.25), total = 0;
    for (int i = 0; i < 1000; i++) total += Math.exp(-2 * Math.pow((i - 500) / 1000.0, 2)) - min;
    double y = Math.exp(-2 * Math.pow((250 - 500) / 1000.0, 2));
    assertEquals((y - min) * 1000 / total, w[250], 1e-12);
  }
}
