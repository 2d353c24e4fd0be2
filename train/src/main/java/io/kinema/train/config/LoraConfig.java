package io.kinema.train.config;

import java.util.List;

/**
 * LoRA adapters of a model role ({@code models.<role>.lora}; spec training-infra §8). A module is
 * adapted when its name contains one of {@code targetModules} and none of {@code excludeModules}
 * (substring match, as in FastVideo).
 *
 * @param enable whether adapters are added (then only they train)
 * @param rank {@code rank}: required and > 0 when enabled; 0 when disabled and not given
 * @param alpha {@code alpha}: the update is scaled by {@code alpha / rank}; defaults to the rank
 * @param targetModules {@code target_modules}; default FastVideo's list {@link #DEFAULT_TARGETS}
 * @param excludeModules {@code exclude_modules}; default {@code ["embedder"]}
 */
public record LoraConfig(
    boolean enable,
    int rank,
    double alpha,
    List<String> targetModules,
    List<String> excludeModules) {

  /** FastVideo's default {@code target_modules}. */
  public static final List<String> DEFAULT_TARGETS =
      List.of(
          "q_proj",
          "k_proj",
          "v_proj",
          "o_proj",
          "to_q",
          "to_k",
          "to_v",
          "to_out",
          "to_qkv",
          "to_gate_compress");

  /** FastVideo's {@code exclude_lora_layers} for Wan. */
  public static final List<String> DEFAULT_EXCLUDES = List.of("embedder");

  /** No adapters. */
  public static final LoraConfig DISABLED =
      new LoraConfig(false, 0, 0, DEFAULT_TARGETS, DEFAULT_EXCLUDES);

  public LoraConfig {
    targetModules = List.copyOf(targetModules);
    excludeModules = List.copyOf(excludeModules);
  }

  /** The factor {@code alpha / rank} applied to {@code B·A}. */
  public double scale() {
    return alpha / rank;
  }
}
