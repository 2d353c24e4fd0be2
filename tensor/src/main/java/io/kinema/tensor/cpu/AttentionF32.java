package io.kinema.tensor.cpu;

import io.kinema.tensor.DType;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * The f32 flash-attention kernel (F32 inputs, and BF16/F16 converted to f32 as tiles are loaded).
 *
 * <p>One tile is {@link #BQ} query rows (4 vectors of L = 16 queries on AVX-512) of one (b, h).
 * Everything is kept transposed so the queries lie along the vector lanes:
 *
 * <ol>
 *   <li>Q tile, scaled by {@code scale * log2(e)}, transposed once into {@code qt[d][i]}.
 *   <li>For each block of {@link #BK} keys among those some row of the tile may see ({@link
 *       KeySegments}): K and V rows copied into contiguous scratch; scores {@code st[j][i] = sum_d
 *       k[j][d] qt[d][i]} by a 4-key x 4-vector register-blocked micro-kernel (a K scalar broadcast
 *       against Q vectors: no horizontal sums).
 *   <li>Mask (only in blocks the mask cuts), then the online softmax, all lane-wise over queries:
 *       running max m, {@code p = 2^(s - m)}, running sum l, and the factor {@code alpha = 2^(m_old
 *       - m_new)} that rescales the accumulator.
 *   <li>{@code o[i][:] = alpha[i] o[i][:] + sum_j p[j][i] v[j][:]}: a 4-row x 4-vector
 *       micro-kernel, P scalars broadcast against V vectors.
 *   <li>Finally {@code out = o / l}, {@code lse = m ln 2 + ln l}.
 * </ol>
 *
 * Scratch is about {@code (BQ + BK) (D + Dv) + BQ BK} floats, allocated once per worker.
 */
final class AttentionF32 implements CpuAttention.Worker {
  private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
  private static final int L = S.length();
  private static final VectorSpecies<Integer> SI = IntVector.SPECIES_PREFERRED;
  private static final VectorSpecies<Short> SH =
      VectorSpecies.of(short.class, VectorShape.forBitSize(S.vectorBitSize() / 2));

  /** Query rows per tile: four vectors of queries. */
  static final int BQ = 4 * L;

  /** Keys per block. */
  static final int BK = 128;

  private static final float NEG_INF = Float.NEGATIVE_INFINITY;
  private static final double LOG2E = 1 / Math.log(2);
  private static final double LN2 = Math.log(2);

  private final CpuAttention.Plan p;
  private final int d, dv, dvp;
  private final float qScale;
  private final float[] qt, kb, vb, st, o, m, l, alpha;
  private final long[] limit = new long[BQ];
  private final boolean[] allow;

  /**
   * KeyRanges only: the tile rows' bounds, {@code bounds[c * BQ + i]} for c = lo1, hi1, lo2, hi2.
   */
  private final int[] bounds;

  private final KeySegments segments = new KeySegments(BQ);

  AttentionF32(CpuAttention.Plan p) {
    this.p = p;
    d = p.d;
    dv = p.dv;
    dvp = (dv + L - 1) / L * L;
    qScale = (float) (p.scale * LOG2E);
    qt = new float[d * BQ];
    kb = new float[BK * d];
    vb = new float[BK * dvp]; // columns [dv, dvp) stay 0
    st = new float[BK * BQ];
    o = new float[BQ * dvp];
    m = new float[BQ];
    l = new float[BQ];
    alpha = new float[BQ];
    allow = p.maskKind == CpuAttention.Plan.EXPLICIT ? new boolean[BK * BQ] : null;
    bounds = p.maskKind == CpuAttention.Plan.KEY_RANGES ? new int[4 * BQ] : null;
  }

  @Override
  public void tile(int b, int h, int q0) {
    int rows = Math.min(BQ, p.sq - q0);
    int nv = (rows + L - 1) / L; // query vectors in use; rows past `rows` are zero padding
    int padRows = nv * L;
    int rows4 = (rows + 3) & ~3;
    loadQ(b, h, q0, rows, padRows);
    Arrays.fill(m, NEG_INF);
    Arrays.fill(l, 0);
    Arrays.fill(o, 0, rows4 * dvp, 0);
    for (int i = 0; i < padRows; i++) limit[i] = p.keyLimit(q0 + i);
    long kFree = limit[0]; // every row sees every key before this
    if (bounds != null) loadBounds(q0, rows);
    KeySegments seg = segments.of(p, q0, rows); // no row of the tile sees a key outside them
    for (int si = 0; si < seg.count(); si++) {
      for (int k0 = seg.start(si); k0 < seg.end(si); k0 += BK) {
        int bk = Math.min(BK, seg.end(si) - k0);
        if (allow != null && !loadAllowed(b, h, q0, rows, padRows, k0, bk)) continue;
        loadRows(p.ks, p.kOff, p.kSt, b, h, k0, bk, d, kb, d);
        loadRows(p.vs, p.vOff, p.vSt, b, h, k0, bk, dv, vb, dvp);
        scores(nv, bk);
        if (allow != null) applyAllowed(nv, bk);
        else if (bounds != null) {
          if (!p.allSee(q0, rows, k0, k0 + bk)) applyRanges(nv, k0, bk);
        } else if (k0 + bk > kFree) applyLimits(nv, padRows, k0, bk);
        softmax(nv, bk);
        for (int i0 = 0; i0 < rows4; i0 += 4) {
          int c = 0;
          for (; c + 4 * L <= dvp; c += 4 * L) pv4x4(i0, c, bk);
          for (; c < dvp; c += L) pv4x1(i0, c, bk);
        }
      }
    }
    store(b, h, q0, rows);
  }

  // ------------------------------------------------------------------ tiles in and out

  private void loadQ(int b, int h, int q0, int rows, int padRows) {
    long base = p.qOff + b * p.qSt[0] + h * p.qSt[1] + q0 * p.qSt[2];
    for (int i = 0; i < rows; i++) {
      loadRow(p.qs, base + i * p.qSt[2], p.qSt[3], kb, 0, d); // kb is free until the K block
      for (int j = 0; j < d; j++) qt[j * BQ + i] = qScale * kb[j];
    }
    for (int i = rows; i < padRows; i++) {
      for (int j = 0; j < d; j++) qt[j * BQ + i] = 0;
    }
  }

  /** Rows {@code [k0, k0 + n)} of k or v (each {@code width} long) into {@code dst[j * ld]}. */
  private void loadRows(
      MemorySegment seg,
      long off,
      long[] st,
      int b,
      int h,
      int k0,
      int n,
      int width,
      float[] dst,
      int ld) {
    long base = off + b * st[0] + h * st[1] + (long) k0 * st[2];
    long sj = st[2], sd = st[3];
    for (int j = 0; j < n; j++) loadRow(seg, base + j * sj, sd, dst, j * ld, width);
  }

  private void loadRow(MemorySegment seg, long at, long sd, float[] dst, int to, int width) {
    loadRow(p.dtype, seg, at, sd, dst, to, width);
  }

  /**
   * {@code width} elements of {@code dtype} (F32, BF16 or F16) at element index {@code at}, stride
   * {@code sd}, as f32 into dst; contiguous 16-bit rows are widened L at a time. Shared with the
   * backward kernel.
   */
  static void loadRow(
      DType dtype, MemorySegment seg, long at, long sd, float[] dst, int to, int width) {
    switch (dtype) {
      case F32 -> {
        if (sd == 1) {
          MemorySegment.copy(seg, ValueLayout.JAVA_FLOAT, at * 4, dst, to, width);
        } else {
          for (int c = 0; c < width; c++) {
            dst[to + c] = seg.getAtIndex(ValueLayout.JAVA_FLOAT, at + c * sd);
          }
        }
      }
      case BF16 -> {
        int c = 0;
        if (sd == 1) {
          // bf16 is the top half of an f32: widen to int and shift into place, L at a time.
          for (; c + L <= width; c += L) {
            ((IntVector)
                    ShortVector.fromMemorySegment(SH, seg, (at + c) * 2, ByteOrder.nativeOrder())
                        .convertShape(VectorOperators.S2I, SI, 0))
                .lanewise(VectorOperators.LSHL, 16)
                .reinterpretAsFloats()
                .intoArray(dst, to + c);
          }
        }
        for (; c < width; c++) {
          dst[to + c] = Half.bf16ToFloat(seg.getAtIndex(ValueLayout.JAVA_SHORT, at + c * sd));
        }
      }
      default -> {
        int c = 0;
        if (sd == 1) {
          for (; c + L <= width; c += L) f16Vector(seg, (at + c) * 2).intoArray(dst, to + c);
        }
        for (; c < width; c++) {
          dst[to + c] = Float.float16ToFloat(seg.getAtIndex(ValueLayout.JAVA_SHORT, at + c * sd));
        }
      }
    }
  }

  /**
   * L IEEE halves at {@code byteOffset} widened to f32: exponent and mantissa shifted into f32
   * position and multiplied by 2^112 (re-biasing the exponent, which also turns half subnormals
   * into the right f32 normals); inf/NaN get the f32 all-ones exponent; then the sign.
   */
  private static FloatVector f16Vector(MemorySegment seg, long byteOffset) {
    IntVector h =
        (IntVector)
            ShortVector.fromMemorySegment(SH, seg, byteOffset, ByteOrder.nativeOrder())
                .convertShape(VectorOperators.S2I, SI, 0);
    IntVector mag = h.and(0x7fff);
    IntVector bits = mag.lanewise(VectorOperators.LSHL, 13);
    FloatVector f = bits.reinterpretAsFloats().mul(0x1p112f);
    VectorMask<Float> special = mag.compare(VectorOperators.GE, 0x7c00).cast(S);
    f = f.blend(bits.or(0x7f800000).reinterpretAsFloats(), special);
    IntVector sign = h.and(0x8000).lanewise(VectorOperators.LSHL, 16);
    return f.reinterpretAsInts().or(sign).reinterpretAsFloats();
  }

  private void store(int b, int h, int q0, int rows) {
    long base = p.oOff + b * p.oSt[0] + h * p.oSt[1] + q0 * p.oSt[2];
    long si = p.oSt[2], sd = p.oSt[3];
    for (int i = 0; i < rows; i++) {
      float inv = l[i] == 0 ? 0 : 1 / l[i]; // l == 0: the row saw no key; o is 0 too
      long r = base + i * si;
      for (int c = 0; c < dv; c++) {
        float x = o[i * dvp + c] * inv;
        switch (p.dtype) {
          case F32 -> p.os.setAtIndex(ValueLayout.JAVA_FLOAT, r + c * sd, x);
          case BF16 -> p.os.setAtIndex(ValueLayout.JAVA_SHORT, r + c * sd, Half.floatToBf16(x));
          default -> p.os.setAtIndex(ValueLayout.JAVA_SHORT, r + c * sd, Half.floatToF16(x));
        }
      }
      p.storeLse(b, h, q0 + i, l[i] == 0 ? Double.NEGATIVE_INFINITY : m[i] * LN2 + Math.log(l[i]));
    }
  }

  // ------------------------------------------------------------------ masks

  /** Rows of the tile with {@code limit <= key} must not see the key: scores to -inf. */
  private void applyLimits(int nv, int padRows, int k0, int bk) {
    int t = 0; // rows [0, t) cannot see the current key; grows with the key
    for (int j = 0; j < bk; j++) {
      long key = k0 + j;
      while (t < padRows && limit[t] <= key) t++;
      for (int iv = 0; iv < nv; iv++) {
        int base = iv * L;
        if (t <= base) break;
        int at = j * BQ + base;
        FloatVector s = FloatVector.fromArray(S, st, at);
        s = s.blend(NEG_INF, S.indexInRange(0, t - base)); // lanes < t - base
        s.intoArray(st, at);
      }
    }
  }

  /** The KeyRanges bounds of the tile's rows; padding rows get empty ranges. */
  private void loadBounds(int q0, int rows) {
    Arrays.fill(bounds, 0);
    for (int i = 0; i < rows; i++) {
      for (int c = 0; c < 4; c++) bounds[c * BQ + i] = p.ranges[4 * (q0 + i) + c];
    }
  }

  /** Scores of keys outside a row's two ranges to -inf, lane-wise over the tile's rows. */
  private void applyRanges(int nv, int k0, int bk) {
    for (int iv = 0; iv < nv; iv++) {
      int base = iv * L;
      IntVector lo1 = IntVector.fromArray(SI, bounds, base);
      IntVector hi1 = IntVector.fromArray(SI, bounds, BQ + base);
      IntVector lo2 = IntVector.fromArray(SI, bounds, 2 * BQ + base);
      IntVector hi2 = IntVector.fromArray(SI, bounds, 3 * BQ + base);
      for (int j = 0; j < bk; j++) {
        int key = k0 + j;
        VectorMask<Integer> in =
            lo1.compare(VectorOperators.LE, key)
                .and(hi1.compare(VectorOperators.GT, key))
                .or(lo2.compare(VectorOperators.LE, key).and(hi2.compare(VectorOperators.GT, key)));
        int at = j * BQ + base;
        FloatVector.fromArray(S, st, at).blend(NEG_INF, in.not().cast(S)).intoArray(st, at);
      }
    }
  }

  /** Reads the explicit mask block into {@code allow[j][i]}; false when no row sees any key. */
  private boolean loadAllowed(int b, int h, int q0, int rows, int padRows, int k0, int bk) {
    boolean any = false;
    for (int i = 0; i < padRows; i++) {
      for (int j = 0; j < bk; j++) {
        boolean a = i < rows && p.allowed(b, h, q0 + i, k0 + j);
        allow[j * BQ + i] = a;
        any |= a;
      }
    }
    return any;
  }

  private void applyAllowed(int nv, int bk) {
    for (int j = 0; j < bk; j++) {
      for (int iv = 0; iv < nv; iv++) {
        int at = j * BQ + iv * L;
        VectorMask<Float> a = VectorMask.fromArray(S, allow, at);
        FloatVector.fromArray(S, st, at).blend(NEG_INF, a.not()).intoArray(st, at);
      }
    }
  }

  // ------------------------------------------------------------------ online softmax

  private void softmax(int nv, int bk) {
    FloatVector zero = FloatVector.zero(S);
    for (int iv = 0; iv < nv; iv++) {
      int base = iv * L;
      FloatVector mx = FloatVector.broadcast(S, NEG_INF);
      for (int j = 0; j < bk; j++) mx = mx.max(FloatVector.fromArray(S, st, j * BQ + base));
      FloatVector mOld = FloatVector.fromArray(S, m, base);
      FloatVector mNew = mOld.max(mx);
      // A row that has seen only masked keys keeps m = -inf; subtract 0 instead so that
      // 2^(-inf - m) is 0, not NaN.
      FloatVector mSafe = mNew.blend(zero, mNew.compare(VectorOperators.EQ, NEG_INF));
      FloatVector a = VectorMath.exp2NonPositive(mOld.sub(mSafe));
      FloatVector sum = zero;
      for (int j = 0; j < bk; j++) {
        int at = j * BQ + base;
        FloatVector pj = VectorMath.exp2NonPositive(FloatVector.fromArray(S, st, at).sub(mSafe));
        pj.intoArray(st, at);
        sum = sum.add(pj);
      }
      FloatVector.fromArray(S, l, base).fma(a, sum).intoArray(l, base);
      mNew.intoArray(m, base);
      a.intoArray(alpha, base);
    }
  }

  // ------------------------------------------------------------------ micro-kernels

  private void scores(int nv, int bk) {
    if (nv == 4) {
      int j = 0;
      for (; j + 4 <= bk; j += 4) qk4x4(j);
      for (; j < bk; j++) for (int iv = 0; iv < 4; iv++) qk1x1(j, iv * L);
    } else {
      for (int iv = 0; iv < nv; iv++) {
        int j = 0;
        for (; j + 4 <= bk; j += 4) qk4x1(j, iv * L);
        for (; j < bk; j++) qk1x1(j, iv * L);
      }
    }
  }

  /** Scores of keys j..j+3 against all four query vectors. */
  private void qk4x4(int j) {
    FloatVector c00 = FloatVector.zero(S), c01 = c00, c02 = c00, c03 = c00;
    FloatVector c10 = c00, c11 = c00, c12 = c00, c13 = c00;
    FloatVector c20 = c00, c21 = c00, c22 = c00, c23 = c00;
    FloatVector c30 = c00, c31 = c00, c32 = c00, c33 = c00;
    int k0 = j * d, k1 = k0 + d, k2 = k1 + d, k3 = k2 + d;
    for (int x = 0; x < d; x++) {
      int qo = x * BQ;
      FloatVector q0 = FloatVector.fromArray(S, qt, qo);
      FloatVector q1 = FloatVector.fromArray(S, qt, qo + L);
      FloatVector q2 = FloatVector.fromArray(S, qt, qo + 2 * L);
      FloatVector q3 = FloatVector.fromArray(S, qt, qo + 3 * L);
      FloatVector k = FloatVector.broadcast(S, kb[k0 + x]);
      c00 = q0.fma(k, c00);
      c01 = q1.fma(k, c01);
      c02 = q2.fma(k, c02);
      c03 = q3.fma(k, c03);
      k = FloatVector.broadcast(S, kb[k1 + x]);
      c10 = q0.fma(k, c10);
      c11 = q1.fma(k, c11);
      c12 = q2.fma(k, c12);
      c13 = q3.fma(k, c13);
      k = FloatVector.broadcast(S, kb[k2 + x]);
      c20 = q0.fma(k, c20);
      c21 = q1.fma(k, c21);
      c22 = q2.fma(k, c22);
      c23 = q3.fma(k, c23);
      k = FloatVector.broadcast(S, kb[k3 + x]);
      c30 = q0.fma(k, c30);
      c31 = q1.fma(k, c31);
      c32 = q2.fma(k, c32);
      c33 = q3.fma(k, c33);
    }
    int s0 = j * BQ, s1 = s0 + BQ, s2 = s1 + BQ, s3 = s2 + BQ;
    c00.intoArray(st, s0);
    c01.intoArray(st, s0 + L);
    c02.intoArray(st, s0 + 2 * L);
    c03.intoArray(st, s0 + 3 * L);
    c10.intoArray(st, s1);
    c11.intoArray(st, s1 + L);
    c12.intoArray(st, s1 + 2 * L);
    c13.intoArray(st, s1 + 3 * L);
    c20.intoArray(st, s2);
    c21.intoArray(st, s2 + L);
    c22.intoArray(st, s2 + 2 * L);
    c23.intoArray(st, s2 + 3 * L);
    c30.intoArray(st, s3);
    c31.intoArray(st, s3 + L);
    c32.intoArray(st, s3 + 2 * L);
    c33.intoArray(st, s3 + 3 * L);
  }

  /** Scores of keys j..j+3 against the query vector at lane offset {@code qi}. */
  private void qk4x1(int j, int qi) {
    FloatVector c0 = FloatVector.zero(S), c1 = c0, c2 = c0, c3 = c0;
    int k0 = j * d, k1 = k0 + d, k2 = k1 + d, k3 = k2 + d;
    for (int x = 0; x < d; x++) {
      FloatVector q = FloatVector.fromArray(S, qt, x * BQ + qi);
      c0 = q.fma(FloatVector.broadcast(S, kb[k0 + x]), c0);
      c1 = q.fma(FloatVector.broadcast(S, kb[k1 + x]), c1);
      c2 = q.fma(FloatVector.broadcast(S, kb[k2 + x]), c2);
      c3 = q.fma(FloatVector.broadcast(S, kb[k3 + x]), c3);
    }
    c0.intoArray(st, j * BQ + qi);
    c1.intoArray(st, (j + 1) * BQ + qi);
    c2.intoArray(st, (j + 2) * BQ + qi);
    c3.intoArray(st, (j + 3) * BQ + qi);
  }

  private void qk1x1(int j, int qi) {
    FloatVector c = FloatVector.zero(S);
    int k0 = j * d;
    for (int x = 0; x < d; x++) {
      c = FloatVector.fromArray(S, qt, x * BQ + qi).fma(FloatVector.broadcast(S, kb[k0 + x]), c);
    }
    c.intoArray(st, j * BQ + qi);
  }

  /** Output rows i0..i0+3, columns c..c+4L: rescale by alpha, add P V over the key block. */
  private void pv4x4(int i0, int c, int bk) {
    int r0 = i0 * dvp + c, r1 = r0 + dvp, r2 = r1 + dvp, r3 = r2 + dvp;
    FloatVector a0 = FloatVector.broadcast(S, alpha[i0]);
    FloatVector a1 = FloatVector.broadcast(S, alpha[i0 + 1]);
    FloatVector a2 = FloatVector.broadcast(S, alpha[i0 + 2]);
    FloatVector a3 = FloatVector.broadcast(S, alpha[i0 + 3]);
    FloatVector o00 = FloatVector.fromArray(S, o, r0).mul(a0);
    FloatVector o01 = FloatVector.fromArray(S, o, r0 + L).mul(a0);
    FloatVector o02 = FloatVector.fromArray(S, o, r0 + 2 * L).mul(a0);
    FloatVector o03 = FloatVector.fromArray(S, o, r0 + 3 * L).mul(a0);
    FloatVector o10 = FloatVector.fromArray(S, o, r1).mul(a1);
    FloatVector o11 = FloatVector.fromArray(S, o, r1 + L).mul(a1);
    FloatVector o12 = FloatVector.fromArray(S, o, r1 + 2 * L).mul(a1);
    FloatVector o13 = FloatVector.fromArray(S, o, r1 + 3 * L).mul(a1);
    FloatVector o20 = FloatVector.fromArray(S, o, r2).mul(a2);
    FloatVector o21 = FloatVector.fromArray(S, o, r2 + L).mul(a2);
    FloatVector o22 = FloatVector.fromArray(S, o, r2 + 2 * L).mul(a2);
    FloatVector o23 = FloatVector.fromArray(S, o, r2 + 3 * L).mul(a2);
    FloatVector o30 = FloatVector.fromArray(S, o, r3).mul(a3);
    FloatVector o31 = FloatVector.fromArray(S, o, r3 + L).mul(a3);
    FloatVector o32 = FloatVector.fromArray(S, o, r3 + 2 * L).mul(a3);
    FloatVector o33 = FloatVector.fromArray(S, o, r3 + 3 * L).mul(a3);
    for (int j = 0; j < bk; j++) {
      int vj = j * dvp + c, pj = j * BQ + i0;
      FloatVector v0 = FloatVector.fromArray(S, vb, vj);
      FloatVector v1 = FloatVector.fromArray(S, vb, vj + L);
      FloatVector v2 = FloatVector.fromArray(S, vb, vj + 2 * L);
      FloatVector v3 = FloatVector.fromArray(S, vb, vj + 3 * L);
      FloatVector w = FloatVector.broadcast(S, st[pj]);
      o00 = v0.fma(w, o00);
      o01 = v1.fma(w, o01);
      o02 = v2.fma(w, o02);
      o03 = v3.fma(w, o03);
      w = FloatVector.broadcast(S, st[pj + 1]);
      o10 = v0.fma(w, o10);
      o11 = v1.fma(w, o11);
      o12 = v2.fma(w, o12);
      o13 = v3.fma(w, o13);
      w = FloatVector.broadcast(S, st[pj + 2]);
      o20 = v0.fma(w, o20);
      o21 = v1.fma(w, o21);
      o22 = v2.fma(w, o22);
      o23 = v3.fma(w, o23);
      w = FloatVector.broadcast(S, st[pj + 3]);
      o30 = v0.fma(w, o30);
      o31 = v1.fma(w, o31);
      o32 = v2.fma(w, o32);
      o33 = v3.fma(w, o33);
    }
    o00.intoArray(o, r0);
    o01.intoArray(o, r0 + L);
    o02.intoArray(o, r0 + 2 * L);
    o03.intoArray(o, r0 + 3 * L);
    o10.intoArray(o, r1);
    o11.intoArray(o, r1 + L);
    o12.intoArray(o, r1 + 2 * L);
    o13.intoArray(o, r1 + 3 * L);
    o20.intoArray(o, r2);
    o21.intoArray(o, r2 + L);
    o22.intoArray(o, r2 + 2 * L);
    o23.intoArray(o, r2 + 3 * L);
    o30.intoArray(o, r3);
    o31.intoArray(o, r3 + L);
    o32.intoArray(o, r3 + 2 * L);
    o33.intoArray(o, r3 + 3 * L);
  }

  /** Output rows i0..i0+3, one column vector at c. */
  private void pv4x1(int i0, int c, int bk) {
    int r0 = i0 * dvp + c, r1 = r0 + dvp, r2 = r1 + dvp, r3 = r2 + dvp;
    FloatVector o0 = FloatVector.fromArray(S, o, r0).mul(alpha[i0]);
    FloatVector o1 = FloatVector.fromArray(S, o, r1).mul(alpha[i0 + 1]);
    FloatVector o2 = FloatVector.fromArray(S, o, r2).mul(alpha[i0 + 2]);
    FloatVector o3 = FloatVector.fromArray(S, o, r3).mul(alpha[i0 + 3]);
    for (int j = 0; j < bk; j++) {
      FloatVector v = FloatVector.fromArray(S, vb, j * dvp + c);
      int pj = j * BQ + i0;
      o0 = v.fma(FloatVector.broadcast(S, st[pj]), o0);
      o1 = v.fma(FloatVector.broadcast(S, st[pj + 1]), o1);
      o2 = v.fma(FloatVector.broadcast(S, st[pj + 2]), o2);
      o3 = v.fma(FloatVector.broadcast(S, st[pj + 3]), o3);
    }
    o0.intoArray(o, r0);
    o1.intoArray(o, r1);
    o2.intoArray(o, r2);
    o3.intoArray(o, r3);
  }
}
