package io.kinema.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * {@link Tensor#conv3d} and its gradients ({@link Convolution}) on the CPU against direct loops in
 * double precision: random kernels, strides, paddings and odd sizes, both im2col paths (kernel ==
 * stride and general), unbatched and non-contiguous operands, F64/F32/BF16; the output layout; the
 * argument errors.
 */
class ConvolutionTest {
  /** One convolution's sizes (5-d input and weight shapes) with its direct-loop results. */
  record Case(long[] xs, long[] ws, long[] stride, long[] padding) {
    long[] out() {
      long[] o = {xs[0], ws[0], 0, 0, 0};
      for (int i = 0; i < 3; i++)
        o[2 + i] = (xs[2 + i] + 2 * padding[i] - ws[2 + i]) / stride[i] + 1;
      return o;
    }
  }

  /** The convolution, its input and weight gradients, and each element's sum of |terms|. */
  record Reference(
      double[] out,
      double[] outScale,
      double[] gx,
      double[] gxScale,
      double[] gw,
      double[] gwScale) {}

  /** Direct loops over every (output position, channel, kernel offset) that reads the input. */
  static Reference reference(Case c, double[] x, double[] w, double[] bias, double[] g) {
    long[] o = c.out();
    int bn = (int) c.xs[0], cn = (int) c.xs[1], on = (int) c.ws[0];
    int[] in = {(int) c.xs[2], (int) c.xs[3], (int) c.xs[4]};
    int[] k = {(int) c.ws[2], (int) c.ws[3], (int) c.ws[4]};
    int[] out = {(int) o[2], (int) o[3], (int) o[4]};
    double[] y = new double[bn * on * out[0] * out[1] * out[2]], ys = new double[y.length];
    double[] gx = new double[x.length], gxs = new double[x.length];
    double[] gw = new double[w.length], gws = new double[w.length];
    for (int b = 0; b < bn; b++)
      for (int oc = 0; oc < on; oc++)
        for (int z = 0; z < out[0]; z++)
          for (int yy = 0; yy < out[1]; yy++)
            for (int xx = 0; xx < out[2]; xx++) {
              int yi = (((b * on + oc) * out[0] + z) * out[1] + yy) * out[2] + xx;
              if (bias != null) {
                y[yi] += bias[oc];
                ys[yi] += Math.abs(bias[oc]);
              }
              for (int ch = 0; ch < cn; ch++)
                for (int i = 0; i < k[0]; i++)
                  for (int j = 0; j < k[1]; j++)
                    for (int l = 0; l < k[2]; l++) {
                      long zi = z * c.stride[0] + i - c.padding[0];
                      long hi = yy * c.stride[1] + j - c.padding[1];
                      long wi = xx * c.stride[2] + l - c.padding[2];
                      if (zi < 0 || zi >= in[0] || hi < 0 || hi >= in[1] || wi < 0 || wi >= in[2])
                        continue;
                      int xi = (int) ((((b * cn + ch) * in[0] + zi) * in[1] + hi) * in[2] + wi);
                      int wj = (((oc * cn + ch) * k[0] + i) * k[1] + j) * k[2] + l;
                      y[yi] += x[xi] * w[wj];
                      ys[yi] += Math.abs(x[xi] * w[wj]);
                      gx[xi] += g[yi] * w[wj];
                      gxs[xi] += Math.abs(g[yi] * w[wj]);
                      gw[wj] += g[yi] * x[xi];
                      gws[wj] += Math.abs(g[yi] * x[xi]);
                    }
            }
    return new Reference(y, ys, gx, gxs, gw, gws);
  }

  static Case randomCase(Random r, boolean patchify) {
    long[] k = {1 + r.nextInt(3), 1 + r.nextInt(3), 1 + r.nextInt(3)};
    long[] st =
        patchify ? k.clone() : new long[] {1 + r.nextInt(3), 1 + r.nextInt(3), 1 + r.nextInt(3)};
    long[] pad = patchify ? new long[3] : new long[] {r.nextInt(3), r.nextInt(3), r.nextInt(3)};
    long[] xs = {1 + r.nextInt(2), 1 + r.nextInt(3), 0, 0, 0};
    for (int i = 0; i < 3; i++) xs[2 + i] = Math.max(1, k[i] - 2 * pad[i]) + r.nextInt(5);
    long[] ws = {1 + r.nextInt(4), xs[1], k[0], k[1], k[2]};
    return new Case(xs, ws, st, pad);
  }

  static Tensor randn(Random r, DType dt, long... shape) {
    double[] v = new double[Math.toIntExact(Shapes.numel(shape))];
    for (int i = 0; i < v.length; i++) v[i] = r.nextGaussian();
    try (Tensor t = Tensor.of(v, shape)) {
      return t.to(dt);
    }
  }

  /** {@code got} within {@code tol} of {@code want}, relative to each element's scale. */
  static void assertClose(double[] want, double[] scale, Tensor got, double tol, String what) {
    double[] g = got.toDoubleArray();
    assertEquals(want.length, g.length, what + ": size");
    for (int i = 0; i < want.length; i++) {
      if (!(Math.abs(g[i] - want[i]) <= tol * (1e-3 + scale[i]))) {
        fail(
            what
                + ": element "
                + i
                + " is "
                + g[i]
                + ", expected "
                + want[i]
                + " (tol "
                + tol
                + ")");
      }
    }
  }

  private static double tol(DType dt) {
    return switch (dt) {
      case F64 -> 1e-13;
      case F32 -> 2e-6;
      default -> 1.6e-2; // one bf16 rounding of the product, one of the bias add
    };
  }

  /** Forward and both gradients of one case against the loops; x and g may be non-contiguous. */
  private static void check(
      Random r, Case c, DType dt, boolean bias, boolean strided, String what) {
    try (var s = Scope.open()) {
      long[] xs = c.xs(), os = c.out();
      Tensor x =
          strided
              ? randn(r, dt, xs[0], xs[2], xs[3], xs[4], xs[1]).permute(0, 4, 1, 2, 3)
              : randn(r, dt, xs);
      Tensor w = randn(r, dt, c.ws());
      Tensor b = bias ? randn(r, dt, c.ws()[0]) : null;
      Tensor g =
          strided
              ? randn(r, dt, os[4], os[3], os[2], os[1], os[0]).permute(4, 3, 2, 1, 0)
              : randn(r, dt, os);
      Reference ref =
          reference(
              c,
              x.contiguous().toDoubleArray(),
              w.toDoubleArray(),
              b == null ? null : b.toDoubleArray(),
              g.contiguous().toDoubleArray());
      double tol = tol(dt);
      Tensor y = x.conv3d(w, b, c.stride(), c.padding());
      assertArrayEquals(os, y.shape(), what);
      assertEquals(dt, y.dtype());
      assertClose(ref.out(), ref.outScale(), y, tol, what + " forward");
      Tensor gx = Convolution.conv3dInput(xs, w, g, c.stride(), c.padding());
      assertArrayEquals(xs, gx.shape(), what);
      assertTrue(gx.isContiguous());
      assertClose(ref.gx(), ref.gxScale(), gx, tol, what + " input grad");
      Tensor gw = Convolution.conv3dWeight(x, c.ws(), g, c.stride(), c.padding());
      assertClose(ref.gw(), ref.gwScale(), gw, tol, what + " weight grad");
    }
  }

  @Test
  void generalStridesAndPaddingsMatchTheDirectLoops() {
    Random r = new Random(1);
    for (int t = 0; t < 30; t++) {
      Case c = randomCase(r, false);
      DType dt = t % 3 == 0 ? DType.F32 : DType.F64;
      check(r, c, dt, t % 4 != 0, t % 5 == 1, "case " + t + " " + dt + " " + c);
    }
  }

  @Test
  void kernelEqualsStrideMatchesTheDirectLoopsRemaindersIncluded() {
    Random r = new Random(2);
    for (int t = 0; t < 20; t++) {
      Case c = randomCase(r, true);
      DType dt = t % 2 == 0 ? DType.F32 : DType.F64;
      check(r, c, dt, t % 3 != 0, t % 4 == 1, "patchify case " + t + " " + dt + " " + c);
    }
  }

  @Test
  void bf16ComputesInF32AndRoundsOnce() {
    Random r = new Random(3);
    check(
        r,
        new Case(
            new long[] {2, 3, 4, 6, 5},
            new long[] {4, 3, 2, 3, 2},
            new long[] {1, 2, 1},
            new long[] {1, 1, 0}),
        DType.BF16,
        true,
        false,
        "bf16 general");
    check(
        r,
        new Case(
            new long[] {1, 4, 3, 8, 8},
            new long[] {6, 4, 1, 2, 2},
            new long[] {1, 2, 2},
            new long[3]),
        DType.BF16,
        true,
        true,
        "bf16 patchify");
  }

  @Test
  void unbatchedInputGivesTheBatchedResultsWithoutTheBatchDim() {
    Random r = new Random(4);
    try (var s = Scope.open()) {
      long[] st = {1, 2, 1}, pad = {1, 0, 1};
      Tensor x = randn(r, DType.F64, 3, 4, 5, 4), w = randn(r, DType.F64, 2, 3, 2, 2, 3);
      Tensor b = randn(r, DType.F64, 2);
      Tensor y = x.conv3d(w, b, st, pad);
      Tensor yb = x.unsqueeze(0).conv3d(w, b, st, pad);
      assertArrayEquals(yb.squeeze(0).shape(), y.shape());
      assertArrayEquals(yb.toDoubleArray(), y.toDoubleArray());
      Tensor g = randn(r, DType.F64, y.shape());
      assertArrayEquals(
          Convolution.conv3dInput(new long[] {1, 3, 4, 5, 4}, w, g.unsqueeze(0), st, pad)
              .toDoubleArray(),
          Convolution.conv3dInput(x.shape(), w, g, st, pad).toDoubleArray());
      assertArrayEquals(
          Convolution.conv3dWeight(x.unsqueeze(0), w.shape(), g.unsqueeze(0), st, pad)
              .toDoubleArray(),
          Convolution.conv3dWeight(x, w.shape(), g, st, pad).toDoubleArray());
    }
  }

  @Test
  void outputIsChannelsLastSoTokensAreAView() {
    Random r = new Random(5);
    try (var s = Scope.open()) {
      Tensor x = randn(r, DType.F32, 2, 4, 3, 8, 8), w = randn(r, DType.F32, 8, 4, 1, 2, 2);
      Tensor y = x.conv3d(w, null, new long[] {1, 2, 2}, new long[3]);
      assertArrayEquals(new long[] {2, 8, 3, 4, 4}, y.shape());
      Tensor tokens = y.flatten(2, -1).transpose(1, 2);
      assertTrue(tokens.isContiguous());
      assertSame(y.storage(), tokens.storage());
    }
  }

  @Test
  void emptyBatchAndEmptyOutputChannels() {
    try (var s = Scope.open()) {
      Tensor x = Tensor.zeros(DType.F32, 0, 2, 3, 3, 3), w = Tensor.ones(DType.F32, 4, 2, 2, 2, 2);
      assertArrayEquals(
          new long[] {0, 4, 2, 2, 2}, x.conv3d(w, null, new long[] {1, 1, 1}, new long[3]).shape());
      Tensor gw =
          Convolution.conv3dWeight(
              x,
              w.shape(),
              Tensor.zeros(DType.F32, 0, 4, 2, 2, 2),
              new long[] {1, 1, 1},
              new long[3]);
      assertArrayEquals(new double[64], gw.toDoubleArray());
      Tensor x1 = Tensor.ones(DType.F32, 1, 2, 3, 3, 3), w0 = Tensor.ones(DType.F32, 0, 2, 2, 2, 2);
      assertArrayEquals(
          new long[] {1, 0, 2, 2, 2},
          x1.conv3d(w0, null, new long[] {1, 1, 1}, new long[3]).shape());
    }
  }

  @Test
  void badArgumentsNameTheTensorsAndWhatWasExpected() {
    try (var s = Scope.open()) {
      Tensor x = Tensor.zeros(DType.F32, 1, 2, 4, 4, 4), w = Tensor.zeros(DType.F32, 3, 2, 3, 3, 3);
      long[] one = {1, 1, 1}, none = new long[3];
      assertMessage(
          () -> Tensor.zeros(DType.F32, 1, 3, 4, 4, 4).conv3d(w, null, one, none),
          "conv3d: expected input [B, 2, D, H, W] or [2, D, H, W]",
          "[1, 3, 4, 4, 4]");
      assertMessage(
          () -> x.conv3d(Tensor.zeros(DType.F32, 3, 2, 3, 3), null, one, none),
          "weight must be [out_channels, in_channels, kd, kh, kw], got F32[3, 2, 3, 3]");
      assertMessage(
          () -> x.conv3d(w, Tensor.zeros(DType.F32, 4), one, none),
          "bias must be [3]",
          "got F32[4]");
      assertMessage(
          () -> x.conv3d(w.to(DType.F64), null, one, none),
          "expected one floating dtype",
          "F64[3, 2, 3, 3, 3]");
      assertMessage(
          () -> Tensor.zeros(DType.F32, 1, 2, 4, 1, 2).conv3d(w, null, one, new long[] {0, 1, 0}),
          "padded input size per channel [4, 3, 2] is smaller than the kernel [3, 3, 3]");
      assertMessage(() -> x.conv3d(w, null, new long[] {1, 0, 1}, none), "stride must be >= 1");
      assertMessage(() -> x.conv3d(w, null, one, new long[] {0, -1, 0}), "padding must be >= 0");
      assertMessage(() -> x.conv3d(w, null, new long[] {1, 1}, none), "stride must have 3 values");
      assertMessage(
          () ->
              Convolution.conv3dInput(
                  x.shape(), w, Tensor.zeros(DType.F32, 1, 3, 2, 2, 3), one, none),
          "conv3d_input: gradOutput must be [1, 3, 2, 2, 2]",
          "got F32[1, 3, 2, 2, 3]");
      assertMessage(
          () ->
              Convolution.conv3dWeight(
                  x, new long[] {3, 2, 3}, Tensor.zeros(DType.F32, 1, 3, 2, 2, 2), one, none),
          "conv3d_weight: weightSize must be [out_channels, in_channels, kd, kh, kw]");
    }
  }

  private static void assertMessage(Runnable call, String... parts) {
    var e = assertThrows(IllegalArgumentException.class, call::run);
    for (String p : parts) assertTrue(e.getMessage().contains(p), e.getMessage());
  }
}
