package io.kinema.train.config;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/** Collects the errors and warnings found while reading one configuration. */
final class Problems {
  private final String source;
  private final List<ConfigError> errors = new ArrayList<>();
  private final List<String> warnings = new ArrayList<>();
  private final Set<String> failedPaths = new HashSet<>();

  Problems(String source) {
    this.source = source;
  }

  String source() {
    return source;
  }

  /**
   * Records an error at {@code path} (a dotted key path, empty for the whole document), unless a
   * map above it already has one.
   */
  void error(String path, String message) {
    if (underFailed(path)) return; // e.g. a missing section: its keys' errors add nothing
    errors.add(new ConfigError(source, path, message));
    failedPaths.add(path);
  }

  private boolean underFailed(String path) {
    for (int dot = path.indexOf('.'); dot >= 0; dot = path.indexOf('.', dot + 1)) {
      if (failedPaths.contains(path.substring(0, dot))) return true;
    }
    return false;
  }

  /** Records a warning; the line names the source and the path like an error does. */
  void warn(String path, String message) {
    warnings.add(new ConfigError(source, path, message).toString());
  }

  /** True when an error was already reported at {@code path} (so follow-up checks stay quiet). */
  boolean failed(String path) {
    return failedPaths.contains(path);
  }

  boolean hasErrors() {
    return !errors.isEmpty();
  }

  List<String> warnings() {
    return List.copyOf(warnings);
  }

  /**
   * Throws a {@link ConfigException} with every error, if there is any, ordered by section as
   * {@code sections} lists them (errors outside them first); within a section, in the order found.
   */
  void throwIfAny(List<String> sections) {
    if (errors.isEmpty()) return;
    List<ConfigError> sorted = new ArrayList<>(errors);
    sorted.sort(Comparator.comparingInt(e -> sections.indexOf(e.path().split("\\.", 2)[0])));
    throw new ConfigException(sorted);
  }
}
