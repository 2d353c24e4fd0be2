package io.kinema.nn;

import io.kinema.tensor.DType;
import io.kinema.tensor.Tensor;
import java.util.Arrays;

/**
 * RMS normalization over the trailing dims {@code normalizedShape} (PyTorch's {@code nn.RMSNorm}):
 * {@code x / sqrt(mean(x^2) + eps) * weight}, weight starting at 1.
 */
public final class RMSNorm extends Module implements Layer {
  private final long[] normalizedShape;
  private final double eps;
  private final Parameter weight;

  /** PyTorch's defaults: eps = the input dtype's machine epsilon, affine weight, F32. */
  public RMSNorm(long... normalizedShape) {
    this(normalizedShape, Double.NaN, true, DType.F32);
  }

  /**
   * @param eps added to the mean square; NaN for PyTorch's {@code eps=None} (the machine epsilon of
   *     the input's dtype, e.g. 2^-23 for F32, 2^-7 for BF16)
   */
  public RMSNorm(long[] normalizedShape, double eps, boolean elementwiseAffine, DType dtype) {
    if (normalizedShape.length == 0) {
      throw new IllegalArgumentException("RMSNorm: normalized_shape must not be empty");
    }
    this.normalizedShape = normalizedShape.clone();
    this.eps = eps;
    this.weight =
        elementwiseAffine ? registerParameter("weight", Tensor.ones(dtype, normalizedShape)) : null;
  }

  /** The weight slot, or null without affine parameters. */
  public Parameter weight() {
    return weight;
  }

  @Override
  public Tensor forward(Tensor x) {
    double e = Double.isNaN(eps) ? machineEpsilon(x.dtype()) : eps;
    return x.rmsNorm(normalizedShape, weight == null ? null : weight.data(), e);
  }

  /** {@code torch.finfo(dtype).eps}. */
  static double machineEpsilon(DType dtype) {
    return switch (dtype) {
      case F64 -> Math.ulp(1.0);
      case F16 -> 0x1p-10;
      case BF16 -> 0x1p-7;
      default -> Math.ulp(1.0f);
    };
  }

  @Override
  public String toString() {
    return "RMSNorm("
        + Arrays.toString(normalizedShape)
        + ", eps="
        + (Double.isNaN(eps) ? "None" : eps)
        + ", elementwise_affine="
        + (weight != null)
        + ")";
  }
}
