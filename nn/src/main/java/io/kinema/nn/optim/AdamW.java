package io.kinema.nn.optim;

import io.kinema.nn.Parameter;
import io.kinema.tensor.Tensor;
import java.util.Collection;
import java.util.List;

/**
 * AdamW ({@code torch.optim.AdamW}, Loshchilov and Hutter 2019): Adam with decoupled weight decay.
 * Each update first shrinks the parameter, {@code param *= 1 - lr * weight_decay}, then applies the
 * Adam update of {@link Adam} (bias-corrected moments, {@code eps} added after the square root of
 * the bias-corrected second moment) to the unmodified gradient. Defaults as PyTorch's: lr 1e-3,
 * betas (0.9, 0.999), eps 1e-8, weight decay 1e-2, no AMSGrad.
 */
public final class AdamW extends Optimizer {
  /** PyTorch's AdamW defaults (weight decay 1e-2). */
  public static Adam.Config config() {
    return new Adam.Config(1e-2);
  }

  public AdamW(Collection<Parameter> params, Adam.Config config) {
    this(single(params), config);
  }

  public AdamW(List<ParamGroup> groups, Adam.Config config) {
    super(groups, config);
  }

  @Override
  protected void validate(ParamGroup g) {
    Adam.validateAdam(this, g);
  }

  @Override
  protected void update(ParamGroup group, ParamState state, Tensor param, Tensor grad) {
    Adam.step(group, state, param, grad, true);
  }
}
