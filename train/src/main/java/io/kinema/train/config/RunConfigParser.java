package io.kinema.train.config;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Builds a {@link RunConfig} from the raw tree: the sections in dependency order ({@code training}
 * and {@code pipeline} before {@code models}, whose defaults come from them; {@code method} and
 * {@code callbacks} last), then the checks that span sections. Every problem is collected; the
 * result is returned only when there is none.
 */
final class RunConfigParser {
  private RunConfigParser() {}

  static final List<String> REQUIRED_SECTIONS = List.of("models", "method", "training");

  static RunConfig load(Path yaml, List<String> overrides) {
    String source = yaml.toString();
    Map<String, Object> raw = YamlIo.readSections(yaml, source);
    raw = ConfigOverrides.apply(raw, overrides);
    Path dir = yaml.toAbsolutePath().normalize().getParent();
    return parse(raw, source, dir);
  }

  static RunConfig parse(Map<String, Object> raw, String source, Path baseDir) {
    Problems problems = new Problems(source);
    Keys root = Keys.root(raw, problems, baseDir);
    for (String s : REQUIRED_SECTIONS) {
      if (!root.has(s)) root.error(s, "required section is missing");
    }
    // created in output order; read below in dependency order
    Keys modelsKeys = root.section("models");
    Keys methodKeys = root.section("method");
    Keys trainingKeys = root.section("training");
    Keys callbacksKeys = root.section("callbacks");
    Keys pipelineKeys = root.section("pipeline");
    root.finish();

    TrainingConfig training = TrainingSection.parse(trainingKeys, stem(source));
    PipelineConfig pipeline = pipeline(pipelineKeys);
    Map<String, ModelConfig> models =
        ModelsSection.parse(
            modelsKeys, training.model(), pipeline.localAttnSize(), pipeline.sinkSize());
    ModelConfig student = models.get(ModelsSection.STUDENT);
    if (student != null && training.modelPath().isEmpty() && student.initFrom() != null) {
      training = withModelPath(training, student.initFrom().toString());
      trainingKeys.setResolved("model_path", training.modelPath());
    }
    pipeline = checkCausal(pipelineKeys, pipeline, student);
    MethodConfig method = method(methodKeys, training, models);
    CallbacksConfig callbacks = CallbacksSection.parse(callbacksKeys, training.data().seed());

    problems.throwIfAny(root.presentKeys());
    return new RunConfig(
        source,
        baseDir,
        models,
        method,
        training,
        callbacks,
        pipeline,
        frozen(root.resolved()),
        problems.warnings());
  }

  /** The file name without its extension: {@code configs/run.yaml} -> {@code run}. */
  static String stem(String source) {
    String name = Path.of(source).getFileName().toString();
    int dot = name.lastIndexOf('.');
    return dot > 0 ? name.substring(0, dot) : name;
  }

  // ---------------------------------------------------------------- method

  private static MethodConfig method(
      Keys m, TrainingConfig training, Map<String, ModelConfig> models) {
    if (!m.has("_target_") && m.presentKeys().isEmpty()) {
      m.declare("_target_");
      return null; // the missing section is already reported
    }
    String target = Targets.read(m, "_target_", Targets.Kind.METHOD);
    if (target == null) {
      m.presentKeys().forEach(m::declare); // keys of an unknown method cannot be judged
      return null;
    }
    MethodConfig method =
        switch (target) {
          case Targets.DFSFT_METHOD -> dfsft(m, false);
          case Targets.TFSFT_METHOD -> dfsft(m, true);
          default -> new MethodConfig.FineTune();
        };
    m.finish();
    supervised(m, method, training, models);
    return method;
  }

  private static MethodConfig.DiffusionForcingSft dfsft(Keys m, boolean teacherForcing) {
    int chunk = m.integer("chunk_size", 3);
    m.check(chunk >= 1, "chunk_size", "must be >= 1, got " + chunk);
    double lo = m.number("min_timestep_ratio", 0.0);
    m.check(lo >= 0 && lo <= 1, "min_timestep_ratio", "must be in [0, 1], got " + lo);
    double hi = m.number("max_timestep_ratio", 1.0);
    m.check(hi >= 0 && hi <= 1, "max_timestep_ratio", "must be in [0, 1], got " + hi);
    m.check(
        hi >= lo, "max_timestep_ratio", "must be >= min_timestep_ratio (" + lo + "), got " + hi);
    return new MethodConfig.DiffusionForcingSft(chunk, lo, hi, teacherForcing);
  }

  /** What the two SFT methods need of the student, the optimizer and the other roles. */
  private static void supervised(
      Keys m, MethodConfig method, TrainingConfig training, Map<String, ModelConfig> models) {
    Problems p = m.problems();
    String name = simpleName(method.target());
    String lrPath = "training.optimizer.learning_rate";
    double lr = training.optimizer().learningRate();
    if (!(lr > 0) && !p.failed(lrPath)) p.error(lrPath, "must be > 0 for " + name + ", got " + lr);
    ModelConfig student = models.get(ModelsSection.STUDENT);
    if (student == null) return;
    if (!student.trainable()) p.error("models.student.trainable", "must be true for " + name);
    for (String role : models.keySet()) {
      if (!role.equals(ModelsSection.STUDENT)) {
        p.warn("models." + role, "ignored: " + name + " uses only the student");
      }
    }
    if (method instanceof MethodConfig.DiffusionForcingSft d && student.target() != null) {
      if (!student.causal()) {
        p.error(
            "models.student._target_",
            name
                + " needs the causal model "
                + Targets.WAN_CAUSAL_TRANSFORMER
                + " (FastVideo: fastvideo.train.models.wan.WanCausalModel), got "
                + student.target());
      } else if (d.teacherForcing() && student.localAttnSize() != -1) {
        p.error(
            "models.student.local_attn_size",
            name + " needs global attention (local_attn_size -1), got " + student.localAttnSize());
      } else if (d.chunkSize() != student.numFramesPerBlock()) {
        m.check(
            false,
            "chunk_size",
            "must equal models.student.num_frames_per_block ("
                + student.numFramesPerBlock()
                + "), got "
                + d.chunkSize());
      }
    }
  }

  private static String simpleName(String className) {
    return className.substring(className.lastIndexOf('.') + 1);
  }

  private static TrainingConfig withModelPath(TrainingConfig t, String modelPath) {
    return new TrainingConfig(
        t.distributed(),
        t.data(),
        t.optimizer(),
        t.loop(),
        t.checkpoint(),
        t.tracker(),
        t.vsa(),
        t.model(),
        modelPath,
        t.ditPrecision(),
        t.devices());
  }

  // ---------------------------------------------------------------- pipeline

  private static PipelineConfig pipeline(Keys p) {
    double shift = p.number("flow_shift", 3.0);
    p.check(shift > 0, "flow_shift", "must be > 0, got " + shift);
    Keys dit = p.section("dit_config");
    Integer local = dit.optInteger("local_attn_size");
    Integer sink = dit.optInteger("sink_size");
    dit.finish();
    Boolean causal = p.optBool("is_causal");
    PipelineConfig.Decoder decoder =
        p.enumValue("decoder", PipelineConfig.Decoder.NONE, PipelineConfig.Decoder.class);
    p.ignored("negative_prompt", "Kinema has no text encoder to encode it");
    p.finish();
    return new PipelineConfig(shift, local, sink, causal != null && causal, decoder);
  }

  /** {@code is_causal} defaults to the student's kind and must agree with it when given. */
  private static PipelineConfig checkCausal(Keys p, PipelineConfig c, ModelConfig student) {
    if (student == null || student.target() == null) return c;
    if (p.has("is_causal")) {
      p.check(
          c.isCausal() == student.causal(),
          "is_causal",
          c.isCausal()
              ? "true, but the student is not the causal model"
              : "false, but the student is the causal model");
      return c;
    }
    p.setResolved("is_causal", student.causal());
    return new PipelineConfig(
        c.flowShift(), c.localAttnSize(), c.sinkSize(), student.causal(), c.decoder());
  }

  // ---------------------------------------------------------------- raw

  /** An unmodifiable deep copy of a tree of maps and lists. */
  @SuppressWarnings("unchecked")
  static Map<String, Object> frozen(Map<String, Object> m) {
    Map<String, Object> out = new LinkedHashMap<>();
    m.forEach((k, v) -> out.put(k, frozenValue(v)));
    return Collections.unmodifiableMap(out);
  }

  @SuppressWarnings("unchecked")
  private static Object frozenValue(Object v) {
    if (v instanceof Map<?, ?> m) return frozen((Map<String, Object>) m);
    if (v instanceof List<?> l) {
      List<Object> out = new ArrayList<>();
      for (Object e : l) out.add(frozenValue(e));
      return Collections.unmodifiableList(out);
    }
    return v;
  }
}
