package io.kinema.bench;

import io.kinema.nn.Attention;
import io.kinema.nn.FeedForward;
import io.kinema.nn.LayerNorm;
import io.kinema.nn.Module;
import io.kinema.nn.ModuleList;
import io.kinema.nn.optim.Adam;
import io.kinema.nn.optim.AdamW;
import io.kinema.tensor.AttentionMask;
import io.kinema.tensor.DType;
import io.kinema.tensor.Device;
import io.kinema.tensor.Generator;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
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
 * One training step (forward, backward, AdamW) of a small pre-norm transformer, F32, on the CPU (or
 * {@code -p device=cuda:0}, where the step's many small kernels make it a measure of the per-op
 * host overhead): {@value #BLOCKS} blocks of dim {@value #DIM}, {@value #HEADS} heads, FFN {@value
 * #FFN} (GELU tanh), {@value #TOKENS} tokens, batch 1, loss = mean(y^2). {@code
 * bench/python/torch_peer.py} times the same model in PyTorch.
 *
 * <p>Matmul work: per block and token, 4 D^2 (q, k, v, out) + 2 D F (FFN) multiply-adds, plus
 * attention's 2 S D; forward = 2 x that in flops, a training step ~3 x forward. {@link #FLOPS}.
 */
@State(org.openjdk.jmh.annotations.Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(
    value = 1,
    jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
public class TrainStepBench {
  public static final int BLOCKS = 4, DIM = 256, HEADS = 4, FFN = 1024, TOKENS = 256;

  /** Flops of one training step (3 x the forward's matmul and attention flops). */
  public static final double FLOPS =
      3.0 * BLOCKS * TOKENS * 2.0 * (4.0 * DIM * DIM + 2.0 * DIM * FFN + 2.0 * TOKENS * DIM);

  /** The benchmarked model. */
  static final class Transformer extends Module {
    final ModuleList<Block> blocks = registerModule("blocks", new ModuleList<>());

    Transformer(Generator g) {
      for (int i = 0; i < BLOCKS; i++) blocks.add(new Block(g));
    }

    Tensor forward(Tensor x) {
      for (Block b : blocks) x = b.forward(x);
      return x;
    }
  }

  static final class Block extends Module {
    final LayerNorm norm1 = registerModule("norm1", new LayerNorm(DIM));
    final LayerNorm norm2 = registerModule("norm2", new LayerNorm(DIM));
    final Attention attn;
    final FeedForward ffn;

    Block(Generator g) {
      attn = registerModule("attn", new Attention(DIM, HEADS, Attention.QkNorm.NONE, DType.F32, g));
      ffn = registerModule("ffn", new FeedForward(DIM, FFN, g));
    }

    Tensor forward(Tensor x) {
      Tensor h = x.add(attn.forward(norm1.forward(x), AttentionMask.NONE));
      return h.add(ffn.forward(norm2.forward(h)));
    }
  }

  /** Where the model runs: {@code cpu} or {@code cuda:N}. */
  @Param({"cpu"})
  public String device;

  private Transformer model;
  private AdamW opt;
  private Tensor input;

  @Setup(Level.Trial)
  public void setUp() {
    Generator g = new Generator(0);
    Device d = Device.parse(device);
    model = new Transformer(g);
    model.to(d);
    opt = new AdamW(model.trainableParameters(), Adam.config().lr(1e-4));
    try (Tensor x = Tensor.randn(g, DType.F32, Device.CPU, 1, TOKENS, DIM)) {
      input = x.to(d).share(); // the same values on every device
    }
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    opt.close();
    model.close();
    input.close();
  }

  @Benchmark
  public double step() {
    try (var s = Scope.open()) {
      Tensor loss = model.forward(input).square().mean();
      loss.backward();
      opt.step();
      opt.zeroGrad();
      return loss.item();
    }
  }

  @Benchmark
  public double forward() {
    try (var s = Scope.open();
        var ng = io.kinema.tensor.grad.GradMode.noGrad()) {
      return model.forward(input).square().mean().item();
    }
  }
}
