package io.kinema.diffusion.wan;

import static io.kinema.diffusion.wan.WanTestUtil.relErr;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kinema.tensor.DType;
import io.kinema.tensor.Device;
import io.kinema.tensor.Generator;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The local attention window, checked two independent ways against each other: streaming with a
 * cache just large enough for the window (so eviction rolls the buffer) must equal the training
 * forward, whose key-ranges mask lets each query see only the window ending at its chunk's end. The
 * golden files use the global window only, so this is the window's test.
 */
class WanCausalLocalWindowTest {
  @Test
  void streamingWithEvictionEqualsTheWindowedForward() throws IOException {
    Path g = WanCausalTransformer3DTest.golden();
    WanConfig cfg = WanConfig.load(g.resolve("diffusers_config.json"));
    for (int window : new int[] {3, 4, 6}) {
      try (var s = Scope.open();
          WanTransformer3D base =
              WanTransformer3D.load(cfg, g.resolve("weights_f64.safetensors"), DType.F64, true)) {
        WanCausalTransformer3D m = new WanCausalTransformer3D(base, 3, window, 0, 512);
        Generator gen = new Generator(window);
        // 4 chunks of 3 frames (12 latent frames), 4x4 patches of 2x2 -> 16 tokens per frame
        Tensor x = Tensor.randn(gen, DType.F64, Device.CPU, 1, cfg.inChannels(), 12, 8, 8);
        Tensor ctx = Tensor.randn(gen, DType.F64, Device.CPU, 1, 7, cfg.textDim());
        double[] tv = new double[12];
        for (int f = 0; f < 12; f++) tv[f] = 900 - 60 * f;
        Tensor t = Tensor.of(tv, 1, 12);
        long frameTokens = 16;
        Tensor full = m.forward(x, t, ctx);
        List<Tensor> outs = new ArrayList<>();
        try (var cache = m.newCache(1, window * frameTokens)) {
          for (int j = 0; j < 4; j++) {
            outs.add(
                m.forwardCached(
                    x.narrow(2, 3 * j, 3), t.narrow(1, 3 * j, 3), ctx, cache, 3 * frameTokens * j));
          }
        }
        double err = relErr(full, Tensor.cat(outs, 2));
        assertTrue(err <= 1e-12, "window " + window + ": streaming vs windowed forward " + err);
        // and the window matters: the global model gives a different result for window 3
        if (window == 3) {
          WanCausalTransformer3D global = new WanCausalTransformer3D(base, 3);
          assertTrue(relErr(global.forward(x, t, ctx), full) > 1e-6, "window 3 changed nothing");
        }
      }
    }
  }
}
