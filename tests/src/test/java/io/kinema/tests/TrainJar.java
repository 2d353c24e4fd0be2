package io.kinema.tests;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Runs the built {@code train/target/train.jar} in a child JVM, as a user would, with the engine's
 * flags given directly (one process, so a test can kill it), and captures what it prints.
 */
final class TrainJar {
  /** What one run printed and how it ended. */
  record Result(int exitCode, String out, String err) {
    String all() {
      return out + err;
    }
  }

  private TrainJar() {}

  static Path jar() {
    Path p = Path.of("..", "train", "target", "train.jar").toAbsolutePath().normalize();
    if (!Files.isRegularFile(p)) {
      throw new IllegalStateException(
          p + " is missing: build the train module first (mvn package)");
    }
    return p;
  }

  static ProcessBuilder command(Path workDir, List<String> jvm, String... args) {
    List<String> cmd = new ArrayList<>();
    cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    cmd.addAll(
        List.of(
            "--add-modules=jdk.incubator.vector",
            "--enable-native-access=ALL-UNNAMED",
            "--sun-misc-unsafe-memory-access=allow",
            "-Xmx2g",
            "-Dkinema.threads=2"));
    cmd.addAll(jvm);
    cmd.add("-jar");
    cmd.add(jar().toString());
    cmd.addAll(List.of(args));
    return new ProcessBuilder(cmd).directory(workDir.toFile());
  }

  /** Runs to completion (at most {@code timeoutSeconds}). */
  static Result run(Path workDir, String... args) throws IOException, InterruptedException {
    return run(workDir, List.of(), args);
  }

  static Result run(Path workDir, List<String> jvm, String... args)
      throws IOException, InterruptedException {
    Path out = Files.createTempFile(workDir, "out", ".txt");
    Path err = Files.createTempFile(workDir, "err", ".txt");
    Process p =
        command(workDir, jvm, args)
            .redirectOutput(out.toFile())
            .redirectError(err.toFile())
            .start();
    if (!p.waitFor(300, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      throw new AssertionError("train.jar " + String.join(" ", args) + " did not finish in 300 s");
    }
    return new Result(p.exitValue(), Files.readString(out), Files.readString(err));
  }
}
