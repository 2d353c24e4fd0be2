package io.kinema.nn;

import io.kinema.tensor.DType;
import io.kinema.tensor.Generator;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * 3-d convolution (PyTorch's {@code nn.Conv3d} with zero padding, dilation 1, groups 1): {@code
 * weight [outC, inC, kd, kh, kw]}, {@code bias [outC]}, input {@code [B, inC, D, H, W]} (or
 * unbatched {@code [inC, D, H, W]}) -> {@code [B, outC, Do, Ho, Wo]} with {@code Do = (D + 2 pd -
 * kd) / sd + 1} (floor) and likewise for H and W.
 *
 * <p>Computed as im2col then one matrix product, from differentiable tensor ops (autograd needs
 * nothing special): the patches become a {@code [B*Do*Ho*Wo, inC*kd*kh*kw]} matrix multiplied by
 * the flattened weight. When kernel == stride and padding is 0 (Wan's patch embedding) the patch
 * matrix is a reshape/permute of the input: one copy. Otherwise the input is zero-padded (a cat per
 * padded dim) and unfolded one spatial dim at a time ({@code kw}, then {@code kh}, then {@code kd}
 * strided slices stacked), {@code kd+kh+kw} slices rather than {@code kd*kh*kw}, each stage writing
 * the layout the next one and the product need.
 *
 * <p>The result is a channels-last view ({@code [B, Do, Ho, Wo, outC]} in memory, permuted to
 * {@code [B, outC, Do, Ho, Wo]}): same values and shape as PyTorch's, and {@code flatten(2,
 * -1).transpose(1, 2)} to tokens {@code [B, Do*Ho*Wo, outC]} is free.
 */
public final class Conv3d extends Module implements Layer {
  private final long inChannels, outChannels;
  private final long[] kernel, stride, padding;
  private final Parameter weight, bias;

  /** Stride 1, no padding, with bias, F32. */
  public Conv3d(long inChannels, long outChannels, long[] kernelSize, Generator generator) {
    this(
        inChannels,
        outChannels,
        kernelSize,
        new long[] {1, 1, 1},
        new long[] {0, 0, 0},
        true,
        DType.F32,
        generator);
  }

  /**
   * PyTorch's default initialization (kaiming-uniform weight with a = sqrt(5), bias
   * U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = inC * kd * kh * kw); a null {@code generator}
   * leaves both zero.
   */
  public Conv3d(
      long inChannels,
      long outChannels,
      long[] kernelSize,
      long[] stride,
      long[] padding,
      boolean bias,
      DType dtype,
      Generator generator) {
    check3("kernel_size", kernelSize, 1);
    check3("stride", stride, 1);
    check3("padding", padding, 0);
    if (inChannels <= 0 || outChannels <= 0) {
      throw new IllegalArgumentException(
          "Conv3d: channels must be positive, got in_channels="
              + inChannels
              + ", out_channels="
              + outChannels);
    }
    this.inChannels = inChannels;
    this.outChannels = outChannels;
    this.kernel = kernelSize.clone();
    this.stride = stride.clone();
    this.padding = padding.clone();
    this.weight =
        registerParameter(
            "weight",
            Tensor.zeros(dtype, outChannels, inChannels, kernel[0], kernel[1], kernel[2]));
    this.bias = bias ? registerParameter("bias", Tensor.zeros(dtype, outChannels)) : null;
    if (generator != null) Linear.resetParameters(this.weight, this.bias, generator);
  }

  private static void check3(String what, long[] v, long min) {
    if (v == null || v.length != 3) {
      throw new IllegalArgumentException(
          "Conv3d: " + what + " must have 3 values (d, h, w), got " + Arrays.toString(v));
    }
    for (long x : v) {
      if (x < min) {
        throw new IllegalArgumentException(
            "Conv3d: " + what + " must be >= " + min + ", got " + Arrays.toString(v));
      }
    }
  }

  public Parameter weight() {
    return weight;
  }

  /** The bias slot, or null. */
  public Parameter bias() {
    return bias;
  }

  @Override
  public Tensor forward(Tensor x) {
    boolean unbatched = x.dim() == 4;
    if ((x.dim() != 5 && !unbatched) || x.size(unbatched ? 0 : 1) != inChannels) {
      throw new IllegalArgumentException(
          "Conv3d: expected input [B, "
              + inChannels
              + ", D, H, W] or ["
              + inChannels
              + ", D, H, W], got "
              + x.describe()
              + " for "
              + this);
    }
    try (var s = Scope.open()) {
      Tensor in = unbatched ? x.unsqueeze(0) : x;
      long b = in.size(0), c = inChannels;
      long[] size = {in.size(2), in.size(3), in.size(4)};
      long[] out = new long[3];
      for (int i = 0; i < 3; i++) {
        long padded = size[i] + 2 * padding[i];
        if (padded < kernel[i]) {
          throw new IllegalArgumentException(
              "Conv3d: padded input size per channel "
                  + Arrays.toString(addPadding(size))
                  + " is smaller than the kernel "
                  + Arrays.toString(kernel)
                  + " (input "
                  + x.describe()
                  + ")");
        }
        out[i] = (padded - kernel[i]) / stride[i] + 1;
      }
      long k = kernel[0] * kernel[1] * kernel[2];
      long rows = b * out[0] * out[1] * out[2];
      Tensor patches; // [B, Do, Ho, Wo, C, kd, kh, kw]
      if (Arrays.equals(kernel, stride) && Arrays.equals(padding, new long[3])) {
        // Non-overlapping patches: split each spatial dim into (out, kernel), move the patch dims
        // last. The remainder of a dim that is no multiple of the kernel is dropped, as PyTorch.
        Tensor used =
            in.narrow(2, 0, out[0] * kernel[0])
                .narrow(3, 0, out[1] * kernel[1])
                .narrow(4, 0, out[2] * kernel[2]);
        patches =
            used.reshape(b, c, out[0], kernel[0], out[1], kernel[1], out[2], kernel[2])
                .permute(0, 2, 4, 6, 1, 3, 5, 7);
      } else {
        Tensor p = in;
        for (int i = 0; i < 3; i++) p = pad(p, 2 + i, padding[i]);
        // W: [B, C, Dp, Hp, Wo, kw], viewed as [B, Dp, Hp, Wo, C, kw]
        Tensor t = unfold(p, 4, kernel[2], stride[2], out[2], 5).permute(0, 2, 3, 4, 1, 5);
        // H: [B, Dp, Ho, Wo, C, kh, kw]
        t = unfold(t, 2, kernel[1], stride[1], out[1], 5);
        // D: [B, Do, Ho, Wo, C, kd, kh, kw]
        patches = unfold(t, 1, kernel[0], stride[0], out[0], 5);
      }
      Tensor cols = patches.reshape(rows, c * k);
      Tensor y = cols.matmul(weight.data().reshape(outChannels, c * k).mT());
      if (bias != null) y = y.add(bias.data());
      y = y.view(b, out[0], out[1], out[2], outChannels).permute(0, 4, 1, 2, 3);
      if (unbatched) y = y.squeeze(0);
      return s.keep(y);
    }
  }

  private long[] addPadding(long[] size) {
    long[] r = new long[3];
    for (int i = 0; i < 3; i++) r[i] = size[i] + 2 * padding[i];
    return r;
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
    for (long j = 0; j < k; j++) windows.add(x.slice(dim, j, j + (n - 1) * s + 1, s));
    return Tensor.stack(windows, at);
  }

  @Override
  public String toString() {
    return "Conv3d("
        + inChannels
        + ", "
        + outChannels
        + ", kernel_size="
        + Arrays.toString(kernel)
        + ", stride="
        + Arrays.toString(stride)
        + ", padding="
        + Arrays.toString(padding)
        + ", bias="
        + (bias != null)
        + ")";
  }
}
