package io.kinema.train.model;

import io.kinema.diffusion.flow.SigmaTable;
import io.kinema.diffusion.wan.WanCausalTransformer3D;
import io.kinema.diffusion.wan.WanTransformer3D;
import io.kinema.nn.Parameter;
import io.kinema.tensor.Tensor;
import java.util.List;
import java.util.Map;

/**
 * One model of a training run under its role name ({@code student}, {@code teacher}, {@code
 * critic}): the Wan DiT, its causal wrapper when the role is causal, whether it trains, and the
 * 1000-entry noise table of its {@code flow_shift} that methods use for σ lookups (methods.md §0).
 *
 * <p>Methods hold latents as {@code [B, C, T, h, w]} and call {@link #predict}; the role knows
 * whether that is a bidirectional forward or the causal model's block-causal training forward.
 */
public final class RoleModel implements AutoCloseable {
  private final String name;
  private final WanTransformer3D model;
  private final WanCausalTransformer3D causal;
  private final boolean trainable;
  private final double flowShift;
  private final SigmaTable table;

  /**
   * @param causal the causal wrapper of {@code model}, or null for a bidirectional role
   */
  public RoleModel(
      String name,
      WanTransformer3D model,
      WanCausalTransformer3D causal,
      boolean trainable,
      double flowShift) {
    if (causal != null && causal.model() != model) {
      throw new IllegalArgumentException(name + ": the causal wrapper must wrap the same model");
    }
    this.name = name;
    this.model = model;
    this.causal = causal;
    this.trainable = trainable;
    this.flowShift = flowShift;
    this.table = SigmaTable.flowMatchEuler(flowShift);
    if (!trainable) model.requiresGrad(false);
  }

  public String name() {
    return name;
  }

  /** The DiT module (parameters, state dict, diffusers export). */
  public WanTransformer3D model() {
    return model;
  }

  /** The causal wrapper, or null for a bidirectional role. */
  public WanCausalTransformer3D causal() {
    return causal;
  }

  public boolean isCausal() {
    return causal != null;
  }

  public boolean trainable() {
    return trainable;
  }

  public double flowShift() {
    return flowShift;
  }

  /** The role's noise table ({@code FlowMatchEulerDiscreteScheduler(shift = flow_shift)}). */
  public SigmaTable table() {
    return table;
  }

  /** Parameters the optimizer updates (LoRA runs: only the adapters). */
  public List<Parameter> trainableParameters() {
    return trainable ? model.trainableParameters() : List.of();
  }

  /** The trainable parameters by dotted name (EMA shadows, checkpoints). */
  public Map<String, Parameter> namedTrainableParameters() {
    var out = new java.util.LinkedHashMap<String, Parameter>();
    if (!trainable) return out;
    model
        .namedParameters()
        .forEach(
            (k, p) -> {
              if (p.requiresGrad()) out.put(k, p);
            });
    return out;
  }

  /**
   * The velocity for noisy latents {@code x} {@code [B, C, T, h, w]} at timesteps {@code t}: {@code
   * [B]} for a bidirectional role, {@code [B]} or per frame {@code [B, T]} for a causal one.
   */
  public Tensor predict(Tensor x, Tensor t, Tensor context) {
    if (causal != null) return causal.forward(x, t, context);
    if (t.dim() != 1) {
      throw new IllegalArgumentException(
          name + ": a bidirectional model takes one timestep per sample [B], got " + t.describe());
    }
    return model.forward(x, t, context);
  }

  @Override
  public void close() {
    if (causal != null) causal.close();
    else model.close();
  }

  @Override
  public String toString() {
    return name + (isCausal() ? " (causal)" : "") + (trainable ? "" : " (frozen)");
  }
}
