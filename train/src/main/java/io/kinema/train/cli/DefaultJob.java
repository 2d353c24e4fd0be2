package io.kinema.train.cli;

import io.kinema.train.config.RunConfig;
import io.kinema.train.data.synthetic.SyntheticDataset;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * The built-in demo job: generates the synthetic data set once (cached under the output folder),
 * writes the built-in config {@code demo.yaml} next to it, and loads that config, so the run is an
 * ordinary config-driven run a user can copy and change.
 */
final class DefaultJob {
  /** Where the demo writes when no output folder is given (relative to the working directory). */
  static final Path DEFAULT_DIR = Path.of("outputs", "demo");

  /**
   * The synthetic set: 1024 clips (each shape/colour/direction many times, jittered) of 4 frames of
   * 16x16 pixels, captions embedded 32 wide. Small enough for the tiny DiT to learn in minutes.
   */
  static final SyntheticDataset.Params PARAMS =
      new SyntheticDataset.Params(1024, 0, 4, 16, 16, 32, 256);

  private DefaultJob() {}

  static RunConfig prepare(Path outputDir, String resume, List<String> overrides, PrintWriter out)
      throws IOException {
    Path dir = (outputDir != null ? outputDir : DEFAULT_DIR).toAbsolutePath();
    Files.createDirectories(dir);
    out.println("Kinema demo job: writing to " + dir);
    var written = SyntheticDataset.write(dir.resolve("data"), PARAMS);
    out.println(
        (written.reused()
                ? "reusing the synthetic data set: "
                : "generated the synthetic data set: ")
            + written.rows()
            + " clips in "
            + written.dir());
    Path yaml = dir.resolve("run.yaml");
    try (InputStream in = DefaultJob.class.getResourceAsStream("/io/kinema/train/demo.yaml")) {
      if (in == null) throw new IOException("demo.yaml is missing from train.jar");
      Files.write(yaml, in.readAllBytes());
    }
    out.println("config: " + yaml + " (copy it and pass --config to experiment)");
    out.flush();
    return RunConfig.load(yaml, TrainCommand.overrides(overrides, resume, null));
  }
}
