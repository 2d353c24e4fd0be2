package io.kinema.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonParser;
import io.kinema.train.config.ConfigException;
import io.kinema.train.config.RunConfig;
import io.kinema.train.data.synthetic.SyntheticDataset;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Data-parallel training with CPU replicas: two replicas on halves of each global batch train as
 * one replica on the whole batch (up to rounding), and a two-replica run replays bit for bit, also
 * across a checkpoint and resume.
 */
class DataParallelTrainingTest {
  @TempDir static Path work;
  static Path data;

  @BeforeAll
  static void syntheticData() {
    data = work.resolve("data");
    SyntheticDataset.write(data, new SyntheticDataset.Params(8, 3, 4, 16, 16, 16, 256));
  }

  private static final String SFT = "  _target_: io.kinema.train.method.FineTuneMethod";
  private static final String WAN = "    _target_: io.kinema.diffusion.wan.WanTransformer3D";
  private static final String DFSFT =
      "  _target_: io.kinema.train.method.DiffusionForcingSftMethod\n"
          + "  chunk_size: 2\n"
          + "  min_timestep_ratio: 0.02\n"
          + "  max_timestep_ratio: 0.98";
  private static final String CAUSAL =
      "    _target_: fastvideo.train.models.wan.WanCausalModel\n    num_frames_per_block: 2";

  /** A tiny run: a 1-layer DiT, global batch 2, 2 steps, grad clipping and EMA. */
  private static Path config(String name, String method, String student, String devices)
      throws Exception {
    String yaml =
        """
        models:
          student:
        %s
            init_from: preset:tiny
            arch: {in_channels: 16, out_channels: 16, text_dim: 16, num_layers: 1}
        method:
        %s
        training:
          devices: %s
          data:
            data_path: %s
            train_batch_size: 2
            text_len: 8
            seed: 7
          optimizer:
            learning_rate: 1.0e-3
          loop:
            max_train_steps: 2
          checkpoint:
            output_dir: out-%s
            training_state_checkpointing_steps: 1
        callbacks:
          grad_clip: {max_grad_norm: 1.0}
          ema: {decay: 0.9, start_iter: 1}
        pipeline: {decoder: demo}
        """
            .formatted(student, method, devices, data, name);
    Path p = work.resolve(name + ".yaml");
    Files.writeString(p, yaml);
    return p;
  }

  private static Path train(Path yaml, String... overrides) throws Exception {
    RunConfig config = RunConfig.load(yaml, List.of(overrides));
    try (Trainer t = Trainer.create(config, new PrintWriter(new StringWriter()))) {
      t.train();
    }
    return config.training().checkpoint().outputDir();
  }

  private static List<Double> losses(Path out) throws Exception {
    List<Double> l = new ArrayList<>();
    for (String line : Files.readAllLines(out.resolve("metrics.jsonl"))) {
      l.add(JsonParser.parseString(line).getAsJsonObject().get("loss").getAsDouble());
    }
    return l;
  }

  private static byte[] weights(Path out) throws Exception {
    return Files.readAllBytes(
        out.resolve("final/student/transformer/diffusion_pytorch_model.safetensors"));
  }

  private static void assertClose(List<Double> want, List<Double> got, double tol) {
    assertEquals(want.size(), got.size());
    for (int i = 0; i < want.size(); i++) {
      assertTrue(
          Math.abs(want.get(i) - got.get(i)) <= tol * Math.abs(want.get(i)),
          "step " + (i + 1) + ": " + want + " vs " + got);
    }
  }

  @Test
  void twoReplicasTrainAsOneOnTheWholeBatch() throws Exception {
    List<Double> one = losses(train(config("sft1", SFT, WAN, "[cpu]")));
    List<Double> two = losses(train(config("sft2", SFT, WAN, "[cpu, cpu]")));
    assertClose(one, two, 1e-4);
  }

  /**
   * Diffusion forcing draws a noise level per (sample, chunk): each replica keeps its samples' rows
   * of the global draw. The two-replica run replays bit for bit, and resumes exactly.
   */
  @Test
  void diffusionForcingShardsItsDrawsReplaysAndResumesExactly() throws Exception {
    List<Double> one = losses(train(config("df1", DFSFT, CAUSAL, "[cpu]")));
    Path yaml = config("df2", DFSFT, CAUSAL, "[cpu, cpu]");
    Path a = train(yaml);
    assertClose(one, losses(a), 1e-4);
    Path b = train(yaml, "--training.checkpoint.output_dir=" + work.resolve("out-df2-again"));
    assertEquals(losses(a), losses(b));
    assertArrayEquals(weights(a), weights(b), "final weights of two identical runs");
    Path resumed =
        train(
            yaml,
            "--training.checkpoint.output_dir=" + work.resolve("out-df2-resumed"),
            "--training.checkpoint.resume_from_checkpoint=" + a.resolve("checkpoint-1"));
    assertEquals(losses(a).subList(1, 2), losses(resumed));
    assertArrayEquals(weights(a), weights(resumed), "final weights after resuming at step 1");
  }

  @Test
  void aCudaDeviceThatDoesNotExistIsAConfigError() throws Exception {
    RunConfig config = RunConfig.load(config("nogpu", SFT, WAN, "[cuda:6, cuda:7]"), List.of());
    var e =
        assertThrows(
            ConfigException.class,
            () -> Trainer.create(config, new PrintWriter(new StringWriter())));
    assertEquals("training.devices", e.path());
    assertTrue(e.getMessage().contains("cuda:6 does not exist"), e.getMessage());
  }
}
