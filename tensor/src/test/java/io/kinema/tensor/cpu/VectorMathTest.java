package io.kinema.tensor.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;
import java.util.function.DoubleUnaryOperator;
import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import org.junit.jupiter.api.Test;

/**
 * {@link VectorMath}'s f32 functions against {@link StrictMath} in double, in units of the f32
 * result's ulp, over random arguments across the whole float range and the special values; and the
 * lane sums. {@link VectorMathExhaustive} runs the same comparison over every float.
 */
class VectorMathTest {
  private static final VectorSpecies<Float> FS = FloatVector.SPECIES_PREFERRED;
  private static final int FL = FS.length();

  /** A function of f32 arrays (any length) computed by one of VectorMath's kernels. */
  interface F32Function {
    float[] apply(float[] x);
  }

  static final F32Function EXP = kernel((x, xb, y, yb, n) -> VectorMath.exp(x, xb, y, yb, n, 1, 0));
  static final F32Function TANH = kernel(VectorMath::tanh);
  static final F32Function LOG = kernel(VectorMath::log);
  static final F32Function SIN = kernel(VectorMath::sin);
  static final F32Function COS = kernel(VectorMath::cos);

  interface Kernel {
    void run(MemorySegment x, long xb, MemorySegment y, long yb, long bytes);
  }

  /** A kernel over native memory, run on whole vectors (the last one padded with zeros). */
  static F32Function kernel(Kernel k) {
    return x -> {
      try (Arena arena = Arena.ofConfined()) {
        long bytes = roundUp(x.length) * 4L;
        MemorySegment in = arena.allocate(bytes, 64), out = arena.allocate(bytes, 64);
        MemorySegment.copy(x, 0, in, ValueLayout.JAVA_FLOAT, 0, x.length);
        k.run(in, 0, out, 0, bytes);
        return out.asSlice(0, x.length * 4L).toArray(ValueLayout.JAVA_FLOAT);
      }
    };
  }

  static float[] pow(float[] x, float[] y) {
    try (Arena arena = Arena.ofConfined()) {
      long bytes = roundUp(x.length) * 4L;
      MemorySegment a = arena.allocate(bytes, 64), b = arena.allocate(bytes, 64);
      MemorySegment out = arena.allocate(bytes, 64);
      MemorySegment.copy(x, 0, a, ValueLayout.JAVA_FLOAT, 0, x.length);
      MemorySegment.copy(y, 0, b, ValueLayout.JAVA_FLOAT, 0, y.length);
      long vb = FS.vectorByteSize();
      VectorMath.pow(a, 0, vb, b, 0, vb, out, 0, bytes / vb);
      return out.asSlice(0, x.length * 4L).toArray(ValueLayout.JAVA_FLOAT);
    }
  }

  static float[] pow(float[] x, float p) {
    return kernel((xs, xb, ys, yb, bytes) -> VectorMath.pow(xs, xb, ys, yb, bytes, p)).apply(x);
  }

  private static int roundUp(int n) {
    return (n + FL - 1) / FL * FL;
  }

  /**
   * |got - exact| in ulps of the f32 result (2^-149 for subnormals); 0 when both are the same
   * infinity or NaN; infinite when got is infinite or NaN but exact (rounded to f32) is not.
   */
  static double ulps(float got, double exact) {
    if (Double.isNaN(exact) || Float.isNaN(got)) {
      return Double.isNaN(exact) && Float.isNaN(got) ? 0 : Double.POSITIVE_INFINITY;
    }
    float rounded = (float) exact;
    if (Float.isInfinite(rounded) || Float.isInfinite(got)) {
      return got == rounded ? 0 : Double.POSITIVE_INFINITY;
    }
    int e = Math.getExponent(exact);
    double ulp = e < Float.MIN_EXPONENT ? Float.MIN_VALUE : Math.scalb(1.0, e - 23);
    return Math.abs(got - exact) / ulp;
  }

  /** The largest error of f over xs, with the argument where it occurs. */
  static String worst(F32Function f, DoubleUnaryOperator exact, float[] xs, double[] maxOut) {
    float[] ys = f.apply(xs);
    double max = 0;
    float at = Float.NaN;
    for (int i = 0; i < xs.length; i++) {
      double e = ulps(ys[i], exact.applyAsDouble(xs[i]));
      if (e > max || Double.isNaN(e)) {
        max = e;
        at = xs[i];
      }
    }
    maxOut[0] = max;
    return max + " ulp at x = " + at + " (" + Float.floatToRawIntBits(at) + ")";
  }

  /**
   * n random floats: half uniform in [lo, hi], half with uniformly random bit patterns of magnitude
   * at most max(|lo|, |hi|) (every binade equally likely, subnormals included).
   */
  static float[] samples(Random r, int n, float lo, float hi) {
    float[] x = new float[n];
    float limit = Math.max(Math.abs(lo), Math.abs(hi));
    for (int i = 0; i < n; i++) {
      if (i % 2 == 0) {
        x[i] = lo + (hi - lo) * r.nextFloat();
      } else {
        float v;
        do {
          v = Float.intBitsToFloat(r.nextInt());
        } while (!(Math.abs(v) <= limit));
        x[i] = v;
      }
    }
    return x;
  }

  private static void assertAccurate(
      String name, F32Function f, DoubleUnaryOperator exact, float[] xs, double bound) {
    double[] max = new double[1];
    String where = worst(f, exact, xs, max);
    System.out.println(name + ": " + where);
    assertTrue(max[0] <= bound, name + " max error " + where + ", bound " + bound);
  }

  private static final float INF = Float.POSITIVE_INFINITY, NAN = Float.NaN;

  /** Special arguments: signed zeros, infinities, NaN, extremes and subnormals. */
  private static final float[] SPECIAL = {
    0f,
    -0f,
    INF,
    -INF,
    NAN,
    Float.MIN_VALUE,
    -Float.MIN_VALUE,
    Float.MIN_NORMAL,
    Float.MAX_VALUE,
    -Float.MAX_VALUE,
    1f,
    -1f,
    0.5f,
    -0.5f,
    2f,
    -2f,
    3f,
    -3f
  };

  /** f(x) must have exactly the bits of (float) exact(x) (NaN: any NaN) for every special x. */
  private static void assertSpecial(String name, F32Function f, DoubleUnaryOperator exact) {
    float[] ys = f.apply(SPECIAL);
    for (int i = 0; i < SPECIAL.length; i++) {
      float want = (float) exact.applyAsDouble(SPECIAL[i]);
      assertEquals(
          Float.floatToIntBits(want),
          Float.floatToIntBits(ys[i]),
          name + "(" + SPECIAL[i] + ") = " + ys[i] + ", expected " + want);
    }
  }

  @Test
  void exp() {
    Random r = new Random(1);
    // VectorMathExhaustive measures 1.0086 ulp over every float in [-104, 89].
    assertAccurate("exp", EXP, StrictMath::exp, samples(r, 1 << 20, -104f, 89f), 1.01);
    // Around the overflow, subnormal and underflow thresholds.
    assertAccurate("exp edges", EXP, StrictMath::exp, samples(r, 1 << 16, 88.5f, 89f), 1.01);
    assertAccurate("exp subnormal", EXP, StrictMath::exp, samples(r, 1 << 16, -104f, -87f), 1.01);
    assertSpecial("exp", EXP, StrictMath::exp);
    // The argument scale x + offset is formed by one fma: e^-x and e^(x - m) exactly.
    float[] xs = samples(r, 1 << 12, -80f, 80f);
    float m = 3.25f;
    F32Function negated = kernel((x, xb, y, yb, n) -> VectorMath.exp(x, xb, y, yb, n, -1, 0));
    F32Function shifted = kernel((x, xb, y, yb, n) -> VectorMath.exp(x, xb, y, yb, n, 1, -m));
    float[] direct = EXP.apply(xs), neg = negated.apply(xs), sh = shifted.apply(xs);
    for (int i = 0; i < xs.length; i++) {
      float[] at = {-xs[i], xs[i] - m};
      float[] want = EXP.apply(at);
      assertEquals(want[0], neg[i], "exp(-" + xs[i] + ")");
      assertEquals(want[1], sh[i], "exp(" + xs[i] + " - m)");
      assertEquals(direct[i], EXP.apply(new float[] {xs[i]})[0], "same bits in any lane");
    }
    float[] beyond = {89.5f, 1e30f, -104.5f, -1e30f, 88.72284f, -103.98f};
    float[] got = EXP.apply(beyond);
    for (int i = 0; i < beyond.length; i++) {
      assertEquals((float) StrictMath.exp(beyond[i]), got[i], "exp(" + beyond[i] + ")");
    }
  }

  @Test
  void tanh() {
    Random r = new Random(2);
    assertAccurate("tanh", TANH, StrictMath::tanh, samples(r, 1 << 20, -10f, 10f), 2);
    assertAccurate(
        "tanh near the switch", TANH, StrictMath::tanh, samples(r, 1 << 16, 0.6f, 1f), 2);
    assertAccurate("tanh all", TANH, StrictMath::tanh, samples(r, 1 << 16, -INF, INF), 2);
    assertSpecial("tanh", TANH, StrictMath::tanh);
  }

  @Test
  void log() {
    Random r = new Random(3);
    assertAccurate("log", LOG, StrictMath::log, samples(r, 1 << 20, 0f, Float.MAX_VALUE), 0.501);
    assertAccurate("log near 1", LOG, StrictMath::log, samples(r, 1 << 16, 0.7f, 1.5f), 0.501);
    float[] negative = samples(r, 1 << 10, -10f, 10f);
    for (int i = 0; i < negative.length; i++)
      negative[i] = -Math.abs(negative[i]) - Float.MIN_VALUE;
    assertAccurate("log negative", LOG, StrictMath::log, negative, 0);
    assertSpecial("log", LOG, StrictMath::log);
  }

  @Test
  void sinAndCos() {
    Random r = new Random(4);
    for (float range : new float[] {4f, 100f, 0x1p20f, 0x1p24f, Float.MAX_VALUE}) {
      float[] xs = samples(r, 1 << 18, -range, range);
      assertAccurate("sin |x| <= " + range, SIN, StrictMath::sin, xs, 0.501);
      assertAccurate("cos |x| <= " + range, COS, StrictMath::cos, xs, 0.501);
    }
    assertSpecial("sin", SIN, StrictMath::sin);
    assertSpecial("cos", COS, StrictMath::cos);
  }

  @Test
  void powOfTensors() {
    Random r = new Random(5);
    int n = 1 << 18;
    float[] x = new float[n], y = new float[n];
    for (int i = 0; i < n; i++) {
      switch (i % 4) {
        case 0 -> { // results across the whole f32 range
          x[i] = (float) Math.exp(r.nextGaussian() * 20);
          y[i] = (float) (r.nextGaussian() * 3);
        }
        case 1 -> { // a negative base to integer exponents
          x[i] = -(float) Math.exp(r.nextGaussian() * 3);
          y[i] = r.nextInt(61) - 30;
        }
        case 2 -> { // near-overflow and near-underflow results
          x[i] = 1 + r.nextFloat() * 0.01f;
          y[i] = (float) (Math.signum(r.nextGaussian()) * 8000 * (1 + r.nextFloat()));
        }
        default -> { // anything
          x[i] = Float.intBitsToFloat(r.nextInt());
          y[i] = Float.intBitsToFloat(r.nextInt());
        }
      }
    }
    assertPow("pow", x, y, 0.501);
  }

  @Test
  void powSpecialCases() {
    float[] v = {
      0f,
      -0f,
      INF,
      -INF,
      NAN,
      1f,
      -1f,
      0.5f,
      -0.5f,
      2f,
      -2f,
      3f,
      -3f,
      2.5f,
      -2.5f,
      0x1p24f,
      -0x1p24f,
      0x1p24f + 2,
      0x1p23f + 1,
      -(0x1p23f + 1),
      Float.MIN_VALUE,
      -Float.MIN_VALUE,
      Float.MAX_VALUE,
      -Float.MAX_VALUE,
      1e-20f,
      1e20f
    };
    int n = v.length * v.length;
    float[] x = new float[n], y = new float[n];
    for (int i = 0; i < n; i++) {
      x[i] = v[i / v.length];
      y[i] = v[i % v.length];
    }
    float[] got = pow(x, y);
    for (int i = 0; i < n; i++) {
      double exact = StrictMath.pow(x[i], y[i]);
      boolean special =
          !Double.isFinite(exact) || exact == 0 || Math.abs(exact) == 1 || x[i] == 1 || y[i] == 0;
      String ctx = "pow(" + x[i] + ", " + y[i] + ") = " + got[i] + ", expected " + exact;
      if (special) {
        assertEquals(Float.floatToIntBits((float) exact), Float.floatToIntBits(got[i]), ctx);
      } else {
        assertTrue(ulps(got[i], exact) <= 0.501, ctx);
      }
    }
    // A scalar exponent takes the same path.
    for (float p : v) {
      float[] g = pow(v, p);
      for (int i = 0; i < v.length; i++) {
        assertEquals(
            Float.floatToIntBits(pow(new float[] {v[i]}, new float[] {p})[0]),
            Float.floatToIntBits(g[i]),
            "pow(" + v[i] + ", scalar " + p + ")");
      }
    }
  }

  @Test
  void powInPlace() {
    Random r = new Random(7);
    int n = 70 * FL; // two of pow's blocks of 64 vectors
    float[] x = samples(r, n, 0f, 10f), p = samples(r, n, -3f, 3f);
    float[] want = pow(x, p);
    long bytes = n * 4L, vb = FS.vectorByteSize();
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment a = arena.allocateFrom(ValueLayout.JAVA_FLOAT, x);
      MemorySegment b = arena.allocateFrom(ValueLayout.JAVA_FLOAT, p);
      VectorMath.pow(a, 0, vb, b, 0, vb, a, 0, bytes / vb); // into the base
      assertArrayEquals(want, a.toArray(ValueLayout.JAVA_FLOAT));
      MemorySegment a2 = arena.allocateFrom(ValueLayout.JAVA_FLOAT, x);
      VectorMath.pow(a2, 0, vb, b, 0, vb, b, 0, bytes / vb); // into the exponent
      assertArrayEquals(want, b.toArray(ValueLayout.JAVA_FLOAT));
    }
  }

  private static void assertPow(String name, float[] x, float[] y, double bound) {
    float[] got = pow(x, y);
    double max = 0;
    String at = "";
    for (int i = 0; i < x.length; i++) {
      double e = ulps(got[i], StrictMath.pow(x[i], y[i]));
      if (e > max || Double.isNaN(e)) {
        max = e;
        at = "pow(" + x[i] + ", " + y[i] + ") = " + got[i];
      }
    }
    System.out.println(name + ": " + max + " ulp at " + at);
    assertTrue(max <= bound, name + " max error " + max + " ulp at " + at);
  }

  @Test
  void laneSums() {
    Random r = new Random(6);
    float[] f = new float[FL];
    double[] d = new double[DoubleVector.SPECIES_PREFERRED.length()];
    for (int rep = 0; rep < 1000; rep++) {
      // Integers: every order of addition gives the exact sum.
      double exact = 0;
      for (int i = 0; i < FL; i++) exact += f[i] = r.nextInt(1 << 16) - (1 << 15);
      assertEquals((float) exact, VectorMath.sum(FloatVector.fromArray(FS, f, 0)));
      exact = 0;
      for (int i = 0; i < d.length; i++) exact += d[i] = r.nextInt() * 0.5;
      assertEquals(
          exact, VectorMath.sum(DoubleVector.fromArray(DoubleVector.SPECIES_PREFERRED, d, 0)));
    }
    // On values where the order matters: the documented pairwise tree, written out in scalars.
    for (int rep = 0; rep < 1000; rep++) {
      for (int i = 0; i < FL; i++) f[i] = (float) (r.nextGaussian() * Math.pow(10, r.nextInt(8)));
      assertEquals(treeSum(f), VectorMath.sum(FloatVector.fromArray(FS, f, 0)));
    }
  }

  /** Lane 0 of the rotate-and-add tree: halves added lane-wise until one lane is left. */
  private static float treeSum(float[] v) {
    float[] a = v.clone();
    for (int k = a.length / 2; k >= 1; k /= 2) {
      float[] b = new float[a.length];
      for (int i = 0; i < a.length; i++) b[i] = a[i] + a[(i + k) % a.length];
      a = b;
    }
    return a[0];
  }
}
