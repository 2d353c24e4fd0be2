package io.kinema.train.config;

/**
 * One problem found in a run configuration.
 *
 * @param source the file (or other origin) the configuration came from, e.g. {@code run.yaml}
 * @param path the dotted key path, e.g. {@code training.optimizer.learning_rate}; empty for the
 *     document as a whole
 * @param message what is wrong, e.g. {@code expected a number, got 'abc'}
 */
public record ConfigError(String source, String path, String message) {
  /** The one-line form: {@code source: path: message}. */
  @Override
  public String toString() {
    return path.isEmpty() ? source + ": " + message : source + ": " + path + ": " + message;
  }
}
