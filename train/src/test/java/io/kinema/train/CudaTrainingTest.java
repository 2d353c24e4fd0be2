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
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.kinema.ffi.cuda.CudaDevices;
import io.kinema.ffi.cuda.CudaLibrary;
import io.kinema.ffi.cuda.junit.RequiresCuda;
import java.nio.file.Path;
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
    data = TinyRuns.data(work);
  }

  /**
   * Three steps of a 2-layer DiT, batch 2, in {@code precision} on {@code device} (a YAML scalar,
   * or a flow list of devices for data parallelism).
   */
  private static Path config(
      String name, String method, String student, String device, String precision)
      throws Exception {
    String devices = (device.startsWith("[") ? "devices: " : "device: ") + device;
    return TinyRuns.config(
        work,
        data,
        name,
        new TinyRuns.Run(method, student, 2, 3, 11, devices + "\ndit_precision: " + precision));
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
