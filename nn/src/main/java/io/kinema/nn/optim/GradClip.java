package io.kinema.nn.optim;

import io.kinema.nn.Parameter;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.grad.GradMode;
import java.util.ArrayList;
import java.util.List;

/** Gradient clipping, as {@code torch.nn.utils.clip_grad_norm_} and {@code clip_grad_value_}. */
public final class GradClip {
  private GradClip() {}

  /** {@link #clipGradNorm(Iterable, double, double, boolean)} with the L2 norm, no exception. */
  public static double clipGradNorm(Iterable<Parameter> params, double maxNorm) {
    return clipGradNorm(params, maxNorm, 2, false);
  }

  /**
   * Scales the gradients of {@code params} in place so that their global {@code normType}-norm (the
   * norm of the vector of all gradient elements; {@code normType} may be infinite) is at most
   * {@code maxNorm}, and returns that norm as it was before clipping. As in PyTorch the scale is
   * {@code maxNorm / (norm + 1e-6)}, applied when it is below 1. Each gradient's norm is computed
   * by the tensor kernels (F32 accumulated in double over blocks) and the norms are combined in
   * double. Parameters without a gradient are skipped; with none, the norm is 0.
   *
   * <p>A non-finite norm (NaN or infinite: an overflow or a NaN in some gradient) is never applied:
   * the gradients are left unchanged and the norm is returned for the caller to see (e.g. to skip
   * the step), or with {@code errorIfNonfinite} an {@link IllegalStateException} is thrown. (An F32
   * gradient whose norm overflows F32, elements beyond ~1e19, counts as infinite.)
   */
  public static double clipGradNorm(
      Iterable<Parameter> params, double maxNorm, double normType, boolean errorIfNonfinite) {
    if (!(normType > 0))
      throw new IllegalArgumentException(
          "clipGradNorm: normType must be > 0 (or infinite), got " + normType);
    if (Double.isNaN(maxNorm) || maxNorm < 0)
      throw new IllegalArgumentException("clipGradNorm: maxNorm must be >= 0, got " + maxNorm);
    List<Tensor> grads = grads(params);
    if (grads.isEmpty()) return 0;
    double total;
    try (var ng = GradMode.noGrad();
        var scope = Scope.open()) {
      boolean inf = Double.isInfinite(normType);
      double acc = 0;
      for (Tensor g : grads) {
        double n = g.norm(normType, null, false).item();
        if (inf) acc = Double.isNaN(n) ? n : Math.max(acc, n);
        else acc += normType == 2 ? n * n : Math.pow(n, normType);
      }
      total = inf ? acc : normType == 2 ? Math.sqrt(acc) : Math.pow(acc, 1 / normType);
      if (!Double.isFinite(total)) {
        if (errorIfNonfinite)
          throw new IllegalStateException(
              "clipGradNorm: the total norm of order "
                  + normType
                  + " of the gradients of "
                  + grads.size()
                  + " parameters is "
                  + total
                  + ", so they cannot be clipped");
        return total;
      }
      double coef = maxNorm / (total + 1e-6);
      if (coef < 1) for (Tensor g : grads) g.mulInPlace(coef);
    }
    return total;
  }

  /**
   * Clamps every gradient element of {@code params} to {@code [-clipValue, clipValue]} in place
   * ({@code clip_grad_value_}).
   */
  public static void clipGradValue(Iterable<Parameter> params, double clipValue) {
    if (!(clipValue >= 0))
      throw new IllegalArgumentException("clipGradValue: clipValue must be >= 0, got " + clipValue);
    try (var ng = GradMode.noGrad();
        var scope = Scope.open()) {
      for (Tensor g : grads(params)) g.copyFrom(g.clamp(-clipValue, clipValue));
    }
  }

  private static List<Tensor> grads(Iterable<Parameter> params) {
    List<Tensor> out = new ArrayList<>();
    for (Parameter p : params) if (p.grad() != null) out.add(p.grad());
    return out;
  }
}
