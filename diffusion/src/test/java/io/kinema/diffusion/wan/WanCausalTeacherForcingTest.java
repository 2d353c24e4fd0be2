package io.kinema.diffusion.wan;

import static io.kinema.diffusion.wan.WanTestUtil.relErr;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
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
 * {@link WanCausalTransformer3D#forwardTeacherForcing} (causal-wan.md §3, teacher-forcing variant)
 * on the causal_wan_tiny weights: each noisy block's output equals the block-causal forward of the
 * clean blocks before it (at the clean timestep) followed by that noisy block, and its gradients
 * match central differences in f64.
 */
class WanCausalTeacherForcingTest {
  @Test
  void everyNoisyBlockIsDenoisedFromTheCleanBlocksBeforeIt() throws IOException {
    try (var s = Scope.open();
        WanCausalTransformer3D m = load()) {
      int k = m.framesPerBlock(), frames = 3 * k;
      Tensor[] in = inputs(m, frames);
      Tensor noisy = in[0], clean = in[1], ctx = in[2], t = in[3];
      double augT = 40;
      Tensor tf = m.forwardTeacherForcing(noisy, t, clean, augT, ctx);
      List<Tensor> blocks = new ArrayList<>();
      for (int j = 0; j < frames; j += k) {
        Tensor x = Tensor.cat(List.of(clean.narrow(2, 0, j), noisy.narrow(2, j, k)), 2);
        Tensor tt =
            Tensor.cat(
                List.of(Tensor.full(augT, DType.F64, Device.CPU, 2, j), t.narrow(1, j, k)), 1);
        blocks.add(m.forward(x, tt, ctx).narrow(2, j, k));
      }
      double err = relErr(Tensor.cat(blocks, 2), tf);
      System.out.printf("[CausalWan] teacher forcing vs per-block recompute: %.3e%n", err);
      assertTrue(err <= 1e-12, "teacher-forcing forward vs recompute " + err);
      // The clean context matters: the same call with noise as "clean" gives another output.
      assertTrue(relErr(tf, m.forwardTeacherForcing(noisy, t, noisy, augT, ctx)) > 1e-3);
    }
  }

  @Test
  void gradientsMatchCentralDifferences() throws IOException {
    try (var s = Scope.open();
        WanCausalTransformer3D m = load()) {
      Tensor[] in = inputs(m, 2 * m.framesPerBlock());
      Tensor noisy = in[0].copy().requiresGrad(true), clean = in[1].copy().requiresGrad(true);
      Tensor w = Tensor.randn(new Generator(5), DType.F64, Device.CPU, noisy.shape());
      m.forwardTeacherForcing(noisy, in[3], clean, 0, in[2]).mul(w).sum().backward();
      double[] gn = noisy.grad().toDoubleArray(), gc = clean.grad().toDoubleArray();
      double[] xn = in[0].toDoubleArray(), xc = in[1].toDoubleArray();
      long[] shape = noisy.shape();
      double h = 1e-5;
      for (int i : new int[] {0, 517, xn.length - 1}) {
        for (boolean cleanSide : new boolean[] {false, true}) {
          double[] base = cleanSide ? xc : xn;
          double[] plus = base.clone(), minus = base.clone();
          plus[i] += h;
          minus[i] -= h;
          double fp = loss(m, in, cleanSide, plus, shape, w);
          double fm = loss(m, in, cleanSide, minus, shape, w);
          double fd = (fp - fm) / (2 * h), ad = cleanSide ? gc[i] : gn[i];
          assertEquals(
              fd, ad, 1e-6 * Math.max(1, Math.abs(fd)), (cleanSide ? "clean" : "noisy") + i);
        }
      }
      // The last clean block is context for nothing: no gradient reaches it.
      int perFrame = (int) (shape[3] * shape[4]);
      assertEquals(0, gc[(int) (shape[2] - 1) * perFrame], 0.0);
    }
  }

  @Test
  void checkpointedBlocksRecomputeWithTheirMask() throws IOException {
    // The blocks' key-ranges mask lives in the forward's scope; checkpointing recomputes each block
    // in backward, after that scope has closed, so the mask must travel as a checkpoint input.
    try (var s = Scope.open();
        WanCausalTransformer3D m = load()) {
      Tensor[] in = inputs(m, 2 * m.framesPerBlock());
      double[][] grads = new double[2][];
      for (int i = 0; i < 2; i++) {
        m.model().train();
        m.model().gradientCheckpointing(i == 1);
        Tensor noisy = in[0].copy().requiresGrad(true);
        m.forwardTeacherForcing(noisy, in[3], in[1], 0, in[2]).sum().backward();
        grads[i] = noisy.grad().toDoubleArray();
      }
      m.model().gradientCheckpointing(false);
      for (int i = 0; i < grads[0].length; i++) {
        assertEquals(grads[0][i], grads[1][i], 1e-12 * Math.max(1, Math.abs(grads[0][i])));
      }
    }
  }

  @Test
  void localWindowsAndMismatchedShapesAreRefused() throws IOException {
    try (var s = Scope.open();
        WanCausalTransformer3D m = load()) {
      Tensor[] in = inputs(m, 6);
      assertThrows(
          IllegalArgumentException.class,
          () -> m.forwardTeacherForcing(in[0], in[3], in[1].narrow(2, 0, 3), 0, in[2]));
      WanCausalTransformer3D windowed = new WanCausalTransformer3D(m.model(), 3, 3, 0, 512);
      assertThrows(
          IllegalStateException.class,
          () -> windowed.forwardTeacherForcing(in[0], in[3], in[1], 0, in[2]));
    }
  }

  private static WanCausalTransformer3D load() throws IOException {
    Path g = WanCausalTransformer3DTest.golden();
    return WanCausalTransformer3DTest.load(g, "weights_f64.safetensors", DType.F64);
  }

  /** {noisy, clean, context, per-frame t} for 2 samples of {@code frames} frames. */
  private static Tensor[] inputs(WanCausalTransformer3D m, int frames) {
    WanConfig c = m.model().config();
    Generator gen = new Generator(21);
    Tensor noisy = Tensor.randn(gen, DType.F64, Device.CPU, 2, c.inChannels(), frames, 8, 8);
    Tensor clean = Tensor.randn(gen, DType.F64, Device.CPU, 2, c.inChannels(), frames, 8, 8);
    Tensor ctx = Tensor.randn(gen, DType.F64, Device.CPU, 2, 5, c.textDim());
    Tensor t = Tensor.rand(gen, DType.F64, Device.CPU, 2, frames).mul(1000);
    return new Tensor[] {noisy, clean, ctx, t};
  }

  private static double loss(
      WanCausalTransformer3D m,
      Tensor[] in,
      boolean cleanSide,
      double[] x,
      long[] shape,
      Tensor w) {
    Tensor v = Tensor.of(x, shape);
    Tensor noisy = cleanSide ? in[0] : v, clean = cleanSide ? v : in[1];
    try (var ng = io.kinema.tensor.grad.GradMode.noGrad()) {
      return m.forwardTeacherForcing(noisy, in[3], clean, 0, in[2]).mul(w).sum().item();
    }
  }
}
