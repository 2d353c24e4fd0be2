package io.kinema.train.config;

import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A validated run configuration of {@code train.jar}: FastVideo's trainer YAML (sections {@code
 * models}, {@code method}, {@code training}, {@code callbacks}, {@code pipeline}; spec
 * training-infra §2) parsed into immutable records with every default filled in. Everything that
 * can be checked without doing work is checked when it is built, and all problems are reported
 * together in one {@link ConfigException}.
 *
 * <p>Relative paths ({@code init_from}, {@code data_path}, {@code dataset_file}, {@code
 * output_dir}, ...) resolve against the YAML file's folder; every path in the records is absolute.
 *
 * @param source names the configuration in messages (the YAML file's name)
 * @param baseDir the folder relative paths resolve against
 * @param models every role by name, in YAML order; {@code student} is always present
 * @param method {@code method}
 * @param training {@code training}
 * @param callbacks {@code callbacks} (possibly none)
 * @param pipeline {@code pipeline}
 * @param raw the resolved raw tree: the YAML after overrides, with defaults filled in and paths
 *     made absolute; what checkpoints record (unmodifiable, nested maps and lists)
 * @param warnings accepted keys that have no effect in Kinema, one line each (the CLI prints them)
 */
public record RunConfig(
    String source,
    Path baseDir,
    Map<String, ModelConfig> models,
    MethodConfig method,
    TrainingConfig training,
    CallbacksConfig callbacks,
    PipelineConfig pipeline,
    Map<String, Object> raw,
    List<String> warnings) {

  public RunConfig {
    models = Collections.unmodifiableMap(new LinkedHashMap<>(models));
    warnings = List.copyOf(warnings);
  }

  /** The {@code student} role (always present). */
  public ModelConfig student() {
    return models.get("student");
  }

  /** Reads and validates {@code yaml} without overrides. */
  public static RunConfig load(Path yaml) {
    return load(yaml, List.of());
  }

  /**
   * Reads {@code yaml}, applies the command-line {@code overrides} ({@code --a.b.c VALUE} or {@code
   * --a.b.c=VALUE}; see {@link ConfigOverrides#apply}) and validates the result.
   *
   * @throws ConfigException listing every problem, including an unreadable file and YAML syntax
   *     errors (with line and column)
   */
  public static RunConfig load(Path yaml, List<String> overrides) {
    return RunConfigParser.load(yaml, overrides);
  }

  /**
   * Validates an already loaded raw tree (string keys; maps, lists, strings, numbers, booleans,
   * nulls), resolving relative paths against the current directory.
   *
   * @param source names the configuration in messages
   */
  public static RunConfig fromMap(Map<String, Object> raw, String source) {
    return fromMap(raw, source, Path.of("").toAbsolutePath());
  }

  /** {@link #fromMap(Map, String)} with relative paths resolved against {@code baseDir}. */
  public static RunConfig fromMap(Map<String, Object> raw, String source, Path baseDir) {
    return RunConfigParser.parse(raw, source, baseDir.toAbsolutePath().normalize());
  }

  /** {@link #raw()} as YAML (block style, keys in order). */
  public String toYaml() {
    return YamlIo.dump(raw);
  }

  /** {@link #raw()} as pretty-printed JSON (nulls kept). */
  public String toJson() {
    return YamlIo.toJson(raw);
  }
}
