package io.kinema.train.config;

import io.kinema.train.config.CallbackConfig.Validation;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/** Reads the {@code callbacks} section, keeping YAML order. */
final class CallbacksSection {
  private CallbacksSection() {}

  private static final List<String> NAMES =
      List.of(CallbackConfig.GradClip.NAME, CallbackConfig.Ema.NAME, Validation.NAME);

  private static final String NO_EFFECT = "a FastVideo validation option with no effect in Kinema";

  /**
   * @param dataSeed {@code training.data.seed}: the default validation seed
   */
  static CallbacksConfig parse(Keys c, long dataSeed) {
    List<CallbackConfig> out = new ArrayList<>();
    for (String name : c.presentKeys()) {
      c.declare(name);
      Keys k = c.section(name);
      CallbackConfig cb =
          switch (name) {
            case CallbackConfig.GradClip.NAME -> gradClip(k);
            case CallbackConfig.Ema.NAME -> ema(k);
            case Validation.NAME -> validation(k, dataSeed);
            default -> {
              c.error(
                  name,
                  "unknown callback"
                      + DidYouMean.hint(name, NAMES)
                      + "; known: "
                      + String.join(", ", NAMES));
              yield null;
            }
          };
      if (cb != null) out.add(cb);
    }
    return new CallbacksConfig(out);
  }

  /** An optional {@code _target_}, which must name this kind of callback (FastVideo or ours). */
  private static void optionalTarget(Keys k, Targets.Kind kind) {
    if (k.has("_target_")) Targets.read(k, "_target_", kind);
    else k.declare("_target_");
  }

  private static CallbackConfig.GradClip gradClip(Keys k) {
    optionalTarget(k, Targets.Kind.GRAD_CLIP_CALLBACK);
    double max = k.number("max_grad_norm", 1.0);
    boolean log = k.bool("log_grad_norms", true);
    k.finish();
    return new CallbackConfig.GradClip(max, log);
  }

  private static CallbackConfig.Ema ema(Keys k) {
    optionalTarget(k, Targets.Kind.EMA_CALLBACK);
    double decay = k.number("decay", 0.9999);
    k.check(decay > 0 && decay < 1, "decay", "must be in (0, 1), got " + decay);
    int start = k.integer("start_iter", 0);
    k.check(start >= 0, "start_iter", "must be >= 0, got " + start);
    k.finish();
    return new CallbackConfig.Ema(decay, start);
  }

  private static Validation validation(Keys k, long dataSeed) {
    optionalTarget(k, Targets.Kind.VALIDATION_CALLBACK);
    String pipeline = Targets.read(k, "pipeline_target", Targets.Kind.VALIDATION_PIPELINE);
    Path dataset = k.path("dataset_file", null, true);
    if (dataset == null) k.check(false, "dataset_file", "required (a .json file of prompts)");
    else
      k.check(
          dataset.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".json"),
          "dataset_file",
          "expected a .json file, got " + dataset.getFileName());
    int every = k.integer("every_steps", 100);
    k.check(every > 0, "every_steps", "must be > 0, got " + every);
    boolean atStart = k.bool("run_at_start", true);
    List<Integer> steps = k.intList("sampling_steps", List.of(40), true);
    k.check(!steps.isEmpty(), "sampling_steps", "must not be empty");
    for (int s : steps) k.check(s > 0, "sampling_steps", "each entry must be > 0, got " + steps);
    Double guidance = k.optNumber("guidance_scale");
    k.check(guidance == null || guidance >= 0, "guidance_scale", "must be >= 0, got " + guidance);
    Integer frames = k.optInteger("num_frames");
    k.check(frames == null || frames > 0, "num_frames", "must be > 0, got " + frames);
    int perPrompt = k.integer("num_videos_per_prompt", 1);
    k.check(perPrompt >= 1, "num_videos_per_prompt", "must be >= 1, got " + perPrompt);
    Path outputDir = k.path("output_dir", null, false);
    List<Double> timesteps = k.numberList("sampling_timesteps", null);
    if (timesteps != null) {
      k.check(!timesteps.isEmpty(), "sampling_timesteps", "must not be empty (or null)");
      for (double t : timesteps) {
        k.check(
            t >= 0 && t <= 1000,
            "sampling_timesteps",
            "each entry must be in [0, 1000], got " + timesteps);
      }
    }
    Validation.Sampler sampler =
        k.enumValue("sampler", Validation.Sampler.UNIPC, Validation.Sampler.class);
    Validation.CausalSampling causal =
        k.enumValue(
            "causal_sampling",
            Validation.CausalSampling.BLOCKWISE,
            Validation.CausalSampling.class);
    long seed = k.longInteger("seed", dataSeed);
    int fps = k.integer("fps", 8);
    k.check(fps > 0, "fps", "must be > 0, got " + fps);
    List<Validation.Format> formats = formats(k);
    for (String key :
        List.of(
            "use_validation_media_conditioning",
            "offload_training_state",
            "unload_pipeline_after_validation",
            "attn_qat_infer",
            "metrics")) {
      k.ignored(key, NO_EFFECT);
    }
    k.finish();
    return new Validation(
        pipeline, dataset, every, atStart, steps, guidance, frames, perPrompt, outputDir, timesteps,
        sampler, causal, seed, fps, formats);
  }

  private static List<Validation.Format> formats(Keys k) {
    List<String> all = List.of("gif", "mp4", "png");
    Set<Validation.Format> out = EnumSet.noneOf(Validation.Format.class);
    for (String n : k.stringList("formats", all)) {
      if (!all.contains(n)) k.check(false, "formats", Keys.badChoice(n, all));
      else if (!out.add(Validation.Format.valueOf(n.toUpperCase(Locale.ROOT))))
        k.check(false, "formats", "'" + n + "' is listed twice");
    }
    return List.copyOf(out);
  }
}
