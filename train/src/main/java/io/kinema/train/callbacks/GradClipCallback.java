package io.kinema.train.callbacks;

import io.kinema.nn.optim.GradClip;
import io.kinema.train.method.TrainingMethod;
import java.util.Map;

/**
 * Clips the global L2 norm of each trainable role's gradients to {@code max_grad_norm} (methods.md
 * §6) and logs the norm before clipping: {@code grad_norm} for the student, {@code
 * grad_norm/<role>} for others. A non-finite norm is logged and not applied (the gradients stay as
 * they are, so the loss curve shows the problem instead of silently zeroing the update).
 */
public final class GradClipCallback implements TrainingCallback {
  private final double maxGradNorm;
  private final boolean logGradNorms;

  /**
   * @param maxGradNorm the norm to clip to; {@code <= 0} measures without clipping
   */
  public GradClipCallback(double maxGradNorm, boolean logGradNorms) {
    this.maxGradNorm = maxGradNorm;
    this.logGradNorms = logGradNorms;
  }

  @Override
  public String name() {
    return "grad_clip";
  }

  @Override
  public void onBeforeOptimizerStep(TrainingMethod method, long step, Map<String, Double> metrics) {
    for (var e : method.optimizers().entrySet()) {
      var params = method.roles().get(e.getKey()).trainableParameters();
      double norm =
          maxGradNorm > 0
              ? GradClip.clipGradNorm(params, maxGradNorm)
              : GradClip.clipGradNorm(params, Double.POSITIVE_INFINITY);
      if (logGradNorms) {
        metrics.put(e.getKey().equals("student") ? "grad_norm" : "grad_norm/" + e.getKey(), norm);
      }
    }
  }
}
