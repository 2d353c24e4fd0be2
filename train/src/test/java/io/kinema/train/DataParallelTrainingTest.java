package io.kinema.train;

import static io.kinema.train.TinyRuns.CAUSAL;
import static io.kinema.train.TinyRuns.DFSFT;
import static io.kinema.train.TinyRuns.SFT;
import static io.kinema.train.TinyRuns.WAN;
import static io.kinema.train.TinyRuns.assertClose;
import static io.kinema.train.TinyRuns.losses;
import static io.kinema.train.TinyRuns.train;
import static io.kinema.train.TinyRuns.weights;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kinema.train.config.ConfigException;
import io.kinema.train.config.RunConfig;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
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
    data = TinyRuns.data(work);
  }

  /** A tiny run: a 1-layer DiT, global batch 2, 2 steps, grad clipping and EMA. */
  private static Path config(String name, String method, String student, String devices)
      throws Exception {
    return TinyRuns.config(
        work, data, name, new TinyRuns.Run(method, student, 1, 2, 7, "devices: " + devices));
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
