package io.kinema.tensor;

/**
 * The pieces of layer_norm, rms_norm and softmax that autograd rules (and hand-written training
 * code) need beyond {@link Tensor#layerNorm}, {@link Tensor#rmsNorm} and {@link Tensor#softmax}:
 * the norm forwards with their per-row statistics, and the fused backwards, one backend call each
 * (PyTorch's {@code native_layer_norm_backward}, {@code _softmax_backward_data}). None of these
 * methods is recorded by autograd.
 *
 * <p>Statistics ({@code mean}, {@code rstd = 1/sqrt(var + eps)}) have x's leading dims (those
 * before the normalized ones) and are F64 for F64 inputs, F32 otherwise. Gradients have their
 * input's shape and dtype; BF16/F16 are computed in f32 and rounded once.
 */
public final class Normalization {
  private Normalization() {}

  /** {@link Tensor#layerNorm}'s output and its per-row mean and rstd. */
  public record LayerNormForward(Tensor out, Tensor mean, Tensor rstd) {}

  /** {@link Tensor#rmsNorm}'s output and its per-row rstd. */
  public record RmsNormForward(Tensor out, Tensor rstd) {}

  /** Gradients with respect to x, the weight and the bias; null where not asked for. */
  public record Grads(Tensor x, Tensor weight, Tensor bias) {}

  /** Which gradients to compute: a norm backward skips the work for the others. */
  public record Wanted(boolean x, boolean weight, boolean bias) {}

  /** Layer norm over the trailing {@code normalizedShape} dims, keeping the statistics. */
  public static LayerNormForward layerNorm(
      Tensor x, long[] normalizedShape, Tensor weight, Tensor bias, double eps) {
    Tensor[] r = NormOps.layerNorm(x, normalizedShape, weight, bias, eps, true);
    return new LayerNormForward(r[0], r[1], r[2]);
  }

  /** RMS norm over the trailing {@code normalizedShape} dims, keeping the rstd. */
  public static RmsNormForward rmsNorm(
      Tensor x, long[] normalizedShape, Tensor weight, double eps) {
    Tensor[] r = NormOps.rmsNorm(x, normalizedShape, weight, eps, true);
    return new RmsNormForward(r[0], r[1]);
  }

  /**
   * Gradients of {@link #layerNorm} given the output's gradient {@code gradOut} (x's shape and
   * dtype): {@code mean} and {@code rstd} must be that call's statistics for the same x. With
   * {@code xhat = (x - mean) rstd} and {@code g = gradOut weight}: {@code dx = rstd (g - mean(g) -
   * xhat mean(g xhat))} (means over the normalized dims), {@code dweight = sum(gradOut xhat)},
   * {@code dbias = sum(gradOut)} (sums over the leading dims, in an order fixed by the shape).
   * weight may be null (then no weight gradient can be asked for).
   */
  public static Grads layerNormBackward(
      Tensor gradOut,
      Tensor x,
      long[] normalizedShape,
      Tensor weight,
      Tensor mean,
      Tensor rstd,
      Wanted wanted) {
    Tensor[] g =
        NormOps.layerNormBackward(
            gradOut,
            x,
            normalizedShape,
            weight,
            mean,
            rstd,
            wanted.x(),
            wanted.weight(),
            wanted.bias());
    return new Grads(g[0], g[1], g[2]);
  }

  /**
   * Gradients of {@link #rmsNorm}: as {@link #layerNormBackward} with mean 0 and no bias ({@code
   * wanted.bias()} is ignored; {@link Grads#bias} is null).
   */
  public static Grads rmsNormBackward(
      Tensor gradOut, Tensor x, long[] normalizedShape, Tensor weight, Tensor rstd, Wanted wanted) {
    Tensor[] g =
        NormOps.rmsNormBackward(
            gradOut, x, normalizedShape, weight, rstd, wanted.x(), wanted.weight());
    return new Grads(g[0], g[1], null);
  }

  /**
   * The gradient of {@code softmax(x, dim)} (or {@code logSoftmax} when {@code log}) from its
   * output {@code y} and the output's gradient {@code gradOut} (y's shape and dtype): {@code y
   * (gradOut - sum(gradOut y))}, or {@code gradOut - exp(y) sum(gradOut)}, the sums along dim.
   */
  public static Tensor softmaxBackward(Tensor y, Tensor gradOut, int dim, boolean log) {
    return NormOps.softmaxBackward(y, gradOut, dim, log);
  }
}
