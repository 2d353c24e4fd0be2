package io.kinema.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonParser;
import io.kinema.train.config.RunConfig;
import io.kinema.train.data.synthetic.SyntheticDataset;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Test helper: tiny training runs on a small synthetic set (a tiny-preset DiT, batch 2, grad
 * clipping, EMA, a checkpoint every step), their logged losses and final weights.
 */
final class TinyRuns {
  private TinyRuns() {}

  static final String SFT = "  _target_: io.kinema.train.method.FineTuneMethod";
  static final String WAN = "    _target_: io.kinema.diffusion.wan.WanTransformer3D";
  static final String DFSFT =
      "  _target_: io.kinema.train.method.DiffusionForcingSftMethod\n"
          + "  chunk_size: 2\n"
          + "  min_timestep_ratio: 0.02\n"
          + "  max_timestep_ratio: 0.98";
  static final String CAUSAL =
      "    _target_: fastvideo.train.models.wan.WanCausalModel\n    num_frames_per_block: 2";

  /** Writes the synthetic data set (8 clips) into {@code work/data} and returns that folder. */
  static Path data(Path work) {
    Path data = work.resolve("data");
    SyntheticDataset.write(data, new SyntheticDataset.Params(8, 3, 4, 16, 16, 16, 256));
    return data;
  }

  /** What varies between the tests' runs. */
  record Run(String method, String student, int layers, int steps, int seed, String training) {}

  /**
   * Writes {@code work/NAME.yaml} for {@code run}: its {@code training} lines (e.g. {@code
   * "devices: [cpu, cpu]"}, two-space indented YAML under {@code training:}) go before the data
   * section; the output folder is {@code out-NAME}.
   */
  static Path config(Path work, Path data, String name, Run run) throws Exception {
    String yaml =
        """
        models:
          student:
        %s
            init_from: preset:tiny
            arch: {in_channels: 16, out_channels: 16, text_dim: 16, num_layers: %d}
        method:
        %s
        training:
        %s
          data:
            data_path: %s
            train_batch_size: 2
            text_len: 8
            seed: %d
          optimizer:
            learning_rate: 1.0e-3
          loop:
            max_train_steps: %d
          checkpoint:
            output_dir: out-%s
            training_state_checkpointing_steps: 1
        callbacks:
          grad_clip: {max_grad_norm: 1.0}
          ema: {decay: 0.9, start_iter: 1}
        pipeline: {decoder: demo}
        """
            .formatted(
                run.student(),
                run.layers(),
                run.method(),
                run.training().indent(2).stripTrailing(),
                data,
                run.seed(),
                run.steps(),
                name);
    Path p = work.resolve(name + ".yaml");
    Files.writeString(p, yaml);
    return p;
  }

  /** Trains {@code yaml} with the CLI-style {@code overrides}; returns the output folder. */
  static Path train(Path yaml, String... overrides) throws Exception {
    RunConfig config = RunConfig.load(yaml, List.of(overrides));
    try (Trainer t = Trainer.create(config, new PrintWriter(new StringWriter()))) {
      t.train();
    }
    return config.training().checkpoint().outputDir();
  }

  /** The losses a run logged, by step. */
  static List<Double> losses(Path out) throws Exception {
    List<Double> l = new ArrayList<>();
    for (String line : Files.readAllLines(out.resolve("metrics.jsonl"))) {
      l.add(JsonParser.parseString(line).getAsJsonObject().get("loss").getAsDouble());
    }
    return l;
  }

  /** The bytes of a run's exported final weights. */
  static byte[] weights(Path out) throws Exception {
    return Files.readAllBytes(
        out.resolve("final/student/transformer/diffusion_pytorch_model.safetensors"));
  }

  /** Each of {@code got} within relative {@code tol} of {@code want}'s. */
  static void assertClose(List<Double> want, List<Double> got, double tol) {
    assertEquals(want.size(), got.size());
    for (int i = 0; i < want.size(); i++) {
      assertTrue(
          Math.abs(want.get(i) - got.get(i)) <= tol * Math.abs(want.get(i)),
          "step " + (i + 1) + ": " + want + " vs " + got);
    }
  }
}
