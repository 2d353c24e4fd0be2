package io.kinema.bench;

import io.kinema.tensor.ActivationGrad;
import io.kinema.tensor.Tensor;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.Blackhole;

/**
 * The tanh GELU's backward {@code g * gelu_tanh'(x)} on the CPU backend, f32, on a Wan FFN
 * activation ([2048, 8960]: 2048 tokens of Wan 1.3B's FFN; the 512-row shape is a quarter of it):
 * {@link #composed}, the 15 tensor ops autograd ran before (each a pass over the tensor with a
 * temporary), against {@link #fused}, {@link ActivationGrad#geluTanh}'s one pass with the same
 * bits. The fused op reads two tensors and writes one: {@code 3 * 4 * rows * cols} bytes.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@State(Scope.Benchmark)
@Fork(
    value = 1,
    jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
public class GeluBackwardBench {
  @Param({"2048x8960"})
  public String shape;

  private Tensor x, g;

  @Setup
  public void setup() {
    String[] p = shape.split("x");
    long rows = Long.parseLong(p[0]), cols = Long.parseLong(p[1]);
    x = Tensor.of(random(rows * cols, 1), rows, cols);
    g = Tensor.of(random(rows * cols, 2), rows, cols);
  }

  private static float[] random(long n, long seed) {
    SplittableRandom rnd = new SplittableRandom(seed);
    float[] v = new float[Math.toIntExact(n)];
    for (int i = 0; i < v.length; i++) v[i] = (float) (rnd.nextDouble() * 8 - 4);
    return v;
  }

  @TearDown
  public void tearDown() {
    x.close();
    g.close();
  }

  /** The derivative as tensor ops (autograd's former rule); the scope frees the temporaries. */
  @Benchmark
  public void composed(Blackhole bh) {
    try (var s = io.kinema.tensor.Scope.open()) {
      double c = Math.sqrt(2 / Math.PI), a = 0.044715;
      Tensor t = x.add(x.pow(3).mul(a)).mul(c).tanh();
      Tensor inner = x.square().mul(3 * a).add(1).mul(c);
      bh.consume(g.mul(t.add(1).mul(0.5).add(x.mul(0.5).mul(t.square().neg().add(1)).mul(inner))));
    }
  }

  @Benchmark
  public void fused(Blackhole bh) {
    try (Tensor dx = ActivationGrad.geluTanh(g, x)) {
      bh.consume(dx);
    }
  }
}
