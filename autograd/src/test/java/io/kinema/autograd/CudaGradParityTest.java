package io.kinema.autograd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kinema.ffi.cuda.CudaLibrary;
import io.kinema.ffi.cuda.junit.RequiresCuda;
import io.kinema.tensor.AttentionMask;
import io.kinema.tensor.DType;
import io.kinema.tensor.Device;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.backend.Epilogue;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Backward on the GPU gives the CPU's gradients: a small MLP (matmul, bias, GELU, layer norm,
 * log-softmax, mean) in F32, an attention block in BF16 (rms norm, rotary, flash attention and its
 * backward), index_select/gather, and a block of two 3-d convolutions in F32 and BF16, leaf
 * gradients compared element by element.
 */
@RequiresCuda(CudaLibrary.CUBLAS)
class CudaGradParityTest {
  private static final Device GPU = Device.cuda(0);

  private static Tensor mlp(List<Tensor> p) {
    Tensor x = p.get(0), w1 = p.get(1), b1 = p.get(2), g = p.get(3), w2 = p.get(4);
    Tensor h = x.matmul(w1).add(b1).gelu().layerNorm(new long[] {16}, g, null, 1e-5);
    return h.matmul(w2).logSoftmax(-1).mul(-1).mean();
  }

  @Test
  void mlpGradients() {
    Random r = new Random(71);
    try (Scope s = Scope.open()) {
      long[][] shapes = {{8, 12}, {12, 16}, {16}, {16}, {16, 5}};
      List<Tensor> cpu = new ArrayList<>(), gpu = new ArrayList<>();
      for (long[] sh : shapes) {
        Tensor t = GradTesting.normal(r, sh).detach().to(DType.F32), tg = t.to(GPU);
        cpu.add(t.requiresGrad(true));
        gpu.add(tg.requiresGrad(true));
      }
      Tensor lc = mlp(cpu), lg = mlp(gpu);
      assertEquals(lc.item(), lg.item(), 1e-5 * (1 + Math.abs(lc.item())), "loss");
      lc.backward();
      lg.backward();
      for (int i = 0; i < shapes.length; i++) {
        assertEquals(GPU, gpu.get(i).grad().device());
        assertClose(cpu.get(i).grad(), gpu.get(i).grad(), 1e-4, "grad of parameter " + i);
      }
    }
  }

  /** The MLP through fused {@code linear} calls (cuBLASLt's epilogues when present). */
  private static Tensor linearMlp(List<Tensor> p) {
    Tensor x = p.get(0), w1 = p.get(1), b1 = p.get(2), w2 = p.get(3), b2 = p.get(4);
    Tensor h = x.linear(w1, b1, Epilogue.GELU_TANH);
    return h.linear(w2, b2).logSoftmax(-1).mul(-1).mean();
  }

  /**
   * The linear MLP in F32 (GELU_AUX_BIAS forward, BGRADB weight gradients when cuBLASLt is there;
   * run with {@code -Dkinema.cuda.cublaslt=false} for the composed path).
   */
  @Test
  void linearMlpGradients() {
    linearMlpGradients(DType.F32, 1e-5, 1e-4);
  }

  @Test
  void linearMlpGradientsInBf16() {
    linearMlpGradients(DType.BF16, 2e-2, 3e-2);
  }

  private static void linearMlpGradients(DType dt, double lossTol, double gradTol) {
    Random r = new Random(73);
    try (Scope s = Scope.open()) {
      long[][] shapes = {{2, 7, 12}, {16, 12}, {16}, {5, 16}, {5}};
      List<Tensor> cpu = new ArrayList<>(), gpu = new ArrayList<>();
      for (long[] sh : shapes) {
        Tensor t = GradTesting.normal(r, sh).detach().to(dt), tg = t.to(GPU);
        cpu.add(t.requiresGrad(true));
        gpu.add(tg.requiresGrad(true));
      }
      Tensor lc = linearMlp(cpu), lg = linearMlp(gpu);
      assertEquals(lc.item(), lg.item(), lossTol * (1 + Math.abs(lc.item())), "loss " + dt);
      lc.backward();
      lg.backward();
      for (int i = 0; i < shapes.length; i++) {
        assertEquals(dt, gpu.get(i).grad().dtype());
        assertClose(cpu.get(i).grad(), gpu.get(i).grad(), gradTol, dt + " grad of parameter " + i);
      }
    }
  }

  private static Tensor attentionBlock(List<Tensor> p, Tensor cos, Tensor sin) {
    Tensor x = p.get(0), wq = p.get(1), wk = p.get(2), wv = p.get(3), g = p.get(4);
    Tensor h = x.rmsNorm(new long[] {128}, g, 1e-6);
    Tensor q = h.matmul(wq).unflatten(-1, 2, 64).transpose(1, 2).rotary(cos, sin, false);
    Tensor k = h.matmul(wk).unflatten(-1, 2, 64).transpose(1, 2).rotary(cos, sin, false);
    Tensor v = h.matmul(wv).unflatten(-1, 2, 64).transpose(1, 2);
    Tensor a = Tensor.scaledDotProductAttention(q, k, v, AttentionMask.CAUSAL);
    return a.to(DType.F32).square().mean();
  }

  @Test
  void attentionBlockGradientsInBf16() {
    attentionBlockGradients(DType.BF16, 3e-2, 6e-2);
  }

  /** F32 attention runs the fused FFMA kernels (attention_f32.cu): F32-level agreement. */
  @Test
  void attentionBlockGradientsInF32() {
    attentionBlockGradients(DType.F32, 1e-5, 1e-4);
  }

  private static void attentionBlockGradients(DType dt, double lossTol, double gradTol) {
    Random r = new Random(72);
    try (Scope s = Scope.open()) {
      long[][] shapes = {{1, 40, 128}, {128, 128}, {128, 128}, {128, 128}, {128}};
      double[] scales = {1, 0.09, 0.09, 0.09, 1};
      List<Tensor> cpu = new ArrayList<>(), gpu = new ArrayList<>();
      for (int i = 0; i < shapes.length; i++) {
        Tensor t = GradTesting.normal(r, shapes[i]).detach().mul(scales[i]).to(dt);
        Tensor tg = t.to(GPU);
        cpu.add(t.requiresGrad(true));
        gpu.add(tg.requiresGrad(true));
      }
      Tensor angles = GradTesting.normal(r, 40, 32).detach().to(DType.F32);
      Tensor cos = angles.cos(), sin = angles.sin();
      Tensor lc = attentionBlock(cpu, cos, sin);
      Tensor lg = attentionBlock(gpu, cos.to(GPU), sin.to(GPU));
      assertEquals(lc.item(), lg.item(), lossTol * Math.abs(lc.item()), "loss");
      lc.backward();
      lg.backward();
      for (int i = 0; i < shapes.length; i++) {
        assertClose(cpu.get(i).grad(), gpu.get(i).grad(), gradTol, dt + " grad of parameter " + i);
      }
    }
  }

  /**
   * An embedding lookup (index_select along dim 0, repeated ids) then a gather along dim 1: their
   * backward is scatter_add on the GPU, which adds in the CPU's order: the same bits.
   */
  @Test
  void indexSelectAndGatherGradients() {
    Random r = new Random(73);
    try (Scope s = Scope.open()) {
      Tensor table = GradTesting.normal(r, 10, 16).detach().to(DType.F32);
      Tensor weight = GradTesting.normal(r, 9, 5).detach().to(DType.F32);
      Tensor ids = Tensor.of(new long[] {3, 0, 3, 9, 5, 3, 0, 7, 3});
      int[] c = new int[9 * 5];
      for (int i = 0; i < c.length; i++) c[i] = r.nextInt(16);
      Tensor cols = Tensor.of(c, 9, 5);
      Tensor tg = table.to(GPU).requiresGrad(true), tc = table.requiresGrad(true);
      tc.indexSelect(0, ids).gather(1, cols).mul(weight).sum().backward();
      tg.indexSelect(0, ids.to(GPU)).gather(1, cols.to(GPU)).mul(weight.to(GPU)).sum().backward();
      assertEquals(GPU, tg.grad().device());
      assertArrayEquals(tc.grad().toFloatArray(), tg.grad().toFloatArray(), "grad of the table");
    }
  }

  /**
   * Wan's patch embedding (kernel == stride) to tokens, a padded 3x3x3 convolution after it, and a
   * loss: conv3d's forward and both backward passes (cuDNN where installed), the bias sums.
   */
  private static Tensor convBlock(List<Tensor> p) {
    Tensor x = p.get(0), w1 = p.get(1), b1 = p.get(2), w2 = p.get(3), b2 = p.get(4);
    long[] patch = {1, 2, 2};
    Tensor h = x.conv3d(w1, b1, patch, new long[3]).gelu();
    Tensor y = h.conv3d(w2, b2, new long[] {1, 1, 1}, new long[] {1, 1, 1});
    return y.flatten(2, -1).transpose(1, 2).to(DType.F32).square().mean();
  }

  @Test
  void convBlockGradientsInF32() {
    convBlockGradients(DType.F32, 1e-5, 1e-4);
  }

  @Test
  void convBlockGradientsInBf16() {
    convBlockGradients(DType.BF16, 3e-2, 6e-2);
  }

  private static void convBlockGradients(DType dt, double lossTol, double gradTol) {
    Random r = new Random(73);
    try (Scope s = Scope.open()) {
      long[][] shapes = {{2, 4, 3, 8, 6}, {8, 4, 1, 2, 2}, {8}, {6, 8, 3, 3, 3}, {6}};
      double[] scales = {1, 0.25, 0.1, 0.07, 0.1};
      List<Tensor> cpu = new ArrayList<>(), gpu = new ArrayList<>();
      for (int i = 0; i < shapes.length; i++) {
        Tensor t = GradTesting.normal(r, shapes[i]).detach().mul(scales[i]).to(dt);
        Tensor tg = t.to(GPU);
        cpu.add(t.requiresGrad(true));
        gpu.add(tg.requiresGrad(true));
      }
      Tensor lc = convBlock(cpu), lg = convBlock(gpu);
      assertEquals(lc.item(), lg.item(), lossTol * Math.abs(lc.item()), "loss");
      lc.backward();
      lg.backward();
      for (int i = 0; i < shapes.length; i++) {
        assertClose(cpu.get(i).grad(), gpu.get(i).grad(), gradTol, dt + " grad of conv input " + i);
      }
    }
  }

  /** |gpu - cpu| <= tol * max |cpu| elementwise. */
  private static void assertClose(Tensor cpu, Tensor gpu, double tol, String what) {
    assertArrayEquals(cpu.shape(), gpu.shape(), what);
    double[] w = cpu.toDoubleArray(), g = gpu.toDoubleArray();
    double scale = 1e-12;
    for (double v : w) scale = Math.max(scale, Math.abs(v));
    for (int i = 0; i < w.length; i++) {
      double err = Math.abs(g[i] - w[i]);
      assertTrue(
          err <= tol * scale,
          what + ": element " + i + " " + g[i] + " vs " + w[i] + " (scale " + scale + ")");
    }
  }
}
