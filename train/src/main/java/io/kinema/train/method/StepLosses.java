package io.kinema.train.method;

import io.kinema.tensor.Tensor;
import java.util.Map;

/**
 * What one {@link TrainingMethod#singleTrainStep} returns: the scalar to back-propagate and named
 * scalars to log (detached values, read after backward).
 *
 * @param loss the F32 scalar whose gradient reaches the trainable parameters
 * @param logs extra values by metric name (e.g. {@code mean_timestep}); may be empty
 */
public record StepLosses(Tensor loss, Map<String, Double> logs) {
  public StepLosses {
    if (loss.numel() != 1) {
      throw new IllegalArgumentException(
          "StepLosses: loss must be a scalar, got " + loss.describe());
    }
    logs = Map.copyOf(logs);
  }
}
