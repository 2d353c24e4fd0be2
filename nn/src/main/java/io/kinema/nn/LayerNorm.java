package io.kinema.nn;

import io.kinema.tensor.DType;
import io.kinema.tensor.Tensor;
import java.util.Arrays;

/**
 * Layer normalization over the trailing dims {@code normalizedShape} (PyTorch's {@code
 * nn.LayerNorm}): {@code (x - mean) / sqrt(var + eps) * weight + bias} with the biased variance.
 * Affine parameters start at weight 1, bias 0. Half-precision inputs are normalized in F32 by the
 * kernel and rounded once.
 */
public final class LayerNorm extends Module implements Layer {
  private final long[] normalizedShape;
  private final double eps;
  private final Parameter weight, bias;

  /** PyTorch's defaults: eps 1e-5, affine weight and bias, F32. */
  public LayerNorm(long... normalizedShape) {
    this(normalizedShape, 1e-5, true, true, DType.F32);
  }

  /**
   * @param elementwiseAffine learn a weight (and, with {@code bias}, a bias) of shape {@code
   *     normalizedShape}; without it there are no parameters (Wan's norm1/norm3)
   */
  public LayerNorm(
      long[] normalizedShape, double eps, boolean elementwiseAffine, boolean bias, DType dtype) {
    if (normalizedShape.length == 0) {
      throw new IllegalArgumentException("LayerNorm: normalized_shape must not be empty");
    }
    this.normalizedShape = normalizedShape.clone();
    this.eps = eps;
    this.weight =
        elementwiseAffine ? registerParameter("weight", Tensor.ones(dtype, normalizedShape)) : null;
    this.bias =
        elementwiseAffine && bias
            ? registerParameter("bias", Tensor.zeros(dtype, normalizedShape))
            : null;
  }

  /** The weight slot, or null without affine parameters. */
  public Parameter weight() {
    return weight;
  }

  /** The bias slot, or null. */
  public Parameter bias() {
    return bias;
  }

  public double eps() {
    return eps;
  }

  @Override
  public Tensor forward(Tensor x) {
    return x.layerNorm(
        normalizedShape,
        weight == null ? null : weight.data(),
        bias == null ? null : bias.data(),
        eps);
  }

  @Override
  public String toString() {
    return "LayerNorm("
        + Arrays.toString(normalizedShape)
        + ", eps="
        + eps
        + ", elementwise_affine="
        + (weight != null)
        + ", bias="
        + (bias != null)
        + ")";
  }
}
