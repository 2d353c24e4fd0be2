package io.kinema.train.checkpoint;

import java.io.IOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The {@code checkpoint-<step>} folders of a run's output directory (training-infra.md §3).
 *
 * <p>A checkpoint is written into a hidden temporary folder and renamed into place in one atomic
 * step, and its {@link #COMPLETE_MARKER} file is the last thing written into the temporary folder:
 * a process killed at any moment leaves either the previous checkpoints untouched plus some
 * temporary litter (removed at the next start), or the new checkpoint complete. Old checkpoints
 * beyond the limit are renamed out of the {@code checkpoint-*} namespace before they are deleted,
 * so a half-deleted folder is never mistaken for a checkpoint.
 */
public final class CheckpointManager {
  /** Written last into every checkpoint: its presence means the folder is complete. */
  public static final String COMPLETE_MARKER = "metadata.json";

  private static final Pattern NAME = Pattern.compile("checkpoint-(\\d+)");
  private static final String TEMP_PREFIX = ".tmp-checkpoint-";
  private static final String TRASH_PREFIX = ".trash-checkpoint-";

  /** Writes a checkpoint's files into a (temporary) folder; the marker is written afterwards. */
  @FunctionalInterface
  public interface Contents {
    void writeTo(Path folder) throws IOException;
  }

  private final Path outputDir;
  private final int totalLimit;

  /**
   * @param totalLimit how many checkpoints to keep (the newest); 0 keeps all
   */
  public CheckpointManager(Path outputDir, int totalLimit) {
    if (totalLimit < 0) {
      throw new IllegalArgumentException("checkpoints_total_limit must be >= 0, got " + totalLimit);
    }
    this.outputDir = outputDir;
    this.totalLimit = totalLimit;
  }

  public Path outputDir() {
    return outputDir;
  }

  /** The folder of the checkpoint of {@code step}. */
  public Path folder(long step) {
    return outputDir.resolve("checkpoint-" + step);
  }

  /** Removes temporary and half-deleted folders a killed run left behind. */
  public void removeLeftovers() throws IOException {
    if (!Files.isDirectory(outputDir)) return;
    try (Stream<Path> s = Files.list(outputDir)) {
      for (Path p : s.toList()) {
        String n = p.getFileName().toString();
        if (n.startsWith(TEMP_PREFIX) || n.startsWith(TRASH_PREFIX)) deleteRecursively(p);
      }
    }
  }

  /**
   * Writes the checkpoint of {@code step}: {@code contents} fill a temporary folder, {@code
   * metadataJson} becomes its {@link #COMPLETE_MARKER}, the folder is renamed into place (replacing
   * an older checkpoint of the same step) and the oldest checkpoints beyond the limit are removed.
   * Returns the checkpoint's folder.
   */
  public Path save(long step, Contents contents, String metadataJson) throws IOException {
    Files.createDirectories(outputDir);
    Path tmp = outputDir.resolve(TEMP_PREFIX + step + "-" + ProcessHandle.current().pid());
    if (Files.exists(tmp)) deleteRecursively(tmp);
    Files.createDirectory(tmp);
    contents.writeTo(tmp);
    pauseForFaultInjection();
    Path marker = tmp.resolve(COMPLETE_MARKER);
    Files.writeString(marker, metadataJson);
    syncTree(tmp);
    Path target = folder(step);
    if (Files.exists(target)) discard(target);
    move(tmp, target);
    prune();
    return target;
  }

  /**
   * Sleeps {@code -Dkinema.checkpoint.pauseMillis} milliseconds (default 0) between writing a
   * checkpoint's contents and publishing it: a fault-injection hook that lets the end-to-end tests
   * kill a run while a checkpoint is half written.
   */
  private static void pauseForFaultInjection() {
    long ms = Long.getLong("kinema.checkpoint.pauseMillis", 0);
    if (ms <= 0) return;
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** Complete checkpoints, oldest first (by step). */
  public List<Path> list() throws IOException {
    if (!Files.isDirectory(outputDir)) return List.of();
    try (Stream<Path> s = Files.list(outputDir)) {
      return s.filter(p -> step(p) >= 0 && Files.isRegularFile(p.resolve(COMPLETE_MARKER)))
          .sorted(Comparator.comparingLong(CheckpointManager::step))
          .toList();
    }
  }

  /** The newest complete checkpoint, if any. */
  public Optional<Path> latest() throws IOException {
    List<Path> all = list();
    return all.isEmpty() ? Optional.empty() : Optional.of(all.getLast());
  }

  /**
   * Resolves {@code --resume-from-checkpoint}: {@code latest} (the newest here, empty if none), a
   * {@code checkpoint-<N>} folder, or an output folder (its newest checkpoint). A folder that is
   * not a complete checkpoint is an error naming it.
   */
  public Optional<Path> resolve(String spec) throws IOException {
    if (spec == null || spec.isEmpty()) return Optional.empty();
    if (spec.equals("latest")) return latest();
    Path p = Path.of(spec);
    if (!Files.isDirectory(p)) {
      throw new IllegalArgumentException("resume_from_checkpoint: no such folder: " + p);
    }
    if (step(p) >= 0) {
      if (!Files.isRegularFile(p.resolve(COMPLETE_MARKER))) {
        throw new IllegalArgumentException(
            "resume_from_checkpoint: "
                + p
                + " is incomplete (no "
                + COMPLETE_MARKER
                + "; a run was killed while writing it?)");
      }
      return Optional.of(p);
    }
    Optional<Path> newest = new CheckpointManager(p, 0).latest();
    if (newest.isEmpty()) {
      throw new IllegalArgumentException(
          "resume_from_checkpoint: " + p + " holds no complete checkpoint-<step> folder");
    }
    return newest;
  }

  /** The step of a {@code checkpoint-<step>} folder, or -1 for any other name. */
  public static long step(Path folder) {
    Matcher m = NAME.matcher(folder.getFileName().toString());
    return m.matches() ? Long.parseLong(m.group(1)) : -1;
  }

  private void prune() throws IOException {
    if (totalLimit == 0) return;
    List<Path> all = new ArrayList<>(list());
    while (all.size() > totalLimit) discard(all.removeFirst());
  }

  /** Renames a checkpoint out of the namespace first, so a kill mid-delete leaves no fake one. */
  private void discard(Path checkpoint) throws IOException {
    Path trash =
        outputDir.resolve(TRASH_PREFIX + checkpoint.getFileName() + "-" + System.nanoTime());
    move(checkpoint, trash);
    deleteRecursively(trash);
  }

  private static void move(Path from, Path to) throws IOException {
    try {
      Files.move(from, to, StandardCopyOption.ATOMIC_MOVE);
    } catch (AtomicMoveNotSupportedException e) {
      throw new IOException("cannot rename " + from + " to " + to + " atomically", e);
    }
  }

  /** Forces the files' contents to disk before the rename publishes them. */
  private static void syncTree(Path dir) throws IOException {
    try (Stream<Path> s = Files.walk(dir)) {
      for (Path p : s.filter(Files::isRegularFile).toList()) {
        try (var ch =
            java.nio.channels.FileChannel.open(p, java.nio.file.StandardOpenOption.WRITE)) {
          ch.force(true);
        }
      }
    }
  }

  static void deleteRecursively(Path root) throws IOException {
    if (!Files.exists(root)) return;
    Files.walkFileTree(
        root,
        new SimpleFileVisitor<>() {
          @Override
          public FileVisitResult visitFile(Path file, BasicFileAttributes attrs)
              throws IOException {
            Files.delete(file);
            return FileVisitResult.CONTINUE;
          }

          @Override
          public FileVisitResult postVisitDirectory(Path dir, IOException exc) throws IOException {
            if (exc != null) throw exc;
            Files.delete(dir);
            return FileVisitResult.CONTINUE;
          }
        });
  }
}
