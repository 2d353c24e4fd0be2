package io.kinema.train.method;

import io.kinema.diffusion.flow.FlowMatching;
import io.kinema.diffusion.flow.TimestepSampler;
import io.kinema.diffusion.flow.WeightingScheme;
import io.kinema.tensor.DType;
import io.kinema.tensor.Tensor;
import io.kinema.train.model.RoleModel;
import java.util.Map;

/**
 * Supervised flow-matching fine-tuning (FastVideo's {@code FineTuneMethod}, methods.md §1): noise
 * the clean latents at one timestep per sample drawn from the weighting scheme, and regress the
 * student's velocity onto {@code ε − x0} (or, with {@code precondition_outputs}, its implied {@code
 * x0} onto the clean latents). Full fine-tuning and LoRA differ only in which parameters are
 * trainable.
 */
public final class FineTuneMethod extends StudentMethod {
  private final TimestepSampler sampler;
  private final boolean preconditionOutputs;

  /**
   * @param student the trainable role
   * @param scheme the density of training timesteps ({@code training.model.weighting_scheme})
   * @param seed the seed of the noise and timestep stream
   */
  public FineTuneMethod(
      RoleModel student,
      WeightingScheme scheme,
      boolean preconditionOutputs,
      OptimizerSpec optim,
      long seed) {
    super(student, optim, seed);
    this.sampler = new TimestepSampler(student.table(), scheme);
    this.preconditionOutputs = preconditionOutputs;
  }

  @Override
  public StepLosses singleTrainStep(TrainBatch batch, long step) {
    Tensor x0 = batch.latents();
    int b = Math.toIntExact(batch.batchSize());
    // Draw order as FastVideo's: the noise, then the timesteps; both for the global batch (every
    // replica draws the same), of which this batch keeps its rows.
    TrainBatch.Shard shard = batch.shard();
    Tensor noise =
        shard.of(Tensor.randn(gen, DType.F32, x0.device(), batch.globalShape(x0.shape())));
    TimestepSampler.Draw draw = sampler.sample(shard.globalSize(), gen);
    float[] timesteps = shard.of(draw.timesteps(), 1);
    Tensor sigma = Tensor.of(shard.of(draw.sigmas(), 1), b).to(x0.device());
    Tensor t = Tensor.of(timesteps, b).to(x0.device());
    Tensor noisy = FlowMatching.addNoise(x0, noise, sigma);
    DType dt = student.model().dtype();
    Tensor v = student.predict(noisy.to(dt), t, batch.context().to(dt)).to(DType.F32);
    Tensor loss = FlowLosses.mse(v, noisy, noise, x0, sigma, preconditionOutputs).mean();
    double meanT = 0;
    for (float ti : timesteps) meanT += ti;
    return new StepLosses(loss, Map.of("timestep_mean", meanT / b));
  }
}
