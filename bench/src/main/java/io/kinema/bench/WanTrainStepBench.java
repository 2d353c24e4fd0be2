package io.kinema.bench;

import io.kinema.diffusion.wan.WanConfig;
import io.kinema.diffusion.wan.WanTransformer3D;
import io.kinema.nn.optim.Adam;
import io.kinema.nn.optim.AdamW;
import io.kinema.tensor.Backends;
import io.kinema.tensor.DType;
import io.kinema.tensor.Device;
import io.kinema.tensor.Generator;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.backend.Backend;
import io.kinema.tensor.cpu.CpuAllocator;
import io.kinema.tensor.cuda.CudaBackend;
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
 * per-block gradient checkpointing on. The teardown prints the allocator's peak. {@code -p
 * device=cuda:0} runs it on a GPU (inputs drawn on the CPU, so the same values).
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

  /**
   * {@code issue-8L}: the configuration above; {@code issue-1L}: one of its blocks; {@code
   * wan1.3B-1L}: one block of the public 1.3B model (dim 1536, FFN 8960, 12 heads, text_dim 4096)
   * with 512 text tokens, same 2,048 video tokens.
   */
  @Param({"issue-8L", "issue-1L", "wan1.3B-1L"})
  public String model;

  /** Where the model runs: {@code cpu} or {@code cuda:N}. */
  @Param({"cpu"})
  public String device;

  static WanConfig config(String model) {
    if (model.equals("wan1.3B-1L")) return WanConfig.t2v1_3B().withNumLayers(1);
    if (!model.startsWith("issue-")) throw new IllegalArgumentException("unknown model " + model);
    WanConfig t = WanConfig.tiny();
    int layers = model.equals("issue-8L") ? 8 : 1;
    return new WanConfig(
        t.patchSize(),
        8,
        64,
        16,
        16,
        256,
        256,
        2048,
        layers,
        true,
        WanConfig.RMS_NORM_ACROSS_HEADS,
        1e-6,
        null,
        null,
        1024,
        null);
  }

  private WanTransformer3D net;
  private AdamW opt;
  private Tensor x, t, ctx, target;
  private Backend backend;
  private long peak;

  @Setup(Level.Trial)
  public void setUp() {
    Generator g = new Generator(3);
    Device d = Device.parse(device);
    backend = Backends.of(d);
    WanConfig config = config(model);
    net = new WanTransformer3D(config, DType.F32, g);
    net.to(d);
    net.gradientCheckpointing(checkpointing);
    opt = new AdamW(net.trainableParameters(), Adam.config().lr(1e-5));
    x = onDevice(Tensor.randn(g, DType.F32, Device.CPU, 1, 16, 8, 32, 32), d);
    target = onDevice(Tensor.randn(g, DType.F32, Device.CPU, 1, 16, 8, 32, 32), d);
    int textTokens = model.startsWith("wan1.3B") ? 512 : 64;
    ctx = onDevice(Tensor.randn(g, DType.F32, Device.CPU, 1, textTokens, config.textDim()), d);
    t = onDevice(Tensor.full(500, DType.F32, Device.CPU, 1), d);
  }

  private static Tensor onDevice(Tensor host, Device d) {
    try (host) {
      return host.to(d).share();
    }
  }

  @Benchmark
  public double step() {
    if (backend instanceof CudaBackend cuda) {
      cuda.resetPeakMemory();
    } else {
      CpuAllocator.get().resetPeak();
    }
    try (var s = Scope.open()) {
      Tensor loss = net.forward(x, t, ctx).sub(target).square().mean();
      loss.backward();
      opt.step();
      opt.zeroGrad();
      peak = Math.max(peak, backend.memoryStats().peakAllocated());
      return loss.item();
    }
  }

  @Benchmark
  public double forward() {
    try (var s = Scope.open();
        var ng = GradMode.noGrad()) {
      return net.forward(x, t, ctx).sum().item();
    }
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    if (peak > 0) { // only the step benchmark measures it
      System.out.printf(
          Locale.ROOT,
          "%n[Wan train step] %s checkpointing=%s: allocator peak %.0f MiB (parameters %d)%n",
          model,
          checkpointing,
          peak / 1048576.0,
          net.parameterCount(false));
    }
    for (Tensor u : new Tensor[] {x, t, ctx, target}) u.close();
    opt.close();
    net.close();
  }
}
