package io.kinema.train.config;

import java.util.List;
import java.util.Optional;

/** The {@code callbacks} section: the configured callbacks in YAML order (possibly none). */
public record CallbacksConfig(List<CallbackConfig> inOrder) {
  public CallbacksConfig {
    inOrder = List.copyOf(inOrder);
  }

  /** No callbacks. */
  public static final CallbacksConfig NONE = new CallbacksConfig(List.of());

  public Optional<CallbackConfig.GradClip> gradClip() {
    return find(CallbackConfig.GradClip.class);
  }

  public Optional<CallbackConfig.Ema> ema() {
    return find(CallbackConfig.Ema.class);
  }

  public Optional<CallbackConfig.Validation> validation() {
    return find(CallbackConfig.Validation.class);
  }

  private <T extends CallbackConfig> Optional<T> find(Class<T> kind) {
    return inOrder.stream().filter(kind::isInstance).map(kind::cast).findFirst();
  }
}
