package io.kinema.nn;

import static io.kinema.nn.TestUtil.assertClose;
import static io.kinema.nn.TestUtil.assertShape;
import static io.kinema.nn.TestUtil.maxAbs;
import static io.kinema.nn.TestUtil.randn;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kinema.autograd.GradCheck;
import io.kinema.tensor.DType;
import io.kinema.tensor.Generator;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.io.Safetensors;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** Conv3d against a direct convolution in double precision, its gradients, and Wan's golden. */
class Conv3dTest {
  /** out[b, o, z, y, x] = bias[o] + sum w[o, c, i, j, l] * xpad[b, c, z*sd+i, y*sh+j, x*sw+l]. */
  static double[] conv3dRef(
      double[] x, long[] xs, double[] w, long[] ws, double[] bias, long[] st, long[] pad) {
    int bn = (int) xs[0], cn = (int) xs[1], d = (int) xs[2], h = (int) xs[3], wd = (int) xs[4];
    int on = (int) ws[0], kd = (int) ws[2], kh = (int) ws[3], kw = (int) ws[4];
    int od = (int) ((d + 2 * pad[0] - kd) / st[0] + 1);
    int oh = (int) ((h + 2 * pad[1] - kh) / st[1] + 1);
    int ow = (int) ((wd + 2 * pad[2] - kw) / st[2] + 1);
    double[] out = new double[bn * on * od * oh * ow];
    int n = 0;
    for (int b = 0; b < bn; b++)
      for (int o = 0; o < on; o++)
        for (int z = 0; z < od; z++)
          for (int y = 0; y < oh; y++)
            for (int xx = 0; xx < ow; xx++) {
              double acc = bias == null ? 0 : bias[o];
              for (int c = 0; c < cn; c++)
                for (int i = 0; i < kd; i++)
                  for (int j = 0; j < kh; j++)
                    for (int l = 0; l < kw; l++) {
                      long zi = z * st[0] + i - pad[0];
                      long yi = y * st[1] + j - pad[1];
                      long xi = xx * st[2] + l - pad[2];
                      if (zi < 0 || zi >= d || yi < 0 || yi >= h || xi < 0 || xi >= wd) continue;
                      double xv = x[(int) ((((b * cn + c) * d + zi) * h + yi) * wd + xi)];
                      double wv = w[(((o * cn + c) * kd + i) * kh + j) * kw + l];
                      acc += xv * wv;
                    }
              out[n++] = acc;
            }
    return out;
  }

  private static long[] outShape(long[] xs, long out, long[] k, long[] st, long[] pad) {
    long[] r = {xs[0], out, 0, 0, 0};
    for (int i = 0; i < 3; i++) r[2 + i] = (xs[2 + i] + 2 * pad[i] - k[i]) / st[i] + 1;
    return r;
  }

  private static void check(Conv3d conv, Tensor x, long[] k, long[] st, long[] pad, double rtol) {
    long[] ws = conv.weight().data().shape();
    double[] ref =
        conv3dRef(
            x.contiguous().toDoubleArray(),
            x.shape(),
            conv.weight().data().toDoubleArray(),
            ws,
            conv.bias() == null ? null : conv.bias().data().toDoubleArray(),
            st,
            pad);
    Tensor y = conv.forward(x);
    assertShape(y, outShape(x.shape(), ws[0], k, st, pad));
    assertClose(ref, y, rtol, rtol);
  }

  @Test
  void generalStridesAndPaddingsMatchTheDirectConvolution() {
    Random rnd = new Random(1);
    for (int t = 0; t < 40; t++) {
      long[] k = {1 + rnd.nextInt(3), 1 + rnd.nextInt(3), 1 + rnd.nextInt(3)};
      long[] st = {1 + rnd.nextInt(3), 1 + rnd.nextInt(3), 1 + rnd.nextInt(3)};
      long[] pad = {rnd.nextInt(3), rnd.nextInt(3), rnd.nextInt(3)};
      long[] xs = {1 + rnd.nextInt(2), 1 + rnd.nextInt(3), 0, 0, 0};
      for (int i = 0; i < 3; i++) xs[2 + i] = Math.max(1, k[i] - 2 * pad[i]) + rnd.nextInt(5);
      long outC = 1 + rnd.nextInt(4);
      DType dt = t % 4 == 3 ? DType.F32 : DType.F64;
      try (var s = Scope.open();
          Conv3d conv = new Conv3d(xs[1], outC, k, st, pad, t % 5 != 0, dt, new Generator(t))) {
        Tensor x = randn(rnd, dt, xs);
        check(conv, x, k, st, pad, dt == DType.F64 ? 1e-12 : 1e-5);
      }
    }
  }

  @Test
  void kernelEqualsStrideFastPathIncludingRemaindersAndStridedInput() {
    Random rnd = new Random(2);
    long[][] kernels = {{1, 2, 2}, {2, 2, 2}, {1, 1, 1}, {3, 1, 2}};
    for (long[] k : kernels) {
      for (DType dt : new DType[] {DType.F64, DType.F32, DType.BF16}) {
        try (var s = Scope.open();
            Conv3d conv = new Conv3d(3, 5, k, k, new long[3], true, dt, new Generator(4))) {
          // sizes that are not multiples of the kernel: the remainder is dropped
          Tensor x = randn(rnd, dt, 2, 3, 4, 5, 7);
          double tol = dt == DType.F64 ? 1e-12 : dt == DType.F32 ? 1e-5 : 3e-2;
          check(conv, x, k, k, new long[3], tol);
          // a permuted (non-contiguous) input
          Tensor xp = randn(rnd, dt, 2, 4, 5, 7, 3).permute(0, 4, 1, 2, 3);
          check(conv, xp, k, k, new long[3], tol);
        }
      }
    }
  }

  @Test
  void outputIsAChannelsLastViewSoTokensAreFree() {
    try (var s = Scope.open();
        Conv3d conv =
            new Conv3d(
                4,
                8,
                new long[] {1, 2, 2},
                new long[] {1, 2, 2},
                new long[3],
                true,
                DType.F32,
                new Generator(1))) {
      Tensor y = conv.forward(randn(new Random(3), DType.F32, 2, 4, 3, 8, 8));
      assertShape(y, 2, 8, 3, 4, 4);
      Tensor tokens = y.flatten(2, -1).transpose(1, 2);
      assertShape(tokens, 2, 48, 8);
      assertTrue(tokens.isContiguous());
      assertSame(y.storage(), tokens.storage());
    }
  }

  @Test
  void unbatchedInputAndDefaultInit() {
    try (var s = Scope.open();
        Conv3d conv = new Conv3d(16, 64, new long[] {1, 2, 2}, new Generator(5));
        Conv3d big = new Conv3d(16, 512, new long[] {2, 3, 3}, new Generator(5))) {
      Tensor x = randn(new Random(4), DType.F32, 16, 2, 5, 5);
      Tensor y = conv.forward(x);
      assertShape(y, 64, 2, 4, 4);
      double[] ref = conv.forward(x.unsqueeze(0)).toDoubleArray();
      assertClose(ref, y, 0, 0);
      double bound = 1 / Math.sqrt(16 * 2 * 3 * 3); // kaiming(a = sqrt 5) = 1/sqrt(fan_in)
      double[] w = big.weight().data().toDoubleArray();
      assertTrue(maxAbs(w) <= bound && maxAbs(w) > 0.99 * bound);
      assertEquals(bound / Math.sqrt(3), TestUtil.std(w), 0.01 * bound);
      assertTrue(maxAbs(big.bias().data().toDoubleArray()) <= bound);
      assertEquals(List.of("weight", "bias"), new ArrayList<>(conv.stateDict().keySet()));
    }
  }

  @Test
  void gradcheckBothPaths() {
    Random rnd = new Random(5);
    long[][][] configs = {
      {{1, 2, 2}, {1, 2, 2}, {0, 0, 0}}, // fast path
      {{2, 2, 1}, {1, 2, 1}, {1, 0, 1}}, // general: overlap, stride, padding
    };
    for (long[][] c : configs) {
      try (var s = Scope.open();
          Conv3d conv = new Conv3d(2, 3, c[0], c[1], c[2], true, DType.F64, new Generator(6))) {
        Tensor x = randn(rnd, DType.F64, 1, 2, 2, 4, 3).requiresGrad(true);
        GradCheck.check(
            in -> conv.forward(in.get(0)), List.of(x, conv.weight().data(), conv.bias().data()));
      }
    }
  }

  @Test
  void badInputsAreReported() {
    try (var s = Scope.open();
        Conv3d conv =
            new Conv3d(
                2,
                3,
                new long[] {3, 3, 3},
                new long[] {1, 1, 1},
                new long[] {0, 1, 0},
                true,
                DType.F32,
                new Generator(1))) {
      var e =
          assertThrows(
              IllegalArgumentException.class, () -> conv.forward(Tensor.zeros(1, 3, 4, 4, 4)));
      assertTrue(e.getMessage().contains("expected input [B, 2, D, H, W]"), e.getMessage());
      assertTrue(e.getMessage().contains("F32[1, 3, 4, 4, 4]"), e.getMessage());
      e =
          assertThrows(
              IllegalArgumentException.class, () -> conv.forward(Tensor.zeros(1, 2, 4, 1, 2)));
      assertTrue(e.getMessage().contains("padded input size per channel [4, 3, 2]"));
      assertTrue(e.getMessage().contains("smaller than the kernel [3, 3, 3]"), e.getMessage());
      e =
          assertThrows(
              IllegalArgumentException.class,
              () -> new Conv3d(2, 3, new long[] {2, 2}, new Generator(1)));
      assertTrue(e.getMessage().contains("kernel_size must have 3 values"), e.getMessage());
      e =
          assertThrows(
              IllegalArgumentException.class,
              () ->
                  new Conv3d(
                      2,
                      3,
                      new long[] {1, 1, 1},
                      new long[] {1, 0, 1},
                      new long[3],
                      true,
                      DType.F32,
                      null));
      assertTrue(e.getMessage().contains("stride must be >= 1"), e.getMessage());
    }
  }

  /**
   * The module's forward before conv3d became a tensor op (im2col from differentiable tensor ops,
   * one matmul, the bias added, a channels-last view): kept to pin that the op gives the same bits.
   */
  private static Tensor legacyForward(
      Tensor in, Tensor weight, Tensor bias, long[] kernel, long[] stride, long[] padding) {
    long b = in.size(0), c = in.size(1), outChannels = weight.size(0);
    long[] out = new long[3];
    for (int i = 0; i < 3; i++)
      out[i] = (in.size(2 + i) + 2 * padding[i] - kernel[i]) / stride[i] + 1;
    long k = kernel[0] * kernel[1] * kernel[2];
    long rows = b * out[0] * out[1] * out[2];
    Tensor patches;
    if (java.util.Arrays.equals(kernel, stride) && java.util.Arrays.equals(padding, new long[3])) {
      Tensor used =
          in.narrow(2, 0, out[0] * kernel[0])
              .narrow(3, 0, out[1] * kernel[1])
              .narrow(4, 0, out[2] * kernel[2]);
      patches =
          used.reshape(b, c, out[0], kernel[0], out[1], kernel[1], out[2], kernel[2])
              .permute(0, 2, 4, 6, 1, 3, 5, 7);
    } else {
      Tensor p = in;
      for (int i = 0; i < 3; i++) p = legacyPad(p, 2 + i, padding[i]);
      Tensor t = legacyUnfold(p, 4, kernel[2], stride[2], out[2], 5).permute(0, 2, 3, 4, 1, 5);
      t = legacyUnfold(t, 2, kernel[1], stride[1], out[1], 5);
      patches = legacyUnfold(t, 1, kernel[0], stride[0], out[0], 5);
    }
    Tensor cols = patches.reshape(rows, c * k);
    Tensor y = cols.matmul(weight.reshape(outChannels, c * k).mT());
    if (bias != null) y = y.add(bias);
    return y.view(b, out[0], out[1], out[2], outChannels).permute(0, 4, 1, 2, 3);
  }

  private static Tensor legacyPad(Tensor x, int dim, long p) {
    if (p == 0) return x;
    long[] sh = x.shape();
    sh[dim] = p;
    Tensor z = Tensor.zeros(x.dtype(), x.device(), sh);
    return Tensor.cat(List.of(z, x, z), dim);
  }

  private static Tensor legacyUnfold(Tensor x, int dim, long k, long s, long n, int at) {
    if (k == 1) return x.slice(dim, 0, (n - 1) * s + 1, s).unsqueeze(at);
    List<Tensor> windows = new ArrayList<>((int) k);
    for (long j = 0; j < k; j++) windows.add(x.slice(dim, j, j + (n - 1) * s + 1, s));
    return Tensor.stack(windows, at);
  }

  private static void assertBits(Tensor want, Tensor got, String what) {
    assertEquals(java.util.Arrays.toString(want.shape()), java.util.Arrays.toString(got.shape()));
    float[] a = want.toFloatArray(), b = got.toFloatArray();
    for (int i = 0; i < a.length; i++) {
      if (Float.floatToRawIntBits(a[i]) != Float.floatToRawIntBits(b[i])) {
        org.junit.jupiter.api.Assertions.fail(
            what + ": element " + i + " is " + b[i] + ", the old composition gave " + a[i]);
      }
    }
  }

  /**
   * F32 forward results are the old composition's bits on both paths; with kernel == stride (Wan's
   * patch embedding) so are the input, weight and bias gradients, so the demo's losses are
   * unchanged.
   */
  @Test
  void sameBitsAsTheOldComposition() {
    Random rnd = new Random(7);
    long[][][] configs = {
      {{1, 2, 2}, {1, 2, 2}, {0, 0, 0}, {2, 16, 3, 8, 10}}, // Wan's patch embedding
      {{2, 2, 2}, {2, 2, 2}, {0, 0, 0}, {1, 8, 5, 7, 6}},
      {{3, 3, 3}, {1, 1, 1}, {1, 1, 1}, {2, 4, 5, 6, 7}},
      {{2, 3, 1}, {2, 1, 3}, {0, 2, 1}, {1, 3, 6, 5, 8}},
    };
    for (long[][] c : configs) {
      long[] k = c[0], st = c[1], pad = c[2], xs = c[3];
      boolean patchify = java.util.Arrays.equals(k, st);
      try (var s = Scope.open();
          Conv3d conv = new Conv3d(xs[1], 24, k, st, pad, true, DType.F32, new Generator(9))) {
        String what = java.util.Arrays.deepToString(c);
        Tensor x = randn(rnd, DType.F32, xs);
        Tensor xOld = x.detach().requiresGrad(true), xNew = x.detach().requiresGrad(true);
        Tensor w = conv.weight().data(), b = conv.bias().data();
        Tensor wOld = w.detach().requiresGrad(true), bOld = b.detach().requiresGrad(true);
        w.requiresGrad(true);
        b.requiresGrad(true);
        Tensor yOld = legacyForward(xOld, wOld, bOld, k, st, pad);
        Tensor yNew = conv.forward(xNew);
        assertBits(yOld, yNew, what + " forward");
        assertTrue(java.util.Arrays.equals(yOld.strides(), yNew.strides()), what + " layout");
        if (!patchify) continue;
        Tensor gy = randn(rnd, DType.F32, yNew.shape());
        // The tokens view, as the transformer uses it.
        yOld.flatten(2, -1).transpose(1, 2).mul(gy.flatten(2, -1).transpose(1, 2)).sum().backward();
        yNew.flatten(2, -1).transpose(1, 2).mul(gy.flatten(2, -1).transpose(1, 2)).sum().backward();
        assertBits(xOld.grad(), xNew.grad(), what + " input grad");
        assertBits(wOld.grad(), w.grad(), what + " weight grad");
        assertBits(bOld.grad(), b.grad(), what + " bias grad");
      }
    }
  }

  /** The diffusers Wan patch embedding (golden, exact f64). */
  @Test
  void wanPatchEmbeddingMatchesDiffusers() throws IOException {
    Path g = golden();
    try (var s = Scope.open()) {
      Map<String, Tensor> w = Safetensors.load(g.resolve("weights_f64.safetensors"));
      Map<String, Tensor> io = Safetensors.load(g.resolve("io_f64.safetensors"));
      Map<String, Tensor> mid = Safetensors.load(g.resolve("intermediates_f64.safetensors"));
      long[] patch = {1, 2, 2};
      Conv3d pe = new Conv3d(4, 64, patch, patch, new long[3], true, DType.F64, null);
      pe.loadStateDict(
          Map.of("weight", w.get("patch_embedding.weight"), "bias", w.get("patch_embedding.bias")),
          true);
      Tensor out = pe.forward(io.get("input.hidden_states"));
      assertClose(mid.get("patch_embedding.out").toDoubleArray(), out, 1e-12, 1e-12);
      pe.close();
    }
  }

  /** ../shared/golden/wan_tiny above the repository root; the test is skipped without it. */
  static Path golden() {
    Path d = Path.of("").toAbsolutePath();
    for (; d != null; d = d.getParent()) {
      try {
        Path pom = d.resolve("pom.xml");
        if (Files.isRegularFile(pom) && Files.readString(pom).contains("<modules>")) break;
      } catch (IOException e) {
        // keep looking
      }
    }
    org.junit.jupiter.api.Assumptions.assumeTrue(d != null, "no repository root found");
    Path g = d.resolve("../shared/golden/wan_tiny").normalize();
    org.junit.jupiter.api.Assumptions.assumeTrue(
        Files.isDirectory(g), "golden files absent: " + g + " (skipping)");
    return g;
  }
}
