package io.kinema.nn.optim;

import io.kinema.nn.Parameter;
import io.kinema.tensor.Tensor;
import java.util.Collection;
import java.util.List;

/**
 * Stochastic gradient descent with momentum ({@code torch.optim.SGD}): per parameter,
 *
 * <pre>
 * d = grad (+ weight_decay * param)          (-grad when maximize)
 * if momentum != 0:
 *   buf = d                                   on the first update
 *   buf = momentum * buf + (1 - dampening) * d    afterwards
 *   d = nesterov ? d + momentum * buf : buf
 * param += -lr * d
 * </pre>
 *
 * Nesterov momentum needs {@code momentum > 0} and {@code dampening == 0}, as in PyTorch.
 */
public final class SGD extends Optimizer {
  /** SGD's options: {@code lr}, {@code momentum}, {@code dampening}, {@code nesterov}, ... */
  public static final class Config extends Optimizer.Config<Config> {
    Config(double lr) {
      super(lr, 0);
      put("momentum", 0.0);
      put("dampening", 0.0);
      put("nesterov", false);
    }

    public Config momentum(double momentum) {
      return put("momentum", momentum);
    }

    public Config dampening(double dampening) {
      return put("dampening", dampening);
    }

    public Config nesterov(boolean on) {
      return put("nesterov", on);
    }
  }

  /** Plain SGD with learning rate {@code lr} (PyTorch has no default lr for SGD). */
  public static Config config(double lr) {
    return new Config(lr);
  }

  public SGD(Collection<Parameter> params, Config config) {
    this(single(params), config);
  }

  public SGD(List<ParamGroup> groups, Config config) {
    super(groups, config);
  }

  @Override
  protected void validate(ParamGroup g) {
    requireAtLeast(g, "lr", 0);
    requireAtLeast(g, "momentum", 0);
    requireAtLeast(g, "weight_decay", 0);
    if (g.getBoolean("nesterov")
        && (g.getDouble("momentum") <= 0 || g.getDouble("dampening") != 0)) {
      throw new IllegalArgumentException(
          name() + ": Nesterov momentum requires a momentum and zero dampening, got " + g);
    }
  }

  @Override
  protected void update(ParamGroup group, ParamState state, Tensor param, Tensor grad) {
    double lr = group.lr();
    double wd = group.getDouble("weight_decay");
    double momentum = group.getDouble("momentum");
    double dampening = group.getDouble("dampening");
    Tensor d = group.getBoolean("maximize") ? grad.neg() : grad;
    if (wd != 0) d = d.add(param.mul(wd));
    if (momentum != 0) {
      Tensor buf = state.get("momentum_buffer");
      if (buf == null) {
        buf = state.put("momentum_buffer", d.copy());
      } else {
        buf.mulInPlace(momentum);
        buf.addInPlace(dampening == 0 ? d : d.mul(1 - dampening));
      }
      d = group.getBoolean("nesterov") ? d.add(buf.mul(momentum)) : buf;
    }
    param.addInPlace(d.mul(-lr));
  }
}
