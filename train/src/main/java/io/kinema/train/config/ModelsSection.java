package io.kinema.train.config;

import io.kinema.diffusion.wan.WanConfig;
import io.kinema.diffusion.wan.WanTransformer3D;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/** Reads the {@code models} section: one {@link ModelConfig} per role. */
final class ModelsSection {
  private ModelsSection() {}

  /** The role every method trains. */
  static final String STUDENT = "student";

  private static final List<String> ATTENTION_BACKENDS = List.of("auto", "flash", "torch_sdpa");

  /**
   * Every role in YAML order; a role whose {@code _target_} or architecture could not be read has
   * null fields (the errors are reported).
   *
   * @param training {@code training.model}: the gradient-checkpointing fallback
   * @param ditLocalAttnSize {@code pipeline.dit_config.local_attn_size}, or null
   * @param ditSinkSize {@code pipeline.dit_config.sink_size}, or null
   */
  static Map<String, ModelConfig> parse(
      Keys models, TrainingConfig.Model training, Integer ditLocalAttnSize, Integer ditSinkSize) {
    Map<String, ModelConfig> out = new LinkedHashMap<>();
    for (String role : models.presentKeys()) {
      models.declare(role);
      out.put(role, model(role, models.section(role), training, ditLocalAttnSize, ditSinkSize));
    }
    if (!out.containsKey(STUDENT) && !models.problems().failed(models.path())) {
      models.error(STUDENT, "required (the role that trains)");
    }
    return out;
  }

  private static ModelConfig model(
      String role, Keys m, TrainingConfig.Model training, Integer ditLocal, Integer ditSink) {
    String target = Targets.read(m, "_target_", Targets.Kind.MODEL);
    InitFrom init = initFrom(m);
    WanArch arch = arch(m.section("arch"));
    WanConfig config = architecture(m, init, arch);
    boolean trainable = m.bool("trainable", true);
    double flowShift = m.number("flow_shift", 3.0);
    m.check(flowShift > 0, "flow_shift", "must be > 0, got " + flowShift);
    // null (absent) falls back to training.model.enable_gradient_checkpointing_type
    boolean checkpointing =
        TrainingSection.gradientCheckpointing(m) || training.gradientCheckpointing();

    boolean causal = Targets.WAN_CAUSAL_TRANSFORMER.equals(target);
    Integer framesGiven = m.optInteger("num_frames_per_block");
    Integer localGiven = m.optInteger("local_attn_size");
    Integer sinkGiven = m.optInteger("sink_size");
    int frames = framesGiven != null ? framesGiven : ModelConfig.DEFAULT_FRAMES_PER_BLOCK;
    int local = localGiven != null ? localGiven : ditLocal != null ? ditLocal : -1;
    int sink = sinkGiven != null ? sinkGiven : ditSink != null ? ditSink : 0;
    if (target != null && !causal) {
      for (String key : List.of("num_frames_per_block", "local_attn_size", "sink_size")) {
        m.check(
            !m.has(key),
            key,
            "only applies to the causal model (" + Targets.WAN_CAUSAL_TRANSFORMER + ")");
      }
    } else if (causal) {
      m.check(frames >= 1, "num_frames_per_block", "must be >= 1, got " + frames);
      m.check(
          local == -1 || local >= frames,
          "local_attn_size",
          "must be -1 (global) or >= num_frames_per_block (" + frames + "), got " + local);
      m.check(
          sink >= 0 && (local == -1 || sink < local),
          "sink_size",
          "must be >= 0 and < local_attn_size (" + local + "), got " + sink);
      m.setResolved("num_frames_per_block", frames);
      m.setResolved("local_attn_size", local);
      m.setResolved("sink_size", sink);
    }

    boolean disableInit = m.bool("disable_custom_init_weights", false);
    Path override = m.path("transformer_override_safetensor", null, true);
    String backend = m.choice("attention_backend", null, ATTENTION_BACKENDS);
    LoraConfig lora = lora(m.section("lora"));
    m.finish();
    return new ModelConfig(
        role,
        target,
        init,
        config,
        arch,
        trainable,
        flowShift,
        checkpointing,
        frames,
        local,
        sink,
        disableInit,
        override,
        backend,
        lora);
  }

  // ---------------------------------------------------------------- init_from

  private static InitFrom initFrom(Keys m) {
    String key = "init_from";
    String text = m.requiredString(key);
    if (text == null || text.isEmpty()) return null;
    if (text.startsWith(Presets.PREFIX)) {
      String name = text.substring(Presets.PREFIX.length());
      if (Presets.get(name) != null) return new InitFrom.Preset(name);
      List<String> names = new ArrayList<>();
      Presets.names().forEach(names::add);
      m.error(
          key,
          "unknown preset '"
              + name
              + "'"
              + DidYouMean.hint(name, names)
              + "; known: "
              + String.join(", ", names.stream().map(n -> Presets.PREFIX + n).toList()));
      return null;
    }
    Path path = m.resolvePath(key, text);
    if (path == null) return null;
    m.setResolved(key, path.toString());
    if (!Files.exists(path)) {
      boolean hubId = !text.startsWith(".") && !text.startsWith("/") && text.split("/").length == 2;
      m.error(
          key,
          "'"
              + text
              + "' does not exist"
              + Keys.where(text, path)
              + (hubId
                  ? "; Kinema does not download from the Hugging Face Hub: give a local diffusers"
                      + " folder or preset:<name>"
                  : ""));
      return null;
    }
    return pretrained(m, key, path);
  }

  /**
   * A diffusers model on disk: a folder with {@code config.json} (or a pipeline folder with {@code
   * transformer/config.json}), or a {@code .safetensors} file / index with {@code config.json}
   * beside it.
   */
  private static InitFrom pretrained(Keys m, String key, Path path) {
    Path dir = path;
    if (Files.isDirectory(path)) {
      Path sub = path.resolve("transformer");
      if (!Files.isRegularFile(path.resolve("config.json"))
          && Files.isRegularFile(sub.resolve("config.json"))) {
        dir = sub;
      }
    } else {
      String name = path.getFileName().toString();
      if (!name.endsWith(".safetensors") && !name.endsWith(".safetensors.index.json")) {
        m.error(key, "expected a diffusers folder or a .safetensors file, got " + path);
        return null;
      }
      dir = path.getParent();
    }
    Path configFile = dir.resolve("config.json");
    if (!Files.isRegularFile(configFile)) {
      m.error(key, "no config.json in " + dir + " (expected a diffusers transformer folder)");
      return null;
    }
    Path weights = Files.isDirectory(path) ? weightsIn(dir) : path;
    if (weights == null) {
      m.error(key, "no .safetensors weights in " + dir);
      return null;
    }
    return new InitFrom.Pretrained(path, configFile, weights);
  }

  /** diffusers' index, else its single file, else the folder if it holds any safetensors. */
  private static Path weightsIn(Path dir) {
    String base = WanTransformer3D.WEIGHTS_NAME + ".safetensors";
    Path index = dir.resolve(base + ".index.json");
    if (Files.isRegularFile(index)) return index;
    Path single = dir.resolve(base);
    if (Files.isRegularFile(single)) return single;
    try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir, "*.safetensors*")) {
      return ds.iterator().hasNext() ? dir : null;
    } catch (IOException e) {
      return null;
    }
  }

  // ---------------------------------------------------------------- architecture

  private static WanArch arch(Keys a) {
    WanConfig.PatchSize patch = null;
    List<Integer> p = a.intList("patch_size", null, false);
    if (p != null) {
      if (p.size() != 3 || p.stream().anyMatch(x -> x <= 0)) {
        a.error("patch_size", "expected [t, h, w] of 3 positive integers, got " + p);
      } else {
        patch = new WanConfig.PatchSize(p.get(0), p.get(1), p.get(2));
      }
    }
    WanArch arch =
        new WanArch(
            positive(a, "num_layers"),
            positive(a, "num_attention_heads"),
            positive(a, "attention_head_dim"),
            positive(a, "in_channels"),
            positive(a, "out_channels"),
            positive(a, "text_dim"),
            positive(a, "freq_dim"),
            positive(a, "ffn_dim"),
            patch,
            a.optBool("cross_attn_norm"),
            qkNorm(a),
            a.optNumber("eps"),
            positive(a, "rope_max_seq_len"));
    a.finish();
    a.resolved().values().removeIf(Objects::isNull); // record only what is overridden
    return arch;
  }

  private static Integer positive(Keys a, String key) {
    Integer v = a.optInteger(key);
    a.check(v == null || v > 0, key, "must be > 0, got " + v);
    return v == null || v <= 0 ? null : v;
  }

  private static String qkNorm(Keys a) {
    return a.choice("qk_norm", null, List.of(WanConfig.RMS_NORM_ACROSS_HEADS));
  }

  /** The base architecture with {@code arch} applied, or null (reported) when it is invalid. */
  private static WanConfig architecture(Keys m, InitFrom init, WanArch arch) {
    WanConfig base;
    switch (init) {
      case null -> {
        return null;
      }
      case InitFrom.Preset p -> base = Presets.get(p.name());
      case InitFrom.Pretrained p -> {
        try {
          base = WanConfig.load(p.configFile());
        } catch (IOException | IllegalArgumentException e) {
          m.error("init_from", "cannot read the architecture: " + e.getMessage());
          return null;
        }
      }
    }
    try {
      return arch.applyTo(base);
    } catch (IllegalArgumentException e) {
      m.error("arch", e.getMessage().replaceFirst("^WanConfig: ", ""));
      return null;
    }
  }

  // ---------------------------------------------------------------- lora

  private static LoraConfig lora(Keys l) {
    boolean enable = l.bool("enable", false);
    Integer rank = l.optInteger("rank");
    if (enable) {
      if (rank == null) l.check(false, "rank", "required when lora.enable is true (e.g. 16)");
      else l.check(rank > 0, "rank", "must be > 0, got " + rank);
    }
    Double alpha = l.optNumber("alpha");
    if (alpha == null && rank != null) l.setResolved("alpha", (double) rank);
    l.check(alpha == null || alpha > 0, "alpha", "must be > 0, got " + alpha);
    List<String> targets = l.stringList("target_modules", LoraConfig.DEFAULT_TARGETS);
    if (enable) l.check(!targets.isEmpty(), "target_modules", "must name at least one module");
    List<String> excludes = l.stringList("exclude_modules", LoraConfig.DEFAULT_EXCLUDES);
    l.finish();
    int r = rank == null || rank < 0 ? 0 : rank;
    return new LoraConfig(enable, r, alpha != null ? alpha : r, targets, excludes);
  }
}
