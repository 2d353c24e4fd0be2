package io.kinema.nn;

import io.kinema.tensor.DType;
import io.kinema.tensor.Generator;
import io.kinema.tensor.Tensor;
import java.util.Arrays;

/**
 * 3-d convolution (PyTorch's {@code nn.Conv3d} with zero padding, dilation 1, groups 1): {@code
 * weight [outC, inC, kd, kh, kw]}, {@code bias [outC]}, input {@code [B, inC, D, H, W]} (or
 * unbatched {@code [inC, D, H, W]}) -> {@code [B, outC, Do, Ho, Wo]} with {@code Do = (D + 2 pd -
 * kd) / sd + 1} (floor) and likewise for H and W.
 *
 * <p>The parameters of {@link Tensor#conv3d}, which computes it (im2col and one matrix product on
 * the CPU, cuDNN on CUDA). The result is channels-last in memory, so {@code flatten(2,
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
    if ((x.dim() != 5 && x.dim() != 4) || x.size(x.dim() - 4) != inChannels) {
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
    return x.conv3d(weight.data(), bias == null ? null : bias.data(), stride, padding);
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
