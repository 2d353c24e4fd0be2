package io.kinema.train.method;

import io.kinema.tensor.Tensor;
import io.kinema.train.model.RoleModel;

/**
 * Teacher-forcing SFT (FastVideo's {@code TeacherForcingSFTMethod}, methods.md §2): diffusion
 * forcing in which every chunk is denoised from the <em>clean</em> earlier chunks, fed alongside
 * the noisy clip in one forward ({@code WanCausalTransformer3D.forwardTeacherForcing}, clean half
 * at timestep 0). That is the context the model has when it streams, so it learns to continue a
 * clip rather than to denoise all of it at once; the forward costs two clips' tokens.
 */
public final class TeacherForcingSftMethod extends DiffusionForcingSftMethod {
  /** As {@link DiffusionForcingSftMethod#DiffusionForcingSftMethod}. */
  public TeacherForcingSftMethod(
      RoleModel student,
      int chunkSize,
      double minTimestepRatio,
      double maxTimestepRatio,
      boolean preconditionOutputs,
      OptimizerSpec optim,
      long seed) {
    super(student, chunkSize, minTimestepRatio, maxTimestepRatio, preconditionOutputs, optim, seed);
  }

  @Override
  Tensor predict(Tensor noisy, Tensor t, Tensor clean, Tensor context) {
    return student.causal().forwardTeacherForcing(noisy, t, clean, 0, context);
  }
}
