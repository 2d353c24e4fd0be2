package io.kinema.train.config;

import io.kinema.diffusion.wan.WanConfig;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Supplier;

/** The architectures {@code init_from: preset:<name>} can name (from {@link WanConfig}). */
public final class Presets {
  private Presets() {}

  /** The prefix that marks a preset in {@code init_from}. */
  public static final String PREFIX = "preset:";

  private static final Map<String, Supplier<WanConfig>> BY_NAME = new LinkedHashMap<>();

  static {
    BY_NAME.put("wan2.1-t2v-1.3b", WanConfig::t2v1_3B);
    BY_NAME.put("wan2.1-t2v-14b", WanConfig::t2v14B);
    BY_NAME.put("tiny", WanConfig::tiny);
  }

  /** The preset names, in a fixed order. */
  public static Iterable<String> names() {
    return BY_NAME.keySet();
  }

  /** The architecture of preset {@code name}, or null when there is none by that name. */
  public static WanConfig get(String name) {
    Supplier<WanConfig> s = BY_NAME.get(name);
    return s == null ? null : s.get();
  }
}
