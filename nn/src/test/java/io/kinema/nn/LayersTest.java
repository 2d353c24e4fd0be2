package io.kinema.nn;

import static io.kinema.nn.TestUtil.assertClose;
import static io.kinema.nn.TestUtil.assertShape;
import static io.kinema.nn.TestUtil.gaussian;
import static io.kinema.nn.TestUtil.maxAbs;
import static io.kinema.nn.TestUtil.randn;
import static io.kinema.nn.TestUtil.std;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kinema.autograd.GradCheck;
import io.kinema.tensor.DType;
import io.kinema.tensor.Generator;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.grad.GradMode;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** Linear, norms, embedding, dropout, activations and containers against plain references. */
class LayersTest {
  private static final DType[] FLOATS = {DType.F64, DType.F32, DType.BF16, DType.F16};

  static void assign(Parameter p, double[] values) {
    try (var ng = GradMode.noGrad();
        Tensor t = Tensor.of(values, p.data().shape())) {
      p.data().copyFrom(t);
    }
  }

  static double rtol(DType t) {
    return switch (t) {
      case F64 -> 1e-12;
      case F32 -> 1e-5;
      case F16 -> 2e-3;
      default -> 2e-2;
    };
  }

  /** y[r, o] = sum_i x[r, i] w[o, i] + b[o]. */
  static double[] linearRef(double[] x, int in, double[] w, double[] b, int out) {
    int rows = x.length / in;
    double[] y = new double[rows * out];
    for (int r = 0; r < rows; r++) {
      for (int o = 0; o < out; o++) {
        double acc = b == null ? 0 : b[o];
        for (int i = 0; i < in; i++) acc += x[r * in + i] * w[o * in + i];
        y[r * out + o] = acc;
      }
    }
    return y;
  }

  static double[] layerNormRef(double[] x, int d, double[] w, double[] b, double eps) {
    double[] y = new double[x.length];
    for (int r = 0; r < x.length / d; r++) {
      double m = 0, v = 0;
      for (int i = 0; i < d; i++) m += x[r * d + i];
      m /= d;
      for (int i = 0; i < d; i++) v += (x[r * d + i] - m) * (x[r * d + i] - m);
      v /= d;
      for (int i = 0; i < d; i++) {
        double n = (x[r * d + i] - m) / Math.sqrt(v + eps);
        y[r * d + i] = n * (w == null ? 1 : w[i]) + (b == null ? 0 : b[i]);
      }
    }
    return y;
  }

  static double[] rmsNormRef(double[] x, int d, double[] w, double eps) {
    double[] y = new double[x.length];
    for (int r = 0; r < x.length / d; r++) {
      double ms = 0;
      for (int i = 0; i < d; i++) ms += x[r * d + i] * x[r * d + i];
      double inv = 1 / Math.sqrt(ms / d + eps);
      for (int i = 0; i < d; i++) y[r * d + i] = x[r * d + i] * inv * (w == null ? 1 : w[i]);
    }
    return y;
  }

  // ---------------------------------------------------------------- Linear

  @Test
  void linearMatchesReferenceInEveryDtypeAndLayout() {
    Random rnd = new Random(1);
    for (DType dt : FLOATS) {
      for (int[] io : new int[][] {{17, 33}, {1, 3}, {64, 5}}) {
        try (var s = Scope.open();
            Linear lin = new Linear(io[0], io[1], true, dt, new Generator(3))) {
          double[] w = lin.weight().data().toDoubleArray(), b = lin.bias().data().toDoubleArray();
          Tensor x = randn(rnd, dt, 2, 3, io[0]);
          Tensor y = lin.forward(x);
          assertShape(y, 2, 3, io[1]);
          double[] ref = linearRef(x.toDoubleArray(), io[0], w, b, io[1]);
          assertClose(ref, y, rtol(dt), rtol(dt));
          // non-contiguous input: a transposed view
          Tensor xt = randn(rnd, dt, io[0], 4).t();
          assertClose(
              linearRef(xt.contiguous().toDoubleArray(), io[0], w, b, io[1]),
              lin.forward(xt),
              rtol(dt),
              rtol(dt));
          // 1-d input gives 1-d output
          Tensor v = randn(rnd, dt, io[0]);
          Tensor yv = lin.forward(v);
          assertShape(yv, io[1]);
          assertClose(linearRef(v.toDoubleArray(), io[0], w, b, io[1]), yv, rtol(dt), rtol(dt));
        }
      }
    }
  }

  @Test
  void linearDefaultInitAndNoBias() {
    try (var s = Scope.open();
        Linear lin = new Linear(1000, 300, new Generator(9));
        Linear nb = new Linear(4, 2, false, DType.F32, new Generator(9));
        Linear zero = new Linear(4, 2, true, DType.F32, null)) {
      double bound = 1 / Math.sqrt(1000);
      double[] w = lin.weight().data().toDoubleArray(), b = lin.bias().data().toDoubleArray();
      assertTrue(maxAbs(w) <= bound && maxAbs(w) > 0.99 * bound, "kaiming(a=sqrt 5) bound");
      assertEquals(bound / Math.sqrt(3), std(w), 0.01 * bound);
      assertTrue(maxAbs(b) <= bound && maxAbs(b) > 0.9 * bound, "bias bound 1/sqrt(fan_in)");
      assertEquals(List.of("weight", "bias"), new ArrayList<>(lin.stateDict().keySet()));
      assertEquals(List.of("weight"), new ArrayList<>(nb.stateDict().keySet()));
      assertEquals(null, nb.bias());
      assertEquals(0, maxAbs(zero.weight().data().toDoubleArray()));
      Tensor x = randn(new Random(2), DType.F32, 3, 4);
      assertClose(
          linearRef(x.toDoubleArray(), 4, nb.weight().data().toDoubleArray(), null, 2),
          nb.forward(x),
          1e-5,
          1e-6);
      assertTrue(lin.weight().requiresGrad() && lin.bias().requiresGrad());
      assertEquals("Linear(in_features=4, out_features=2, bias=false, F32)", nb.toString());
      var e = assertThrows(IllegalArgumentException.class, () -> nb.forward(Tensor.zeros(3, 5)));
      assertTrue(e.getMessage().contains("expected input [*, 4], got F32[3, 5]"), e.getMessage());
    }
  }

  @Test
  void linearGradcheck() {
    try (var s = Scope.open();
        Linear lin = new Linear(3, 4, true, DType.F64, new Generator(5))) {
      Tensor x = randn(new Random(3), DType.F64, 2, 3).requiresGrad(true);
      GradCheck.check(
          in -> lin.forward(in.get(0)), List.of(x, lin.weight().data(), lin.bias().data()));
    }
  }

  // ---------------------------------------------------------------- norms

  @Test
  void layerNormMatchesReference() {
    Random rnd = new Random(4);
    for (DType dt : FLOATS) {
      try (var s = Scope.open();
          LayerNorm ln = new LayerNorm(new long[] {33}, 1e-6, true, true, dt);
          LayerNorm plain = new LayerNorm(new long[] {33}, 1e-6, false, false, dt);
          LayerNorm two = new LayerNorm(new long[] {3, 5}, 1e-5, true, false, dt)) {
        double[] w = gaussian(rnd, 33), b = gaussian(rnd, 33), w2 = gaussian(rnd, 15);
        assign(ln.weight(), w);
        assign(ln.bias(), b);
        assign(two.weight(), w2);
        w = ln.weight().data().toDoubleArray(); // rounded to dt
        b = ln.bias().data().toDoubleArray();
        w2 = two.weight().data().toDoubleArray();
        Tensor x = randn(rnd, dt, 4, 33).mul(3).add(1);
        double[] xs = x.toDoubleArray();
        assertClose(layerNormRef(xs, 33, w, b, 1e-6), ln.forward(x), rtol(dt), rtol(dt));
        assertClose(layerNormRef(xs, 33, null, null, 1e-6), plain.forward(x), rtol(dt), rtol(dt));
        Tensor x2 = randn(rnd, dt, 2, 3, 5);
        assertClose(
            layerNormRef(x2.toDoubleArray(), 15, w2, null, 1e-5),
            two.forward(x2),
            rtol(dt),
            rtol(dt));
        assertTrue(plain.stateDict().isEmpty());
        assertEquals(List.of("weight"), new ArrayList<>(two.stateDict().keySet()));
      }
    }
    try (var s = Scope.open();
        LayerNorm d = new LayerNorm(8)) {
      assertEquals(1e-5, d.eps());
      assertArrayEquals(new double[] {1, 1, 1, 1, 1, 1, 1, 1}, d.weight().data().toDoubleArray());
      assertEquals(0, maxAbs(d.bias().data().toDoubleArray()));
      var e = assertThrows(IllegalArgumentException.class, () -> d.forward(Tensor.zeros(2, 7)));
      assertTrue(e.getMessage().contains("layer_norm"), e.getMessage());
    }
  }

  @Test
  void rmsNormMatchesReferenceWithPyTorchsDefaultEps() {
    Random rnd = new Random(5);
    for (DType dt : FLOATS) {
      try (var s = Scope.open();
          RMSNorm rn = new RMSNorm(new long[] {17}, 1e-6, true, dt);
          RMSNorm dflt = new RMSNorm(new long[] {17}, Double.NaN, false, dt)) {
        double[] w = gaussian(rnd, 17);
        assign(rn.weight(), w);
        w = rn.weight().data().toDoubleArray();
        // small values so that eps matters
        Tensor x = randn(rnd, dt, 3, 2, 17).mul(0.01);
        double[] xs = x.toDoubleArray();
        assertClose(rmsNormRef(xs, 17, w, 1e-6), rn.forward(x), rtol(dt), rtol(dt));
        double eps =
            switch (dt) {
              case F64 -> 2.220446049250313e-16;
              case F32 -> 1.1920928955078125e-07;
              case F16 -> 0.0009765625;
              default -> 0.0078125;
            };
        assertClose(rmsNormRef(xs, 17, null, eps), dflt.forward(x), rtol(dt), rtol(dt));
      }
    }
  }

  @Test
  void normGradchecks() {
    Random rnd = new Random(6);
    try (var s = Scope.open();
        LayerNorm ln = new LayerNorm(new long[] {5}, 1e-5, true, true, DType.F64);
        RMSNorm rn = new RMSNorm(new long[] {5}, 1e-6, true, DType.F64)) {
      assign(ln.weight(), gaussian(rnd, 5));
      assign(ln.bias(), gaussian(rnd, 5));
      assign(rn.weight(), gaussian(rnd, 5));
      Tensor x = randn(rnd, DType.F64, 3, 5).requiresGrad(true);
      GradCheck.check(
          in -> ln.forward(in.get(0)), List.of(x, ln.weight().data(), ln.bias().data()));
      GradCheck.check(in -> rn.forward(in.get(0)), List.of(x, rn.weight().data()));
    }
  }

  // ---------------------------------------------------------------- embedding

  @Test
  void embeddingLooksUpRowsForAnyIndexShape() {
    try (var s = Scope.open();
        Embedding emb = new Embedding(10, 6, new Generator(2));
        Embedding big = new Embedding(1000, 100, new Generator(2))) {
      double[] w = emb.weight().data().toDoubleArray();
      long[] idx = {3, 0, 9, 3, 7, 1};
      Tensor y = emb.forward(Tensor.of(idx, 2, 3));
      assertShape(y, 2, 3, 6);
      double[] ys = y.toDoubleArray();
      for (int i = 0; i < 6; i++) {
        for (int j = 0; j < 6; j++) assertEquals(w[(int) idx[i] * 6 + j], ys[i * 6 + j]);
      }
      assertShape(emb.forward(Tensor.of(new int[] {4}, 1)), 1, 6);
      assertShape(emb.forward(Tensor.of(new long[] {4}).reshape()), 6);
      // N(0, 1) init
      double[] bw = big.weight().data().toDoubleArray();
      assertEquals(1, std(bw), 0.01);
      assertEquals(0, TestUtil.mean(bw), 0.01);
      // gradient: each row gets the sum of the output gradients that read it
      emb.forward(Tensor.of(idx, 2, 3)).sum().backward();
      double[] g = emb.weight().grad().toDoubleArray();
      assertEquals(2, g[3 * 6]); // row 3 used twice
      assertEquals(1, g[9 * 6 + 5]);
      assertEquals(0, g[2 * 6]);
      var e =
          assertThrows(
              IllegalArgumentException.class, () -> emb.forward(Tensor.zeros(DType.F32, 2)));
      assertTrue(e.getMessage().contains("expected I64 or I32 indices, got F32[2]"));
    }
    try (var s = Scope.open();
        Embedding emb = new Embedding(7, 3, DType.F64, new Generator(1))) {
      Tensor idx = Tensor.of(new long[] {6, 0, 6, 2}, 2, 2);
      GradCheck.check(in -> emb.forward(idx), List.of(emb.weight().data()));
    }
  }

  // ---------------------------------------------------------------- dropout

  @Test
  void dropoutScalesSurvivorsInTrainingAndPassesInEval() {
    try (var s = Scope.open()) {
      Dropout d = new Dropout(0.3, new Generator(42));
      Tensor x = randn(new Random(7), DType.F32, 200, 500).requiresGrad(true);
      double[] xs = x.toDoubleArray();
      Tensor y = d.forward(x);
      double[] ys = y.toDoubleArray();
      int zeros = 0;
      for (int i = 0; i < ys.length; i++) {
        if (ys[i] == 0) zeros++;
        else assertEquals(xs[i] / 0.7, ys[i], 1e-6 * Math.abs(xs[i] / 0.7));
      }
      assertEquals(0.3, zeros / (double) ys.length, 0.005);
      // gradient is the scaled mask
      y.sum().backward();
      double[] g = x.grad().toDoubleArray();
      for (int i = 0; i < g.length; i++) assertEquals(ys[i] == 0 ? 0 : 1 / 0.7, g[i], 1e-6);
      // same seed, same mask; the generator advances between calls
      Tensor y2 = new Dropout(0.3, new Generator(42)).forward(x);
      assertArrayEquals(ys, y2.toDoubleArray());
      assertFalse(Arrays.equals(ys, d.forward(x).toDoubleArray()));
      // eval: identity, no draw
      long offset = d.generator().offset();
      d.eval();
      assertArrayEquals(xs, d.forward(x).toDoubleArray());
      assertEquals(offset, d.generator().offset());
      d.train();
      assertArrayEquals(xs, new Dropout(0, null).forward(x).toDoubleArray());
      assertEquals(0, maxAbs(new Dropout(1, new Generator(1)).forward(x).toDoubleArray()));
      // half precision keeps its dtype
      Tensor h = d.forward(x.detach().to(DType.BF16));
      assertEquals(DType.BF16, h.dtype());
      var e = assertThrows(IllegalArgumentException.class, () -> new Dropout(1.5, null));
      assertTrue(e.getMessage().contains("between 0 and 1, but got 1.5"), e.getMessage());
      assertThrows(IllegalArgumentException.class, () -> new Dropout(0.5, null));
    }
  }

  // ---------------------------------------------------------------- activations, containers

  @Test
  void activations() {
    try (var s = Scope.open()) {
      Tensor x = randn(new Random(8), DType.F64, 5, 7).mul(2);
      double[] xs = x.toDoubleArray();
      double[] tanh = new double[xs.length], silu = new double[xs.length];
      for (int i = 0; i < xs.length; i++) {
        double v = xs[i];
        tanh[i] = 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v)));
        silu[i] = v / (1 + Math.exp(-v));
      }
      assertClose(tanh, new GELU("tanh").forward(x), 1e-12, 1e-14);
      assertArrayEquals(x.gelu().toDoubleArray(), new GELU().forward(x).toDoubleArray());
      assertNotEquals(x.gelu().toDoubleArray()[0], tanh[0]);
      assertClose(silu, new SiLU().forward(x), 1e-12, 1e-14);
      Tensor id = new Identity().forward(x);
      assertNotEquals(x, id);
      assertArrayEquals(xs, id.toDoubleArray());
      var e = assertThrows(IllegalArgumentException.class, () -> new GELU("erf"));
      assertTrue(e.getMessage().contains("\"none\" or \"tanh\""), e.getMessage());
    }
  }

  @Test
  void sequentialNamesChildrenLikePyTorchAndHonoursReplacement() {
    try (var s = Scope.open();
        Sequential seq =
            new Sequential(
                new Linear(4, 8, new Generator(1)),
                new GELU("tanh"),
                new Linear(8, 3, new Generator(2)))) {
      assertEquals(
          List.of("0.weight", "0.bias", "2.weight", "2.bias"),
          new ArrayList<>(seq.stateDict().keySet()));
      assertEquals(3, seq.size());
      Tensor x = randn(new Random(9), DType.F32, 2, 4);
      Linear a = (Linear) seq.get(0), c = (Linear) seq.get(2);
      double[] expected = c.forward(a.forward(x).geluTanh()).toDoubleArray();
      assertClose(expected, seq.forward(x), 1e-6, 1e-7);
      seq.replaceModule("1", new SiLU());
      assertClose(c.forward(a.forward(x).silu()).toDoubleArray(), seq.forward(x), 1e-6, 1e-7);
      assertArrayEquals(
          x.toDoubleArray(), new Sequential().forward(x).toDoubleArray(), "empty = identity");
      var e = assertThrows(IllegalArgumentException.class, () -> new Sequential(t -> t.mul(2)));
      assertTrue(e.getMessage().contains("not a Module"), e.getMessage());
      assertThrows(IndexOutOfBoundsException.class, () -> seq.get(3));
    }
  }

  @Test
  void moduleListRegistersIndexedChildren() {
    class Net extends Module {
      final ModuleList<Linear> blocks;

      Net() {
        blocks = registerModule("blocks", new ModuleList<>());
        for (int i = 0; i < 3; i++) blocks.add(new Linear(2, 2, new Generator(i)));
      }
    }
    try (Net net = new Net()) {
      assertEquals(
          List.of(
              "blocks.0.weight",
              "blocks.0.bias",
              "blocks.1.weight",
              "blocks.1.bias",
              "blocks.2.weight",
              "blocks.2.bias"),
          new ArrayList<>(net.stateDict().keySet()));
      assertEquals(3, net.blocks.size());
      int n = 0;
      for (Linear l : net.blocks) assertSame(net.blocks.get(n++), l);
      assertSame(net.blocks.get(1), net.getSubmodule("blocks.1"));
      var e = assertThrows(IllegalArgumentException.class, () -> net.getSubmodule("blocks.7.attn"));
      assertTrue(e.getMessage().contains("no child '7'"), e.getMessage());
    }
  }

  // ---------------------------------------------------------------- feed-forward

  @Test
  void feedForwardMatchesReferenceWithDiffusersNames() {
    Random rnd = new Random(10);
    for (FeedForward.Activation act : FeedForward.Activation.values()) {
      try (var s = Scope.open();
          FeedForward ff =
              new FeedForward(6, 10, act, 0, true, DType.F64, new Generator(act.ordinal()))) {
        assertEquals(
            List.of("net.0.proj.weight", "net.0.proj.bias", "net.2.weight", "net.2.bias"),
            new ArrayList<>(ff.stateDict().keySet()));
        long projOut =
            act == FeedForward.Activation.GEGLU || act == FeedForward.Activation.SWIGLU ? 20 : 10;
        assertArrayEquals(new long[] {projOut, 6}, ff.stateDict().get("net.0.proj.weight").shape());
        Tensor x = randn(rnd, DType.F64, 2, 3, 6);
        double[] h =
            linearRef(
                x.toDoubleArray(),
                6,
                ff.stateDict().get("net.0.proj.weight").toDoubleArray(),
                ff.stateDict().get("net.0.proj.bias").toDoubleArray(),
                (int) projOut);
        double[] a = new double[6 * 10];
        for (int r = 0; r < 6; r++) {
          for (int j = 0; j < 10; j++) {
            double v = h[r * (int) projOut + j];
            a[r * 10 + j] =
                switch (act) {
                  case GELU -> v * 0.5 * (1 + erf(v / Math.sqrt(2)));
                  case GELU_TANH ->
                      0.5
                          * v
                          * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v)));
                  case SILU -> v / (1 + Math.exp(-v));
                  case GEGLU -> {
                    double g = h[r * 20 + 10 + j];
                    yield v * g * 0.5 * (1 + erf(g / Math.sqrt(2)));
                  }
                  case SWIGLU -> {
                    double g = h[r * 20 + 10 + j];
                    yield v * g / (1 + Math.exp(-g));
                  }
                };
          }
        }
        double[] ref =
            linearRef(
                a,
                10,
                ff.stateDict().get("net.2.weight").toDoubleArray(),
                ff.stateDict().get("net.2.bias").toDoubleArray(),
                6);
        assertClose(ref, ff.forward(x), 1e-9, 1e-12);
        Tensor xs = randn(rnd, DType.F64, 2, 6).requiresGrad(true);
        List<Tensor> inputs = new ArrayList<>(List.of(xs));
        for (Parameter p : ff.parameters()) inputs.add(p.data());
        GradCheck.check(in -> ff.forward(in.get(0)), inputs);
      }
    }
    assertEquals(
        FeedForward.Activation.GELU_TANH, FeedForward.Activation.fromDiffusers("gelu-approximate"));
    var e =
        assertThrows(
            IllegalArgumentException.class, () -> FeedForward.Activation.fromDiffusers("relu"));
    assertTrue(e.getMessage().contains("unknown activation_fn \"relu\""), e.getMessage());
  }

  /** erf to ~1e-15 by its Taylor series (|x| small) or continued fraction (large). */
  static double erf(double x) {
    double ax = Math.abs(x);
    double r;
    if (ax < 3) {
      double term = ax, sum = ax;
      for (int n = 1; n < 200; n++) {
        term *= -ax * ax / n;
        sum += term / (2 * n + 1);
      }
      r = 2 / Math.sqrt(Math.PI) * sum;
    } else {
      double f = 0;
      for (int n = 60; n >= 1; n--) f = n / 2.0 / (ax + f);
      r = 1 - Math.exp(-ax * ax) / Math.sqrt(Math.PI) / (ax + f);
    }
    return x < 0 ? -r : r;
  }
}
