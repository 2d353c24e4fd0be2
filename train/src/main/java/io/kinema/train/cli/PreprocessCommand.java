package io.kinema.train.cli;

import io.kinema.train.data.synthetic.SyntheticDataset;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code train.jar preprocess}: writes a data set in FastVideo's preprocessed Parquet format.
 * Kinema has no VAE or text encoder, so the only source it can encode itself is the synthetic demo
 * set; real videos are preprocessed with FastVideo (Wan VAE latents, UMT5 embeddings) and read as
 * they are.
 */
@Command(
    name = "preprocess",
    mixinStandardHelpOptions = true,
    description = {
      "Writes a data set in FastVideo's preprocessed Parquet format (T2V schema).",
      "Only the synthetic demo set can be generated here (coloured shapes moving across a plain"
          + " background, captions naming colour, shape and direction); real videos are"
          + " preprocessed with FastVideo and used as they are."
    })
final class PreprocessCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Option(names = "--synthetic", required = true, description = "Generate the synthetic demo set.")
  boolean synthetic;

  @Option(names = "--output", required = true, paramLabel = "DIR", description = "Output folder.")
  Path output;

  @Option(
      names = "--clips",
      defaultValue = "1024",
      description = "Clips (default: ${DEFAULT-VALUE}).")
  int clips;

  @Option(names = "--seed", defaultValue = "0", description = "Seed (default: ${DEFAULT-VALUE}).")
  long seed;

  @Option(
      names = "--frames",
      defaultValue = "4",
      description = "Frames per clip (default: ${DEFAULT-VALUE}).")
  int frames;

  @Option(
      names = "--size",
      defaultValue = "16",
      paramLabel = "PX",
      description = "Height and width in pixels (default: ${DEFAULT-VALUE}).")
  int size;

  @Option(
      names = "--text-dim",
      defaultValue = "32",
      description = "Width of the caption embeddings (default: ${DEFAULT-VALUE}).")
  int textDim;

  @Override
  public Integer call() {
    var defaults = SyntheticDataset.Params.of(clips, seed);
    var params =
        new SyntheticDataset.Params(
            clips, seed, frames, size, size, textDim, defaults.rowsPerFile());
    var written = SyntheticDataset.write(output, params);
    spec.commandLine()
        .getOut()
        .println(
            (written.reused() ? "up to date: " : "wrote ")
                + written.rows()
                + " clips to "
                + written.dir()
                + " (validation prompts: "
                + written.validationJson()
                + ")");
    return 0;
  }
}
