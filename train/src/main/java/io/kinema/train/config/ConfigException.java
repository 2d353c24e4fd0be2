package io.kinema.train.config;

import java.util.List;
import java.util.stream.Collectors;

/**
 * A run configuration that cannot be used. It carries every problem found (parsing goes on after
 * the first one), each a one-line {@link ConfigError}; the message is those lines joined by
 * newlines. The command line prints {@link #getMessage()} and exits with status 2.
 */
public final class ConfigException extends RuntimeException {
  private final List<ConfigError> errors;

  /** An exception for the given problems (at least one). */
  public ConfigException(List<ConfigError> errors) {
    super(errors.stream().map(ConfigError::toString).collect(Collectors.joining("\n")));
    if (errors.isEmpty()) throw new IllegalArgumentException("ConfigException: no errors");
    this.errors = List.copyOf(errors);
  }

  /** An exception for one problem. */
  public ConfigException(String source, String path, String message) {
    this(List.of(new ConfigError(source, path, message)));
  }

  /** Every problem, in the order found. */
  public List<ConfigError> errors() {
    return errors;
  }

  /** The key path of the first problem. */
  public String path() {
    return errors.getFirst().path();
  }
}
