package io.kinema.diffusion.schedulers;

import io.kinema.diffusion.flow.ClassifierFreeGuidance;
import io.kinema.diffusion.flow.FlowModel;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.grad.GradMode;

/**
 * The denoising loop of diffusers' {@code WanPipeline} over any {@link FlowScheduler}: for each
 * scheduler timestep t, the model is called with {@code t} broadcast to the batch (in the
 * scheduler's timestep dtype), guided by {@link ClassifierFreeGuidance} when the scale is above 1,
 * and the scheduler steps. Runs without recording gradients.
 */
public final class SamplingLoop {
  private SamplingLoop() {}

  /** Observes each step: its index, timestep, the (guided) model output and the new sample. */
  @FunctionalInterface
  public interface StepListener {
    void onStep(int index, double timestep, Tensor modelOutput, Tensor sample);
  }

  /**
   * Denoises {@code latents} (pure noise at the first σ) through every timestep of {@code
   * scheduler}, which must have had {@code setTimesteps}; starts at index 0 as WanPipeline does.
   * Returns the final sample (the caller's; {@code latents} is left open and unchanged).
   *
   * @param negativeContext the unconditional context; may be null when {@code guidanceScale ≤ 1}
   * @param listener may be null
   */
  public static Tensor run(
      FlowScheduler scheduler,
      FlowModel model,
      Tensor latents,
      Tensor context,
      Tensor negativeContext,
      double guidanceScale,
      StepListener listener) {
    if (latents.dim() < 1) {
      throw new IllegalArgumentException(
          "SamplingLoop.run: latents need a batch dim, got " + latents.describe());
    }
    double[] ts = scheduler.timesteps();
    scheduler.setBeginIndex(0);
    long batch = latents.size(0);
    Tensor x = latents.alias();
    try (var ng = GradMode.noGrad()) {
      for (int i = 0; i < ts.length; i++) {
        Tensor next;
        try (var s = Scope.open()) {
          Tensor t = Tensor.full(ts[i], scheduler.timestepDType(), latents.device(), batch);
          Tensor v =
              ClassifierFreeGuidance.predict(
                  model, x, t, context, negativeContext, guidanceScale, false);
          next = scheduler.step(v, ts[i], x);
          if (listener != null) listener.onStep(i, ts[i], v, next);
          s.keep(next);
        }
        x.close();
        x = next;
      }
    } catch (RuntimeException | Error e) {
      x.close();
      throw e;
    }
    return x;
  }
}
