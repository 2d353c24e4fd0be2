package io.kinema.train;

import java.io.IOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Writes a file so that readers see either the old content or the complete new one, never a half
 * written file (a crash or kill mid-write leaves at most a stray temp file): the content goes to a
 * temp file in the target's folder, which is then renamed over the target.
 */
public final class AtomicFiles {
  private AtomicFiles() {}

  /** Writes the content of a file, given the path of the (temp) file to create. */
  @FunctionalInterface
  public interface Body {
    void writeTo(Path file) throws IOException;
  }

  /**
   * Lets {@code body} write a temp file beside {@code target}, then moves it onto {@code target}
   * (replacing it). Creates missing parent folders. On failure the temp file is deleted and the
   * target is left as it was.
   */
  public static void write(Path target, Body body) throws IOException {
    Path absolute = target.toAbsolutePath();
    Path folder = absolute.getParent();
    Files.createDirectories(folder);
    // Not Files.createTempFile: its owner-only permissions would carry over to the target.
    String suffix = Long.toHexString(ThreadLocalRandom.current().nextLong());
    Path temp = folder.resolve("." + absolute.getFileName() + "." + suffix + ".tmp");
    try {
      body.writeTo(temp);
      publish(temp, absolute);
    } finally {
      Files.deleteIfExists(temp);
    }
  }

  /**
   * Renames a finished temp file onto {@code target} (replacing it), atomically where the file
   * system can.
   */
  public static void publish(Path temp, Path target) throws IOException {
    try {
      Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } catch (AtomicMoveNotSupportedException e) {
      // Some file systems (e.g. certain network mounts) cannot rename atomically.
      Files.move(temp, target, StandardCopyOption.REPLACE_EXISTING);
    }
  }
}
