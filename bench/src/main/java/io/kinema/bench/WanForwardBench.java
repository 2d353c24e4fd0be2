package io.kinema.bench;

import io.kinema.diffusion.wan.WanConfig;
import io.kinema.diffusion.wan.WanTransformer3D;
import io.kinema.tensor.DType;
import io.kinema.tensor.Device;
import io.kinema.tensor.Generator;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.cpu.CpuAllocator;
import io.kinema.tensor.grad.GradMode;
import java.util.Arrays;
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
 * One forward of the public Wan 2.1 T2V 1.3B preset on the CPU (zero weights: the values do not
 * change the work), 512 text tokens, timestep 500, no grad. Single shot: a forward takes seconds.
 * The teardown prints the allocator's peak above the weights and inputs for the last call.
 *
 * <pre>./kinema bench WanForwardBench -p latent=1x16x1x32x32 -p dtype=BF16</pre>
 */
@State(org.openjdk.jmh.annotations.Scope.Benchmark)
@BenchmarkMode(Mode.SingleShotTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 1)
@Measurement(iterations = 3)
@Fork(
    value = 1,
    jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
public class WanForwardBench {
  /** Latent [B, C, F, H, W]; 1x16x1x60x104 is one 480x832 frame. */
  @Param({"1x16x1x32x32", "1x16x1x60x104"})
  public String latent;

  @Param({"BF16", "F32"})
  public String dtype;

  private WanTransformer3D model;
  private Tensor x, t, ctx;
  private long baseline, peak;

  @Setup(Level.Trial)
  public void setUp() {
    DType dt = DType.valueOf(dtype);
    long[] shape = Arrays.stream(latent.split("x")).mapToLong(Long::parseLong).toArray();
    model = new WanTransformer3D(WanConfig.t2v1_3B(), dt, null);
    Generator gen = new Generator(1);
    x = Tensor.randn(gen, dt, Device.CPU, shape);
    ctx = Tensor.randn(gen, dt, Device.CPU, shape[0], 512, 4096);
    t = Tensor.full(500, DType.F64, Device.CPU, shape[0]);
    baseline = CpuAllocator.get().stats().allocated();
  }

  @Benchmark
  public double forward() {
    CpuAllocator.get().resetPeak();
    try (var s = Scope.open();
        var ng = GradMode.noGrad()) {
      double v = model.forward(x, t, ctx).sum().item();
      peak = CpuAllocator.get().stats().peakAllocated() - baseline;
      return v;
    }
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    System.out.printf(
        Locale.ROOT,
        "%n[Wan 1.3B] %s %s: peak %.1f MiB above weights and inputs%n",
        latent,
        dtype,
        peak / 1048576.0);
    x.close();
    t.close();
    ctx.close();
    model.close();
  }
}
