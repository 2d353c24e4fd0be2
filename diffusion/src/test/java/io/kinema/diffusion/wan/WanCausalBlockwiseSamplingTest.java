package io.kinema.diffusion.wan;

import static io.kinema.diffusion.wan.WanTestUtil.relErr;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kinema.diffusion.flow.ClassifierFreeGuidance;
import io.kinema.diffusion.schedulers.FlowMatchEulerDiscreteScheduler;
import io.kinema.diffusion.schedulers.FlowScheduler;
import io.kinema.diffusion.schedulers.SamplingLoop;
import io.kinema.diffusion.schedulers.UniPCMultistepScheduler;
import io.kinema.tensor.DType;
import io.kinema.tensor.Device;
import io.kinema.tensor.Generator;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.grad.GradMode;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * {@link WanCausalInference#sampleBlockwise}, the KV-cache rollout with a multistep scheduler and
 * guidance per block, against a direct rollout that recomputes every earlier block with the
 * block-causal full-sequence forward (clean blocks at timestep 0, the current block at t).
 */
class WanCausalBlockwiseSamplingTest {
  @Test
  void cachedRolloutEqualsRecomputingTheCleanPrefixEveryCall() throws IOException {
    Path g = WanCausalTransformer3DTest.golden();
    try (var s = Scope.open();
        WanCausalTransformer3D m =
            WanCausalTransformer3DTest.load(g, "weights_f64.safetensors", DType.F64)) {
      WanConfig c = m.model().config();
      Generator gen = new Generator(11);
      Tensor noise = Tensor.randn(gen, DType.F64, Device.CPU, 2, c.inChannels(), 9, 8, 8);
      Tensor context = Tensor.randn(gen, DType.F64, Device.CPU, 2, 5, c.textDim());
      Tensor negative = Tensor.randn(gen, DType.F64, Device.CPU, 2, 5, c.textDim()).mul(0.1);
      for (double guidance : new double[] {1.0, 3.5}) {
        for (boolean unipc : new boolean[] {false, true}) {
          Tensor cached =
              WanCausalInference.sampleBlockwise(
                  m,
                  noise,
                  context,
                  negative,
                  guidance,
                  0,
                  (model, blockNoise) -> {
                    try (FlowScheduler sch = scheduler(unipc)) {
                      return SamplingLoop.run(sch, model, blockNoise, null, null, 1, null);
                    }
                  });
          Tensor direct = recomputed(m, noise, context, negative, guidance, unipc);
          double err = relErr(direct, cached);
          System.out.printf(
              "[CausalWan] blockwise sampling (%s, guidance %.1f), KV cache vs recomputed: %.3e%n",
              unipc ? "UniPC" : "Euler", guidance, err);
          assertTrue(err <= 1e-10, "cached vs recomputed rollout " + err);
          assertTrue(relErr(noise, cached) > 0.1, "the sample must differ from the noise");
        }
      }
    }
  }

  @Test
  void framesMustFillWholeBlocks() throws IOException {
    Path g = WanCausalTransformer3DTest.golden();
    try (var s = Scope.open();
        WanCausalTransformer3D m =
            WanCausalTransformer3DTest.load(g, "weights_f32.safetensors", DType.F32)) {
      WanConfig c = m.model().config();
      Tensor noise = Tensor.zeros(DType.F32, 1, c.inChannels(), 4, 8, 8);
      Tensor ctx = Tensor.zeros(DType.F32, 1, 5, c.textDim());
      var e =
          assertThrows(
              IllegalArgumentException.class,
              () -> WanCausalInference.sampleBlockwise(m, noise, ctx, null, 1, 0, (mm, n) -> n));
      assertTrue(e.getMessage().contains("multiple of 3"), e.getMessage());
      assertThrows(
          IllegalArgumentException.class,
          () ->
              WanCausalInference.sampleBlockwise(
                  m, noise.narrow(2, 0, 3), ctx, null, 2.0, 0, (mm, n) -> n));
    }
  }

  private static FlowScheduler scheduler(boolean unipc) {
    FlowScheduler sch =
        unipc ? new UniPCMultistepScheduler(3.0) : new FlowMatchEulerDiscreteScheduler(3.0);
    sch.setTimesteps(unipc ? 5 : 4);
    return sch;
  }

  /** Block by block, the whole clean prefix plus the current block through the full forward. */
  private static Tensor recomputed(
      WanCausalTransformer3D m,
      Tensor noise,
      Tensor context,
      Tensor negative,
      double guidance,
      boolean unipc) {
    int k = m.framesPerBlock();
    long b = noise.size(0);
    List<Tensor> clean = new ArrayList<>();
    try (var ng = GradMode.noGrad()) {
      for (int s0 = 0; s0 < noise.size(2); s0 += k) {
        Tensor x = noise.narrow(2, s0, k).contiguous();
        try (FlowScheduler sch = scheduler(unipc)) {
          sch.setBeginIndex(0);
          for (double tv : sch.timesteps()) {
            List<Tensor> parts = new ArrayList<>(clean);
            parts.add(x);
            Tensor in = Tensor.cat(parts, 2);
            double[] t = new double[(int) (b * (s0 + k))];
            for (int i = 0; i < b; i++) {
              for (int f = s0; f < s0 + k; f++) t[i * (s0 + k) + f] = tv;
            }
            Tensor tt = Tensor.of(t, b, s0 + k);
            Tensor v = m.forward(in, tt, context).narrow(2, s0, k);
            if (ClassifierFreeGuidance.enabled(guidance)) {
              Tensor vu = m.forward(in, tt, negative).narrow(2, s0, k);
              v = ClassifierFreeGuidance.combine(v, vu, guidance);
            }
            x = sch.step(v.contiguous(), tv, x);
          }
        }
        clean.add(x);
      }
    }
    return Tensor.cat(clean, 2);
  }
}
