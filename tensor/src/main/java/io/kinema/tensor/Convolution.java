package io.kinema.tensor;

/**
 * The gradients of {@link Tensor#conv3d} as ops of their own (PyTorch's {@code
 * torch.nn.grad.conv3d_input} and {@code conv3d_weight}): what autograd's rule calls, and what
 * hand-written backward code may call. Same argument rules as {@link Tensor#conv3d} (batched or
 * unbatched, dilation 1, groups 1); neither method is recorded by autograd. The bias gradient is
 * {@code gradOutput} summed over every dim but the channel dim.
 */
public final class Convolution {
  private Convolution() {}

  /**
   * The gradient of {@code conv3d(input, weight, ...)} with respect to its input, given the
   * output's gradient {@code gradOutput}: a contiguous tensor of {@code inputSize} (the input's
   * shape, [B, C, D, H, W] or [C, D, H, W]) in weight's dtype.
   */
  public static Tensor conv3dInput(
      long[] inputSize, Tensor weight, Tensor gradOutput, long[] stride, long[] padding) {
    return ConvOps.inputGrad(inputSize, weight, gradOutput, stride, padding);
  }

  /**
   * The gradient of {@code conv3d(input, weight, ...)} with respect to the weight, given the
   * output's gradient {@code gradOutput}: a contiguous tensor of {@code weightSize} ([K, C, kd, kh,
   * kw]) in input's dtype.
   */
  public static Tensor conv3dWeight(
      Tensor input, long[] weightSize, Tensor gradOutput, long[] stride, long[] padding) {
    return ConvOps.weightGrad(input, weightSize, gradOutput, stride, padding);
  }
}
