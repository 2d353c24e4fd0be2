package io.kinema.diffusion.wan;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kinema.tensor.DType;
import io.kinema.tensor.Generator;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import java.util.Map;
import org.junit.jupiter.api.Test;

class WanInitTest {
  static double[] stats(Tensor t) {
    double[] v = t.toDoubleArray();
    double sum = 0, sq = 0, max = 0;
    for (double x : v) {
      sum += x;
      sq += x * x;
      max = Math.max(max, Math.abs(x));
    }
    double mean = sum / v.length;
    return new double[] {mean, Math.sqrt(sq / v.length - mean * mean), max};
  }

  @Test
  void followsTheOriginalWanInitWeights() {
    WanConfig c = WanConfig.tiny();
    try (var s = Scope.open();
        WanTransformer3D m = new WanTransformer3D(c, DType.F64, new Generator(3))) {
      WanInit.originalWan(m, new Generator(4));
      Map<String, Tensor> sd = m.stateDict();
      assertEquals(0.0, stats(sd.get("proj_out.weight"))[2]);
      assertEquals(0.0, stats(sd.get("proj_out.bias"))[2]);
      assertEquals(0.0, stats(sd.get("blocks.0.attn1.to_q.bias"))[2]);
      // Xavier uniform: bound sqrt(6 / (fan_in + fan_out)), std = bound / sqrt(3).
      Tensor q = sd.get("blocks.0.attn1.to_q.weight");
      double bound = Math.sqrt(6.0 / (q.size(0) + q.size(1)));
      double[] qs = stats(q);
      assertTrue(qs[2] <= bound, "max " + qs[2] + " > " + bound);
      assertEquals(bound / Math.sqrt(3), qs[1], 0.1 * bound);
      Tensor patch = sd.get("patch_embedding.weight");
      long in = patch.numel() / patch.size(0);
      assertTrue(stats(patch)[2] <= Math.sqrt(6.0 / (in + patch.size(0))));
      double[] text = stats(sd.get("condition_embedder.text_embedder.linear_1.weight"));
      assertEquals(0.02, text[1], 0.004);
      double[] time = stats(sd.get("condition_embedder.time_embedder.linear_2.weight"));
      assertEquals(0.02, time[1], 0.004);
      // The time projection is an ordinary linear layer (Xavier), as in Wan.
      Tensor proj = sd.get("condition_embedder.time_proj.weight");
      assertTrue(stats(proj)[1] > 0.05, "time_proj kept the 0.02 embedder init");
    }
  }
}
