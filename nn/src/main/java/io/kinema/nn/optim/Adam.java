package io.kinema.nn.optim;

import io.kinema.nn.Parameter;
import io.kinema.tensor.Backends;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.backend.AdamwScalars;
import java.util.Collection;
import java.util.List;

/**
 * Adam ({@code torch.optim.Adam}, Kingma and Ba 2014) with L2 weight decay: {@code weight_decay *
 * param} is added to the gradient before the moments are updated. For decoupled weight decay use
 * {@link AdamW}. The update, per parameter at step t (PyTorch 1.13's single-tensor code, in its
 * order of operations):
 *
 * <pre>
 * g = grad (+ weight_decay * param)            (-grad when maximize)
 * exp_avg    = exp_avg * beta1 + (1 - beta1) * g
 * exp_avg_sq = exp_avg_sq * beta2 + (1 - beta2) * g * g
 * denom = sqrt(exp_avg_sq) / sqrt(1 - beta2^t) + eps     (max_exp_avg_sq when amsgrad)
 * param += -(lr / (1 - beta1^t)) * exp_avg / denom
 * </pre>
 */
public final class Adam extends Optimizer {
  /** Adam's options: {@code lr}, {@code beta1}, {@code beta2}, {@code eps}, {@code amsgrad}, ... */
  public static final class Config extends Optimizer.Config<Config> {
    Config(double weightDecay) {
      super(1e-3, weightDecay);
      put("beta1", 0.9);
      put("beta2", 0.999);
      put("eps", 1e-8);
      put("amsgrad", false);
    }

    /** Coefficients of the running averages of the gradient and its square. */
    public Config betas(double beta1, double beta2) {
      put("beta1", beta1);
      return put("beta2", beta2);
    }

    /** Term added to the denominator. */
    public Config eps(double eps) {
      return put("eps", eps);
    }

    /** The AMSGrad variant (normalize by the running maximum of the second moment). */
    public Config amsgrad(boolean on) {
      return put("amsgrad", on);
    }
  }

  /** PyTorch's defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight decay 0. */
  public static Config config() {
    return new Config(0);
  }

  public Adam(Collection<Parameter> params, Config config) {
    this(single(params), config);
  }

  public Adam(List<ParamGroup> groups, Config config) {
    super(groups, config);
  }

  @Override
  protected void validate(ParamGroup g) {
    validateAdam(this, g);
  }

  static void validateAdam(Optimizer o, ParamGroup g) {
    o.requireAtLeast(g, "lr", 0);
    o.requireAtLeast(g, "eps", 0);
    o.requireBeta(g, "beta1");
    o.requireBeta(g, "beta2");
    o.requireAtLeast(g, "weight_decay", 0);
  }

  @Override
  protected void update(ParamGroup group, ParamState state, Tensor param, Tensor grad) {
    step(group, state, param, grad, false);
  }

  /** One Adam/AdamW update (see the class comments of both). */
  static void step(
      ParamGroup group, ParamState state, Tensor param, Tensor grad, boolean decoupled) {
    double lr = group.lr();
    double wd = group.getDouble("weight_decay");
    double beta1 = group.getDouble("beta1");
    double beta2 = group.getDouble("beta2");
    double eps = group.getDouble("eps");
    Tensor m = state.zerosIfAbsent("exp_avg", param);
    Tensor v = state.zerosIfAbsent("exp_avg_sq", param);
    double t = state.step();
    double biasCorrection1 = 1 - Math.pow(beta1, t);
    double biasCorrection2 = 1 - Math.pow(beta2, t);
    double stepSize = lr / biasCorrection1;
    if ((decoupled || wd == 0) && !group.getBoolean("amsgrad")) {
      // One fused pass where the backend has it (the same bits as the ops below).
      AdamwScalars s =
          new AdamwScalars(
              (float) (1 - lr * wd),
              (float) beta1,
              (float) (1 - beta1),
              (float) beta2,
              (float) (1 - beta2),
              (float) -stepSize,
              (float) Math.sqrt(biasCorrection2),
              (float) eps,
              group.getBoolean("maximize"));
      if (Backends.of(param.device()).adamwStep(param, grad, m, v, s)) return;
    }
    Tensor g = group.getBoolean("maximize") ? grad.neg() : grad;
    if (wd != 0) {
      if (decoupled) param.mulInPlace(1 - lr * wd);
      else g = g.add(param.mul(wd));
    }
    m.mulInPlace(beta1).addInPlace(g.mul(1 - beta1));
    v.mulInPlace(beta2).addInPlace(g.mul(1 - beta2).mulInPlace(g));
    Tensor second = v;
    if (group.getBoolean("amsgrad")) {
      Tensor vmax = state.get("max_exp_avg_sq");
      if (vmax == null) vmax = state.put("max_exp_avg_sq", v.copy());
      else vmax.copyFrom(vmax.maximum(v));
      second = vmax;
    }
    Tensor denom = second.sqrt();
    denom.divInPlace(Tensor.scalar(Math.sqrt(biasCorrection2), denom.dtype(), denom.device()));
    denom.addInPlace(eps);
    param.addInPlace(m.mul(-stepSize).divInPlace(denom));
  }
}
