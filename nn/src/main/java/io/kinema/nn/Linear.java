package io.kinema.nn;

import io.kinema.tensor.DType;
import io.kinema.tensor.Generator;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.backend.Epilogue;

/**
 * {@code y = x W^T + b} (PyTorch's {@code nn.Linear}): {@code weight [out, in]}, {@code bias
 * [out]}, x {@code [*, in]} -> y {@code [*, out]}: one fused {@link Tensor#linear} (the bias is
 * added in the product's store; the weight is read through a transposed view, never a copy).
 */
public class Linear extends Module implements LinearLike {
  private final long inFeatures, outFeatures;
  private final Parameter weight, bias;

  /** F32 with bias. */
  public Linear(long inFeatures, long outFeatures, Generator generator) {
    this(inFeatures, outFeatures, true, DType.F32, generator);
  }

  /**
   * PyTorch's default initialization: weight kaiming-uniform with {@code a = sqrt(5)} (that is
   * U(-1/sqrt(in), 1/sqrt(in))), bias U(-1/sqrt(in), 1/sqrt(in)). A null {@code generator} leaves
   * both zero, for a layer that is about to be loaded from a checkpoint.
   */
  public Linear(long inFeatures, long outFeatures, boolean bias, DType dtype, Generator generator) {
    if (inFeatures < 0 || outFeatures < 0) {
      throw new IllegalArgumentException(
          "Linear: negative size (in_features="
              + inFeatures
              + ", out_features="
              + outFeatures
              + ")");
    }
    this.inFeatures = inFeatures;
    this.outFeatures = outFeatures;
    this.weight = registerParameter("weight", Tensor.zeros(dtype, outFeatures, inFeatures));
    this.bias = bias ? registerParameter("bias", Tensor.zeros(dtype, outFeatures)) : null;
    if (generator != null) resetParameters(this.weight, this.bias, generator);
  }

  /** PyTorch's {@code reset_parameters} of Linear and ConvNd, shared with {@link Conv3d}. */
  static void resetParameters(Parameter weight, Parameter bias, Generator generator) {
    Tensor w = weight.data();
    Init.kaimingUniform(w, Math.sqrt(5), "fan_in", "leaky_relu", generator);
    if (bias != null) {
      long fanIn = Init.calculateFanInAndFanOut(w).fanIn();
      double bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
      Init.uniform(bias.data(), -bound, bound, generator);
    }
  }

  public Parameter weight() {
    return weight;
  }

  /** The bias slot, or null without bias. */
  public Parameter bias() {
    return bias;
  }

  public long inFeatures() {
    return inFeatures;
  }

  public long outFeatures() {
    return outFeatures;
  }

  @Override
  public Tensor forward(Tensor x) {
    return forward(x, Epilogue.NONE);
  }

  /**
   * {@code epilogue(x W^T + b)} in one fused {@link Tensor#linear} call (e.g. the tanh GELU of a
   * feed-forward's first projection).
   */
  public Tensor forward(Tensor x, Epilogue epilogue) {
    if (x.dim() == 0 || x.size(-1) != inFeatures) {
      throw new IllegalArgumentException(
          "Linear: expected input [*, " + inFeatures + "], got " + x.describe() + " for " + this);
    }
    return x.linear(weight.data(), bias == null ? null : bias.data(), epilogue);
  }

  @Override
  public String toString() {
    return "Linear(in_features="
        + inFeatures
        + ", out_features="
        + outFeatures
        + ", bias="
        + (bias != null)
        + ", "
        + weight.data().dtype()
        + ")";
  }
}
