package io.kinema.autograd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kinema.tensor.DType;
import io.kinema.tensor.LinearGrad;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.backend.Epilogue;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/**
 * On the CPU a recorded {@code linear} with a GELU epilogue is one op (the pre-activation kept from
 * the GEMM's store) whose output and gradients have the bits of a linear followed by a separately
 * recorded GELU, in F32, BF16 and F16, with and without bias, on products small and large enough to
 * be split over threads; and {@link LinearGrad} gives the bits of the matmul and sum it replaces.
 */
class LinearGeluFusionTest {
  private static Tensor leaf(Random r, DType dt, long... shape) {
    long n = 1;
    for (long d : shape) n *= d;
    float[] v = new float[Math.toIntExact(n)];
    for (int i = 0; i < v.length; i++) v[i] = (float) r.nextGaussian();
    return Tensor.of(v, shape).to(dt).requiresGrad(true);
  }

  /** Output and the leaves' gradients of {@code sum(f(leaves) * up)}, as float arrays. */
  private static List<float[]> run(
      Function<List<Tensor>, Tensor> f, List<Tensor> leaves, Tensor up) {
    for (Tensor t : leaves) t.zeroGrad();
    Tensor y = f.apply(leaves);
    y.mul(up).sum().backward();
    List<float[]> r = new ArrayList<>();
    r.add(y.to(DType.F32).toFloatArray());
    for (Tensor t : leaves) r.add(t.grad().to(DType.F32).toFloatArray());
    return r;
  }

  private static void sameBits(Random r, DType dt, long[] xs, long out, boolean bias) {
    long in = xs[xs.length - 1];
    Tensor x = leaf(r, dt, xs), w = leaf(r, dt, out, in), b = bias ? leaf(r, dt, out) : null;
    List<Tensor> leaves = bias ? List.of(x, w, b) : List.of(x, w);
    long[] ys = xs.clone();
    ys[ys.length - 1] = out;
    Tensor up = leaf(r, dt, ys).detach();
    Function<List<Tensor>, Tensor> fused =
        p -> p.get(0).linear(p.get(1), bias ? p.get(2) : null, Epilogue.GELU_TANH);
    Function<List<Tensor>, Tensor> unfused =
        p -> p.get(0).linear(p.get(1), bias ? p.get(2) : null).geluTanh();
    List<float[]> want = run(unfused, leaves, up), got = run(fused, leaves, up);
    String what = dt + " " + Arrays.toString(xs) + " -> " + out + (bias ? "" : " no bias");
    String[] names = {"output", "dx", "dW", "db"};
    for (int i = 0; i < want.size(); i++) {
      assertArrayEquals(want.get(i), got.get(i), 0f, names[i] + " of " + what);
    }
  }

  @Test
  void fusedGeluHasTheBitsOfTheSeparateOps() {
    try (Scope s = Scope.open()) {
      Random r = new Random(81);
      for (DType dt : new DType[] {DType.F32, DType.BF16, DType.F16}) {
        sameBits(r, dt, new long[] {3, 4}, 5, true);
        sameBits(r, dt, new long[] {2, 3, 4}, 5, false);
        sameBits(r, dt, new long[] {7}, 6, true);
        // Large enough for the GEMM to be split over threads and packed in blocks.
        sameBits(r, dt, new long[] {2, 37, 96}, 80, true);
      }
    }
  }

  /**
   * The input's gradient through the fused rule has the bits of the derivative composed from tensor
   * ops in f32 on the widened operands, rounded once (the rule before the fused backward op).
   */
  @Test
  void inputGradientHasTheBitsOfTheComposedDerivative() {
    double c = Math.sqrt(2 / Math.PI), a = 0.044715;
    try (Scope s = Scope.open()) {
      Random r = new Random(84);
      for (DType dt : new DType[] {DType.F32, DType.BF16, DType.F16}) {
        Tensor x = leaf(r, dt, 3, 37, 20), w = leaf(r, dt, 45, 20), b = leaf(r, dt, 45);
        Tensor up = leaf(r, dt, 3, 37, 45).detach();
        x.linear(w, b, Epilogue.GELU_TANH).mul(up).sum().backward();
        // sum(y * up) gives the output the gradient up; pre has the GEMM's bits (linear's
        // contract).
        Tensor pre = x.detach().linear(w.detach(), b.detach()).to(DType.F32);
        Tensor t = pre.add(pre.pow(3).mul(a)).mul(c).tanh();
        Tensor inner = pre.square().mul(3 * a).add(1).mul(c);
        Tensor d = t.add(1).mul(0.5).add(pre.mul(0.5).mul(t.square().neg().add(1)).mul(inner));
        Tensor g = up.to(DType.F32).mul(d).to(dt);
        Tensor want = g.matmul(w.detach());
        assertArrayEquals(
            want.to(DType.F32).toFloatArray(),
            x.grad().to(DType.F32).toFloatArray(),
            0f,
            "dx " + dt);
      }
    }
  }

  @Test
  void fusedGeluIsOneRecordedOp() {
    try (Scope s = Scope.open()) {
      Random r = new Random(82);
      Tensor x = leaf(r, DType.F32, 2, 3), w = leaf(r, DType.F32, 4, 3), b = leaf(r, DType.F32, 4);
      assertEquals("linear_gelu_tanh", x.linear(w, b, Epilogue.GELU_TANH).gradFn().name());
      assertEquals("linear", x.linear(w, b).gradFn().name());
    }
  }

  @Test
  void weightAndBiasGradientsHaveTheBitsOfMatmulAndSum() {
    try (Scope s = Scope.open()) {
      Random r = new Random(83);
      for (DType dt : new DType[] {DType.F32, DType.BF16, DType.F16, DType.F64}) {
        Tensor g = leaf(r, dt, 2, 45, 24).detach(), x = leaf(r, dt, 2, 45, 33).detach();
        LinearGrad.Grads got = LinearGrad.weightAndBias(g, x, true);
        Tensor wantW = g.reshape(-1, 24).mT().matmul(x.reshape(-1, 33));
        Tensor wantB = g.sum(new int[] {0, 1}, false);
        assertArrayEquals(wantW.toDoubleArray(), got.weight().toDoubleArray(), 0, "dW " + dt);
        assertArrayEquals(wantB.toDoubleArray(), got.bias().toDoubleArray(), 0, "db " + dt);
        // Transposed views of both operands, no bias wanted.
        Tensor gt = leaf(r, dt, 24, 30).detach(), xt = leaf(r, dt, 33, 30).detach();
        LinearGrad.Grads v = LinearGrad.weightAndBias(gt.t(), xt.t(), false);
        assertEquals(null, v.bias());
        assertArrayEquals(
            gt.matmul(xt.t()).toDoubleArray(), v.weight().toDoubleArray(), 0, "dW of views " + dt);
      }
      // Leading dims that do not pair the gradient's rows with the input's are refused.
      Tensor g = leaf(r, DType.F32, 6, 4).detach(), x = leaf(r, DType.F32, 2, 3, 5).detach();
      var e =
          assertThrows(IllegalArgumentException.class, () -> LinearGrad.weightAndBias(g, x, true));
      assertTrue(e.getMessage().contains("leading dims"), e.getMessage());
    }
  }
}
