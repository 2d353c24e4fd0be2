package io.kinema.autograd;

import static io.kinema.autograd.GradTesting.check;
import static io.kinema.autograd.GradTesting.normal;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kinema.tensor.AttentionMask;
import io.kinema.tensor.Backends;
import io.kinema.tensor.DType;
import io.kinema.tensor.Device;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.grad.GradMode;
import java.util.List;
import java.util.Random;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/**
 * Whole graphs: an MLP, shared subexpressions, a function applied twice, gradients in F32 and BF16,
 * leaf gradients that must not alias one another, and the memory of many training steps.
 */
class CompositeGradTest {
  /** A two-layer MLP with a log-softmax head and a per-row weighted loss; params after x. */
  private static Tensor mlp(List<Tensor> in) {
    Tensor x = in.get(0), w1 = in.get(1), b1 = in.get(2), w2 = in.get(3), b2 = in.get(4);
    Tensor h = x.matmul(w1).add(b1).gelu();
    Tensor logits = h.matmul(w2).add(b2);
    return logits.logSoftmax(-1).mul(-1).mean(0, false);
  }

  @Test
  void smallMlp() {
    try (var s = Scope.open()) {
      Random r = new Random(61);
      check(
          CompositeGradTest::mlp,
          normal(r, 4, 5),
          normal(r, 5, 6),
          normal(r, 6),
          normal(r, 6, 3),
          normal(r, 3));
    }
  }

  @Test
  void transformerBlock() {
    try (var s = Scope.open()) {
      Random r = new Random(62);
      // x [B=1, S=4, C=4], 2 heads of 2; pre-norm attention + MLP with residuals.
      Function<List<Tensor>, Tensor> block =
          in -> {
            Tensor x = in.get(0), wqkv = in.get(1), wo = in.get(2), g = in.get(3);
            Tensor h = x.rmsNorm(new long[] {4}, g, 1e-6);
            List<Tensor> qkv = h.matmul(wqkv).chunk(3, -1);
            Tensor q = qkv.get(0).unflatten(-1, 2, 2).transpose(1, 2);
            Tensor k = qkv.get(1).unflatten(-1, 2, 2).transpose(1, 2);
            Tensor v = qkv.get(2).unflatten(-1, 2, 2).transpose(1, 2);
            Tensor a = Tensor.scaledDotProductAttention(q, k, v, AttentionMask.CAUSAL);
            Tensor y = x.add(a.transpose(1, 2).flatten(2, 3).matmul(wo));
            return y.add(y.layerNorm(new long[] {4}, null, null, 1e-5).silu());
          };
      check(block, normal(r, 1, 4, 4), normal(r, 4, 12), normal(r, 4, 4), normal(r, 4));
    }
  }

  @Test
  void sharedSubexpressionsAndAFunctionUsedTwice() {
    try (var s = Scope.open()) {
      Random r = new Random(63);
      Tensor x = normal(r, 3, 4);
      Tensor w = normal(r, 4, 4);
      // t feeds four consumers, one of them twice.
      check(
          in -> {
            Tensor t = in.get(0).sin();
            return t.mul(t).add(t.exp().mul(in.get(0))).sub(t.sum(1, true));
          },
          x);
      // f(f(x)) with the same weights: w receives gradients from both applications.
      Function<Tensor[], Tensor> f = a -> a[0].matmul(a[1]).tanh();
      check(
          in -> f.apply(new Tensor[] {f.apply(new Tensor[] {in.get(0), in.get(1)}), in.get(1)}),
          x,
          w);
      // A diamond whose branches meet again after different depths.
      check(
          in -> {
            Tensor a = in.get(0).mul(2);
            Tensor b = a.square().sigmoid();
            Tensor c = a.t().matmul(b).tanh(); // [4, 4]
            return c.matmul(a.t()).add(b.t()); // [4, 3]
          },
          x);
    }
  }

  @Test
  void checkpointedBlocksGiveTheSameGradients() {
    try (var s = Scope.open()) {
      Random r = new Random(67);
      Tensor constant = normal(r, 3, 4).detach();
      // The block's parameters are not among its inputs: they get gradients from the replay.
      check(
          in -> {
            Function<List<Tensor>, Tensor> block =
                b -> b.get(0).matmul(in.get(1)).add(in.get(2)).tanh().mul(b.get(1));
            Tensor h = Checkpoint.apply(block, List.of(in.get(0), in.get(3)));
            Tensor h2 = Checkpoint.apply(block, List.of(h.mul(h), constant));
            return h2.add(h).sum(1, false);
          },
          normal(r, 3, 4),
          normal(r, 4, 4),
          normal(r, 4),
          normal(r, 3, 4));
    }
  }

  /** The gradients of {@code f} at inputs {@code x} (converted to {@code dtype}). */
  private static double[][] grads(Function<List<Tensor>, Tensor> f, DType dtype, Tensor... xs) {
    try (var s = Scope.open()) {
      Tensor[] in = new Tensor[xs.length];
      for (int i = 0; i < xs.length; i++) in[i] = xs[i].detach().to(dtype).requiresGrad(true);
      Tensor y = f.apply(List.of(in));
      assertEquals(dtype, y.dtype());
      y.to(DType.F32).sum().backward();
      double[][] g = new double[xs.length][];
      for (int i = 0; i < xs.length; i++) {
        Tensor gi = in[i].grad();
        if (gi == null) { // input unused by f
          g[i] = new double[(int) xs[i].numel()];
          continue;
        }
        assertEquals(dtype, gi.dtype(), "gradient dtype of input " + i);
        assertArrayEquals(xs[i].shape(), gi.shape());
        g[i] = gi.toDoubleArray();
      }
      return g;
    }
  }

  private static void assertClose(double[][] want, double[][] got, double rtol, String what) {
    for (int i = 0; i < want.length; i++) {
      double scale = 0;
      for (double v : want[i]) scale = Math.max(scale, Math.abs(v));
      for (int e = 0; e < want[i].length; e++) {
        double tol = rtol * Math.max(scale, 1e-3);
        assertTrue(
            Math.abs(want[i][e] - got[i][e]) <= tol,
            what + ": input " + i + " element " + e + ": " + got[i][e] + " vs " + want[i][e]);
      }
    }
  }

  @Test
  void lowerPrecisionGradientsMatchF64() {
    try (var s = Scope.open()) {
      Random r = new Random(64);
      Tensor x = normal(r, 4, 8), w = normal(r, 8, 8), g = normal(r, 8);
      List<Function<List<Tensor>, Tensor>> fs =
          List.of(
              in -> in.get(0).matmul(in.get(1)).gelu().softmax(-1).mul(in.get(2)),
              in -> in.get(0).layerNorm(new long[] {8}, in.get(2), null, 1e-5).tanh(),
              in -> in.get(0).rmsNorm(new long[] {8}, in.get(2), 1e-6).mul(in.get(0)),
              in -> in.get(0).matmul(in.get(1)).logSoftmax(0).amax(new int[] {1}, false),
              in ->
                  Tensor.scaledDotProductAttention(
                      in.get(0).unsqueeze(0),
                      in.get(1).narrow(0, 0, 4).unsqueeze(0),
                      in.get(0).mul(in.get(2)).unsqueeze(0),
                      AttentionMask.CAUSAL),
              in ->
                  in.get(0)
                      .mul(in.get(2))
                      .sub(in.get(0).mean(1, true))
                      .var(new int[] {1}, 1, false));
      for (int i = 0; i < fs.size(); i++) {
        double[][] ref = grads(fs.get(i), DType.F64, x, w, g);
        assertClose(ref, grads(fs.get(i), DType.F32, x, w, g), 1e-5, "F32 function " + i);
        assertClose(ref, grads(fs.get(i), DType.BF16, x, w, g), 0.03, "BF16 function " + i);
      }
    }
  }

  @Test
  void mixedPrecisionGraphsSendEachInputAGradientOfItsDtype() {
    try (var s = Scope.open()) {
      Random r = new Random(66);
      Tensor x = normal(r, 3, 4), w = normal(r, 4, 2), scale = normal(r, 3, 2);
      // BF16 matmul whose output meets an F32 tensor: mul promotes to F32, and the matmul's rule
      // must still get a BF16 gradient (its operands are BF16).
      Function<List<Tensor>, Tensor> f = in -> in.get(0).matmul(in.get(1)).mul(in.get(2)).tanh();
      double[][] ref = grads(f, DType.F64, x, w, scale);
      try (var s2 = Scope.open()) {
        Tensor xb = x.detach().to(DType.BF16).requiresGrad(true);
        Tensor wb = w.detach().to(DType.BF16).requiresGrad(true);
        Tensor sf = scale.detach().to(DType.F32).requiresGrad(true);
        Tensor y = f.apply(List.of(xb, wb, sf));
        assertEquals(DType.F32, y.dtype());
        y.sum().backward();
        assertEquals(DType.BF16, xb.grad().dtype());
        assertEquals(DType.BF16, wb.grad().dtype());
        assertEquals(DType.F32, sf.grad().dtype());
        assertClose(
            ref,
            new double[][] {
              xb.grad().toDoubleArray(), wb.grad().toDoubleArray(), sf.grad().toDoubleArray()
            },
            0.1,
            "mixed BF16/F32");
      }
    }
  }

  @Test
  void aRuleReturningAGradientOfTheWrongShapeFailsWhereItHappens() {
    try (var s = Scope.open()) {
      Tensor x = Tensor.of(new double[] {1, 2, 3}, 3).requiresGrad(true);
      Tensor y;
      try (var ng = GradMode.noGrad()) {
        y = x.mul(2);
      }
      Engine.recordCustom(
          "broken", List.of(x), (node, g) -> new Tensor[] {g.sum()}, y); // [] instead of [3]
      var e = assertThrows(IllegalStateException.class, () -> y.sum().backward());
      assertTrue(e.getMessage().contains("rule of broken"), e.getMessage());
    }
  }

  @Test
  void leafGradientsNeverShareMemory() {
    try (var s = Scope.open()) {
      Tensor a = Tensor.of(new double[] {1, 2}, 2).requiresGrad(true);
      Tensor b = Tensor.of(new double[] {3, 4}, 2).requiresGrad(true);
      Tensor w = Tensor.of(new double[] {5, 7}, 2);
      // add hands the same upstream gradient to both leaves: each must get its own copy.
      for (int i = 0; i < 2; i++) a.add(b).mul(w).sum().backward();
      assertArrayEquals(new double[] {10, 14}, a.grad().toDoubleArray());
      assertArrayEquals(new double[] {10, 14}, b.grad().toDoubleArray());
      // A gradient that is a view of the caller's gradOutput must not alias it.
      a.zeroGrad();
      Tensor seed = Tensor.of(new double[] {1, 1}, 2);
      a.alias().backward(seed);
      a.mul(2).sum().backward();
      assertArrayEquals(new double[] {1, 1}, seed.toDoubleArray());
      assertArrayEquals(new double[] {3, 3}, a.grad().toDoubleArray());
      // An optimizer rewriting one gradient in place leaves the other alone.
      a.zeroGrad();
      b.zeroGrad();
      a.add(b).mul(w).sum().backward();
      a.grad().mulInPlace(0);
      assertArrayEquals(new double[] {5, 7}, b.grad().toDoubleArray());
    }
  }

  @Test
  void aTrainingStepFreesItsGraphAndManyStepsStayFlat() {
    var cpu = Backends.of(Device.CPU);
    Random r = new Random(65);
    // Parameters and data belong to no scope; every step's tensors to the step's scope.
    Tensor[] params = {normal(r, 16, 32), normal(r, 32), normal(r, 32, 4), normal(r, 4)};
    double[] xv = new double[64 * 16];
    long[] tv = new long[64];
    for (int i = 0; i < xv.length; i++) xv[i] = r.nextGaussian();
    for (int i = 0; i < tv.length; i++) tv[i] = r.nextInt(4);
    Tensor x = Tensor.of(xv, 64, 16), targets = Tensor.of(tv, 64, 1);
    long baseline = cpu.memoryStats().allocated();
    double first = 0, last = 0;
    for (int step = 0; step < 2000; step++) {
      try (var s = Scope.open()) {
        Tensor h = x.matmul(params[0]).add(params[1]).gelu();
        Tensor logp = h.matmul(params[2]).add(params[3]).logSoftmax(-1);
        Tensor loss = logp.gather(1, targets).mean().neg();
        loss.backward();
        if (step == 0) first = loss.item();
        last = loss.item();
        try (var ng = GradMode.noGrad()) {
          for (Tensor p : params) p.subInPlace(p.grad().mul(0.05));
        }
      }
      for (Tensor p : params) p.zeroGrad();
      if (step == 0 || step % 250 == 249) {
        assertEquals(baseline, cpu.memoryStats().allocated(), "allocated bytes after step " + step);
      }
    }
    assertTrue(last < first, "the loss should fall: " + first + " -> " + last);
    for (Tensor p : params) p.close();
    x.close();
    targets.close();
  }
}
