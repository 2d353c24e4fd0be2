package io.kinema.tensor.cpu;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.LongVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * The math of the f32 kernels, written so that its bits do not depend on the JIT, and special
 * functions that neither {@link Math} nor the Vector API provide.
 *
 * <p><b>Why our own.</b> The Vector API's transcendental lanewise ops (EXP, LOG, SIN, COS, TANH,
 * POW) run the SVML vector stubs once C2 has compiled the caller but {@code Math} lane by lane
 * before (interpreter, C1), and the two differ by ulps; {@code reduceLanes(ADD)} adds the lanes in
 * an unspecified order that also differs between the intrinsic and the fallback. A kernel using
 * them gives different bits depending on when the JIT got to it, so training runs of the same seed
 * drift apart. Everything here is built from operations whose result IEEE 754 fixes exactly (add,
 * mul, fma, div, sqrt, compares, blends, integer and bit ops, lane moves, float-double
 * conversions), which give the same bits in every execution mode, plus {@link StrictMath} (fdlibm
 * in Java) for rare scalar fallbacks. Each function exists once, as vector code: kernels compute a
 * run's last partial vector in padded buffers or masked vectors, never with a scalar twin, so a
 * result cannot depend on where an element falls in a vector either.
 *
 * <ul>
 *   <li>{@link #sum(FloatVector)}, {@link #sum(DoubleVector)}: lane sums in a fixed pairwise order.
 *   <li>{@link #exp(FloatVector)}, {@link #tanh(FloatVector)}: f32 in f32 arithmetic, for the hot
 *       paths (softmax, sigmoid, SiLU, GELU). Measured over every float of the argument range:
 *       exp within 1 ulp, tanh within 2 ulp (see {@code VectorMathTest}).
 *   <li>{@link #log}, {@link #sin}, {@link #cos}, {@link #pow}: loops over memory that compute in
 *       f64 lanes and round once to f32, so they are correctly rounded but for rare ties (within
 *       0.501 ulp); pow has every special case of {@link Math#pow}.
 *   <li>erf and exact GELU in f32 (vectors) and f64 (scalars); {@link #exp2NonPositive} for the
 *       attention kernels.
 * </ul>
 *
 * <p>Vector arguments and results must be of the preferred species. Such methods are small enough
 * that C2 inlines them into the calling loop (a vector crossing a call that is not inlined would
 * be boxed); anything larger is a whole loop over memory.
 */
public final class VectorMath {
  private VectorMath() {}

  private static final VectorSpecies<Float> FS = FloatVector.SPECIES_PREFERRED;
  private static final int FL = FS.length();
  private static final VectorSpecies<Double> DS = DoubleVector.SPECIES_PREFERRED;
  private static final int DL = DS.length();

  /** Floats with one lane per f64 lane: the f32 side of the kernels that compute in f64. */
  private static final VectorSpecies<Float> FH =
      VectorSpecies.of(float.class, VectorShape.forBitSize(DS.vectorBitSize() / 2));

  private static final long FHB = FH.vectorByteSize();
  private static final ByteOrder NO = ByteOrder.nativeOrder();

  // ---------------------------------------------------------------- lane sums

  // Lane i of ROT_k reads lane i + k (mod the length). Adding v.rearrange(ROT_k) to v for k = L/2,
  // L/4, ..., 1 leaves the sum of all lanes in lane 0 (a pairwise tree: also more accurate than a
  // left-to-right sum). Levels beyond the species' length are skipped by constant conditions.
  private static final VectorShuffle<Float> F_ROT32 = rotation(FS, 32),
      F_ROT16 = rotation(FS, 16),
      F_ROT8 = rotation(FS, 8),
      F_ROT4 = rotation(FS, 4),
      F_ROT2 = rotation(FS, 2),
      F_ROT1 = rotation(FS, 1);
  private static final VectorShuffle<Double> D_ROT16 = rotation(DS, 16),
      D_ROT8 = rotation(DS, 8),
      D_ROT4 = rotation(DS, 4),
      D_ROT2 = rotation(DS, 2),
      D_ROT1 = rotation(DS, 1);

  private static <E> VectorShuffle<E> rotation(VectorSpecies<E> s, int k) {
    return VectorShuffle.fromOp(s, i -> (i + k) % s.length());
  }

  /**
   * The sum of the lanes of {@code v}, added in a fixed pairwise order (unlike {@code
   * reduceLanes(ADD)}, whose order depends on whether C2 compiled the caller).
   */
  public static float sum(FloatVector v) {
    if (FL > 32) v = v.add(v.rearrange(F_ROT32));
    if (FL > 16) v = v.add(v.rearrange(F_ROT16));
    if (FL > 8) v = v.add(v.rearrange(F_ROT8));
    if (FL > 4) v = v.add(v.rearrange(F_ROT4));
    if (FL > 2) v = v.add(v.rearrange(F_ROT2));
    if (FL > 1) v = v.add(v.rearrange(F_ROT1));
    return v.lane(0);
  }

  /** As {@link #sum(FloatVector)} for doubles. */
  public static double sum(DoubleVector v) {
    if (DL > 16) v = v.add(v.rearrange(D_ROT16));
    if (DL > 8) v = v.add(v.rearrange(D_ROT8));
    if (DL > 4) v = v.add(v.rearrange(D_ROT4));
    if (DL > 2) v = v.add(v.rearrange(D_ROT2));
    if (DL > 1) v = v.add(v.rearrange(D_ROT1));
    return v.lane(0);
  }

  // ---------------------------------------------------------------- f32 exp and tanh

  /** Adding it to a float of magnitude below 2^22 rounds it to an integer, kept in the low bits. */
  private static final float ROUND = 0x1.8p23f;

  private static final int ROUND_BITS = Float.floatToRawIntBits(ROUND);
  private static final float LOG2E = (float) 1.4426950408889634;
  // ln 2 = LN2_HI + LN2_LO: n * LN2_HI is subtracted exactly (by fma), LN2_LO is a correction.
  private static final float LN2_HI = (float) 0x1.62e42fefa39efp-1;
  private static final float LN2_LO = (float) (0x1.62e42fefa39efp-1 - LN2_HI);

  // e^r = 1 + r + r^2 E(r) on |r| <= ln(2)/2, E fitted for this class toward minimax relative
  // error (3.1e-9 before rounding the coefficients to f32).
  private static final float E0 = 4.999999404e-01f;
  private static final float E1 = 1.666651964e-01f;
  private static final float E2 = 4.166840762e-02f;
  private static final float E3 = 8.368919604e-03f;
  private static final float E4 = 1.381417969e-03f;

  /**
   * {@code e^x} in f32 to within 1 ulp, subnormal results included; overflow gives +inf, -inf
   * gives 0, NaN stays NaN. {@code x = n ln 2 + r} with n = round(x log2 e) and |r| &lt;= ln(2)/2
   * (Cody-Waite with fma), {@code e^r} by a degree-6 polynomial, and {@code 2^n} applied as two
   * exponent-field factors so that results down to the smallest subnormal round only once.
   */
  public static FloatVector exp(FloatVector x) {
    FloatVector t = x.fma(LOG2E, ROUND);
    FloatVector n = t.sub(ROUND);
    FloatVector r = n.fma(c(-LN2_HI), x);
    r = n.fma(c(-LN2_LO), r);
    FloatVector p = r.fma(E4, E3);
    p = mad(p, r, E2);
    p = mad(p, r, E1);
    p = mad(p, r, E0);
    p = r.mul(r).fma(p, r).add(1f);
    // n is in [-151, 129] for x in [-104, 89]; outside, the blends below decide.
    IntVector ni = t.reinterpretAsInts().sub(ROUND_BITS);
    IntVector half = ni.lanewise(VectorOperators.ASHR, 1);
    FloatVector s1 = half.add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
    FloatVector s2 = ni.sub(half).add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
    return p.mul(s1)
        .mul(s2)
        .blend(Float.POSITIVE_INFINITY, x.compare(VectorOperators.GT, 89f))
        .blend(0f, x.compare(VectorOperators.LT, -104f));
  }

  // tanh(a) = a + a^3 T(a^2) on 0 <= a < TANH_POLY, T fitted as E above (1.6e-9).
  private static final float TANH_POLY = 0.75f;
  private static final float T0 = -3.333331645e-01f;
  private static final float T1 = 1.333269477e-01f;
  private static final float T2 = -5.389272422e-02f;
  private static final float T3 = 2.145203389e-02f;
  private static final float T4 = -7.657254115e-03f;
  private static final float T5 = 1.736934879e-03f;
  private static final int SIGN_BIT = 0x80000000;

  /**
   * {@code tanh(x)} in f32 to within 2 ulp; +-inf give +-1, -0 stays -0, NaN stays NaN. For {@code
   * a = |x|}: an odd polynomial below 0.75, else {@code 1 - 2/(e^(2a) + 1)} (at least 0.63 there,
   * so the subtraction loses little); then the sign of x.
   */
  public static FloatVector tanh(FloatVector x) {
    FloatVector a = x.abs();
    FloatVector z = a.mul(a);
    FloatVector p = z.fma(T5, T4);
    p = mad(p, z, T3);
    p = mad(p, z, T2);
    p = mad(p, z, T1);
    p = mad(p, z, T0);
    FloatVector small = a.mul(z).fma(p, a);
    FloatVector e = exp(a.add(a));
    FloatVector big = c(1f).sub(c(2f).div(e.add(1f)));
    return small
        .blend(big, a.compare(VectorOperators.GE, TANH_POLY))
        .reinterpretAsInts()
        .or(x.reinterpretAsInts().and(SIGN_BIT))
        .reinterpretAsFloats();
  }

  private static FloatVector c(float v) {
    return FloatVector.broadcast(FS, v);
  }

  /** One Horner step: {@code r * t + c} with a single rounding. */
  private static FloatVector mad(FloatVector r, FloatVector t, float c) {
    return r.fma(t, t.broadcast(c));
  }

  // ---------------------------------------------------------------- f32 through f64 lanes
  //
  // log, sin, cos and pow read f32, compute in f64 lanes (float-double conversions are exact one
  // way and correctly rounded the other) and round once: the f64 error (below 1e-14 relative) can
  // only matter when the exact result lies that close to a tie between two floats.

  /** {@code y = ln(x)} for {@code bytes} (a multiple of the preferred vector size) of f32. */
  public static void log(MemorySegment x, long xb, MemorySegment y, long yb, long bytes) {
    for (long i = 0; i < bytes; i += FHB) narrow(logLanes(widen(x, xb + i)), y, yb + i);
  }

  /** {@code y = sin(x)} for {@code bytes} (a multiple of the preferred vector size) of f32. */
  public static void sin(MemorySegment x, long xb, MemorySegment y, long yb, long bytes) {
    trig(x, xb, y, yb, bytes, false);
  }

  /** {@code y = cos(x)} for {@code bytes} (a multiple of the preferred vector size) of f32. */
  public static void cos(MemorySegment x, long xb, MemorySegment y, long yb, long bytes) {
    trig(x, xb, y, yb, bytes, true);
  }

  /**
   * {@code y = x^p} as {@link Math#pow} for {@code bytes} (a multiple of the preferred vector size)
   * of f32.
   */
  public static void pow(MemorySegment x, long xb, MemorySegment y, long yb, long bytes, float p) {
    DoubleVector pv = DoubleVector.broadcast(DS, p);
    for (long i = 0; i < bytes; i += FHB) narrow(powLanes(widen(x, xb + i), pv), y, yb + i);
  }

  /**
   * {@code y = a^b} as {@link Math#pow} for {@code nv} vectors (of the preferred size) of f32: a's
   * k-th vector is at byte offset {@code ab + k * aStep} (a step of 0 repeats one vector), b's
   * likewise, y's contiguous from yb.
   */
  public static void pow(
      MemorySegment a,
      long ab,
      long aStep,
      MemorySegment b,
      long bb,
      long bStep,
      MemorySegment y,
      long yb,
      long nv) {
    long vb = FS.vectorByteSize();
    for (long k = 0; k < nv; k++) {
      for (long h = 0; h < vb; h += FHB) {
        DoubleVector base = widen(a, ab + k * aStep + h), exponent = widen(b, bb + k * bStep + h);
        narrow(powLanes(base, exponent), y, yb + k * vb + h);
      }
    }
  }

  private static DoubleVector widen(MemorySegment s, long byteOffset) {
    return (DoubleVector)
        FloatVector.fromMemorySegment(FH, s, byteOffset, NO)
            .convertShape(VectorOperators.F2D, DS, 0);
  }

  private static void narrow(DoubleVector v, MemorySegment s, long byteOffset) {
    v.convertShape(VectorOperators.D2F, FH, 0).intoMemorySegment(s, byteOffset, NO);
  }

  /** Adding it to a double of magnitude below 2^51 rounds it to an integer, kept in the low bits. */
  private static final double ROUND_D = 0x1.8p52;

  private static final long ROUND_D_BITS = Double.doubleToRawLongBits(ROUND_D);
  private static final long SQRT_HALF_BITS = Double.doubleToRawLongBits(0x1.6a09e667f3bcdp-1);
  private static final double LN2 = 0x1.62e42fefa39efp-1;
  private static final double LN2_LO_D = 0x1.abc9e3b39803fp-56; // ln 2 - LN2
  private static final double LOG2E_D = 0x1.71547652b82fep0;

  /**
   * ln of each lane, to ~1e-16 relative for positive normal lanes; 0 gives -inf, +inf and NaN stay,
   * negatives give NaN. {@code x = 2^k m} with m in [sqrt(1/2), sqrt(2)), and {@code ln m = 2
   * atanh(s) = 2 (s + s^3/3 + s^5/5 + ...)} with {@code s = (m - 1)/(m + 1)}, |s| &lt;= 0.172 (the
   * series to s^17).
   */
  private static DoubleVector logLanes(DoubleVector x) {
    LongVector bits = x.reinterpretAsLongs();
    // Relative to sqrt(1/2)'s bits, the exponent field holds k (+ 1023 to keep it non-negative).
    LongVector kb = bits.sub(SQRT_HALF_BITS - (1023L << 52)).lanewise(VectorOperators.LSHR, 52);
    DoubleVector m =
        bits.sub(kb.lanewise(VectorOperators.LSHL, 52)).add(1023L << 52).reinterpretAsDoubles();
    DoubleVector k = kb.add(ROUND_D_BITS).reinterpretAsDoubles().sub(ROUND_D + 1023);
    DoubleVector f = m.sub(1); // exact (Sterbenz)
    DoubleVector s = f.div(f.add(2));
    DoubleVector z = s.mul(s);
    DoubleVector p = z.fma(1.0 / 17, 1.0 / 15);
    p = p.fma(z, d(1.0 / 13));
    p = p.fma(z, d(1.0 / 11));
    p = p.fma(z, d(1.0 / 9));
    p = p.fma(z, d(1.0 / 7));
    p = p.fma(z, d(1.0 / 5));
    p = p.fma(z, d(1.0 / 3));
    DoubleVector s2 = s.add(s);
    DoubleVector r = k.fma(d(LN2), s2.mul(z).fma(p, s2).add(k.mul(LN2_LO_D)));
    return r.blend(x, x.compare(VectorOperators.GT, Double.MAX_VALUE).or(x.test(VectorOperators.IS_NAN)))
        .blend(Double.NEGATIVE_INFINITY, x.compare(VectorOperators.EQ, 0))
        .blend(Double.NaN, x.compare(VectorOperators.LT, 0));
  }

  /**
   * e^t of each lane to ~1e-15 relative, for results in the f32 range (t is clamped to [-200,
   * 200], beyond which every f32 result is 0 or inf); NaN stays NaN. {@code t = n ln 2 + r}, e^r by
   * its Taylor series to r^11.
   */
  private static DoubleVector expLanes(DoubleVector t) {
    t = t.max(-200).min(200);
    DoubleVector tn = t.fma(LOG2E_D, ROUND_D);
    DoubleVector n = tn.sub(ROUND_D);
    DoubleVector r = n.fma(d(-LN2), t);
    r = n.fma(d(-LN2_LO_D), r);
    DoubleVector p = r.fma(1.0 / 39916800, 1.0 / 3628800); // 1/11!, 1/10!
    p = p.fma(r, d(1.0 / 362880));
    p = p.fma(r, d(1.0 / 40320));
    p = p.fma(r, d(1.0 / 5040));
    p = p.fma(r, d(1.0 / 720));
    p = p.fma(r, d(1.0 / 120));
    p = p.fma(r, d(1.0 / 24));
    p = p.fma(r, d(1.0 / 6));
    p = p.fma(r, d(0.5));
    p = p.fma(r, d(1));
    p = p.fma(r, d(1));
    LongVector e = tn.reinterpretAsLongs().sub(ROUND_D_BITS - 1023);
    return p.mul(e.lanewise(VectorOperators.LSHL, 52).reinterpretAsDoubles());
  }

  /**
   * {@code x^y} of each lane with the special cases of {@link Math#pow}: {@code e^(y ln|x|)}, then
   * the sign of a negative base, NaN for a finite negative base to a finite non-integer, 1 for y =
   * 0. The infinities, zeros and NaN of the other rules fall out of ln and exp (e.g. {@code 0 * inf
   * = NaN} for |x| = 1 and infinite y).
   */
  private static DoubleVector powLanes(DoubleVector x, DoubleVector y) {
    DoubleVector r = expLanes(y.mul(logLanes(x.abs())));
    // Floats of magnitude 2^24 and more are even integers; below, y + ROUND_D holds round(y).
    DoubleVector shifted = y.add(ROUND_D);
    VectorMask<Double> below = y.abs().compare(VectorOperators.LT, 0x1p24);
    VectorMask<Double> integer =
        shifted.sub(ROUND_D).compare(VectorOperators.EQ, y).or(below.not());
    VectorMask<Double> odd =
        below
            .and(integer)
            .and(shifted.reinterpretAsLongs().and(1).compare(VectorOperators.NE, 0).cast(DS));
    VectorMask<Double> negative = x.reinterpretAsLongs().compare(VectorOperators.LT, 0).cast(DS);
    VectorMask<Double> noRealPower =
        x.compare(VectorOperators.LT, 0)
            .and(x.compare(VectorOperators.GT, Double.NEGATIVE_INFINITY))
            .and(integer.not());
    return r.blend(r.neg(), negative.and(odd))
        .blend(Double.NaN, noRealPower)
        .blend(1, y.compare(VectorOperators.EQ, 0));
  }

  /** Beyond this the reduction below is not trusted to be exact enough; fdlibm takes over. */
  private static final double TRIG_MAX = 0x1p24;

  private static final double TWO_OVER_PI = 0x1.45f306dc9c883p-1;
  // pi/2 = PIO2_HI + PIO2_LO to ~1e-33: q * PIO2_HI is subtracted exactly (by fma).
  private static final double PIO2_HI = 0x1.921fb54442d18p0;
  private static final double PIO2_LO = 0x1.1a62633145c07p-54;

  /**
   * sin (or cos) of f32 lanes: {@code x = q pi/2 + r} with |r| &lt;= pi/4, then the Taylor series of
   * sin r (to r^13) or cos r (to r^14) by quadrant {@code q (+1 for cos) mod 4}. Lanes beyond
   * {@link #TRIG_MAX} (and infinities) are redone by {@link StrictMath}.
   */
  private static void trig(
      MemorySegment x, long xb, MemorySegment y, long yb, long bytes, boolean cos) {
    for (long i = 0; i < bytes; i += FHB) {
      DoubleVector v = widen(x, xb + i);
      DoubleVector t = v.fma(TWO_OVER_PI, ROUND_D);
      DoubleVector q = t.sub(ROUND_D);
      DoubleVector r = q.fma(d(-PIO2_HI), v);
      r = q.fma(d(-PIO2_LO), r);
      DoubleVector z = r.mul(r);
      DoubleVector s = z.fma(1.0 / 6227020800L, -1.0 / 39916800); // 1/13!, -1/11!
      s = s.fma(z, d(1.0 / 362880));
      s = s.fma(z, d(-1.0 / 5040));
      s = s.fma(z, d(1.0 / 120));
      s = s.fma(z, d(-1.0 / 6));
      s = z.fma(s, d(1)).mul(r); // not r + r z S: that loses the sign of sin(-0)
      DoubleVector c = z.fma(-1.0 / 87178291200L, 1.0 / 479001600); // -1/14!, 1/12!
      c = c.fma(z, d(-1.0 / 3628800));
      c = c.fma(z, d(1.0 / 40320));
      c = c.fma(z, d(-1.0 / 720));
      c = c.fma(z, d(1.0 / 24));
      c = c.fma(z, d(-0.5));
      c = c.fma(z, d(1));
      // The low bits of t are q's (two's complement); cos x = sin(x + pi/2).
      LongVector quadrant = t.reinterpretAsLongs().add(cos ? 1 : 0);
      VectorMask<Double> useCos = quadrant.and(1).compare(VectorOperators.NE, 0).cast(DS);
      VectorMask<Double> negate = quadrant.and(2).compare(VectorOperators.NE, 0).cast(DS);
      DoubleVector res = s.blend(c, useCos);
      narrow(res.blend(res.neg(), negate), y, yb + i);
      VectorMask<Double> far = v.abs().compare(VectorOperators.GT, TRIG_MAX);
      if (far.anyTrue()) trigFar(x, xb + i, y, yb + i, far.toLong(), cos);
    }
  }

  /** Redoes the lanes set in {@code lanes} (bit j: lane j) of one f64-lane group by fdlibm. */
  private static void trigFar(
      MemorySegment x, long xb, MemorySegment y, long yb, long lanes, boolean cos) {
    for (; lanes != 0; lanes &= lanes - 1) {
      long at = 4L * Long.numberOfTrailingZeros(lanes);
      double v = x.get(ValueLayout.JAVA_FLOAT, xb + at);
      y.set(ValueLayout.JAVA_FLOAT, yb + at, (float) (cos ? StrictMath.cos(v) : StrictMath.sin(v)));
    }
  }

  private static DoubleVector d(double v) {
    return DoubleVector.broadcast(DS, v);
  }

  // ---------------------------------------------------------------- erf and GELU
  //
  // f64: erf from its everywhere-convergent series {@code erf(x) = 2/sqrt(pi) exp(-x^2) sum 2^n
  // x^(2n+1) / (1*3*...*(2n+1))} (positive terms, so no cancellation) below 2.5, and erfc from its
  // Laplace continued fraction (modified Lentz) above, where the fraction needs fewer than 100
  // terms. {@code exp(-x^2)} is taken with the rounding error of {@code x*x} (from fma) folded back
  // in.
  //
  // f32: {@code erf(x) = x + x P(x^2)} for |x| < 1 and {@code erfc(a) = exp(-a^2) Q(1/(1 + a/2))}
  // for a >= 1. P (degree 6) and Q (degree 8) were fitted for this class by iteratively reweighted
  // least squares toward minimax relative error, against 50-digit erf: 1.2e-9 and 5.6e-9. In f32
  // arithmetic erf is within ~1 ulp (6.5e-8 absolute), and the normal CDF keeps ~4e-7 relative
  // accuracy far into its lower tail (that is what GELU of a negative input needs), because it
  // uses erfc there instead of {@code 1 + erf}.

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

  /**
   * {@code y = erf(x)} for {@code bytes} (a multiple of the preferred vector size) of contiguous
   * f32 at byte offsets xb and yb; within ~1 ulp.
   */
  public static void erf(MemorySegment x, long xb, MemorySegment y, long yb, long bytes) {
    long vb = FS.vectorByteSize();
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
      FloatVector e = exp(sq.neg());
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
    long vb = FS.vectorByteSize();
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
      FloatVector e = exp(sq.neg());
      FloatVector tail = err.neg().fma(e, e).mul(q).mul(0.5f);
      FloatVector big = tail.blend(tail.neg().add(1f), z.compare(VectorOperators.GT, 0f));
      FloatVector phi = small.blend(big, a.compare(VectorOperators.GE, 1f));
      v.mul(phi)
          .blend(-0f, v.compare(VectorOperators.LT, -14.142135f))
          .intoMemorySegment(y, yb + i, NO);
    }
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

  // ---------------------------------------------------------------- attention's 2^x

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
