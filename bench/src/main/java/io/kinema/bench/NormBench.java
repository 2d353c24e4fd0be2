package io.kinema.bench;

import io.kinema.tensor.DType;
import io.kinema.tensor.Normalization;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.cpu.Parallel;
import java.lang.foreign.MemorySegment;
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
 * The row kernels of a Wan block on the CPU backend, f32: softmax over the last dim, layer_norm
 * with weight and bias, rms_norm with weight, on [8192, 1536] and [2048, 5120] (token rows of Wan
 * 1.3B and 14B); and their fused backwards ({@link Normalization}), which read two such tensors and
 * write one.
 *
 * <p>Each call reads the input once and writes the output once (the row is re-read from cache), so
 * it moves {@code 2 * 4 * rows * cols} bytes: 100.7 MB for [8192, 1536], 83.9 MB for [2048, 5120]
 * (weights are negligible). GB/s = bytes / average time. {@link #copy} and {@link #copyParallel}
 * (MemorySegment.copy of the same bytes: the same read + write, on one thread and on every thread
 * of the kernels' pool) are the memory-bandwidth floor to compare with.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@State(Scope.Benchmark)
@Fork(
    value = 1,
    jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
public class NormBench {
  @Param({"8192x1536", "2048x5120"})
  public String shape;

  private Tensor x, weight, bias, dst;
  private long[] normalized;
  // For the backwards: the output's gradient, the forwards' outputs and saved statistics.
  private Tensor gradOut, probs;
  private Normalization.LayerNormForward ln;
  private Normalization.RmsNormForward rms;

  @Setup
  public void setup() {
    String[] p = shape.split("x");
    long rows = Long.parseLong(p[0]), cols = Long.parseLong(p[1]);
    x = Tensor.of(random(rows * cols, 1), rows, cols);
    weight = Tensor.of(random(cols, 2), cols);
    bias = Tensor.of(random(cols, 3), cols);
    dst = Tensor.empty(DType.F32, rows, cols);
    normalized = new long[] {cols};
    gradOut = Tensor.of(random(rows * cols, 4), rows, cols);
    probs = x.softmax(-1);
    ln = Normalization.layerNorm(x, normalized, weight, bias, 1e-6);
    rms = Normalization.rmsNorm(x, normalized, weight, 1e-6);
  }

  private static float[] random(long n, long seed) {
    SplittableRandom rnd = new SplittableRandom(seed);
    float[] v = new float[(int) n];
    for (int i = 0; i < v.length; i++) v[i] = (float) (rnd.nextDouble() * 4 - 2);
    return v;
  }

  @TearDown
  public void tearDown() {
    for (Tensor t : new Tensor[] {x, weight, bias, dst, gradOut, probs}) t.close();
    for (Tensor t : new Tensor[] {ln.out(), ln.mean(), ln.rstd(), rms.out(), rms.rstd()}) {
      t.close();
    }
  }

  @Benchmark
  public void softmax(Blackhole bh) {
    try (Tensor y = x.softmax(-1)) {
      bh.consume(y);
    }
  }

  @Benchmark
  public void layerNorm(Blackhole bh) {
    try (Tensor y = x.layerNorm(normalized, weight, bias, 1e-6)) {
      bh.consume(y);
    }
  }

  @Benchmark
  public void rmsNorm(Blackhole bh) {
    try (Tensor y = x.rmsNorm(normalized, weight, 1e-6)) {
      bh.consume(y);
    }
  }

  /** softmax's gradient (reads y and dy, writes dx: 1.5x the forward's bytes). */
  @Benchmark
  public void softmaxBackward(Blackhole bh) {
    try (Tensor dx = Normalization.softmaxBackward(probs, gradOut, -1, false)) {
      bh.consume(dx);
    }
  }

  /** layer_norm's dx, dweight and dbias from the saved mean/rstd (reads x and dy, writes dx). */
  @Benchmark
  public void layerNormBackward(Blackhole bh) {
    var all = new Normalization.Wanted(true, true, true);
    var g =
        Normalization.layerNormBackward(gradOut, x, normalized, weight, ln.mean(), ln.rstd(), all);
    try (Tensor dx = g.x();
        Tensor dw = g.weight();
        Tensor db = g.bias()) {
      bh.consume(dx);
    }
  }

  /** rms_norm's dx and dweight from the saved rstd. */
  @Benchmark
  public void rmsNormBackward(Blackhole bh) {
    var g =
        Normalization.rmsNormBackward(
            gradOut,
            x,
            normalized,
            weight,
            rms.rstd(),
            new Normalization.Wanted(true, true, false));
    try (Tensor dx = g.x();
        Tensor dw = g.weight()) {
      bh.consume(dx);
    }
  }

  /** The floor: a plain copy of the same bytes (read + write), one thread. */
  @Benchmark
  public void copy() {
    MemorySegment.copy(
        x.storage().segment(), 0, dst.storage().segment(), 0, x.numel() * DType.F32.byteSize());
  }

  /** The floor with every thread of the kernels' pool copying one slice. */
  @Benchmark
  public void copyParallel() {
    MemorySegment src = x.storage().segment(), out = dst.storage().segment();
    long bytes = x.numel() * DType.F32.byteSize(), chunk = 1 << 16;
    Parallel.forRange(
        (bytes + chunk - 1) / chunk,
        1,
        (s, e) -> {
          long from = s * chunk, to = Math.min(bytes, e * chunk);
          MemorySegment.copy(src, from, out, from, to - from);
        });
  }
}
