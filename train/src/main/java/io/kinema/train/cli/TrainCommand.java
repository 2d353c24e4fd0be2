package io.kinema.train.cli;

import io.kinema.train.Trainer;
import io.kinema.train.config.RunConfig;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Unmatched;

/**
 * {@code java -jar train.jar [--config run.yaml] [options] [--a.b.c VALUE ...]}: trains as the
 * config says, or runs the built-in demo job when no config is given.
 */
@Command(
    name = "train.jar",
    mixinStandardHelpOptions = true,
    versionProvider = Cli.Version.class,
    subcommands = {PreprocessCommand.class, LoraCommand.class},
    description = {
      "Trains a Wan 2.1-style video diffusion transformer from a YAML config in FastVideo's"
          + " trainer schema (models, method, training, callbacks, pipeline).",
      "Without --config it runs the built-in demo: a tiny DiT trained with SFT on a synthetic"
          + " data set of moving coloured shapes, on the CPU, in a few minutes.",
      "",
      "Any --dotted.key VALUE overrides that key of the YAML (e.g. --training.loop.max_train_steps"
          + " 100)."
    })
public final class TrainCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Option(
      names = "--config",
      paramLabel = "FILE",
      description = "The run's YAML config. Without it: the built-in demo job.")
  Path config;

  @Option(
      names = "--resume-from-checkpoint",
      paramLabel = "DIR",
      description =
          "Resume from a checkpoint-<step> folder, an output folder (its newest checkpoint) or"
              + " 'latest' (the newest under the output folder; none: start from scratch).")
  String resume;

  @Option(
      names = "--override-output-dir",
      paramLabel = "DIR",
      description = "Write checkpoints, samples and logs here instead of the config's output_dir.")
  Path outputDir;

  @Option(
      names = "--dry-run",
      description =
          "Validate the config, build the models and open the data, print the plan (parameters,"
              + " memory, steps) and exit.")
  boolean dryRun;

  @Unmatched List<String> overrides = new ArrayList<>();

  @Override
  public Integer call() throws Exception {
    var out = spec.commandLine().getOut();
    RunConfig cfg;
    if (config == null) {
      cfg = DefaultJob.prepare(outputDir, resume, overrides, out);
    } else {
      cfg = RunConfig.load(config, overrides(overrides, resume, outputDir));
    }
    cfg.warnings().forEach(w -> out.println("warning: " + w));
    try (Trainer trainer = Trainer.create(cfg, out)) {
      if (dryRun) {
        out.print(trainer.plan());
        out.flush();
        return 0;
      }
      out.print(trainer.plan());
      out.flush();
      Trainer.Summary s = trainer.train();
      out.printf(
          java.util.Locale.ROOT,
          "done: steps %d..%d in %.1f s, final loss %.5f; outputs in %s%n",
          s.firstStep() + 1,
          s.lastStep(),
          s.seconds(),
          s.finalLoss(),
          cfg.training().checkpoint().outputDir());
    }
    return 0;
  }

  /** The command line's overrides with the two alias options turned into overrides. */
  static List<String> overrides(List<String> overrides, String resume, Path outputDir) {
    List<String> all = new ArrayList<>(overrides);
    if (resume != null) {
      all.add("--training.checkpoint.resume_from_checkpoint");
      all.add(resume.equals("latest") ? resume : Path.of(resume).toAbsolutePath().toString());
    }
    if (outputDir != null) {
      all.add("--training.checkpoint.output_dir");
      all.add(outputDir.toAbsolutePath().toString());
    }
    return all;
  }
}
