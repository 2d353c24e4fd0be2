package io.kinema.tensor.cpu;

import java.lang.foreign.Arena;
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
 * in Java) for rare scalar fallbacks.
 *
 * <ul>
 *   <li>{@link #sum(FloatVector)}, {@link #sum(DoubleVector)}: lane sums in a fixed pairwise order.
 *   <li>{@link #exp}, {@link #tanh}: f32 arithmetic, for the hot paths (softmax, sigmoid, SiLU,
 *       GELU). Over every float of the argument range: exp within 1.009 ulp (subnormal results
 *       included), tanh within 1.07 ulp.
 *   <li>{@link #log}, {@link #sin}, {@link #cos}, {@link #pow}: computed in f64 lanes and rounded
 *       once to f32, so correctly rounded but for rare near-ties (0.5 ulp measured); pow has every
 *       special case of {@link Math#pow}.
 *   <li>erf and exact GELU in f32 and (scalar) f64; {@link #exp2NonPositive} for attention.
 * </ul>
 *
 * <p><b>Shape of the code.</b> Each f32 function is a whole loop over memory ({@code bytes}, a
 * multiple of the preferred vector size) with its math written inline. Callers run a partial vector
 * through padded buffers: there is no scalar twin to disagree with the vector code, and an
 * element's result does not depend on where it falls in a vector. Composite ops run these loops as
 * passes of their own (sigmoid: an exp pass, then {@code 1/(1 + y)}). Why not functions from vector
 * to vector: a vector passed to or returned from a method that C2 does not inline is boxed (an
 * allocation per vector), and C2 refuses to inline such a method once it has compiled it alone into
 * more than {@code InlineSmallCode} bytes (which a function of this size, called often from code
 * not compiled yet, soon is) or once a compilation passes ~18000 IR nodes (which two of these
 * functions in one loop do). Only tiny helpers and the lane sums take vectors.
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
  private static final long VB = FS.vectorByteSize();
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
   * {@code y = e^(scale x + offset)} for {@code bytes} (a multiple of the preferred vector size) of
   * f32 at byte offsets xb and yb (which may be the same memory); returns the sum of the results
   * (added lane-wise in order, then by {@link #sum(FloatVector)}), which softmax needs. The
   * argument is rounded once (fma), so it is exactly {@code x - m} for scale 1 and offset -m, and
   * {@code -x} for scale -1 and offset 0. Within 1.009 ulp of the exponential of that argument,
   * subnormal results included; overflow gives +inf, -inf gives 0, NaN stays NaN.
   *
   * <p>{@code a = n ln 2 + r} with n = round(a log2 e) and |r| &lt;= ln(2)/2 (Cody-Waite with fma),
   * {@code e^r} by a degree-6 polynomial, {@code 2^n} applied as two exponent-field factors so that
   * results down to the smallest subnormal round only once.
   */
  public static float exp(
      MemorySegment x, long xb, MemorySegment y, long yb, long bytes, float scale, float offset) {
    FloatVector sv = c(scale), ov = c(offset), total = c(0);
    FloatVector hi = c(-LN2_HI), lo = c(-LN2_LO), e2 = c(E2), e1 = c(E1), e0 = c(E0);
    for (long i = 0; i < bytes; i += VB) {
      FloatVector a = FloatVector.fromMemorySegment(FS, x, xb + i, NO).fma(sv, ov);
      FloatVector t = a.fma(LOG2E, ROUND);
      FloatVector n = t.sub(ROUND);
      FloatVector r = n.fma(lo, n.fma(hi, a));
      FloatVector p = r.fma(E4, E3).fma(r, e2).fma(r, e1).fma(r, e0);
      p = r.mul(r).fma(p, r).add(1f);
      // n is in [-151, 129] for a in [-104, 89]; outside, the blends decide.
      IntVector ni = t.reinterpretAsInts().sub(ROUND_BITS);
      IntVector half = ni.lanewise(VectorOperators.ASHR, 1);
      FloatVector s1 = half.add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
      FloatVector s2 =
          ni.sub(half).add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
      FloatVector e =
          p.mul(s1)
              .mul(s2)
              .blend(Float.POSITIVE_INFINITY, a.compare(VectorOperators.GT, 89f))
              .blend(0f, a.compare(VectorOperators.LT, -104f));
      e.intoMemorySegment(y, yb + i, NO);
      total = total.add(e);
    }
    return sum(total);
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
   * {@code y = tanh(x)} for {@code bytes} (a multiple of the preferred vector size) of f32 (x and y
   * may be the same memory); within 1.07 ulp, +-inf give +-1, -0 stays -0, NaN stays NaN. For
   * {@code a = |x|}: an odd polynomial below 0.75, else {@code 1 - 2/(e^(2a) + 1)} (at least 0.63
   * there, so the subtraction loses little); then the sign of x.
   */
  public static void tanh(MemorySegment x, long xb, MemorySegment y, long yb, long bytes) {
    FloatVector hi = c(-LN2_HI), lo = c(-LN2_LO), e2 = c(E2), e1 = c(E1), e0 = c(E0);
    FloatVector t3 = c(T3), t2 = c(T2), t1 = c(T1), t0 = c(T0), one = c(1), two = c(2);
    for (long i = 0; i < bytes; i += VB) {
      FloatVector v = FloatVector.fromMemorySegment(FS, x, xb + i, NO);
      FloatVector a = v.abs();
      FloatVector z = a.mul(a);
      FloatVector small =
          a.mul(z).fma(z.fma(T5, T4).fma(z, t3).fma(z, t2).fma(z, t1).fma(z, t0), a);
      // e^u, u = 2a, as in exp(), for u <= 19 (tanh is 1 in f32 from a = 9.01 on): a normal result,
      // so one exponent factor applies 2^n. A NaN stays NaN through min.
      FloatVector u = a.min(9.5f);
      u = u.add(u);
      FloatVector t = u.fma(LOG2E, ROUND);
      FloatVector n = t.sub(ROUND);
      FloatVector r = n.fma(lo, n.fma(hi, u));
      FloatVector p = r.fma(E4, E3).fma(r, e2).fma(r, e1).fma(r, e0);
      p = r.mul(r).fma(p, r).add(1f);
      IntVector bits = t.reinterpretAsInts().sub(ROUND_BITS - 127); // n + 127
      FloatVector e = p.mul(bits.lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats());
      FloatVector big = one.sub(two.div(e.add(one)));
      small
          .blend(big, a.compare(VectorOperators.GE, TANH_POLY))
          .reinterpretAsInts()
          .or(v.reinterpretAsInts().and(SIGN_BIT))
          .reinterpretAsFloats()
          .intoMemorySegment(y, yb + i, NO);
    }
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

  /**
   * Adding it to a double of magnitude below 2^51 rounds it to an integer, kept in the low bits.
   */
  private static final double ROUND_D = 0x1.8p52;

  private static final long ROUND_D_BITS = Double.doubleToRawLongBits(ROUND_D);
  private static final long SQRT_HALF_BITS = Double.doubleToRawLongBits(0x1.6a09e667f3bcdp-1);
  private static final double LN2 = 0x1.62e42fefa39efp-1;
  private static final double LN2_LO_D = 0x1.abc9e3b39803fp-56; // ln 2 - LN2
  private static final double LOG2E_D = 0x1.71547652b82fep0;

  /** {@code y = ln(x)} for {@code bytes} (a multiple of the preferred vector size) of f32. */
  public static void log(MemorySegment x, long xb, MemorySegment y, long yb, long bytes) {
    logPass(x, xb, VB, null, 0, 0, y, yb, bytes / VB, null);
  }

  /**
   * {@code y = x^p} as {@link Math#pow} for {@code bytes} (a multiple of the preferred vector size)
   * of f32.
   */
  public static void pow(MemorySegment x, long xb, MemorySegment y, long yb, long bytes, float p) {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment pv = arena.allocate(VB, 64);
      c(p).intoMemorySegment(pv, 0, NO);
      pow(x, xb, VB, pv, 0, 0, y, yb, bytes / VB);
    }
  }

  /** f32 vectors per pass of {@link #pow}. */
  private static final int POW_BLOCK = 64;

  /** A pass's {@code b ln|a|} for {@link #pow}, per thread. */
  private static final ThreadLocal<double[]> POW_EXPONENT =
      ThreadLocal.withInitial(() -> new double[POW_BLOCK * FL]);

  /**
   * {@code y = a^b} as {@link Math#pow} for {@code nv} vectors (of the preferred size) of f32: a's
   * k-th vector is at byte offset {@code ab + k * aStep} (a step of 0 repeats one vector), b's
   * likewise, y's contiguous from yb (y may be a's or b's memory). {@code e^(b ln|a|)}, in two
   * passes over blocks of vectors: {@code b ln|a|} and the result's sign, then the exponential.
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
    double[] t = POW_EXPONENT.get();
    for (long k = 0; k < nv; k += POW_BLOCK) {
      long n = Math.min(POW_BLOCK, nv - k);
      logPass(a, ab + k * aStep, aStep, b, bb + k * bStep, bStep, y, yb + k * VB, n, t);
      expPass(t, y, yb + k * VB, n);
    }
  }

  /**
   * ln of a's lanes in f64, into y (b null: the log kernel) or, for pow, {@code b ln|a|} into t
   * (lane order) and the result's sign (+-1) into y. Reads each vector of a and b before it writes
   * that vector of y.
   *
   * <p>ln: {@code a = 2^k m} with m in [sqrt(1/2), sqrt(2)), and {@code ln m = 2 atanh(s) = 2 (s +
   * s^3/3 + ... + s^17/17)} with {@code s = (m - 1)/(m + 1)}, |s| &lt;= 0.172 (the next term is
   * below 1e-17 relative). 0 gives -inf, +inf and NaN stay, negatives give NaN.
   *
   * <p>The special cases of {@link Math#pow} that do not fall out of ln and exp (such as {@code 0 *
   * inf = NaN} for |a| = 1 and infinite b) go into t and the sign: -1 for a negative base to an odd
   * integer, NaN for a finite negative base to a finite non-integer, t = 0 (so 1) for b = 0.
   */
  private static void logPass(
      MemorySegment a,
      long ab,
      long aStep,
      MemorySegment b,
      long bb,
      long bStep,
      MemorySegment y,
      long yb,
      long nv,
      double[] t) {
    boolean pow = b != null;
    DoubleVector ln2 = d(LN2), one = d(1), two = d(2);
    for (long k = 0; k < nv; k++) {
      for (long h = 0; h < VB; h += FHB) {
        DoubleVector x =
            (DoubleVector)
                FloatVector.fromMemorySegment(FH, a, ab + k * aStep + h, NO)
                    .convertShape(VectorOperators.F2D, DS, 0);
        DoubleVector ax = pow ? x.abs() : x;
        LongVector bits = ax.reinterpretAsLongs();
        // Relative to sqrt(1/2)'s bits, the exponent field holds k (+ 1023, to stay non-negative).
        LongVector kb = bits.sub(SQRT_HALF_BITS - (1023L << 52)).lanewise(VectorOperators.LSHR, 52);
        DoubleVector m =
            bits.sub(kb.lanewise(VectorOperators.LSHL, 52)).add(1023L << 52).reinterpretAsDoubles();
        DoubleVector e = kb.add(ROUND_D_BITS).reinterpretAsDoubles().sub(ROUND_D + 1023);
        DoubleVector f = m.sub(one); // exact (Sterbenz)
        DoubleVector s = f.div(f.add(two));
        DoubleVector z = s.mul(s);
        DoubleVector q = z.fma(1.0 / 17, 1.0 / 15);
        q = q.fma(z, d(1.0 / 13)).fma(z, d(1.0 / 11)).fma(z, d(1.0 / 9)).fma(z, d(1.0 / 7));
        q = q.fma(z, d(1.0 / 5)).fma(z, d(1.0 / 3));
        DoubleVector s2 = s.add(s);
        DoubleVector ln = e.fma(ln2, s2.mul(z).fma(q, s2).add(e.mul(LN2_LO_D)));
        ln =
            ln.blend(
                    ax,
                    ax.compare(VectorOperators.GT, Double.MAX_VALUE)
                        .or(ax.test(VectorOperators.IS_NAN)))
                .blend(Double.NEGATIVE_INFINITY, ax.compare(VectorOperators.EQ, 0))
                .blend(Double.NaN, ax.compare(VectorOperators.LT, 0));
        long at = yb + k * VB + h;
        if (!pow) {
          ln.convertShape(VectorOperators.D2F, FH, 0).intoMemorySegment(y, at, NO);
          continue;
        }
        DoubleVector p =
            (DoubleVector)
                FloatVector.fromMemorySegment(FH, b, bb + k * bStep + h, NO)
                    .convertShape(VectorOperators.F2D, DS, 0);
        // Floats of magnitude 2^24 and more are even integers; below, p + ROUND_D holds round(p).
        DoubleVector shifted = p.add(ROUND_D);
        VectorMask<Double> below = p.abs().compare(VectorOperators.LT, 0x1p24);
        VectorMask<Double> integer =
            shifted.sub(ROUND_D).compare(VectorOperators.EQ, p).or(below.not());
        VectorMask<Double> odd =
            below
                .and(integer)
                .and(shifted.reinterpretAsLongs().and(1).compare(VectorOperators.NE, 0).cast(DS));
        VectorMask<Double> negative =
            x.reinterpretAsLongs().compare(VectorOperators.LT, 0).cast(DS);
        VectorMask<Double> noRealPower =
            x.compare(VectorOperators.LT, 0)
                .and(x.compare(VectorOperators.GT, Double.NEGATIVE_INFINITY))
                .and(integer.not());
        p.mul(ln)
            .blend(Double.NaN, noRealPower)
            .blend(0, p.compare(VectorOperators.EQ, 0))
            .intoArray(t, (int) ((k * VB + h) / 4));
        one.blend(-1, negative.and(odd))
            .convertShape(VectorOperators.D2F, FH, 0)
            .intoMemorySegment(y, at, NO);
      }
    }
  }

  /**
   * The second pass of {@link #pow}: {@code y = sign * e^t}, t clamped to [-200, 200] (every f32
   * result beyond is 0 or inf) and split as {@code n ln 2 + r}, e^r by its Taylor series to r^11.
   */
  private static void expPass(double[] t, MemorySegment y, long yb, long nv) {
    DoubleVector hi = d(-LN2), lo = d(-LN2_LO_D), one = d(1);
    for (int i = 0; i < nv * FL; i += DL) {
      long at = yb + 4L * i;
      DoubleVector v = DoubleVector.fromArray(DS, t, i).max(-200).min(200);
      DoubleVector tn = v.fma(LOG2E_D, ROUND_D);
      DoubleVector n = tn.sub(ROUND_D);
      DoubleVector r = n.fma(lo, n.fma(hi, v));
      DoubleVector c = r.fma(1.0 / 39916800, 1.0 / 3628800); // 1/11!, 1/10!
      c = c.fma(r, d(1.0 / 362880)).fma(r, d(1.0 / 40320)).fma(r, d(1.0 / 5040));
      c = c.fma(r, d(1.0 / 720)).fma(r, d(1.0 / 120)).fma(r, d(1.0 / 24));
      c = c.fma(r, d(1.0 / 6)).fma(r, d(0.5)).fma(r, one).fma(r, one);
      LongVector scale = tn.reinterpretAsLongs().sub(ROUND_D_BITS - 1023);
      DoubleVector sign =
          (DoubleVector)
              FloatVector.fromMemorySegment(FH, y, at, NO).convertShape(VectorOperators.F2D, DS, 0);
      c.mul(scale.lanewise(VectorOperators.LSHL, 52).reinterpretAsDoubles())
          .mul(sign)
          .convertShape(VectorOperators.D2F, FH, 0)
          .intoMemorySegment(y, at, NO);
    }
  }

  /** Beyond this the reduction below is not trusted to be exact enough; fdlibm takes over. */
  private static final double TRIG_MAX = 0x1p24;

  private static final double TWO_OVER_PI = 0x1.45f306dc9c883p-1;
  // pi/2 = PIO2_HI + PIO2_LO to ~1e-33: q * PIO2_HI is subtracted exactly (by fma).
  private static final double PIO2_HI = 0x1.921fb54442d18p0;
  private static final double PIO2_LO = 0x1.1a62633145c07p-54;

  /** {@code y = sin(x)} for {@code bytes} (a multiple of the preferred vector size) of f32. */
  public static void sin(MemorySegment x, long xb, MemorySegment y, long yb, long bytes) {
    trig(x, xb, y, yb, bytes, false);
  }

  /** {@code y = cos(x)} for {@code bytes} (a multiple of the preferred vector size) of f32. */
  public static void cos(MemorySegment x, long xb, MemorySegment y, long yb, long bytes) {
    trig(x, xb, y, yb, bytes, true);
  }

  /**
   * sin (or cos) of f32 lanes in f64: {@code x = q pi/2 + r} with |r| &lt;= pi/4, then the Taylor
   * series of sin r (to r^13) or cos r (to r^14) by quadrant {@code q (+1 for cos) mod 4}. Lanes
   * beyond {@link #TRIG_MAX} (and infinities) are redone by {@link StrictMath}.
   */
  private static void trig(
      MemorySegment x, long xb, MemorySegment y, long yb, long bytes, boolean cos) {
    DoubleVector hi = d(-PIO2_HI), lo = d(-PIO2_LO), one = d(1);
    for (long i = 0; i < bytes; i += FHB) {
      DoubleVector v =
          (DoubleVector)
              FloatVector.fromMemorySegment(FH, x, xb + i, NO)
                  .convertShape(VectorOperators.F2D, DS, 0);
      DoubleVector t = v.fma(TWO_OVER_PI, ROUND_D);
      DoubleVector q = t.sub(ROUND_D);
      DoubleVector r = q.fma(lo, q.fma(hi, v));
      DoubleVector z = r.mul(r);
      DoubleVector s = z.fma(1.0 / 6227020800L, -1.0 / 39916800); // 1/13!, -1/11!
      s = s.fma(z, d(1.0 / 362880)).fma(z, d(-1.0 / 5040)).fma(z, d(1.0 / 120));
      s = s.fma(z, d(-1.0 / 6)).fma(z, one).mul(r); // not r + r z S: that loses sin(-0)'s sign
      DoubleVector c = z.fma(-1.0 / 87178291200L, 1.0 / 479001600); // -1/14!, 1/12!
      c = c.fma(z, d(-1.0 / 3628800)).fma(z, d(1.0 / 40320)).fma(z, d(-1.0 / 720));
      c = c.fma(z, d(1.0 / 24)).fma(z, d(-0.5)).fma(z, one);
      // The low bits of t are q's (two's complement); cos x = sin(x + pi/2).
      LongVector quadrant = t.reinterpretAsLongs().add(cos ? 1 : 0);
      VectorMask<Double> useCos = quadrant.and(1).compare(VectorOperators.NE, 0).cast(DS);
      VectorMask<Double> negate = quadrant.and(2).compare(VectorOperators.NE, 0).cast(DS);
      DoubleVector res = s.blend(c, useCos);
      res.blend(res.neg(), negate)
          .convertShape(VectorOperators.D2F, FH, 0)
          .intoMemorySegment(y, yb + i, NO);
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
  private static final float GELU_MAX = 14.142135f; // beyond, GELU of a negative x rounds to -0
  private static final double SQRT_PI = Math.sqrt(Math.PI);
  private static final double TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);

  /**
   * {@code y = erf(x)} for {@code bytes} (a multiple of the preferred vector size) of contiguous
   * f32 at byte offsets xb and yb (not the same memory); within ~1 ulp. Three passes: the argument
   * of {@code e^(-a^2)} into y, {@link #exp} in place, then the rest (one loop would exceed the
   * number of nodes C2 inlines into one compilation, and box vectors).
   */
  public static void erf(MemorySegment x, long xb, MemorySegment y, long yb, long bytes) {
    for (long i = 0; i < bytes; i += VB) {
      FloatVector ac = FloatVector.fromMemorySegment(FS, x, xb + i, NO).abs().min(10f);
      ac.mul(ac).neg().intoMemorySegment(y, yb + i, NO);
    }
    exp(y, yb, y, yb, bytes, 1, 0);
    erfFinish(x, xb, y, yb, bytes);
  }

  /**
   * erf's last pass, given {@code e^(-a^2)} in y. A method of its own, too large for C2 to inline
   * into erf, so that it is compiled alone and keeps all of its vector code inlined.
   */
  private static void erfFinish(MemorySegment x, long xb, MemorySegment y, long yb, long bytes) {
    for (long i = 0; i < bytes; i += VB) {
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
      FloatVector e = FloatVector.fromMemorySegment(FS, y, yb + i, NO); // exp(-sq)
      FloatVector erfc = err.neg().fma(e, e).mul(q); // exp(-sq) (1 - err) Q
      FloatVector big = erfc.neg().add(1f);
      big = big.blend(big.neg(), v.compare(VectorOperators.LT, 0f));
      small.blend(big, a.compare(VectorOperators.GE, 1f)).intoMemorySegment(y, yb + i, NO);
    }
  }

  /**
   * {@code y = gelu(x) = x Phi(x)} (exact GELU, Phi the standard normal CDF) for {@code bytes} (a
   * multiple of the preferred vector size) of contiguous f32 (x and y not the same memory); 0 for x
   * = -inf. Phi is {@code (1 + erf(z))/2} for |z| &lt; 1 ({@code z = x/sqrt 2}), else from erfc
   * with its exp argument {@code -x^2/2} formed from x exactly, so GELU of negative inputs keeps
   * ~4e-7 relative accuracy. Three passes, as {@link #erf}.
   */
  public static void gelu(MemorySegment x, long xb, MemorySegment y, long yb, long bytes) {
    for (long i = 0; i < bytes; i += VB) {
      FloatVector xc = FloatVector.fromMemorySegment(FS, x, xb + i, NO).abs().min(GELU_MAX);
      xc.mul(xc).mul(-0.5f).intoMemorySegment(y, yb + i, NO);
    }
    exp(y, yb, y, yb, bytes, 1, 0);
    geluFinish(x, xb, y, yb, bytes);
  }

  /** gelu's last pass, given {@code e^(-x^2/2)} in y; on its own as {@link #erfFinish}. */
  private static void geluFinish(MemorySegment x, long xb, MemorySegment y, long yb, long bytes) {
    for (long i = 0; i < bytes; i += VB) {
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
      FloatVector xc = v.abs().min(GELU_MAX);
      FloatVector sq = xc.mul(xc).mul(0.5f);
      FloatVector err = xc.fma(xc, sq.mul(-2f)).mul(0.5f);
      FloatVector e = FloatVector.fromMemorySegment(FS, y, yb + i, NO); // exp(-sq)
      FloatVector tail = err.neg().fma(e, e).mul(q).mul(0.5f);
      FloatVector big = tail.blend(tail.neg().add(1f), z.compare(VectorOperators.GT, 0f));
      FloatVector phi = small.blend(big, a.compare(VectorOperators.GE, 1f));
      v.mul(phi)
          .blend(-0f, v.compare(VectorOperators.LT, -GELU_MAX))
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
