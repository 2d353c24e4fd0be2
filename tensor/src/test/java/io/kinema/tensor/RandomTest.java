package io.kinema.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kinema.tensor.backend.Backend;
import io.kinema.tensor.backend.RandomKind;
import io.kinema.tensor.cpu.Half;
import io.kinema.tensor.cpu.Philox;
import java.math.BigInteger;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/**
 * The random stream: exact agreement with a per-element reference of the documented stream (what
 * every backend must reproduce), distribution statistics, reproducibility and argument checks.
 */
class RandomTest {
  private static final Backend CPU = Backends.of(Device.CPU);
  private static final DType[] FLOATS = {DType.F64, DType.F32, DType.BF16, DType.F16};
  private static final int N = 1_000_000;

  // ---------------------------------------------------------------- reference stream

  private static int word(long seed, long block, int k) {
    int[] w = new int[4];
    Philox.block((int) block, (int) (block >>> 32), 0, 0, (int) seed, (int) (seed >>> 32), w);
    return w[k];
  }

  private static long u32(int w) {
    return Integer.toUnsignedLong(w);
  }

  /** Element i's one word (1/2/4-byte dtypes). */
  private static int word32(long seed, long offset, long i) {
    return word(seed, offset + i / 4, (int) (i % 4));
  }

  /** Element i's (hi, lo) words (8-byte dtypes). */
  private static int[] words64(long seed, long offset, long i) {
    int j = (int) (i % 2);
    return new int[] {word(seed, offset + i / 2, 2 * j), word(seed, offset + i / 2, 2 * j + 1)};
  }

  private static double u53(int hi, int lo) {
    return ((hi >>> 5) * 67108864.0 + (lo >>> 6)) / 9007199254740992.0;
  }

  /** The value of a half type just below x, found by walking down f32 values. */
  private static float halfBelow(float x, DType dt) {
    float y = x;
    while (roundHalf(y, dt) >= x) y = Math.nextDown(y);
    return roundHalf(y, dt);
  }

  private static float roundHalf(float v, DType dt) {
    return dt == DType.BF16
        ? Half.bf16ToFloat(Half.floatToBf16(v))
        : Half.f16ToFloat(Half.floatToF16(v));
  }

  private static double refUniform(DType dt, long seed, long offset, long i, double a, double b) {
    if (dt == DType.F64) {
      int[] w = words64(seed, offset, i);
      double v = a + (b - a) * u53(w[0], w[1]);
      return v >= b && b > a ? Math.nextDown(b) : v;
    }
    float lo = (float) a, hi = (float) b, span = (float) (b - a);
    float u = (word32(seed, offset, i) >>> 8) / 16777216f;
    float v = lo + span * u;
    if (v >= hi && hi > lo) v = Math.nextDown(hi);
    if (dt == DType.F32) return v;
    float h = roundHalf(v, dt);
    return h >= hi && hi > lo ? halfBelow(hi, dt) : h;
  }

  private static double refNormal(DType dt, long seed, long offset, long i, double a, double b) {
    double u1, u2;
    boolean cos;
    if (dt == DType.F64) {
      long blk = offset + i / 2;
      u1 = u53(word(seed, blk, 0), word(seed, blk, 1)) + Math.pow(2, -53);
      u2 = u53(word(seed, blk, 2), word(seed, blk, 3));
      cos = i % 2 == 0;
    } else {
      long blk = offset + i / 4;
      int k = (int) (i % 4), p = k / 2;
      u1 = (u32(word(seed, blk, 2 * p)) + 1) / 4294967296.0;
      u2 = u32(word(seed, blk, 2 * p + 1)) / 4294967296.0;
      cos = k % 2 == 0;
    }
    double r = StrictMath.sqrt(-2 * StrictMath.log(u1));
    double t = 2 * Math.PI * u2;
    double v = a + b * (r * (cos ? StrictMath.cos(t) : StrictMath.sin(t)));
    if (dt == DType.F64) return v;
    return dt == DType.F32 ? (float) v : roundHalf((float) v, dt);
  }

  private static long refInteger(DType dt, long seed, long offset, long i, long a, long b) {
    BigInteger r = BigInteger.valueOf(b).subtract(BigInteger.valueOf(a));
    BigInteger w;
    int shift;
    if (dt.byteSize() == 8) {
      int[] hl = words64(seed, offset, i);
      w = BigInteger.valueOf(u32(hl[0])).shiftLeft(32).or(BigInteger.valueOf(u32(hl[1])));
      shift = 64;
    } else {
      w = BigInteger.valueOf(u32(word32(seed, offset, i)));
      shift = 32;
    }
    return a + w.multiply(r).shiftRight(shift).longValueExact();
  }

  private static double[] fill(
      RandomKind kind, long seed, long offset, double a, double b, DType dt, long n) {
    try (Tensor t = Tensor.empty(dt, n)) {
      CPU.random(kind, seed, offset, a, b, t);
      return t.toDoubleArray();
    }
  }

  @Test
  void uniformMatchesTheStreamDefinition() {
    long seed = 0xdead_beef_1234L, offset = 0xffff_fffeL; // the counter's high word changes
    double[][] ranges = {{0, 1}, {-3, 5}, {100, 100.00001}, {-1e-3, 0}, {7, 7}};
    for (DType dt : FLOATS) {
      for (double[] ab : ranges) {
        int n = 1003;
        double[] got = fill(RandomKind.UNIFORM, seed, offset, ab[0], ab[1], dt, n);
        for (int i = 0; i < n; i++) {
          double want = refUniform(dt, seed, offset, i, ab[0], ab[1]);
          assertEquals(want, got[i], 0, dt + " uniform" + Arrays.toString(ab) + " element " + i);
        }
      }
    }
  }

  @Test
  void uniformStaysBelowTheUpperBoundWhenRoundingWouldReachIt() {
    try (var s = Scope.open()) {
      // Near 100 the f32 spacing is 7.6e-6, so many values of [100, 100.00001) round up to b.
      Tensor f = Tensor.empty(DType.F32, 10_000);
      CPU.random(RandomKind.UNIFORM, 1, 0, 100, 100.00001, f);
      for (double v : f.toDoubleArray()) assertTrue(v >= 100 && v < (float) 100.00001, "" + v);
      // bf16 rounds every value of [1 - 2^-9, 1) up to 1.
      Tensor h = Tensor.empty(DType.BF16, 100_000);
      CPU.random(RandomKind.UNIFORM, 1, 0, 0, 1, h);
      double max = Arrays.stream(h.toDoubleArray()).max().orElseThrow();
      assertEquals(1 - Math.pow(2, -8), max, 0, "largest bf16 below 1");
    }
  }

  @Test
  void normalMatchesTheStreamDefinition() {
    long seed = -42, offset = 77;
    for (DType dt : FLOATS) {
      for (double[] ms : new double[][] {{0, 1}, {3, 0.25}}) {
        int n = 1001;
        double[] got = fill(RandomKind.NORMAL, seed, offset, ms[0], ms[1], dt, n);
        for (int i = 0; i < n; i++) {
          assertEquals(
              refNormal(dt, seed, offset, i, ms[0], ms[1]),
              got[i],
              0,
              dt + " normal" + Arrays.toString(ms) + " element " + i);
        }
      }
    }
  }

  @Test
  void integersMatchTheStreamDefinition() {
    long seed = 2024, offset = 3;
    long[][] ranges = {
      {0, 10}, {-7, 300}, {0, 2}, {-(1L << 31), 1L << 31}, {-(1L << 53), (1L << 53) - 1}
    };
    for (DType dt : DType.values()) {
      for (long[] ab : ranges) {
        long a = ab[0], b = ab[1];
        boolean fits =
            switch (dt) {
              case BOOL -> a >= 0 && b <= 2;
              case U8 -> a >= 0 && b <= 256;
              case BF16 -> a >= -256 && b <= 257;
              case F16 -> a >= -2048 && b <= 2049;
              case F32, I32 -> b - a <= 1L << 32 && a >= Integer.MIN_VALUE && b <= 1L << 31;
              default -> true;
            };
        if (!fits) continue;
        int n = 999;
        try (Tensor t = Tensor.empty(dt, n)) {
          CPU.random(RandomKind.INTEGERS, seed, offset, a, b, t);
          long[] got = t.toLongArray();
          for (int i = 0; i < n; i++) {
            long want = refInteger(dt, seed, offset, i, a, b);
            if (dt == DType.F32) want = (long) (float) want;
            assertEquals(want, got[i], dt + " integers [" + a + ", " + b + ") element " + i);
          }
        }
      }
    }
  }

  /**
   * Frozen first values of the stream (seed 42, offset 0), computed independently with a Python
   * Philox: any change to Philox, the counter layout or the transforms breaks reproducibility of
   * saved runs and must be deliberate.
   */
  @Test
  void streamIsFrozen() {
    Generator g = new Generator(42);
    try (var s = Scope.open()) {
      float[] u = Tensor.rand(g, DType.F32, Device.CPU, 6).toFloatArray();
      assertArrayEquals(
          new float[] {0.61295986f, 0.4685865f, 0.0732317f, 0.3408615f, 0.98771864f, 0.32706332f},
          u);
    }
  }

  // ---------------------------------------------------------------- statistics

  private static double mean(double[] x) {
    double s = 0;
    for (double v : x) s += v;
    return s / x.length;
  }

  private static double variance(double[] x) {
    double m = mean(x), s = 0;
    for (double v : x) s += (v - m) * (v - m);
    return s / (x.length - 1);
  }

  /** Kolmogorov-Smirnov statistic of a sample against a continuous CDF. */
  private static double ks(double[] x, java.util.function.DoubleUnaryOperator cdf) {
    double[] s = x.clone();
    Arrays.sort(s);
    double d = 0;
    for (int i = 0; i < s.length; i++) {
      double f = cdf.applyAsDouble(s[i]);
      d = Math.max(d, Math.max(f - (double) i / s.length, (double) (i + 1) / s.length - f));
    }
    return d;
  }

  /** Numerical Recipes' Chebyshev fit of erfc (|error| < 1.2e-7), highest power last. */
  private static final double[] ERFC = {
    -1.26551223,
    1.00002368,
    0.37409196,
    0.09678418,
    -0.18628806,
    0.27886807,
    -1.13520398,
    1.48851587,
    -0.82215223,
    0.17087277
  };

  /** Standard normal CDF. */
  private static double phi(double x) {
    double z = Math.abs(x) / Math.sqrt(2), t = 1 / (1 + 0.5 * z);
    double poly = 0;
    for (int i = ERFC.length - 1; i >= 0; i--) poly = poly * t + ERFC[i];
    double erfc = t * Math.exp(-z * z + poly);
    return x >= 0 ? 1 - erfc / 2 : erfc / 2;
  }

  /** KS critical value at significance 0.001 for a sample of n. */
  private static double ksLimit(int n) {
    return 1.95 / Math.sqrt(n);
  }

  @Test
  void uniformStatistics() {
    for (DType dt : FLOATS) {
      Generator g = new Generator(11);
      try (var s = Scope.open()) {
        double[] x = Tensor.rand(g, dt, Device.CPU, 1000, 1000).toDoubleArray();
        for (double v : x) assertTrue(v >= 0 && v < 1, dt + ": " + v + " outside [0, 1)");
        assertEquals(0.5, mean(x), 0.002, dt + " mean");
        assertEquals(1 / 12.0, variance(x), 0.001, dt + " variance");
        if (dt.isHalf()) continue; // too coarse for KS and buckets: rounding moves mass across
        assertTrue(ks(x, v -> v) < ksLimit(N), dt + " KS " + ks(x, v -> v));
        // Every 1/64 bucket gets its share (chi-square, 63 dof: 99.9% quantile is ~104).
        int[] hist = new int[64];
        for (double v : x) hist[(int) (v * 64)]++;
        double chi = 0, e = N / 64.0;
        for (int c : hist) chi += (c - e) * (c - e) / e;
        assertTrue(chi < 110, dt + " chi-square " + chi);
      }
    }
  }

  @Test
  void normalStatistics() {
    for (DType dt : FLOATS) {
      Generator g = new Generator(12);
      try (var s = Scope.open()) {
        double[] x = Tensor.randn(g, dt, Device.CPU, N).toDoubleArray();
        assertEquals(0, mean(x), 0.005, dt + " mean");
        assertEquals(1, variance(x), 0.007, dt + " variance");
        long within = Arrays.stream(x).filter(v -> Math.abs(v) < 1).count();
        assertEquals(0.6827, (double) within / N, 0.0025, dt + " fraction within 1 sigma");
        long beyond3 = Arrays.stream(x).filter(v -> Math.abs(v) > 3).count();
        assertEquals(0.0027, (double) beyond3 / N, 0.0004, dt + " fraction beyond 3 sigma");
        if (!dt.isHalf()) {
          assertTrue(ks(x, RandomTest::phi) < ksLimit(N), dt + " KS " + ks(x, RandomTest::phi));
        }
        double m3 = 0, m4 = 0;
        for (double v : x) {
          m3 += v * v * v;
          m4 += v * v * v * v;
        }
        assertEquals(0, m3 / N, 0.02, dt + " skewness");
        assertEquals(3, m4 / N, 0.05, dt + " kurtosis");
      }
    }
  }

  @Test
  void normalMeanAndStd() {
    try (var s = Scope.open()) {
      Tensor t = Tensor.empty(DType.F64, 200_000);
      CPU.random(RandomKind.NORMAL, 5, 0, -2, 3, t);
      double[] x = t.toDoubleArray();
      assertEquals(-2, mean(x), 0.03);
      assertEquals(9, variance(x), 0.1);
    }
  }

  @Test
  void randintHitsEveryValueUniformly() {
    for (DType dt :
        new DType[] {DType.I32, DType.I64, DType.F32, DType.F64, DType.BF16, DType.F16}) {
      Generator g = new Generator(13);
      try (var s = Scope.open()) {
        long[] x = Tensor.randint(g, -5, 7, dt, Device.CPU, 120_000).toLongArray();
        int[] hist = new int[12];
        for (long v : x) {
          assertTrue(v >= -5 && v < 7, dt + ": " + v + " outside [-5, 7)");
          hist[(int) (v + 5)]++;
        }
        double chi = 0, e = x.length / 12.0;
        for (int c : hist) {
          assertTrue(c > 0, dt + ": a value was never drawn " + Arrays.toString(hist));
          chi += (c - e) * (c - e) / e;
        }
        assertTrue(chi < 32, dt + " chi-square " + chi + " " + Arrays.toString(hist)); // 11 dof
      }
    }
  }

  @Test
  void randintSmallAndWideDtypes() {
    Generator g = new Generator(14);
    try (var s = Scope.open()) {
      boolean[] bits = Tensor.randint(g, 0, 2, DType.BOOL, Device.CPU, 1000).toBooleanArray();
      int ones = 0;
      for (boolean b : bits) ones += b ? 1 : 0;
      assertTrue(ones > 400 && ones < 600, "bool ones " + ones);
      long[] bytes = Tensor.randint(g, 0, 256, DType.U8, Device.CPU, 100_000).toLongArray();
      boolean[] seen = new boolean[256];
      for (long v : bytes) seen[(int) v] = true;
      for (int v = 0; v < 256; v++) assertTrue(seen[v], "u8 value " + v + " never drawn");
      long lo = -(1L << 52), hi = 1L << 52;
      long[] wide = Tensor.randint(g, lo, hi, DType.I64, Device.CPU, 100_000).toLongArray();
      double m = 0;
      for (long v : wide) {
        assertTrue(v >= lo && v < hi);
        m += v / (double) hi;
      }
      assertEquals(0, m / wide.length, 0.01, "mean of the wide range, in units of high");
      long[] full =
          Tensor.randint(g, Integer.MIN_VALUE, 1L << 31, DType.I32, Device.CPU, 1000).toLongArray();
      assertTrue(Arrays.stream(full).anyMatch(v -> v < -(1L << 30)));
      assertTrue(Arrays.stream(full).anyMatch(v -> v > 1L << 30));
    }
  }

  // ---------------------------------------------------------------- reproducibility

  @Test
  void sameSeedAndOffsetGiveTheSameBits() {
    for (DType dt : FLOATS) {
      try (var s = Scope.open()) {
        double[] a = Tensor.randn(new Generator(7), dt, Device.CPU, 3, 333).toDoubleArray();
        double[] b = Tensor.randn(new Generator(7), dt, Device.CPU, 3, 333).toDoubleArray();
        double[] c = Tensor.randn(new Generator(8), dt, Device.CPU, 3, 333).toDoubleArray();
        assertArrayEquals(a, b, dt.toString());
        assertFalse(Arrays.equals(a, c), dt + ": seeds 7 and 8 gave the same values");
      }
    }
  }

  @Test
  void drawsAdvanceTheOffsetByTheirCounters() {
    Generator g = new Generator(1);
    try (var s = Scope.open()) {
      Tensor.rand(g, DType.F32, Device.CPU, 10); // 3 counters of 4 words
      assertEquals(3, g.offset());
      Tensor.randn(g, DType.F64, Device.CPU, 2, 3); // 3 counters of 2 doubles
      assertEquals(6, g.offset());
      Tensor.randint(g, 0, 5, DType.I64, Device.CPU, 5); // 3 counters
      assertEquals(9, g.offset());
      Tensor.rand(g, DType.BF16, Device.CPU); // a scalar still takes a counter
      assertEquals(10, g.offset());
      Tensor e = Tensor.rand(g, DType.F32, Device.CPU, 4, 0);
      assertEquals(0, e.numel());
      assertEquals(10, g.offset(), "an empty draw takes no counter");
    }
  }

  @Test
  void restoringTheGeneratorStateReplays() {
    Generator g = new Generator(123);
    try (var s = Scope.open()) {
      Tensor.rand(g, DType.F32, Device.CPU, 17);
      Generator.State saved = g.state();
      double[] a = Tensor.randn(g, DType.F32, Device.CPU, 50).toDoubleArray();
      long[] b = Tensor.randint(g, 0, 1000, DType.I64, Device.CPU, 9).toLongArray();
      Generator replay = new Generator(saved);
      assertArrayEquals(a, Tensor.randn(replay, DType.F32, Device.CPU, 50).toDoubleArray());
      assertArrayEquals(b, Tensor.randint(replay, 0, 1000, DType.I64, Device.CPU, 9).toLongArray());
      g.setOffset(saved.offset());
      assertArrayEquals(a, Tensor.randn(g, DType.F32, Device.CPU, 50).toDoubleArray());
      assertEquals(new Generator.State(123, saved.offset() + 13), g.state());
      assertEquals(new Generator.State(123, saved.offset() + 13 + 5), replay.state());
    }
  }

  @Test
  void consecutiveDrawsContinueTheStream() {
    try (var s = Scope.open()) {
      double[] whole = Tensor.rand(new Generator(3), DType.F32, Device.CPU, 24).toDoubleArray();
      Generator g = new Generator(3);
      double[] first = Tensor.rand(g, DType.F32, Device.CPU, 8).toDoubleArray();
      double[] second = Tensor.rand(g, DType.F32, Device.CPU, 16).toDoubleArray();
      assertArrayEquals(Arrays.copyOfRange(whole, 0, 8), first);
      assertArrayEquals(Arrays.copyOfRange(whole, 8, 24), second);
      // A shorter draw is a prefix of a longer one from the same state.
      double[] prefix = Tensor.rand(new Generator(3), DType.F32, Device.CPU, 5).toDoubleArray();
      assertArrayEquals(Arrays.copyOfRange(whole, 0, 5), prefix);
    }
  }

  @Test
  void halfDrawsAreRoundedF32Draws() {
    try (var s = Scope.open()) {
      double[] f = Tensor.randn(new Generator(9), DType.F32, Device.CPU, 999).toDoubleArray();
      double[] h = Tensor.randn(new Generator(9), DType.BF16, Device.CPU, 999).toDoubleArray();
      for (int i = 0; i < f.length; i++) assertEquals(roundHalf((float) f[i], DType.BF16), h[i], 0);
    }
  }

  @Test
  void generatorChecks() {
    Generator g = new Generator(0);
    assertThrows(IllegalArgumentException.class, () -> g.reserve(-1));
    g.setOffset(Long.MAX_VALUE - 1);
    assertThrows(ArithmeticException.class, () -> g.reserve(5));
    assertEquals(new Generator.State(0, Long.MAX_VALUE - 1), g.state());
  }

  // ---------------------------------------------------------------- argument checks

  @Test
  void badArgumentsAreReported() {
    Generator g = new Generator(0);
    var e =
        assertThrows(
            IllegalArgumentException.class, () -> Tensor.rand(g, DType.I32, Device.CPU, 3));
    assertTrue(
        e.getMessage().startsWith("rand: expected a floating-point dtype, got I32"),
        e.getMessage());
    e =
        assertThrows(
            IllegalArgumentException.class, () -> Tensor.randn(g, DType.BOOL, Device.CPU, 3));
    assertTrue(e.getMessage().startsWith("randn: expected a floating-point dtype"), e.getMessage());
    e =
        assertThrows(
            IllegalArgumentException.class,
            () -> Tensor.randint(g, 5, 5, DType.I64, Device.CPU, 3));
    assertEquals("randint: expected low < high, got low=5, high=5", e.getMessage());
    e =
        assertThrows(
            IllegalArgumentException.class,
            () -> Tensor.randint(g, 0, 300, DType.U8, Device.CPU, 3));
    assertTrue(e.getMessage().contains("[0, 300) does not fit U8"), e.getMessage());
    e =
        assertThrows(
            IllegalArgumentException.class,
            () -> Tensor.randint(g, 0, 1L << 60, DType.I64, Device.CPU, 3));
    assertTrue(e.getMessage().contains("does not fit I64"), e.getMessage());
    e =
        assertThrows(
            IllegalArgumentException.class,
            () -> Tensor.randint(g, 0, 1000, DType.BF16, Device.CPU, 3));
    assertTrue(e.getMessage().contains("does not fit BF16"), e.getMessage());
    e =
        assertThrows(
            IllegalArgumentException.class, () -> Tensor.rand(g, DType.F32, Device.CPU, 2, -1));
    assertEquals("rand: negative size in [2, -1]", e.getMessage());
    assertEquals(0, g.offset(), "failed draws reserve nothing");
  }
}
