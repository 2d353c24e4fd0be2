package io.kinema.tensor.cpu;

import io.kinema.tensor.cpu.VectorMathTest.F32Function;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.DoubleUnaryOperator;
import java.util.stream.IntStream;

/**
 * The largest error of {@link VectorMath}'s f32 functions over every float of their interesting
 * range, against {@link StrictMath} in double (not a test: minutes per function). Run from the repo
 * root after {@code ./kinema mvn -q -pl tensor -am test-compile}:
 *
 * <pre>
 * ./kinema java -cp tensor/target/classes:tensor/target/test-classes:ffi-bindings/target/classes \
 *     io.kinema.tensor.cpu.VectorMathExhaustive [exp] [tanh] [log] [sin] [cos]
 * </pre>
 *
 * Ranges: exp [-104, 89] (beyond, every result is 0 or inf), tanh |x| &lt;= 10 (beyond, +-1), log
 * every non-negative float, sin and cos |x| &lt;= 2^24 (beyond, fdlibm computes them). Measured:
 * exp 1.0086 ulp, tanh 1.0661, log 0.5000, sin 0.5000, cos 0.5000.
 */
public final class VectorMathExhaustive {
  private VectorMathExhaustive() {}

  private record Target(
      String name, F32Function f, DoubleUnaryOperator exact, float lo, float hi) {}

  public static void main(String[] args) {
    Target[] targets = {
      new Target("exp", VectorMathTest.EXP, StrictMath::exp, -104f, 89f),
      new Target("tanh", VectorMathTest.TANH, StrictMath::tanh, -10f, 10f),
      new Target("log", VectorMathTest.LOG, StrictMath::log, 0f, Float.POSITIVE_INFINITY),
      new Target("sin", VectorMathTest.SIN, StrictMath::sin, -0x1p24f, 0x1p24f),
      new Target("cos", VectorMathTest.COS, StrictMath::cos, -0x1p24f, 0x1p24f),
    };
    for (Target t : targets) {
      if (args.length > 0 && !java.util.Arrays.asList(args).contains(t.name)) continue;
      long start = System.nanoTime();
      // Max error in units of 1e-6 ulp, and its argument's bits, packed to update atomically.
      AtomicLong worst = new AtomicLong();
      int chunk = 1 << 20;
      IntStream.range(0, (int) ((1L << 32) / chunk))
          .parallel()
          .forEach(
              c -> {
                float[] xs = new float[chunk];
                int n = 0;
                for (long b = (long) c * chunk; b < (long) (c + 1) * chunk; b++) {
                  float x = Float.intBitsToFloat((int) b);
                  if (x >= t.lo && x <= t.hi) xs[n++] = x;
                }
                if (n == 0) return;
                float[] in = java.util.Arrays.copyOf(xs, n), ys = t.f.apply(in);
                for (int i = 0; i < n; i++) {
                  double e = VectorMathTest.ulps(ys[i], t.exact.applyAsDouble(in[i]));
                  long micro = Double.isFinite(e) ? (long) Math.ceil(e * 1e6) : Integer.MAX_VALUE;
                  long packed = micro << 32 | (Float.floatToRawIntBits(in[i]) & 0xffffffffL);
                  worst.accumulateAndGet(packed, Math::max);
                }
              });
      long w = worst.get();
      System.out.printf(
          "%-5s max %.6f ulp at x = %s (%.0f s)%n",
          t.name,
          (w >>> 32) / 1e6,
          Float.intBitsToFloat((int) w),
          (System.nanoTime() - start) / 1e9);
    }
  }
}
