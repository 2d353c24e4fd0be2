package io.kinema.tensor.cpu;

import java.lang.foreign.ValueLayout;
import java.util.Arrays;

/**
 * The F64 attention kernel: the same blockwise online softmax as {@link AttentionF32}, written
 * plainly in double precision (one query row at a time against a block of keys). It is the
 * reference for parity tests, so it favours accuracy over speed: scores, exponentials, sums and the
 * accumulator are all double.
 */
final class AttentionF64 implements CpuAttention.Worker {
  /** Query rows per tile. */
  static final int BQ = 16;

  /** Keys per block. */
  static final int BK = 64;

  private final CpuAttention.Plan p;
  private final int d, dv;
  private final double[] qb, kb, vb, s, o, m, l;
  private final KeySegments segments = new KeySegments(BQ);

  AttentionF64(CpuAttention.Plan p) {
    this.p = p;
    d = p.d;
    dv = p.dv;
    qb = new double[BQ * d];
    kb = new double[BK * d];
    vb = new double[BK * dv];
    s = new double[BK];
    o = new double[BQ * dv];
    m = new double[BQ];
    l = new double[BQ];
  }

  @Override
  public void tile(int b, int h, int q0) {
    int rows = Math.min(BQ, p.sq - q0);
    load(p.qs, p.qOff, p.qSt, b, h, q0, rows, d, qb);
    Arrays.fill(m, Double.NEGATIVE_INFINITY);
    Arrays.fill(l, 0);
    Arrays.fill(o, 0);
    KeySegments seg = segments.of(p, q0, rows); // no row of the tile sees a key outside them
    for (int si = 0; si < seg.count(); si++) {
      for (int k0 = seg.start(si); k0 < seg.end(si); k0 += BK) {
        block(b, h, q0, rows, k0, Math.min(BK, seg.end(si) - k0));
      }
    }
    long base = p.oOff + b * p.oSt[0] + h * p.oSt[1] + q0 * p.oSt[2];
    for (int i = 0; i < rows; i++) {
      double inv = l[i] == 0 ? 0 : 1 / l[i]; // l == 0: the row saw no key
      long r = base + i * p.oSt[2];
      for (int c = 0; c < dv; c++) {
        p.os.setAtIndex(ValueLayout.JAVA_DOUBLE, r + c * p.oSt[3], o[i * dv + c] * inv);
      }
      p.storeLse(b, h, q0 + i, l[i] == 0 ? Double.NEGATIVE_INFINITY : m[i] + Math.log(l[i]));
    }
  }

  /** Keys {@code [k0, k0 + bk)} into the online softmax of the tile's rows. */
  private void block(int b, int h, int q0, int rows, int k0, int bk) {
    boolean perElement = p.maskKind >= CpuAttention.Plan.EXPLICIT;
    load(p.ks, p.kOff, p.kSt, b, h, k0, bk, d, kb);
    load(p.vs, p.vOff, p.vSt, b, h, k0, bk, dv, vb);
    for (int i = 0; i < rows; i++) {
      int jEnd = (int) Math.clamp(p.keyLimit(q0 + i) - k0, 0, bk);
      double mx = Double.NEGATIVE_INFINITY;
      for (int j = 0; j < jEnd; j++) {
        double sc;
        if (perElement && !p.allowedAt(b, h, q0 + i, k0 + j)) {
          sc = Double.NEGATIVE_INFINITY;
        } else {
          double dot = 0;
          for (int x = 0; x < d; x++) dot += qb[i * d + x] * kb[j * d + x];
          sc = dot * p.scale;
        }
        s[j] = sc;
        mx = Math.max(mx, sc);
      }
      if (mx == Double.NEGATIVE_INFINITY) continue; // nothing visible in this block
      double mNew = Math.max(m[i], mx);
      double a = Math.exp(m[i] - mNew); // 0 while m was -inf
      double sum = l[i] * a;
      int oi = i * dv;
      for (int c = 0; c < dv; c++) o[oi + c] *= a;
      for (int j = 0; j < jEnd; j++) {
        if (s[j] == Double.NEGATIVE_INFINITY) continue;
        double pj = Math.exp(s[j] - mNew);
        sum += pj;
        for (int c = 0; c < dv; c++) o[oi + c] += pj * vb[j * dv + c];
      }
      l[i] = sum;
      m[i] = mNew;
    }
  }

  /**
   * Rows {@code [r0, r0 + n)} of one (b, h) of an F64 operand into {@code dst[j * width]}. Shared
   * with the backward kernel.
   */
  static void load(
      java.lang.foreign.MemorySegment seg,
      long off,
      long[] st,
      int b,
      int h,
      int r0,
      int n,
      int width,
      double[] dst) {
    long base = off + b * st[0] + h * st[1] + (long) r0 * st[2];
    for (int j = 0; j < n; j++) {
      long r = base + j * st[2];
      for (int c = 0; c < width; c++) {
        dst[j * width + c] = seg.getAtIndex(ValueLayout.JAVA_DOUBLE, r + c * st[3]);
      }
    }
  }
}
