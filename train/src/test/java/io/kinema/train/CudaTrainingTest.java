package io.kinema.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.google.gson.JsonParser;
import io.kinema.ffi.cuda.CudaDevices;
import io.kinema.ffi.cuda.CudaLibrary;
import io.kinema.ffi.cuda.junit.RequiresCuda;
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
 * Training steps of a small transformer on {@code cuda:0}: the tiny Wan DiT (full attention) and
 * its causal variant (diffusion forcing, KeyRanges masks) train on the GPU as on the CPU, up to
 * rounding, with grad clipping, EMA and a checkpoint every step; a GPU run replays bit for bit,
 * also across a resume, since every kernel and library call the backend makes is deterministic; and
 * where there are two GPUs, two NCCL replicas train as one GPU on the whole batch.
 */
@RequiresCuda({CudaLibrary.CUBLAS})
class CudaTrainingTest {
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

  /**
   * Three steps of a 2-layer DiT, batch 2, in {@code precision} on {@code device} (a YAML scalar,
   * or a flow list of devices for data parallelism).
   */
  private static Path config(
      String name, String method, String student, String device, String precision)
      throws Exception {
    String yaml =
        """
        models:
          student:
        %s
            init_from: preset:tiny
            arch: {in_channels: 16, out_channels: 16, text_dim: 16, num_layers: 2}
        method:
        %s
        training:
          %s: %s
          dit_precision: %s
          data:
            data_path: %s
            train_batch_size: 2
            text_len: 8
            seed: 11
          optimizer:
            learning_rate: 1.0e-3
          loop:
            max_train_steps: 3
          checkpoint:
            output_dir: out-%s
            training_state_checkpointing_steps: 1
        callbacks:
          grad_clip: {max_grad_norm: 1.0}
          ema: {decay: 0.9, start_iter: 1}
        pipeline: {decoder: demo}
        """
            .formatted(
                student,
                method,
                device.startsWith("[") ? "devices" : "device",
                device,
                precision,
                data,
                name);
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

  private static void assertClose(List<Double> cpu, List<Double> gpu, double tol) {
    assertEquals(cpu.size(), gpu.size());
    for (int i = 0; i < cpu.size(); i++) {
      assertTrue(
          Math.abs(cpu.get(i) - gpu.get(i)) <= tol * Math.abs(cpu.get(i)),
          "step " + (i + 1) + ": cpu " + cpu + " vs cuda " + gpu);
    }
  }

  @Test
  void fineTuningInF32TrainsAsOnTheCpu() throws Exception {
    List<Double> cpu = losses(train(config("sft-cpu", SFT, WAN, "cpu", "fp32")));
    List<Double> gpu = losses(train(config("sft-cuda", SFT, WAN, "cuda:0", "fp32")));
    // TF32 is off by default, so only summation order separates the two.
    assertClose(cpu, gpu, 1e-3);
  }

  @Test
  void fineTuningInBf16TrainsAsOnTheCpu() throws Exception {
    List<Double> cpu = losses(train(config("bf16-cpu", SFT, WAN, "cpu", "bf16")));
    List<Double> gpu = losses(train(config("bf16-cuda", SFT, WAN, "cuda:0", "bf16")));
    assertClose(cpu, gpu, 3e-2);
  }

  @Test
  void twoGpuReplicasTrainAsOneGpuOnTheWholeBatch() throws Exception {
    assumeTrue(CudaDevices.count() >= 2, "needs two CUDA devices");
    List<Double> one = losses(train(config("dp-one", SFT, WAN, "cuda:0", "fp32")));
    List<Double> two = losses(train(config("dp-two", SFT, WAN, "[cuda:0, cuda:1]", "fp32")));
    assertClose(one, two, 1e-4);
  }

  @Test
  void causalDiffusionForcingReplaysAndResumesExactlyOnTheGpu() throws Exception {
    List<Double> cpu = losses(train(config("df-cpu", DFSFT, CAUSAL, "cpu", "fp32")));
    Path yaml = config("df-cuda", DFSFT, CAUSAL, "cuda:0", "fp32");
    Path a = train(yaml);
    assertClose(cpu, losses(a), 1e-3);
    Path b = train(yaml, "--training.checkpoint.output_dir=" + work.resolve("out-df-cuda-again"));
    assertEquals(losses(a), losses(b), "two identical GPU runs");
    assertArrayEquals(weights(a), weights(b), "final weights of two identical GPU runs");
    Path resumed =
        train(
            yaml,
            "--training.checkpoint.output_dir=" + work.resolve("out-df-cuda-resumed"),
            "--training.checkpoint.resume_from_checkpoint=" + a.resolve("checkpoint-1"));
    assertEquals(losses(a).subList(1, 3), losses(resumed));
    assertArrayEquals(weights(a), weights(resumed), "final weights after resuming at step 1");
  }
}
