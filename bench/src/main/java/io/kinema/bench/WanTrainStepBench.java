package io.kinema.bench;

import io.kinema.diffusion.wan.WanConfig;
import io.kinema.diffusion.wan.WanTransformer3D;
import io.kinema.nn.optim.Adam;
import io.kinema.nn.optim.AdamW;
import io.kinema.tensor.DType;
import io.kinema.tensor.Device;
import io.kinema.tensor.Generator;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.cpu.CpuAllocator;
import io.kinema.tensor.grad.GradMode;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The Wan-models issue's training-step target, f32 on the CPU: a Wan DiT of dim 512 (8 heads of
 * 64), FFN 2048, 8 layers, text_dim 256 with 64 text tokens, latent [1, 16, 8, 32, 32] (patch [1,
 * 2, 2]: 2,048 tokens), batch 1; one step = forward, flow-matching-style MSE against a random
 * target, backward, AdamW. About 576 GFLOP of matmul work per step. {@code checkpointing} turns
 * per-block gradient checkpointing on. The teardown prints the allocator's peak.
 */
@State(org.openjdk.jmh.annotations.Scope.Benchmark)
@BenchmarkMode(Mode.SingleShotTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2)
@Measurement(iterations = 3)
@Fork(
    value = 1,
    jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
public class WanTrainStepBench {
  @Param({"false", "true"})
  public boolean checkpointing;

  static WanConfig config() {
    WanConfig t = WanConfig.tiny();
    return new WanConfig(
        t.patchSize(),
        8,
        64,
        16,
        16,
        256,
        256,
        2048,
        8,
        true,
        WanConfig.RMS_NORM_ACROSS_HEADS,
        1e-6,
        null,
        null,
        1024,
        null);
  }

  private WanTransformer3D model;
  private AdamW opt;
  private Tensor x, t, ctx, target;
  private long peak;

  @Setup(Level.Trial)
  public void setUp() {
    Generator g = new Generator(3);
    model = new WanTransformer3D(config(), DType.F32, g);
    model.gradientCheckpointing(checkpointing);
    opt = new AdamW(model.trainableParameters(), Adam.config().lr(1e-5));
    x = Tensor.randn(g, DType.F32, Device.CPU, 1, 16, 8, 32, 32);
    target = Tensor.randn(g, DType.F32, Device.CPU, 1, 16, 8, 32, 32);
    ctx = Tensor.randn(g, DType.F32, Device.CPU, 1, 64, 256);
    t = Tensor.full(500, DType.F32, Device.CPU, 1);
  }

  @Benchmark
  public double step() {
    CpuAllocator.get().resetPeak();
    try (var s = Scope.open()) {
      Tensor loss = model.forward(x, t, ctx).sub(target).square().mean();
      loss.backward();
      opt.step();
      opt.zeroGrad();
      peak = Math.max(peak, CpuAllocator.get().stats().peakAllocated());
      return loss.item();
    }
  }

  @Benchmark
  public double forward() {
    try (var s = Scope.open();
        var ng = GradMode.noGrad()) {
      return model.forward(x, t, ctx).sum().item();
    }
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    if (peak > 0) { // only the step benchmark measures it
      System.out.printf(
          Locale.ROOT,
          "%n[Wan train step] checkpointing=%s: allocator peak %.0f MiB (parameters %d)%n",
          checkpointing,
          peak / 1048576.0,
          model.parameterCount(false));
    }
    for (Tensor u : new Tensor[] {x, t, ctx, target}) u.close();
    opt.close();
    model.close();
  }
}
