package io.kinema.tensor.backend;

import io.kinema.tensor.Backends;
import io.kinema.tensor.DType;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.grad.GradMode;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * {@link Backend#conv3d} and its two gradients composed from other primitives: im2col then one
 * matrix product. The CPU backend's convolution, and the CUDA backend's where cuDNN is missing or
 * declines. Operands are 5-d (the front-end adds the batch dim of an unbatched call) and checked.
 *
 * <p><b>Patches.</b> Each output position's receptive field becomes a row of a {@code [B·Do·Ho·Wo,
 * C·kd·kh·kw]} matrix, multiplied by the flattened weight {@code [K, C·kd·kh·kw]} transposed. When
 * kernel == stride and padding is 0 (Wan's patch embedding) the patches are a reshape/permute of
 * the input: one copy. Otherwise the input is zero-padded (a cat per padded dim) and unfolded one
 * spatial dim at a time ({@code kw}, then {@code kh}, then {@code kd} strided slices stacked):
 * {@code kd+kh+kw} slices rather than {@code kd·kh·kw}, each stage writing the layout the next one
 * and the product need.
 *
 * <p><b>Output.</b> The product's rows are output positions and its columns channels, so it is
 * written straight into a channels-last {@code out} ({@code [B, Do, Ho, Wo, K]} in memory, what the
 * front-end allocates); the bias is then added in place. These are the ops, in this order, of the
 * module-level composition Kinema used before conv3d was a primitive, so F32 results are the same
 * bits.
 *
 * <p><b>Gradients</b> are derived, not traced: with {@code g} the output gradient as a {@code
 * [rows, K]} matrix, the weight's is {@code (patchesᵀ g)ᵀ} and the patches' is {@code g W}; the
 * input's is that patch gradient folded back (col2im): a permute/reshape when kernel == stride and
 * padding is 0, else one strided slice-add per kernel offset and dim, in reverse order of the
 * unfold; there the product and the sums run in F32 for BF16/F16 inputs, rounded once at the end.
 */
public final class ComposedConv3d {
  private ComposedConv3d() {}

  /** {@code out = conv3d(x, weight, bias)}: see {@link Backend#conv3d}. */
  public static void forward(
      Tensor x, Tensor weight, Tensor bias, long[] stride, long[] padding, Tensor out) {
    Geometry geo = new Geometry(x.shape(), weight.shape(), stride, padding);
    try (var ng = GradMode.noGrad();
        var s = Scope.open()) {
      Backend backend = Backends.of(out.device());
      Tensor cols = patches(x, geo).reshape(geo.rows(), geo.cols());
      Tensor weightT = weight.reshape(geo.outChannels(), geo.cols()).mT();
      Tensor rows = channelsLastRows(out, geo);
      Tensor target = rows != null ? rows : Tensor.empty(out.dtype(), out.device(), geo.rowShape());
      backend.matmul(cols, weightT, target);
      if (bias != null) backend.binary(BinaryOp.ADD, target, bias.expand(target.shape()), target);
      if (rows == null) out.copyFrom(fromRows(target, geo));
    }
  }

  /** The input's gradient: see {@link Backend#conv3dBackwardInput}. */
  public static void backwardInput(
      Tensor gradOut, Tensor weight, long[] stride, long[] padding, Tensor gradInput) {
    Geometry geo = new Geometry(gradInput.shape(), weight.shape(), stride, padding);
    try (var ng = GradMode.noGrad();
        var s = Scope.open()) {
      Tensor g = toRows(gradOut, geo), w = weight.reshape(geo.outChannels(), geo.cols());
      if (!geo.isPatchify()) {
        // Overlapping patches' gradients are summed: keep them in the wide type until then.
        g = wide(g);
        w = wide(w);
      }
      Tensor patchGrad = g.matmul(w).view(patchShape(geo));
      if (geo.isPatchify()) placePatches(patchGrad, geo, gradInput);
      else fold(patchGrad, geo, gradInput);
    }
  }

  /** The weight's gradient: see {@link Backend#conv3dBackwardWeight}. */
  public static void backwardWeight(
      Tensor x, Tensor gradOut, long[] stride, long[] padding, Tensor gradWeight) {
    Geometry geo = new Geometry(x.shape(), gradWeight.shape(), stride, padding);
    try (var ng = GradMode.noGrad();
        var s = Scope.open()) {
      Tensor cols = patches(x, geo).reshape(geo.rows(), geo.cols());
      Tensor perColumn = cols.mT().matmul(toRows(gradOut, geo)); // [C·kd·kh·kw, K]
      gradWeight.view(geo.outChannels(), geo.cols()).copyFrom(perColumn.mT());
    }
  }

  // ---------------------------------------------------------------- geometry

  /** The sizes of one convolution; {@code x} and {@code w} are the 5-d shapes. */
  private record Geometry(long[] x, long[] w, long[] stride, long[] padding, long[] out) {
    Geometry(long[] x, long[] w, long[] stride, long[] padding) {
      this(x, w, stride, padding, outSize(x, w, stride, padding));
    }

    private static long[] outSize(long[] x, long[] w, long[] stride, long[] padding) {
      long[] o = new long[3];
      for (int i = 0; i < 3; i++) o[i] = (x[2 + i] + 2 * padding[i] - w[2 + i]) / stride[i] + 1;
      return o;
    }

    long batch() {
      return x[0];
    }

    long channels() {
      return x[1];
    }

    long outChannels() {
      return w[0];
    }

    long k(int i) {
      return w[2 + i];
    }

    long size(int i) {
      return x[2 + i];
    }

    long out(int i) {
      return out[i];
    }

    long padded(int i) {
      return x[2 + i] + 2 * padding[i];
    }

    /** Output positions: the rows of the patch matrix. */
    long rows() {
      return x[0] * out[0] * out[1] * out[2];
    }

    /** One patch's elements: the columns of the patch matrix. */
    long cols() {
      return x[1] * w[2] * w[3] * w[4];
    }

    long[] rowShape() {
      return new long[] {rows(), outChannels()};
    }

    /** Kernel == stride, no padding: patches do not overlap and need no zeros. */
    boolean isPatchify() {
      return Arrays.equals(Arrays.copyOfRange(w, 2, 5), stride)
          && Arrays.equals(padding, new long[3]);
    }
  }

  /** {@code [B, Do, Ho, Wo, C, kd, kh, kw]}. */
  private static long[] patchShape(Geometry geo) {
    return new long[] {
      geo.batch(), geo.out(0), geo.out(1), geo.out(2), geo.channels(), geo.k(0), geo.k(1), geo.k(2)
    };
  }

  // ---------------------------------------------------------------- im2col

  /** The receptive field of every output position: {@code [B, Do, Ho, Wo, C, kd, kh, kw]}. */
  private static Tensor patches(Tensor in, Geometry geo) {
    long b = geo.batch(), c = geo.channels();
    if (geo.isPatchify()) {
      // Split each spatial dim into (out, kernel), move the patch dims last. The remainder of a
      // dim that is no multiple of the kernel is dropped, as PyTorch.
      return used(in, geo)
          .reshape(b, c, geo.out(0), geo.k(0), geo.out(1), geo.k(1), geo.out(2), geo.k(2))
          .permute(0, 2, 4, 6, 1, 3, 5, 7);
    }
    Tensor p = in;
    for (int i = 0; i < 3; i++) p = pad(p, 2 + i, geo.padding()[i]);
    // W: [B, C, Dp, Hp, Wo, kw], viewed as [B, Dp, Hp, Wo, C, kw]
    Tensor t = unfold(p, 4, geo.k(2), geo.stride()[2], geo.out(2), 5).permute(0, 2, 3, 4, 1, 5);
    // H: [B, Dp, Ho, Wo, C, kh, kw]
    t = unfold(t, 2, geo.k(1), geo.stride()[1], geo.out(1), 5);
    // D: [B, Do, Ho, Wo, C, kd, kh, kw]
    return unfold(t, 1, geo.k(0), geo.stride()[0], geo.out(0), 5);
  }

  /** The part of the input that kernel == stride patches cover. */
  private static Tensor used(Tensor in, Geometry geo) {
    return in.narrow(2, 0, geo.out(0) * geo.k(0))
        .narrow(3, 0, geo.out(1) * geo.k(1))
        .narrow(4, 0, geo.out(2) * geo.k(2));
  }

  /** Zeros on both sides of {@code dim}. */
  private static Tensor pad(Tensor x, int dim, long p) {
    if (p == 0) return x;
    long[] sh = x.shape();
    sh[dim] = p;
    Tensor z = Tensor.zeros(x.dtype(), x.device(), sh);
    return Tensor.cat(List.of(z, x, z), dim);
  }

  /**
   * The {@code k} strided windows of {@code dim}: slice j holds elements {@code j, j + s, ..., j +
   * (n - 1) s}; they are stacked as a new dim at {@code at}.
   */
  private static Tensor unfold(Tensor x, int dim, long k, long s, long n, int at) {
    if (k == 1) return x.slice(dim, 0, (n - 1) * s + 1, s).unsqueeze(at);
    List<Tensor> windows = new ArrayList<>((int) k);
    for (long j = 0; j < k; j++) windows.add(window(x, dim, j, s, n));
    return Tensor.stack(windows, at);
  }

  /** Elements {@code j, j + s, ..., j + (n - 1) s} of {@code dim}. */
  private static Tensor window(Tensor x, int dim, long j, long s, long n) {
    return x.slice(dim, j, j + (n - 1) * s + 1, s);
  }

  // ---------------------------------------------------------------- output layout

  /** {@code out} as its {@code [rows, K]} matrix when it is channels-last and dense, else null. */
  private static Tensor channelsLastRows(Tensor out, Geometry geo) {
    Tensor last = out.permute(0, 2, 3, 4, 1);
    return last.isContiguous() ? last.view(geo.rowShape()) : null;
  }

  /** A {@code [rows, K]} matrix seen as {@code [B, K, Do, Ho, Wo]}. */
  private static Tensor fromRows(Tensor rows, Geometry geo) {
    return rows.view(geo.batch(), geo.out(0), geo.out(1), geo.out(2), geo.outChannels())
        .permute(0, 4, 1, 2, 3);
  }

  /** {@code [B, K, Do, Ho, Wo]} as a {@code [rows, K]} matrix (a view when channels-last). */
  private static Tensor toRows(Tensor g, Geometry geo) {
    return g.permute(0, 2, 3, 4, 1).reshape(geo.rowShape());
  }

  // ---------------------------------------------------------------- col2im

  /** Kernel == stride: each patch's gradient goes back where it came from; the remainder is 0. */
  private static void placePatches(Tensor patchGrad, Geometry geo, Tensor gradInput) {
    Tensor used = used(gradInput, geo);
    if (used.numel() != gradInput.numel()) gradInput.fill(0);
    used.view(
            geo.batch(),
            geo.channels(),
            geo.out(0),
            geo.k(0),
            geo.out(1),
            geo.k(1),
            geo.out(2),
            geo.k(2))
        .copyFrom(patchGrad.permute(0, 4, 1, 5, 2, 6, 3, 7));
  }

  /** {@code t} in F32 when it is BF16/F16, else itself. */
  private static Tensor wide(Tensor t) {
    return t.dtype().isHalf() ? t.to(DType.F32) : t;
  }

  /**
   * The adjoint of {@link #patches}' general path: undoes the D, H and W unfolds in reverse order,
   * each window's gradient added into the strided slice it was read from, then drops the padding.
   */
  private static void fold(Tensor patchGrad, Geometry geo, Tensor gradInput) {
    Tensor g = wide(patchGrad); // [B, Do, Ho, Wo, C, kd, kh, kw]
    DType wide = g.dtype();
    var device = gradInput.device();
    long b = geo.batch(), c = geo.channels();
    long[] st = geo.stride();
    // D: [B, Dp, Ho, Wo, C, kh, kw]
    Tensor gd =
        Tensor.zeros(wide, device, b, geo.padded(0), geo.out(1), geo.out(2), c, geo.k(1), geo.k(2));
    for (long j = 0; j < geo.k(0); j++) {
      window(gd, 1, j, st[0], geo.out(0)).addInPlace(g.select(5, j));
    }
    // H: [B, Dp, Hp, Wo, C, kw]
    Tensor gh =
        Tensor.zeros(wide, device, b, geo.padded(0), geo.padded(1), geo.out(2), c, geo.k(2));
    for (long j = 0; j < geo.k(1); j++) {
      window(gh, 2, j, st[1], geo.out(1)).addInPlace(gd.select(5, j));
    }
    // W: [B, C, Dp, Hp, Wp], written through its [B, Dp, Hp, Wp, C] view
    Tensor gp = Tensor.zeros(wide, device, b, c, geo.padded(0), geo.padded(1), geo.padded(2));
    Tensor gpLast = gp.permute(0, 2, 3, 4, 1);
    for (long j = 0; j < geo.k(2); j++) {
      window(gpLast, 3, j, st[2], geo.out(2)).addInPlace(gh.select(5, j));
    }
    long[] pad = geo.padding();
    gradInput.copyFrom(
        gp.narrow(2, pad[0], geo.size(0))
            .narrow(3, pad[1], geo.size(1))
            .narrow(4, pad[2], geo.size(2)));
  }
}
