package io.kinema.nn;

import static io.kinema.nn.LayersTest.linearRef;
import static io.kinema.nn.LayersTest.rmsNormRef;
import static io.kinema.nn.TestUtil.assertClose;
import static io.kinema.nn.TestUtil.assertShape;
import static io.kinema.nn.TestUtil.gaussian;
import static io.kinema.nn.TestUtil.randn;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kinema.autograd.GradCheck;
import io.kinema.tensor.AttentionMask;
import io.kinema.tensor.DType;
import io.kinema.tensor.Generator;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.io.Safetensors;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** Attention against a loop reference, its gradients, and diffusers' Wan blocks (golden). */
class AttentionTest {
  /** Angles of position s, pair p: s * 10000^(-2p / headDim). */
  static double[][] angles(int seq, int headDim) {
    double[][] a = new double[seq][headDim / 2];
    for (int s = 0; s < seq; s++)
      for (int p = 0; p < headDim / 2; p++) a[s][p] = s * Math.pow(10000, -2.0 * p / headDim);
    return a;
  }

  /** cos/sin tables [S, 1, headDim/2] (broadcast over batch and heads). */
  static Tensor table(double[][] a, boolean sin, DType dt) {
    int s = a.length, h = a[0].length;
    double[] v = new double[s * h];
    for (int i = 0; i < s; i++)
      for (int p = 0; p < h; p++) v[i * h + p] = sin ? Math.sin(a[i][p]) : Math.cos(a[i][p]);
    try (Tensor t = Tensor.of(v, s, 1, h)) {
      return t.to(dt);
    }
  }

  /** The whole attention in loops: projections, q/k norm, interleaved rotary, softmax, out. */
  static double[] reference(
      Attention attn,
      double[] x,
      double[] ctx,
      int b,
      int sq,
      int sk,
      Attention.QkNorm norm,
      double eps,
      double[][] rope,
      boolean causal) {
    Map<String, Tensor> sd = attn.stateDict();
    int dim = (int) sd.get("to_q.weight").size(1), cdim = (int) sd.get("to_k.weight").size(1);
    int inner = (int) sd.get("to_q.weight").size(0), heads = attn.heads();
    int hd = inner / heads;
    double[] q = linearRef(x, dim, arr(sd, "to_q.weight"), arr(sd, "to_q.bias"), inner);
    double[] k = linearRef(ctx, cdim, arr(sd, "to_k.weight"), arr(sd, "to_k.bias"), inner);
    double[] v = linearRef(ctx, cdim, arr(sd, "to_v.weight"), arr(sd, "to_v.bias"), inner);
    if (norm == Attention.QkNorm.RMS_ACROSS_HEADS) {
      q = rmsNormRef(q, inner, arr(sd, "norm_q.weight"), eps);
      k = rmsNormRef(k, inner, arr(sd, "norm_k.weight"), eps);
    } else if (norm == Attention.QkNorm.RMS) {
      q = rmsNormRef(q, hd, arr(sd, "norm_q.weight"), eps);
      k = rmsNormRef(k, hd, arr(sd, "norm_k.weight"), eps);
    }
    if (rope != null) {
      rotate(q, sq, inner, hd, rope);
      rotate(k, sk, inner, hd, rope);
    }
    double[] o = new double[b * sq * inner];
    for (int bi = 0; bi < b; bi++)
      for (int h = 0; h < heads; h++)
        for (int i = 0; i < sq; i++) {
          double[] sc = new double[sk];
          double max = Double.NEGATIVE_INFINITY;
          for (int j = 0; j < sk; j++) {
            if (causal && j > i + (sk - sq)) {
              sc[j] = Double.NEGATIVE_INFINITY;
              continue;
            }
            double acc = 0;
            for (int d = 0; d < hd; d++)
              acc += q[(bi * sq + i) * inner + h * hd + d] * k[(bi * sk + j) * inner + h * hd + d];
            sc[j] = acc / Math.sqrt(hd);
            max = Math.max(max, sc[j]);
          }
          double z = 0;
          for (int j = 0; j < sk; j++) z += sc[j] = Math.exp(sc[j] - max);
          for (int d = 0; d < hd; d++) {
            double acc = 0;
            for (int j = 0; j < sk; j++) acc += sc[j] / z * v[(bi * sk + j) * inner + h * hd + d];
            o[(bi * sq + i) * inner + h * hd + d] = acc;
          }
        }
    return linearRef(o, inner, arr(sd, "to_out.0.weight"), arr(sd, "to_out.0.bias"), dim);
  }

  private static void rotate(double[] t, int seq, int inner, int hd, double[][] a) {
    for (int r = 0; r < t.length / inner; r++) {
      int s = r % seq;
      for (int h = 0; h < inner / hd; h++)
        for (int p = 0; p < hd / 2; p++) {
          int i0 = r * inner + h * hd + 2 * p;
          double x0 = t[i0], x1 = t[i0 + 1], c = Math.cos(a[s][p]), sn = Math.sin(a[s][p]);
          t[i0] = x0 * c - x1 * sn;
          t[i0 + 1] = x0 * sn + x1 * c;
        }
    }
  }

  private static double[] arr(Map<String, Tensor> sd, String k) {
    return sd.get(k).toDoubleArray();
  }

  /** Random norm weights (they start at 1, which would hide a wrong placement). */
  private static void randomizeNorms(Attention attn, Random rnd) {
    for (var e : attn.namedParameters().entrySet()) {
      if (e.getKey().startsWith("norm_")) {
        double[] w = gaussian(rnd, (int) e.getValue().data().numel());
        for (int i = 0; i < w.length; i++) w[i] = 1 + 0.3 * w[i];
        LayersTest.assign(e.getValue(), w);
      }
    }
  }

  @Test
  void selfAttentionMatchesReference() {
    Random rnd = new Random(1);
    for (Attention.QkNorm norm : Attention.QkNorm.values()) {
      for (boolean causal : new boolean[] {false, true}) {
        for (DType dt : new DType[] {DType.F64, DType.F32}) {
          try (var s = Scope.open();
              Attention attn =
                  new Attention(24, 24, 3, 8, norm, 1e-6, true, dt, new Generator(2))) {
            randomizeNorms(attn, rnd);
            int b = 2, seq = 5;
            Tensor x = randn(rnd, dt, b, seq, 24);
            double[][] rope = angles(seq, 8);
            Attention.Rotary rot =
                Attention.Rotary.of(table(rope, false, dt), table(rope, true, dt), true);
            AttentionMask mask = causal ? AttentionMask.CAUSAL : AttentionMask.NONE;
            Tensor y = attn.forward(x, mask, rot);
            assertShape(y, b, seq, 24);
            double[] xs = x.toDoubleArray();
            double tol = dt == DType.F64 ? 1e-11 : 2e-5;
            assertClose(
                reference(attn, xs, xs, b, seq, seq, norm, 1e-6, rope, causal), y, tol, tol);
            // without rotary
            assertClose(
                reference(attn, xs, xs, b, seq, seq, norm, 1e-6, null, causal),
                attn.forward(x, mask),
                tol,
                tol);
          }
        }
      }
    }
  }

  @Test
  void crossAttentionUsesTheContextForKeysAndValues() {
    Random rnd = new Random(3);
    try (var s = Scope.open();
        Attention attn =
            new Attention(
                16,
                10,
                2,
                6,
                Attention.QkNorm.RMS_ACROSS_HEADS,
                1e-6,
                true,
                DType.F64,
                new Generator(4))) {
      randomizeNorms(attn, rnd);
      assertArrayEquals(new long[] {12, 16}, attn.stateDict().get("to_q.weight").shape());
      assertArrayEquals(new long[] {12, 10}, attn.stateDict().get("to_k.weight").shape());
      assertArrayEquals(new long[] {16, 12}, attn.stateDict().get("to_out.0.weight").shape());
      assertArrayEquals(new long[] {12}, attn.stateDict().get("norm_k.weight").shape());
      Tensor x = randn(rnd, DType.F64, 2, 4, 16), ctx = randn(rnd, DType.F64, 2, 7, 10);
      Tensor y = attn.forward(x, ctx);
      assertShape(y, 2, 4, 16);
      assertClose(
          reference(
              attn,
              x.toDoubleArray(),
              ctx.toDoubleArray(),
              2,
              4,
              7,
              Attention.QkNorm.RMS_ACROSS_HEADS,
              1e-6,
              null,
              false),
          y,
          1e-11,
          1e-11);
      var e = assertThrows(IllegalArgumentException.class, () -> attn.forward(x));
      assertTrue(e.getMessage().contains("expected x [B, S, 16]"), e.getMessage());
      e = assertThrows(IllegalArgumentException.class, () -> attn.forward(x, ctx.narrow(0, 0, 1)));
      assertTrue(e.getMessage().contains("batch sizes differ"), e.getMessage());
    }
  }

  @Test
  void namesMatchDiffusersAndReplacedProjectionsAreUsed() {
    try (var s = Scope.open();
        Attention attn =
            new Attention(8, 2, Attention.QkNorm.RMS_ACROSS_HEADS, DType.F64, new Generator(5))) {
      assertEquals(
          List.of(
              "to_q.weight",
              "to_q.bias",
              "to_k.weight",
              "to_k.bias",
              "to_v.weight",
              "to_v.bias",
              "to_out.0.weight",
              "to_out.0.bias",
              "norm_q.weight",
              "norm_k.weight"),
          new ArrayList<>(attn.stateDict().keySet()));
      Tensor x = randn(new Random(6), DType.F64, 1, 3, 8);
      // an adapter around to_q (as LoRA does) doubles q: same as doubling W_q and b_q
      class Double extends Module implements Layer {
        @Override
        public Tensor forward(Tensor t) {
          return t.mul(2.0);
        }
      }
      Module old =
          attn.replaceModule(
              "to_q", new Sequential((Layer) attn.getSubmodule("to_q"), new Double()));
      Tensor y = attn.forward(x);
      attn.replaceModule("to_q", old);
      Linear q = (Linear) old;
      Tensor w = q.weight().data().detach().copy(), b = q.bias().data().detach().copy();
      LayersTest.assign(q.weight(), w.mul(2.0).toDoubleArray());
      LayersTest.assign(q.bias(), b.mul(2.0).toDoubleArray());
      assertClose(attn.forward(x).toDoubleArray(), y, 1e-12, 1e-12);
    }
  }

  @Test
  void gradcheckSelfAndCrossAttention() {
    Random rnd = new Random(7);
    try (var s = Scope.open();
        Attention self =
            new Attention(
                4,
                4,
                2,
                2,
                Attention.QkNorm.RMS_ACROSS_HEADS,
                1e-6,
                true,
                DType.F64,
                new Generator(8));
        Attention cross =
            new Attention(
                4, 3, 2, 2, Attention.QkNorm.RMS, 1e-6, true, DType.F64, new Generator(9))) {
      randomizeNorms(self, rnd);
      randomizeNorms(cross, rnd);
      double[][] rope = angles(3, 2);
      Attention.Rotary rot =
          Attention.Rotary.of(table(rope, false, DType.F64), table(rope, true, DType.F64), true);
      Tensor x = randn(rnd, DType.F64, 1, 3, 4).requiresGrad(true);
      List<Tensor> in = new ArrayList<>(List.of(x));
      for (Parameter p : self.parameters()) in.add(p.data());
      GradCheck.check(i -> self.forward(i.get(0), AttentionMask.CAUSAL, rot), in);
      Tensor ctx = randn(rnd, DType.F64, 1, 2, 3).requiresGrad(true);
      List<Tensor> in2 = new ArrayList<>(List.of(x, ctx));
      for (Parameter p : cross.parameters()) in2.add(p.data());
      GradCheck.check(i -> cross.forward(i.get(0), i.get(1)), in2);
    }
  }

  // ---------------------------------------------------------------- diffusers' Wan (golden)

  private static Map<String, Tensor> withPrefix(Map<String, Tensor> all, String prefix) {
    Map<String, Tensor> out = new LinkedHashMap<>();
    for (var e : all.entrySet())
      if (e.getKey().startsWith(prefix))
        out.put(e.getKey().substring(prefix.length()), e.getValue());
    return out;
  }

  /**
   * Block 0 of the tiny Wan model: self-attention with RoPE, cross-attention to the text, and the
   * FFN, each from its golden input to its golden output (exact f64 run), with the checkpoint's
   * keys loaded strictly; then the same from the F32 checkpoint.
   */
  @Test
  void wanBlockSublayersMatchDiffusers() throws IOException {
    Path g = Conv3dTest.golden();
    try (var s = Scope.open()) {
      Map<String, Tensor> w64 = Safetensors.load(g.resolve("weights_f64.safetensors"));
      Map<String, Tensor> w32 = Safetensors.load(g.resolve("diffusion_pytorch_model.safetensors"));
      Map<String, Tensor> mid = Safetensors.load(g.resolve("intermediates_f64.safetensors"));
      // diffusers' tables are [1, L, 1, head_dim] with each pair's angle repeated: keep one each
      Tensor cos = mid.get("rope.freqs_cos").slice(3, 0, 32, 2);
      Tensor sin = mid.get("rope.freqs_sin").slice(3, 0, 32, 2);
      Tensor text = mid.get("condition_embedder.text_embedder.out");
      for (DType dt : new DType[] {DType.F64, DType.F32}) {
        Map<String, Tensor> w = dt == DType.F64 ? w64 : w32;
        double tol = dt == DType.F64 ? 1e-10 : 2e-5;
        Attention.Rotary rot = Attention.Rotary.of(cos.to(dt), sin.to(dt), true);
        try (Attention attn1 =
                new Attention(
                    64, 64, 2, 32, Attention.QkNorm.RMS_ACROSS_HEADS, 1e-6, true, dt, null);
            Attention attn2 =
                new Attention(
                    64, 64, 2, 32, Attention.QkNorm.RMS_ACROSS_HEADS, 1e-6, true, dt, null);
            FeedForward ffn =
                new FeedForward(64, 96, FeedForward.Activation.GELU_TANH, 0, true, dt, null)) {
          assertTrue(attn1.loadStateDict(withPrefix(w, "blocks.0.attn1."), true).isClean());
          assertTrue(attn2.loadStateDict(withPrefix(w, "blocks.0.attn2."), true).isClean());
          assertTrue(ffn.loadStateDict(withPrefix(w, "blocks.0.ffn."), true).isClean());
          Tensor y1 = attn1.forward(mid.get("blocks.0.attn1.in").to(dt), AttentionMask.NONE, rot);
          assertClose(mid.get("blocks.0.attn1.out").toDoubleArray(), y1, tol, tol);
          Tensor y2 = attn2.forward(mid.get("blocks.0.attn2.in").to(dt), text.to(dt));
          assertClose(mid.get("blocks.0.attn2.out").toDoubleArray(), y2, tol, tol);
          Tensor y3 = ffn.forward(mid.get("blocks.0.ffn.in").to(dt));
          assertClose(mid.get("blocks.0.ffn.out").toDoubleArray(), y3, tol, tol);
        }
      }
    }
  }
}
