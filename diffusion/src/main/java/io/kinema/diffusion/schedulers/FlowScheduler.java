package io.kinema.diffusion.schedulers;

import io.kinema.tensor.DType;
import io.kinema.tensor.Tensor;

/**
 * An inference sampler over a flow-matching velocity model, in diffusers' shape: {@code
 * setTimesteps}, then for each of {@link #timesteps()} call the model and {@link #step}. A
 * scheduler is stateful (step index, multistep history) and not thread-safe; {@link #close()}
 * releases the tensors it holds.
 */
public interface FlowScheduler extends AutoCloseable {
  /** Prepares the schedule for {@code numInferenceSteps} steps and resets the state. */
  void setTimesteps(int numInferenceSteps);

  /** The timesteps the model is called with, in order (a copy). */
  double[] timesteps();

  /** The noise levels, one per timestep plus the final one (a copy). */
  double[] sigmas();

  /** The dtype diffusers gives the timesteps tensor (F32 for Euler, I64 for UniPC). */
  DType timestepDType();

  /**
   * Makes the first {@link #step} start at schedule index {@code index} (diffusers' pipelines: 0).
   */
  void setBeginIndex(int index);

  /** The index of the next step, or -1 before the first step. */
  int stepIndex();

  /**
   * One denoising step: the sample at the next noise level from the model's output at {@code
   * timestep}. The result belongs to the caller (the current {@link io.kinema.tensor.Scope}).
   */
  Tensor step(Tensor modelOutput, double timestep, Tensor sample);

  /** Releases the tensors the scheduler holds; it stays usable after {@link #setTimesteps}. */
  @Override
  void close();
}
