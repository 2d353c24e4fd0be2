package io.kinema.tensor.cpu;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

/**
 * The f32 attention-backward kernel (F32 inputs, and BF16/F16 converted to f32 as tiles are
 * loaded). A (query block, key block) pair of {@link #BQ} x {@link #BK} is computed as
 *
 * <ol>
 *   <li>{@code S = Q K^T} and {@code dP = dO V^T} into [BQ][BK] tiles (K and V kept transposed, so
 *       keys lie along the vector lanes);
 *   <li>{@code P = 2^(S scale log2(e) - lse log2(e))}, 0 where the mask hides the key; {@code dS =
 *       scale P (dP - D)}, overwriting dP;
 *   <li>then the key pass adds {@code P^T dO} to dV and {@code dS^T Q} to dK, the query pass {@code
 *       dS K} to dQ.
 * </ol>
 *
 * All five products go through one register-blocked micro-kernel {@link #gemm} (4 rows x 4 vectors,
 * a scalar of A broadcast against vectors of B), whose A operand is read through strides so that
 * P^T and dS^T need no transposed copy. Scratch is a few [64][64] tiles, allocated once per worker.
 */
final class AttentionBackwardF32 implements AttentionBackward.Worker {
  private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
  private static final int L = S.length();

  /** Query rows per block. */
  static final int BQ = 64;

  /** Keys per block (a multiple of the vector length). */
  static final int BK = 64;

  private static final double LOG2E = 1 / Math.log(2);

  private final AttentionBackward.Plan p;
  private final CpuAttention.Plan a;
  private final int d, dv, dp, dvp;
  private final float scale, qScale;
  private final float[] qr, dor, kr, vr, kt, vt, pt, dst, accA, accB, lse2, dd, row;
  private final long[] limit = new long[BQ];
  private final KeySegments segments = new KeySegments(BQ);

  AttentionBackwardF32(AttentionBackward.Plan p) {
    this.p = p;
    a = p.a;
    d = a.d;
    dv = a.dv;
    dp = pad(d);
    dvp = pad(dv);
    scale = (float) a.scale;
    qScale = (float) (a.scale * LOG2E);
    int n = Math.max(BQ, BK);
    qr = new float[BQ * dp];
    dor = new float[BQ * dvp];
    kr = new float[BK * dp];
    vr = new float[BK * dvp];
    kt = new float[d * BK];
    vt = new float[dv * BK];
    pt = new float[BQ * BK];
    dst = new float[BQ * BK];
    accA = new float[n * dp];
    accB = new float[BK * dvp];
    lse2 = new float[BQ];
    dd = new float[BQ];
    row = new float[dvp];
  }

  private static int pad(int n) {
    return Math.max(L, (n + L - 1) / L * L);
  }

  @Override
  public void keyBlock(int b, int h, int k0) {
    int bk = Math.min(BK, a.sk - k0);
    float[] dk = accA, dvAcc = accB;
    Arrays.fill(dk, 0, bk * dp, 0);
    Arrays.fill(dvAcc, 0, bk * dvp, 0);
    loadKeys(b, h, k0, bk);
    for (int q0 = p.firstRowSeeing(k0) / BQ * BQ; q0 < a.sq; q0 += BQ) {
      int rows = Math.min(BQ, a.sq - q0);
      if (!a.anySees(q0, rows, k0, k0 + bk)) continue;
      loadQueries(b, h, q0, rows);
      probabilities(b, h, q0, rows, k0, bk);
      gemm(bk, dvp, rows, pt, 1, BK, dor, dvp, dvAcc, dvp); // dV += P^T dO
      gemm(bk, dp, rows, dst, 1, BK, qr, dp, dk, dp); // dK += dS^T Q
    }
    store(p.gks, p.gkOff, p.gkSt, b, h, k0, bk, d, dk, dp);
    store(p.gvs, p.gvOff, p.gvSt, b, h, k0, bk, dv, dvAcc, dvp);
  }

  @Override
  public void queryBlock(int b, int h, int q0) {
    int rows = Math.min(BQ, a.sq - q0);
    float[] dq = accA;
    Arrays.fill(dq, 0, rows * dp, 0);
    loadQueries(b, h, q0, rows);
    KeySegments seg = segments.of(a, q0, rows); // no row of the block sees a key outside them
    for (int si = 0; si < seg.count(); si++) {
      for (int k0 = seg.start(si); k0 < seg.end(si); k0 += BK) {
        int bk = Math.min(BK, seg.end(si) - k0);
        loadKeys(b, h, k0, bk);
        probabilities(b, h, q0, rows, k0, bk);
        gemm(rows, dp, bk, dst, BK, 1, kr, dp, dq, dp); // dQ += dS K
      }
    }
    store(p.gqs, p.gqOff, p.gqSt, b, h, q0, rows, d, dq, dp);
  }

  /** P into {@code pt} and dS into {@code dst}, both [rows][BK] (columns past bk are 0). */
  private void probabilities(int b, int h, int q0, int rows, int k0, int bk) {
    Arrays.fill(pt, 0, rows * BK, 0);
    Arrays.fill(dst, 0, rows * BK, 0);
    gemm(rows, BK, d, qr, dp, 1, kt, BK, pt, BK); // S = Q K^T
    gemm(rows, BK, dv, dor, dvp, 1, vt, BK, dst, BK); // dP = dO V^T
    FloatVector zero = FloatVector.zero(S);
    for (int i = 0; i < rows; i++) {
      // Keys at or past `visible` (block-relative) are masked for this row, or past the block.
      int visible = (int) Math.clamp(limit[i] - k0, 0, bk);
      FloatVector l = FloatVector.broadcast(S, lse2[i]);
      FloatVector di = FloatVector.broadcast(S, dd[i]);
      for (int j = 0; j < BK; j += L) {
        int at = i * BK + j;
        if (j >= visible) {
          zero.intoArray(pt, at);
          zero.intoArray(dst, at);
          continue;
        }
        FloatVector x = FloatVector.fromArray(S, pt, at).mul(qScale).sub(l).min(0f);
        VectorMask<Float> seen = S.indexInRange(j, visible);
        FloatVector pv = zero.blend(VectorMath.exp2NonPositive(x), seen);
        pv.intoArray(pt, at);
        pv.mul(FloatVector.fromArray(S, dst, at).sub(di)).mul(scale).intoArray(dst, at);
      }
    }
    if (a.maskKind == CpuAttention.Plan.KEY_RANGES && !a.allSee(q0, rows, k0, k0 + bk)) {
      for (int i = 0; i < rows; i++) zeroOutsideRanges(i, q0 + i, k0, bk);
    }
    if (a.maskKind == CpuAttention.Plan.EXPLICIT) {
      for (int i = 0; i < rows; i++) {
        for (int j = 0; j < bk; j++) {
          if (!a.allowed(b, h, q0 + i, k0 + j)) {
            pt[i * BK + j] = 0;
            dst[i * BK + j] = 0;
          }
        }
      }
    }
  }

  /**
   * Zeroes P and dS of tile row i (query row qi) where the key is outside both of the row's ranges:
   * with the ranges clipped to the block, sorted so {@code s1 <= s2} (an empty one moved to the
   * end), the hidden keys are {@code [0, s1)}, {@code [e1, s2)} and {@code [max(e1, e2), bk)}.
   */
  private void zeroOutsideRanges(int i, int qi, int k0, int bk) {
    int[] r = a.ranges;
    int at = 4 * qi;
    int s1 = Math.clamp(r[at] - k0, 0, bk), e1 = Math.clamp(r[at + 1] - k0, 0, bk);
    int s2 = Math.clamp(r[at + 2] - k0, 0, bk), e2 = Math.clamp(r[at + 3] - k0, 0, bk);
    if (s1 >= e1) s1 = e1 = bk;
    if (s2 >= e2) s2 = e2 = bk;
    if (s2 < s1) {
      int t = s1;
      s1 = s2;
      s2 = t;
      t = e1;
      e1 = e2;
      e2 = t;
    }
    zero(i, 0, s1);
    if (e1 < s2) zero(i, e1, s2);
    zero(i, Math.max(e1, e2), bk);
  }

  private void zero(int i, int from, int to) {
    if (from >= to) return;
    Arrays.fill(pt, i * BK + from, i * BK + to, 0);
    Arrays.fill(dst, i * BK + from, i * BK + to, 0);
  }

  // ------------------------------------------------------------------ tiles in and out

  /** K rows (and transposed) and V transposed of keys {@code [k0, k0 + bk)}. */
  private void loadKeys(int b, int h, int k0, int bk) {
    loadRows(a.ks, a.kOff, a.kSt, b, h, k0, bk, d, kr, dp);
    loadRows(a.vs, a.vOff, a.vSt, b, h, k0, bk, dv, vr, dvp);
    for (int x = 0; x < d; x++) {
      for (int j = 0; j < bk; j++) kt[x * BK + j] = kr[j * dp + x];
      for (int j = bk; j < BK; j++) kt[x * BK + j] = 0;
    }
    for (int c = 0; c < dv; c++) {
      for (int j = 0; j < bk; j++) vt[c * BK + j] = vr[j * dvp + c];
      for (int j = bk; j < BK; j++) vt[c * BK + j] = 0;
    }
  }

  /** Q and dO rows, lse (log2 units; +inf for a row that saw no key, so P is 0), D and limits. */
  private void loadQueries(int b, int h, int q0, int rows) {
    loadRows(a.qs, a.qOff, a.qSt, b, h, q0, rows, d, qr, dp);
    loadRows(p.gos, p.goOff, p.goSt, b, h, q0, rows, dv, dor, dvp);
    long oBase = a.oOff + b * a.oSt[0] + h * a.oSt[1];
    for (int i = 0; i < rows; i++) {
      double lse = p.lse(b, h, q0 + i);
      lse2[i] = lse == Double.NEGATIVE_INFINITY ? Float.POSITIVE_INFINITY : (float) (lse * LOG2E);
      loadRow(a.os, oBase + (long) (q0 + i) * a.oSt[2], a.oSt[3], row, 0, dv);
      double s = 0;
      for (int c = 0; c < dv; c++) s += (double) dor[i * dvp + c] * row[c];
      dd[i] = (float) s;
      limit[i] = a.keyLimit(q0 + i);
    }
  }

  private void loadRows(
      MemorySegment seg,
      long off,
      long[] st,
      int b,
      int h,
      int r0,
      int n,
      int width,
      float[] dst,
      int ld) {
    long base = off + b * st[0] + h * st[1] + (long) r0 * st[2];
    for (int j = 0; j < n; j++) loadRow(seg, base + j * st[2], st[3], dst, j * ld, width);
  }

  private void loadRow(MemorySegment seg, long at, long sd, float[] dst, int to, int width) {
    AttentionF32.loadRow(a.dtype, seg, at, sd, dst, to, width);
  }

  /** Rows {@code [r0, r0 + n)} of an F32 gradient from {@code src[j * ld]}. */
  private static void store(
      MemorySegment seg,
      long off,
      long[] st,
      int b,
      int h,
      int r0,
      int n,
      int width,
      float[] src,
      int ld) {
    long base = off + b * st[0] + h * st[1] + (long) r0 * st[2];
    for (int j = 0; j < n; j++) {
      long r = base + j * st[2];
      if (st[3] == 1) {
        MemorySegment.copy(src, j * ld, seg, ValueLayout.JAVA_FLOAT, r * 4, width);
      } else {
        for (int c = 0; c < width; c++) {
          seg.setAtIndex(ValueLayout.JAVA_FLOAT, r + c * st[3], src[j * ld + c]);
        }
      }
    }
  }

  // ------------------------------------------------------------------ micro-kernels

  /**
   * {@code C[r][0, n) += sum_{t < kd} A(r, t) B[t][0, n)} for r &lt; m, with {@code A(r, t) = a[r
   * ars + t ats]}, {@code B[t] = b[t ldb ...]}, {@code C[r] = c[r ldc ...]}; n a multiple of L.
   */
  static void gemm(
      int m, int n, int kd, float[] a, int ars, int ats, float[] b, int ldb, float[] c, int ldc) {
    int r = 0;
    for (; r + 4 <= m; r += 4) {
      int col = 0;
      for (; col + 4 * L <= n; col += 4 * L) kernel4x4(r, col, kd, a, ars, ats, b, ldb, c, ldc);
      for (; col < n; col += L) kernel4x1(r, col, kd, a, ars, ats, b, ldb, c, ldc);
    }
    for (; r < m; r++) {
      for (int col = 0; col < n; col += L) {
        FloatVector acc = FloatVector.fromArray(S, c, r * ldc + col);
        int ar = r * ars;
        for (int t = 0; t < kd; t++) {
          acc =
              FloatVector.fromArray(S, b, t * ldb + col)
                  .fma(FloatVector.broadcast(S, a[ar + t * ats]), acc);
        }
        acc.intoArray(c, r * ldc + col);
      }
    }
  }

  private static void kernel4x4(
      int r, int col, int kd, float[] a, int ars, int ats, float[] b, int ldb, float[] c, int ldc) {
    int c0 = r * ldc + col, c1 = c0 + ldc, c2 = c1 + ldc, c3 = c2 + ldc;
    FloatVector x00 = FloatVector.fromArray(S, c, c0);
    FloatVector x01 = FloatVector.fromArray(S, c, c0 + L);
    FloatVector x02 = FloatVector.fromArray(S, c, c0 + 2 * L);
    FloatVector x03 = FloatVector.fromArray(S, c, c0 + 3 * L);
    FloatVector x10 = FloatVector.fromArray(S, c, c1);
    FloatVector x11 = FloatVector.fromArray(S, c, c1 + L);
    FloatVector x12 = FloatVector.fromArray(S, c, c1 + 2 * L);
    FloatVector x13 = FloatVector.fromArray(S, c, c1 + 3 * L);
    FloatVector x20 = FloatVector.fromArray(S, c, c2);
    FloatVector x21 = FloatVector.fromArray(S, c, c2 + L);
    FloatVector x22 = FloatVector.fromArray(S, c, c2 + 2 * L);
    FloatVector x23 = FloatVector.fromArray(S, c, c2 + 3 * L);
    FloatVector x30 = FloatVector.fromArray(S, c, c3);
    FloatVector x31 = FloatVector.fromArray(S, c, c3 + L);
    FloatVector x32 = FloatVector.fromArray(S, c, c3 + 2 * L);
    FloatVector x33 = FloatVector.fromArray(S, c, c3 + 3 * L);
    int a0 = r * ars, a1 = a0 + ars, a2 = a1 + ars, a3 = a2 + ars;
    for (int t = 0; t < kd; t++) {
      int bo = t * ldb + col, at = t * ats;
      FloatVector b0 = FloatVector.fromArray(S, b, bo);
      FloatVector b1 = FloatVector.fromArray(S, b, bo + L);
      FloatVector b2 = FloatVector.fromArray(S, b, bo + 2 * L);
      FloatVector b3 = FloatVector.fromArray(S, b, bo + 3 * L);
      FloatVector w = FloatVector.broadcast(S, a[a0 + at]);
      x00 = b0.fma(w, x00);
      x01 = b1.fma(w, x01);
      x02 = b2.fma(w, x02);
      x03 = b3.fma(w, x03);
      w = FloatVector.broadcast(S, a[a1 + at]);
      x10 = b0.fma(w, x10);
      x11 = b1.fma(w, x11);
      x12 = b2.fma(w, x12);
      x13 = b3.fma(w, x13);
      w = FloatVector.broadcast(S, a[a2 + at]);
      x20 = b0.fma(w, x20);
      x21 = b1.fma(w, x21);
      x22 = b2.fma(w, x22);
      x23 = b3.fma(w, x23);
      w = FloatVector.broadcast(S, a[a3 + at]);
      x30 = b0.fma(w, x30);
      x31 = b1.fma(w, x31);
      x32 = b2.fma(w, x32);
      x33 = b3.fma(w, x33);
    }
    x00.intoArray(c, c0);
    x01.intoArray(c, c0 + L);
    x02.intoArray(c, c0 + 2 * L);
    x03.intoArray(c, c0 + 3 * L);
    x10.intoArray(c, c1);
    x11.intoArray(c, c1 + L);
    x12.intoArray(c, c1 + 2 * L);
    x13.intoArray(c, c1 + 3 * L);
    x20.intoArray(c, c2);
    x21.intoArray(c, c2 + L);
    x22.intoArray(c, c2 + 2 * L);
    x23.intoArray(c, c2 + 3 * L);
    x30.intoArray(c, c3);
    x31.intoArray(c, c3 + L);
    x32.intoArray(c, c3 + 2 * L);
    x33.intoArray(c, c3 + 3 * L);
  }

  private static void kernel4x1(
      int r, int col, int kd, float[] a, int ars, int ats, float[] b, int ldb, float[] c, int ldc) {
    int c0 = r * ldc + col, c1 = c0 + ldc, c2 = c1 + ldc, c3 = c2 + ldc;
    FloatVector x0 = FloatVector.fromArray(S, c, c0);
    FloatVector x1 = FloatVector.fromArray(S, c, c1);
    FloatVector x2 = FloatVector.fromArray(S, c, c2);
    FloatVector x3 = FloatVector.fromArray(S, c, c3);
    int a0 = r * ars, a1 = a0 + ars, a2 = a1 + ars, a3 = a2 + ars;
    for (int t = 0; t < kd; t++) {
      FloatVector v = FloatVector.fromArray(S, b, t * ldb + col);
      int at = t * ats;
      x0 = v.fma(FloatVector.broadcast(S, a[a0 + at]), x0);
      x1 = v.fma(FloatVector.broadcast(S, a[a1 + at]), x1);
      x2 = v.fma(FloatVector.broadcast(S, a[a2 + at]), x2);
      x3 = v.fma(FloatVector.broadcast(S, a[a3 + at]), x3);
    }
    x0.intoArray(c, c0);
    x1.intoArray(c, c1);
    x2.intoArray(c, c2);
    x3.intoArray(c, c3);
  }
}
