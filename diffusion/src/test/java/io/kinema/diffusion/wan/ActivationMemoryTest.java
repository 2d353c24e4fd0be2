package io.kinema.diffusion.wan;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kinema.tensor.DType;
import io.kinema.tensor.Device;
import io.kinema.tensor.Generator;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.cpu.CpuAllocator;
import java.util.Locale;
import org.junit.jupiter.api.Test;

/** The estimate against the allocator's measured peak of a training step on a small model. */
class ActivationMemoryTest {
  /** Peak bytes above what was allocated before a forward + backward (parameter grads included). */
  private static long measure(WanTransformer3D m, Tensor x, Tensor t, Tensor ctx, Tensor r) {
    m.zeroGrad();
    CpuAllocator alloc = CpuAllocator.get();
    long before = alloc.stats().allocated();
    alloc.resetPeak();
    try (var s = Scope.open()) {
      m.forward(x, t, ctx).mul(r).sum().backward();
    }
    return alloc.stats().peakAllocated() - before;
  }

  /** Long sequence, narrow model: the attention backward's score matrices dominate. */
  @Test
  void estimateIsCloseToTheMeasuredPeakForALongSequence() {
    check(WanConfig.tiny().withNumLayers(4), 1, 4, 16, 16, 16, true);
  }

  /** Short sequence, wide model: the saved activations dominate. */
  @Test
  void estimateIsCloseToTheMeasuredPeakForAWideModel() {
    WanConfig t = WanConfig.tiny();
    WanConfig wide =
        new WanConfig(
            t.patchSize(),
            2,
            128,
            4,
            4,
            24,
            32,
            512,
            4,
            true,
            t.qkNorm(),
            1e-6,
            null,
            null,
            1024,
            null);
    // Parameter gradients (14 MiB) dwarf the activations (< 1 MiB) here: checkpointing's recompute
    // may cost as much as it saves, so only the estimate is checked.
    check(wide, 2, 1, 8, 16, 8, false);
  }

  private static void check(
      WanConfig c, int b, int f, int h, int w, int text, boolean checkpointingHelps) {
    Generator gen = new Generator(5);
    for (DType dt : new DType[] {DType.F32, DType.BF16}) {
      long[] peaks = new long[2];
      try (var data = Scope.open();
          WanTransformer3D m = new WanTransformer3D(c, dt, gen)) {
        Tensor x = Tensor.randn(gen, dt, Device.CPU, b, c.inChannels(), f, h, w);
        double[] ts = new double[b];
        java.util.Arrays.fill(ts, 400);
        Tensor t = Tensor.of(ts, b);
        Tensor ctx = Tensor.randn(gen, dt, Device.CPU, b, text, c.textDim());
        Tensor r = Tensor.randn(gen, dt, Device.CPU, b, c.outChannels(), f, h, w);
        for (int ck = 0; ck < 2; ck++) {
          boolean ckpt = ck == 1;
          m.gradientCheckpointing(ckpt);
          measure(m, x, t, ctx, r); // warm-up: the rope cache, first-use allocations
          long measured = measure(m, x, t, ctx, r);
          peaks[ck] = measured;
          ActivationMemory.Estimate est = ActivationMemory.estimate(c, b, f, h, w, text, dt, ckpt);
          double ratio = measured / (double) est.peak();
          System.out.printf(
              Locale.ROOT,
              "[ActivationMemory] %s %s: measured %s, estimated %s (ratio %.2f)%n  %s%n",
              dt,
              ckpt ? "checkpointed" : "plain",
              ActivationMemory.human(measured),
              ActivationMemory.human(est.peak()),
              ratio,
              est);
          // close in both directions: measured 0.69 - 1.10 of it on these shapes
          assertTrue(ratio > 0.6 && ratio < 1.15, dt + " ckpt=" + ckpt + ": ratio " + ratio);
        }
        m.zeroGrad();
      }
      if (checkpointingHelps) {
        assertTrue(peaks[1] < peaks[0], dt + ": checkpointing must lower the peak");
      }
    }
  }
}
