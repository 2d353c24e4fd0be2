package io.kinema.bench;

import io.kinema.tensor.Attention;
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
 * Attention forward + backward (F32, CPU) under the causal Wan model's teacher-forcing mask, as an
 * explicit BOOL matrix vs {@link AttentionMask.KeyRanges}. The sequence is {@code [clean | noisy]},
 * {@code 2 * frames * tokens} long, one frame per causal block; clean token n sees the clean keys
 * up to the end of its frame, noisy token {@code len + pos} the clean frames before its own and its
 * own noisy frame.
 *
 * <p>{@code shape = "4x16"} is the default demo ({@code demo.yaml}: batch 32, 4 heads of 32, 4
 * latent frames of 8x8 with patch 2x2, so 16 tokens per frame and 128 in the teacher-forcing
 * sequence); {@code "8x64"} a longer clip (1024 tokens), where more key blocks can be skipped.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(
    value = 1,
    jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
public class MaskedAttentionBench {
  /** {@code frames x tokens per frame}. */
  @Param({"4x16", "8x64"})
  public String shape;

  @Param({"explicit", "keyRanges"})
  public String mask;

  private static final int BATCH = 32, HEADS = 4, HEAD_DIM = 32;
  private Tensor q, k, v, gradOut;
  private AttentionMask attentionMask;
  private double scale;

  @Setup(Level.Trial)
  public void setup() {
    String[] ft = shape.split("x");
    int frames = Integer.parseInt(ft[0]), tokens = Integer.parseInt(ft[1]);
    int len = frames * tokens, seq = 2 * len;
    int batch =
        frames * tokens > 256 ? 4 : BATCH; // the long clip: a smaller batch, same work scale
    Random r = new Random(42);
    q = random(r, batch, seq);
    k = random(r, batch, seq);
    v = random(r, batch, seq);
    gradOut = random(r, batch, seq);
    scale = 1 / Math.sqrt(HEAD_DIM);
    int[] ranges = new int[4 * seq];
    for (int n = 0; n < seq; n++) {
      int pos = n % len, start = pos / tokens * tokens, end = start + tokens;
      if (n < len) {
        ranges[4 * n + 1] = end;
      } else {
        ranges[4 * n + 1] = start;
        ranges[4 * n + 2] = len + start;
        ranges[4 * n + 3] = len + end;
      }
    }
    if (mask.equals("keyRanges")) {
      attentionMask = AttentionMask.KeyRanges.of(ranges);
    } else {
      boolean[] allowed = new boolean[seq * seq];
      for (int n = 0; n < seq; n++) {
        for (int j = 0; j < seq; j++) {
          allowed[n * seq + j] =
              (ranges[4 * n] <= j && j < ranges[4 * n + 1])
                  || (ranges[4 * n + 2] <= j && j < ranges[4 * n + 3]);
        }
      }
      attentionMask = new AttentionMask.Explicit(Tensor.of(allowed, seq, seq));
    }
  }

  private static Tensor random(Random r, int batch, int seq) {
    float[] x = new float[batch * HEADS * seq * HEAD_DIM];
    for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
    return Tensor.of(x, batch, HEADS, seq, HEAD_DIM);
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    q.close();
    k.close();
    v.close();
    gradOut.close();
  }

  /** One training step's attention: the forward (with lse) and the blockwise backward. */
  @Benchmark
  public double forwardBackward() {
    Attention.Forward f = Attention.forward(q, k, v, attentionMask, scale);
    Attention.Grads g =
        Attention.backward(q, k, v, f.out(), f.lse(), gradOut, attentionMask, scale);
    double x = g.q().get(0, 0, 0, 0);
    f.out().close();
    f.lse().close();
    g.q().close();
    g.k().close();
    g.v().close();
    return x;
  }
}
