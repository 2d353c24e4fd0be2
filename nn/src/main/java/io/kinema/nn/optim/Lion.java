package io.kinema.nn.optim;

import io.kinema.nn.Parameter;
import io.kinema.tensor.Tensor;
import java.util.Collection;
import java.util.List;

/**
 * Lion (EvoLved Sign Momentum; Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms"),
 * as in the paper's Algorithm 2 and lucidrains' {@code lion-pytorch}: per parameter,
 *
 * <pre>
 * param *= 1 - lr * weight_decay                            (decoupled weight decay)
 * param += -lr * sign(beta1 * exp_avg + (1 - beta1) * grad)
 * exp_avg = beta2 * exp_avg + (1 - beta2) * grad
 * </pre>
 *
 * The update has unit magnitude per element, so Lion wants a learning rate 3-10x smaller and a
 * weight decay 3-10x larger than AdamW's. Defaults: lr 1e-4, betas (0.9, 0.99), weight decay 0.
 */
public final class Lion extends Optimizer {
  /** Lion's options: {@code lr}, {@code beta1}, {@code beta2}, {@code weight_decay}. */
  public static final class Config extends Optimizer.Config<Config> {
    Config() {
      super(1e-4, 0);
      put("beta1", 0.9);
      put("beta2", 0.99);
    }

    /** beta1 interpolates the update direction, beta2 the momentum. */
    public Config betas(double beta1, double beta2) {
      put("beta1", beta1);
      return put("beta2", beta2);
    }
  }

  /** lion-pytorch's defaults. */
  public static Config config() {
    return new Config();
  }

  public Lion(Collection<Parameter> params, Config config) {
    this(single(params), config);
  }

  public Lion(List<ParamGroup> groups, Config config) {
    super(groups, config);
  }

  @Override
  protected void validate(ParamGroup g) {
    requireAtLeast(g, "lr", 0);
    requireAtLeast(g, "weight_decay", 0);
    for (String b : new String[] {"beta1", "beta2"}) {
      double v = g.getDouble(b);
      if (!(v >= 0 && v <= 1))
        throw new IllegalArgumentException(
            name() + ": invalid " + b + " " + v + " (expected 0 <= " + b + " <= 1) in " + g);
    }
  }

  @Override
  protected void update(ParamGroup group, ParamState state, Tensor param, Tensor grad) {
    double lr = group.lr();
    double wd = group.getDouble("weight_decay");
    double beta1 = group.getDouble("beta1");
    double beta2 = group.getDouble("beta2");
    Tensor g = group.getBoolean("maximize") ? grad.neg() : grad;
    Tensor m = state.zerosIfAbsent("exp_avg", param);
    if (wd != 0) param.mulInPlace(1 - lr * wd);
    Tensor direction = m.mul(beta1).addInPlace(g.mul(1 - beta1)).sign();
    param.addInPlace(direction.mulInPlace(-lr));
    m.mulInPlace(beta2).addInPlace(g.mul(1 - beta2));
  }
}
