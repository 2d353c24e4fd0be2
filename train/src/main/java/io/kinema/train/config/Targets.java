package io.kinema.train.config;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The {@code _target_} names a run configuration may use: Kinema's canonical class names, the
 * FastVideo class paths that mean the same thing, and FastVideo targets Kinema knows but does not
 * implement yet (reported as such rather than as unknown).
 */
public final class Targets {
  private Targets() {}

  /** The bidirectional Wan 2.1 DiT. */
  public static final String WAN_TRANSFORMER = "io.kinema.diffusion.wan.WanTransformer3D";

  /** The block-causal Wan 2.1 DiT. */
  public static final String WAN_CAUSAL_TRANSFORMER =
      "io.kinema.diffusion.wan.WanCausalTransformer3D";

  /** Supervised fine-tuning. */
  public static final String FINE_TUNE_METHOD = "io.kinema.train.method.FineTuneMethod";

  /** Diffusion-forcing SFT. */
  public static final String DFSFT_METHOD = "io.kinema.train.method.DiffusionForcingSftMethod";

  /** Teacher-forcing SFT: diffusion forcing with the clean clip as context. */
  public static final String TFSFT_METHOD = "io.kinema.train.method.TeacherForcingSftMethod";

  /** The sampler loop validation runs (diffusers' WanPipeline denoising loop). */
  public static final String SAMPLING_LOOP = "io.kinema.diffusion.schedulers.SamplingLoop";

  /** What a {@code _target_} field names. */
  public enum Kind {
    MODEL("model"),
    METHOD("method"),
    VALIDATION_PIPELINE("validation pipeline"),
    GRAD_CLIP_CALLBACK("grad_clip callback"),
    EMA_CALLBACK("ema callback"),
    VALIDATION_CALLBACK("validation callback");

    private final String label;

    Kind(String label) {
      this.label = label;
    }

    /** How messages name this kind. */
    public String label() {
      return label;
    }
  }

  private record Entry(Kind kind, String canonical) {}

  /** Every accepted name (canonical names map to themselves) -> its canonical name. */
  private static final Map<String, Entry> ACCEPTED = new LinkedHashMap<>();

  /** Known FastVideo targets that Kinema does not implement. */
  private static final Map<String, Kind> NOT_IMPLEMENTED = new LinkedHashMap<>();

  static {
    accept(Kind.MODEL, WAN_TRANSFORMER, "fastvideo.train.models.wan.WanModel");
    accept(Kind.MODEL, WAN_CAUSAL_TRANSFORMER, "fastvideo.train.models.wan.WanCausalModel");
    accept(
        Kind.METHOD,
        FINE_TUNE_METHOD,
        "fastvideo.train.methods.fine_tuning.finetune.FineTuneMethod");
    accept(
        Kind.METHOD,
        DFSFT_METHOD,
        "fastvideo.train.methods.fine_tuning.dfsft.DiffusionForcingSFTMethod");
    accept(
        Kind.METHOD,
        TFSFT_METHOD,
        "fastvideo.train.methods.fine_tuning.tfsft.TeacherForcingSFTMethod");
    accept(
        Kind.VALIDATION_PIPELINE,
        SAMPLING_LOOP,
        "fastvideo.pipelines.basic.wan.wan_pipeline.WanPipeline");
    accept(
        Kind.GRAD_CLIP_CALLBACK,
        "io.kinema.train.callbacks.GradClipCallback",
        "fastvideo.train.callbacks.grad_clip.GradNormClipCallback");
    accept(
        Kind.EMA_CALLBACK,
        "io.kinema.train.callbacks.EmaCallback",
        "fastvideo.train.callbacks.ema.EMACallback");
    accept(
        Kind.VALIDATION_CALLBACK,
        "io.kinema.train.callbacks.ValidationCallback",
        "fastvideo.train.callbacks.validation.ValidationCallback");

    NOT_IMPLEMENTED.put(
        "fastvideo.train.methods.distribution_matching.dmd2.DMD2Method", Kind.METHOD);
    NOT_IMPLEMENTED.put(
        "fastvideo.train.methods.distribution_matching.self_forcing.SelfForcingMethod",
        Kind.METHOD);
    NOT_IMPLEMENTED.put(
        "fastvideo.pipelines.basic.wan.wan_dmd_pipeline.WanDMDPipeline", Kind.VALIDATION_PIPELINE);
    NOT_IMPLEMENTED.put(
        "fastvideo.pipelines.basic.wan.wan_causal_dmd_pipeline.WanCausalDMDPipeline",
        Kind.VALIDATION_PIPELINE);
  }

  private static void accept(Kind kind, String canonical, String... aliases) {
    ACCEPTED.put(canonical, new Entry(kind, canonical));
    for (String a : aliases) ACCEPTED.put(a, new Entry(kind, canonical));
  }

  /** The canonical names of a kind, in a fixed order. */
  public static List<String> canonicalNames(Kind kind) {
    List<String> out = new ArrayList<>();
    for (Entry e : ACCEPTED.values()) {
      if (e.kind == kind && !out.contains(e.canonical)) out.add(e.canonical);
    }
    return out;
  }

  /** Every accepted name of a kind (canonical names and aliases). */
  public static List<String> acceptedNames(Kind kind) {
    List<String> out = new ArrayList<>();
    ACCEPTED.forEach(
        (name, e) -> {
          if (e.kind == kind) out.add(name);
        });
    return out;
  }

  /**
   * The canonical name for {@code name} as a target of {@code kind}.
   *
   * @throws IllegalArgumentException with a one-line reason: a known but unimplemented target
   *     (listing the available ones), or an unknown one (with a did-you-mean and the known list)
   */
  public static String resolve(Kind kind, String name) {
    Entry e = ACCEPTED.get(name);
    if (e != null && e.kind == kind) return e.canonical;
    List<String> available = canonicalNames(kind);
    if (NOT_IMPLEMENTED.get(name) == kind) {
      throw new IllegalArgumentException(
          "'"
              + name
              + "' is not implemented yet in Kinema (available: "
              + String.join(", ", available)
              + ")");
    }
    String hint = DidYouMean.hint(name, acceptedNames(kind));
    throw new IllegalArgumentException(
        "unknown "
            + kind.label()
            + " '"
            + name
            + "'"
            + hint
            + "; known: "
            + String.join(", ", acceptedNames(kind)));
  }

  /**
   * Reads the required target at {@code key} of {@code k} and records its canonical name; null
   * (reported) when it is missing or not accepted.
   */
  static String read(Keys k, String key, Kind kind) {
    String name = k.requiredString(key);
    if (name == null || name.isEmpty()) return null;
    try {
      String canonical = resolve(kind, name);
      k.setResolved(key, canonical);
      return canonical;
    } catch (IllegalArgumentException e) {
      k.error(key, e.getMessage());
      return null;
    }
  }
}
