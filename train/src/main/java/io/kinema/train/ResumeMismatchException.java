package io.kinema.train;

import java.nio.file.Path;
import java.util.List;

/**
 * Resuming from a checkpoint written by another configuration: refused before anything changes,
 * naming the keys that differ.
 */
public final class ResumeMismatchException extends RuntimeException {
  private final List<String> differences;

  public ResumeMismatchException(Path checkpoint, List<String> differences) {
    super(
        "cannot resume from "
            + checkpoint
            + ": it was written with another config ("
            + String.join("; ", differences)
            + ")");
    this.differences = List.copyOf(differences);
  }

  /** One {@code key: saved -> current} line per difference. */
  public List<String> differences() {
    return differences;
  }
}
