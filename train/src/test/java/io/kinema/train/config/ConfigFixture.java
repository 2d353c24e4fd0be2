package io.kinema.train.config;

import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** A folder with a data set and a validation file, and YAML run files written into it. */
final class ConfigFixture {
  /** The smallest valid configuration: SFT of a tiny preset model on {@code data/}. */
  static final String MINIMAL =
      """
      models:
        student:
          _target_: io.kinema.diffusion.wan.WanTransformer3D
          init_from: preset:tiny
      method:
        _target_: io.kinema.train.method.FineTuneMethod
      training:
        data:
          data_path: data
        optimizer:
          learning_rate: 1.0e-4
        loop:
          max_train_steps: 10
      """;

  final Path dir;

  ConfigFixture(Path dir) {
    this.dir = dir;
    try {
      Files.createDirectories(dir.resolve("data"));
      Files.writeString(dir.resolve("validation.json"), "{\"data\": [{\"caption\": \"a cat\"}]}");
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Writes {@code yaml} to {@code run.yaml} in the folder and returns the path. */
  Path write(String yaml) {
    return write("run.yaml", yaml);
  }

  Path write(String name, String yaml) {
    try {
      return Files.writeString(dir.resolve(name), yaml);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Loads {@code yaml} written as {@code run.yaml}. */
  RunConfig load(String yaml, String... overrides) {
    return RunConfig.load(write(yaml), List.of(overrides));
  }

  /** The error lines of loading {@code yaml}, without the {@code <dir>/} prefix of the source. */
  List<String> errors(String yaml, String... overrides) {
    ConfigException e = assertThrows(ConfigException.class, () -> load(yaml, overrides));
    return e.errors().stream().map(ConfigFixture::shortLine).toList();
  }

  /** The one error of loading {@code yaml} (fails if there are several). */
  String error(String yaml, String... overrides) {
    List<String> errors = errors(yaml, overrides);
    if (errors.size() != 1) throw new AssertionError("expected one error, got " + errors);
    return errors.getFirst();
  }

  /** {@link #MINIMAL} with {@code from} replaced by {@code to} (which must occur). */
  static String minimalWith(String from, String to) {
    if (!MINIMAL.contains(from)) throw new IllegalArgumentException("not in MINIMAL: " + from);
    return MINIMAL.replace(from, to);
  }

  /** {@link #MINIMAL} plus more top-level YAML. */
  static String minimalPlus(String more) {
    return MINIMAL + more;
  }

  private static String shortLine(ConfigError e) {
    return new ConfigError(Path.of(e.source()).getFileName().toString(), e.path(), e.message())
        .toString();
  }
}
