package io.kinema.diffusion.flow;

import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import java.util.Arrays;
import java.util.List;

/**
 * Classifier-free guidance (spec flow-matching.md §7): {@code v = v_u + g·(v_c − v_u)}, with {@code
 * v_c} under the prompt and {@code v_u} under the negative prompt. As in diffusers' pipelines,
 * guidance is off for {@code g ≤ 1} (only the conditional pass runs). The same combination applies
 * to x0 predictions (x0 is affine in v at fixed x_σ, σ).
 */
public final class ClassifierFreeGuidance {
  private ClassifierFreeGuidance() {}

  /** Whether a scale turns guidance on (diffusers: {@code guidance_scale > 1}). */
  public static boolean enabled(double scale) {
    return scale > 1;
  }

  /** {@code uncond + scale·(cond − uncond)}, evaluated in that order (as diffusers does). */
  public static Tensor combine(Tensor cond, Tensor uncond, double scale) {
    if (!Arrays.equals(cond.shape(), uncond.shape())) {
      throw new IllegalArgumentException(
          "ClassifierFreeGuidance.combine: conditional "
              + cond.describe()
              + " and unconditional "
              + uncond.describe()
              + " predictions differ in shape");
    }
    try (var s = Scope.open()) {
      return s.keep(uncond.add(cond.sub(uncond).mul(scale)));
    }
  }

  /**
   * The guided prediction. With {@code batched} the two branches run as one model call on the batch
   * {@code [x; x]} with timesteps {@code [t; t]} and contexts {@code [context; negativeContext]}
   * (the contexts must then have the same shape, e.g. both padded to 512 tokens); otherwise two
   * calls. {@code negativeContext} may be null when {@code scale ≤ 1}.
   */
  public static Tensor predict(
      FlowModel model,
      Tensor x,
      Tensor t,
      Tensor context,
      Tensor negativeContext,
      double scale,
      boolean batched) {
    if (!enabled(scale)) return model.predict(x, t, context);
    if (negativeContext == null) {
      throw new IllegalArgumentException(
          "ClassifierFreeGuidance.predict: guidance scale " + scale + " needs a negative context");
    }
    try (var s = Scope.open()) {
      Tensor cond, uncond;
      if (batched) {
        if (!Arrays.equals(context.shape(), negativeContext.shape())) {
          throw new IllegalArgumentException(
              "ClassifierFreeGuidance.predict: batched guidance needs contexts of one shape, got "
                  + context.describe()
                  + " and "
                  + negativeContext.describe());
        }
        long b = x.size(0);
        Tensor out =
            model.predict(
                Tensor.cat(List.of(x, x), 0),
                Tensor.cat(List.of(t, t), 0),
                Tensor.cat(List.of(context, negativeContext), 0));
        if (out.dim() < 1 || out.size(0) != 2 * b) {
          throw new IllegalStateException(
              "ClassifierFreeGuidance.predict: the model returned "
                  + out.describe()
                  + " for a doubled batch of "
                  + 2 * b);
        }
        cond = out.narrow(0, 0, b);
        uncond = out.narrow(0, b, b);
      } else {
        cond = model.predict(x, t, context);
        uncond = model.predict(x, t, negativeContext);
      }
      return s.keep(combine(cond, uncond, scale));
    }
  }
}
