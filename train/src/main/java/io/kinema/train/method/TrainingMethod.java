package io.kinema.train.method;

import io.kinema.nn.optim.LRScheduler;
import io.kinema.nn.optim.Optimizer;
import io.kinema.tensor.Generator;
import io.kinema.train.model.RoleModel;
import java.util.Map;

/**
 * A training method (FastVideo's {@code TrainingMethod}, methods.md): given its roles it computes
 * one micro-batch's loss and owns the optimizers and learning-rate schedules of its trainable
 * roles. The trainer runs the loop around it: accumulation, backward, clipping, optimizer and
 * scheduler steps, EMA, checkpoints and validation.
 *
 * <p>Every random draw of a step (noise, timesteps) comes from {@link #generator()}, a
 * counter-based stream whose state is checkpointed, so a resumed run draws exactly what an
 * uninterrupted one would.
 */
public interface TrainingMethod extends AutoCloseable {
  /** The method's name in logs and checkpoints (its class's simple name). */
  String name();

  /** The roles the method uses, by role name. */
  Map<String, RoleModel> roles();

  /**
   * The loss of one micro-batch at optimizer step {@code step} (1-based), with the graph to the
   * trainable parameters; the trainer scales it by the accumulation and runs backward.
   */
  StepLosses singleTrainStep(TrainBatch batch, long step);

  /** One optimizer per trainable role, by role name. */
  Map<String, Optimizer> optimizers();

  /** One learning-rate schedule per optimizer, by role name. */
  Map<String, LRScheduler> schedulers();

  /** The stream of the method's random draws. */
  Generator generator();

  /** Releases the optimizers' state (the roles are the caller's). */
  @Override
  void close();
}
