package io.kinema.train.callbacks;

import io.kinema.nn.optim.StateDict;
import io.kinema.train.method.TrainingMethod;
import java.io.IOException;
import java.util.Map;

/**
 * A hook into the training loop (FastVideo's callbacks, training-infra.md §2.4), run in the order
 * the YAML lists them. Values a callback reports go into the step's metrics.
 */
public interface TrainingCallback extends AutoCloseable {
  /** The callback's name in the YAML and in checkpoints ({@code grad_clip}, {@code ema}, ...). */
  String name();

  /** Once, after models, method and data are ready (and after a resume has been restored). */
  default void onTrainStart(TrainingMethod method, long step) throws IOException {}

  /** After the step's backward passes, before the optimizers step. */
  default void onBeforeOptimizerStep(
      TrainingMethod method, long step, Map<String, Double> metrics) {}

  /** After the optimizer and scheduler steps of {@code step}. */
  default void onTrainingStepEnd(TrainingMethod method, long step, Map<String, Double> metrics)
      throws IOException {}

  /** State to checkpoint, or null if the callback has none. */
  default StateDict stateDict() {
    return null;
  }

  /** Restores {@link #stateDict()}'s content. */
  default void loadStateDict(StateDict state) {}

  @Override
  default void close() {}
}
