package io.kinema.tensor.cpu;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Special functions that neither {@link Math} nor the Vector API provide: erf, erfc, the standard
 * normal CDF and GELU, in f64 (scalar, to ~1e-15 relative) and f32 (vectorized, to ~1 ulp); and the
 * fast f32 {@code 2^x} of non-positive arguments that the attention kernel uses (with log2 e folded
 * into its scale).
 *
 * <p>f64: erf from its everywhere-convergent series {@code erf(x) = 2/sqrt(pi) exp(-x^2) sum 2^n
 * x^(2n+1) / (1*3*...*(2n+1))} (positive terms, so no cancellation) below 2.5, and erfc from its
 * Laplace continued fraction (modified Lentz) above, where the fraction needs fewer than 100 terms.
 * {@code exp(-x^2)} is taken with the rounding error of {@code x*x} (from fma) folded back in.
 *
 * <p>f32: {@code erf(x) = x + x P(x^2)} for |x| &lt; 1 and {@code erfc(a) = exp(-a^2) Q(1/(1 +
 * a/2))} for a &gt;= 1. P (degree 6) and Q (degree 8) were fitted for this class by iteratively
 * reweighted least squares toward minimax relative error, against 50-digit erf: 1.2e-9 and 5.6e-9.
 * In f32 arithmetic erf is within ~1 ulp (6.5e-8 absolute), and the normal CDF keeps ~4e-7 relative
 * accuracy far into its lower tail (that is what GELU of a negative input needs), because it uses
 * erfc there instead of {@code 1 + erf}.
 */
public final class VectorMath {
  private VectorMath() {}

  // erf(x)/x - 1 = P(x^2) on [0, 1].
  private static final float P0 = 1.283791657e-01f;
  private static final float P1 = -3.761262582e-01f;
  private static final float P2 = 1.128358511e-01f;
  private static final float P3 = -2.685381040e-02f;
  private static final float P4 = 5.188324764e-03f;
  private static final float P5 = -8.010167967e-04f;
  private static final float P6 = 7.853776659e-05f;

  // erfc(a) exp(a^2) = Q(t), t = 1/(1 + a/2), on [1, 10].
  private static final float Q0 = -4.091255926e-06f;
  private static final float Q1 = 2.821991089e-01f;
  private static final float Q2 = 2.809938568e-01f;
  private static final float Q3 = 2.529497398e-01f;
  private static final float Q4 = 1.581022154e-01f;
  private static final float Q5 = 1.052125975e-01f;
  private static final float Q6 = 2.522868691e-02f;
  private static final float Q7 = -1.851616731e-01f;
  private static final float Q8 = 8.092821270e-02f;

  private static final float SQRT1_2 = (float) (1 / Math.sqrt(2));
  private static final double SQRT_PI = Math.sqrt(Math.PI);
  private static final double TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);

  // ---------------------------------------------------------------- f32 vectors
  //
  // Each function is a whole loop over contiguous floats with the math written inline: a vector
  // passed to or returned from a method the JIT does not inline gets boxed, so the loop bodies
  // call nothing but the Vector API and the tiny Horner step mad().

  private static final VectorSpecies<Float> FS = FloatVector.SPECIES_PREFERRED;
  private static final ByteOrder NO = ByteOrder.nativeOrder();

  /**
   * {@code y = erf(x)} for {@code bytes} (a multiple of the preferred vector size) of contiguous
   * f32 at byte offsets xb and yb; within ~1 ulp.
   */
  public static void erf(MemorySegment x, long xb, MemorySegment y, long yb, long bytes) {
    int vb = FS.vectorByteSize();
    for (long i = 0; i < bytes; i += vb) {
      FloatVector v = FloatVector.fromMemorySegment(FS, x, xb + i, NO);
      FloatVector a = v.abs();
      // |x| < 1: x + x P(x^2).
      FloatVector s = v.mul(v);
      FloatVector p = s.fma(P6, P5);
      p = mad(p, s, P4);
      p = mad(p, s, P3);
      p = mad(p, s, P2);
      p = mad(p, s, P1);
      p = mad(p, s, P0);
      FloatVector small = v.fma(p, v);
      // |x| >= 1: 1 - exp(-a^2) Q(t), a^2 = sq + err exactly (a clamped so both stay finite).
      FloatVector ac = a.min(10f);
      FloatVector t = ac.fma(0.5f, 1f);
      t = t.broadcast(1f).div(t);
      FloatVector q = t.fma(Q8, Q7);
      q = mad(q, t, Q6);
      q = mad(q, t, Q5);
      q = mad(q, t, Q4);
      q = mad(q, t, Q3);
      q = mad(q, t, Q2);
      q = mad(q, t, Q1);
      q = mad(q, t, Q0);
      FloatVector sq = ac.mul(ac);
      FloatVector err = ac.fma(ac, sq.neg());
      FloatVector e = sq.neg().lanewise(VectorOperators.EXP);
      FloatVector erfc = err.neg().fma(e, e).mul(q); // exp(-sq) (1 - err) Q
      FloatVector big = erfc.neg().add(1f);
      big = big.blend(big.neg(), v.compare(VectorOperators.LT, 0f));
      small.blend(big, a.compare(VectorOperators.GE, 1f)).intoMemorySegment(y, yb + i, NO);
    }
  }

  /**
   * {@code y = gelu(x) = x Phi(x)} (exact GELU, Phi the standard normal CDF) for {@code bytes} (a
   * multiple of the preferred vector size) of contiguous f32; 0 for x = -inf. Phi is {@code (1 +
   * erf(z))/2} for |z| &lt; 1 ({@code z = x/sqrt 2}), else from erfc with its exp argument {@code
   * -x^2/2} formed from x exactly, so GELU of negative inputs keeps ~4e-7 relative accuracy.
   */
  public static void gelu(MemorySegment x, long xb, MemorySegment y, long yb, long bytes) {
    int vb = FS.vectorByteSize();
    for (long i = 0; i < bytes; i += vb) {
      FloatVector v = FloatVector.fromMemorySegment(FS, x, xb + i, NO);
      FloatVector z = v.mul(SQRT1_2);
      FloatVector a = z.abs();
      // |z| < 1: 1/2 + z/2 (1 + P(z^2)).
      FloatVector s = z.mul(z);
      FloatVector p = s.fma(P6, P5);
      p = mad(p, s, P4);
      p = mad(p, s, P3);
      p = mad(p, s, P2);
      p = mad(p, s, P1);
      p = mad(p, s, P0);
      FloatVector hz = z.mul(0.5f);
      FloatVector small = hz.fma(p, hz.add(0.5f));
      // |z| >= 1: erfc(|z|)/2 = exp(-x^2/2) Q(t)/2, x^2 = sq + err exactly.
      FloatVector ac = a.min(10f);
      FloatVector t = ac.fma(0.5f, 1f);
      t = t.broadcast(1f).div(t);
      FloatVector q = t.fma(Q8, Q7);
      q = mad(q, t, Q6);
      q = mad(q, t, Q5);
      q = mad(q, t, Q4);
      q = mad(q, t, Q3);
      q = mad(q, t, Q2);
      q = mad(q, t, Q1);
      q = mad(q, t, Q0);
      FloatVector xc = v.abs().min(14.142135f);
      FloatVector sq = xc.mul(xc).mul(0.5f);
      FloatVector err = xc.fma(xc, sq.mul(-2f)).mul(0.5f);
      FloatVector e = sq.neg().lanewise(VectorOperators.EXP);
      FloatVector tail = err.neg().fma(e, e).mul(q).mul(0.5f);
      FloatVector big = tail.blend(tail.neg().add(1f), z.compare(VectorOperators.GT, 0f));
      FloatVector phi = small.blend(big, a.compare(VectorOperators.GE, 1f));
      v.mul(phi)
          .blend(-0f, v.compare(VectorOperators.LT, -14.142135f))
          .intoMemorySegment(y, yb + i, NO);
    }
  }

  /** One Horner step: {@code r * t + c} with a single rounding. */
  private static FloatVector mad(FloatVector r, FloatVector t, float c) {
    return r.fma(t, t.broadcast(c));
  }

  // ---------------------------------------------------------------- f64 scalars

  /** erf(x), within ~1e-15 relative. */
  public static double erf(double x) {
    if (Double.isNaN(x)) return x;
    double a = Math.abs(x);
    double r;
    if (a < 2.5) r = erfSeries(a);
    else if (a < 6) r = 1 - erfcFraction(a); // erfc(6) = 2e-17 is below half an ulp of 1
    else r = 1;
    return Math.copySign(r, x);
  }

  /** erfc(x) = 1 - erf(x), relatively accurate for large x (where it underflows past 27). */
  public static double erfc(double x) {
    if (Double.isNaN(x)) return x;
    if (x < 1.5) return 1 - erf(x); // erfc(1.5) = 0.034: at most ~3e-15 relative lost
    if (x > 27) return 0;
    return erfcFraction(x);
  }

  /** The standard normal CDF Phi(x), relatively accurate in the lower tail. */
  public static double normalCdf(double x) {
    return 0.5 * erfc(-x * 0.7071067811865476);
  }

  /** Exact GELU {@code x Phi(x)}; 0 for x = -inf. */
  public static double gelu(double x) {
    return x == Double.NEGATIVE_INFINITY ? -0.0 : x * normalCdf(x);
  }

  /** exp(-a^2) with the rounding error of a*a folded in. */
  private static double expNegSquare(double a) {
    double sq = a * a;
    double err = Math.fma(a, a, -sq);
    double e = Math.exp(-sq);
    return e - e * err;
  }

  /** erf(a) for 0 <= a < 2.5 from its positive series: 38 terms at most. */
  private static double erfSeries(double a) {
    double twoA2 = 2 * a * a;
    double term = a, sum = a;
    for (int n = 1; term > sum * 1e-17; n++) {
      term *= twoA2 / (2 * n + 1);
      sum += term;
    }
    return TWO_OVER_SQRT_PI * expNegSquare(a) * sum;
  }

  /**
   * erfc(a) for a >= 1.5 from the continued fraction {@code erfc(a) = exp(-a^2)/sqrt(pi) / (a +
   * (1/2)/(a + 1/(a + (3/2)/(a + ...))))}, evaluated forwards by the modified Lentz method.
   */
  private static double erfcFraction(double a) {
    double f = a, c = a, d = 0;
    for (int k = 1; k < 500; k++) {
      double ak = 0.5 * k;
      d = a + ak * d;
      c = a + ak / c;
      d = 1 / d;
      double delta = c * d;
      f *= delta;
      if (Math.abs(delta - 1) < 1e-16) break;
    }
    return expNegSquare(a) / (SQRT_PI * f);
  }

  // ---------------------------------------------------------------- fast exponentials

  private static final float ROUND = 0x1.8p23f; // adding it rounds to an integer, kept in the bits
  private static final int ROUND_BITS = Float.floatToRawIntBits(ROUND);

  /**
   * {@code 2^x} for {@code x <= 0} (-inf gives 0): {@code x = n + f} with n = round(x), |f| <= 1/2;
   * {@code 2^f} by its degree-7 Taylor polynomial (relative error ~1e-8, below f32 rounding) times
   * {@code 2^n} built in the exponent bits. Results below 2^-126 flush to 0; NaN stays NaN.
   */
  public static FloatVector exp2NonPositive(FloatVector x) {
    x = x.max(-127f);
    FloatVector t = x.add(ROUND);
    FloatVector f = x.sub(t.sub(ROUND));
    FloatVector poly = FloatVector.broadcast(FS, 1.5252733804059840e-5f);
    poly = poly.fma(f, FloatVector.broadcast(FS, 1.5403530393381608e-4f));
    poly = poly.fma(f, FloatVector.broadcast(FS, 1.3333558146428443e-3f));
    poly = poly.fma(f, FloatVector.broadcast(FS, 9.6181291076284772e-3f));
    poly = poly.fma(f, FloatVector.broadcast(FS, 5.5504108664821580e-2f));
    poly = poly.fma(f, FloatVector.broadcast(FS, 2.4022650695910071e-1f));
    poly = poly.fma(f, FloatVector.broadcast(FS, 6.9314718055994531e-1f));
    poly = poly.fma(f, FloatVector.broadcast(FS, 1f));
    IntVector n = t.reinterpretAsInts().sub(ROUND_BITS - 127); // n + 127, in [0, 127]
    return poly.mul(n.lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats());
  }
}
