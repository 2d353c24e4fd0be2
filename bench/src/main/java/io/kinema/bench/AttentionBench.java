package io.kinema.bench;

import io.kinema.tensor.AttentionMask;
import io.kinema.tensor.Tensor;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Fused scaled dot-product attention, F32, one batch of {@code H = 12} heads: q, k, v {@code [1,
 * 12, S, D]}, scale {@code 1/sqrt(D)}.
 *
 * <p>FLOP count: {@code 4 * B * H * S * S * D} for full attention (2 S^2 D for q k^T plus 2 S^2 D
 * for p v per head), half that for causal. GFLOP/s = flops / (time per op):
 *
 * <ul>
 *   <li>S = 1024, D = 64: 3.22 GFLOP (causal 1.61)
 *   <li>S = 1024, D = 128: 6.44 GFLOP (causal 3.22)
 *   <li>S = 4096, D = 64: 51.5 GFLOP (causal 25.8)
 *   <li>S = 4096, D = 128: 103.1 GFLOP (causal 51.5)
 * </ul>
 *
 * Softmax exponentials and masking are not counted.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(
    value = 1,
    jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
public class AttentionBench {
  @Param({"1024", "4096"})
  public int seq;

  @Param({"64", "128"})
  public int headDim;

  @Param({"false", "true"})
  public boolean causal;

  private static final int HEADS = 12;

  private Tensor q, k, v;
  private AttentionMask mask;

  @Setup(Level.Trial)
  public void setup() {
    Random r = new Random(42);
    q = random(r);
    k = random(r);
    v = random(r);
    mask = causal ? AttentionMask.CAUSAL : AttentionMask.NONE;
  }

  private Tensor random(Random r) {
    float[] x = new float[HEADS * seq * headDim];
    for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
    return Tensor.of(x, 1, HEADS, seq, headDim);
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    q.close();
    k.close();
    v.close();
  }

  /** Flops of one call, for GFLOP/s = flops / time. */
  public double flops() {
    return 4.0 * HEADS * seq * seq * headDim * (causal ? 0.5 : 1);
  }

  @Benchmark
  public double attention() {
    try (Tensor out = Tensor.scaledDotProductAttention(q, k, v, mask)) {
      return out.get(0, 0, 0, 0);
    }
  }
}
