package io.kinema.train.config;

import io.kinema.diffusion.wan.WanConfig;
import java.nio.file.Path;

/**
 * One model role ({@code models.<role>}; spec training-infra §2.1): which network, its weights and
 * architecture, and how it trains.
 *
 * @param role the role's name ({@code student}, {@code teacher}, {@code critic}, ...)
 * @param target {@code _target_}, canonical: {@link Targets#WAN_TRANSFORMER} or {@link
 *     Targets#WAN_CAUSAL_TRANSFORMER} (FastVideo's {@code WanModel} / {@code WanCausalModel} map to
 *     them)
 * @param initFrom {@code init_from}: a preset or a pretrained diffusers model on disk
 * @param config the architecture: the preset's or the checkpoint's {@code config.json}, with {@code
 *     arch} applied
 * @param arch {@code arch}: the overrides applied to get {@link #config}
 * @param trainable {@code trainable} (true); a frozen role gets no gradients and is not saved
 * @param flowShift {@code flow_shift} (3.0, > 0): shift of this role's 1000-entry sigma table
 * @param gradientCheckpointing {@code enable_gradient_checkpointing_type: full}, falling back to
 *     {@code training.model.enable_gradient_checkpointing_type}
 * @param numFramesPerBlock {@code num_frames_per_block} (causal model only; default 3): latent
 *     frames per causal chunk
 * @param localAttnSize {@code local_attn_size} (causal only): attention window in frames, -1 =
 *     global; falls back to {@code pipeline.dit_config.local_attn_size}, then -1
 * @param sinkSize {@code sink_size} (causal only): frames never evicted from a local window; falls
 *     back to {@code pipeline.dit_config.sink_size}, then 0
 * @param disableCustomInitWeights {@code disable_custom_init_weights} (false)
 * @param transformerOverrideSafetensor {@code transformer_override_safetensor}: weights loaded over
 *     the {@code init_from} ones; null for none
 * @param attentionBackend {@code attention_backend}: null, {@code auto}, {@code flash} or {@code
 *     torch_sdpa}; informational (Kinema picks its kernels itself)
 * @param lora {@code lora}
 */
public record ModelConfig(
    String role,
    String target,
    InitFrom initFrom,
    WanConfig config,
    WanArch arch,
    boolean trainable,
    double flowShift,
    boolean gradientCheckpointing,
    int numFramesPerBlock,
    int localAttnSize,
    int sinkSize,
    boolean disableCustomInitWeights,
    Path transformerOverrideSafetensor,
    String attentionBackend,
    LoraConfig lora) {

  /** Latent frames per block of the causal model when {@code num_frames_per_block} is not set. */
  public static final int DEFAULT_FRAMES_PER_BLOCK = 3;

  /** True for the block-causal model ({@link Targets#WAN_CAUSAL_TRANSFORMER}). */
  public boolean causal() {
    return Targets.WAN_CAUSAL_TRANSFORMER.equals(target);
  }
}
