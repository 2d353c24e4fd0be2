package io.kinema.tensor.cpu;

import io.kinema.tensor.DType;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.cpu.CpuReduce.Convert;
import io.kinema.tensor.cpu.CpuReduce.Kind;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * Row-wise kernels: softmax, layer_norm, rms_norm, rotary embedding.
 *
 * <p>Each op works on rows: the elements along the softmax dim, the trailing normalized dims, or
 * the last dim of rotary. Rows run in parallel. A row that is one unit-stride run of the compute
 * type (F32, or F64 for F64 tensors) is processed in place; any other row (strided, BF16/F16) is
 * first gathered into a contiguous compute-type scratch buffer and its result scattered back, so
 * there is one vector kernel per op and compute type. Scalar loops over a row's last elements
 * compute exactly what the vector loop computes (same operations, fma included), and lane sums and
 * exp come from {@link VectorMath}: results do not depend on the vector length split or on the JIT.
 */
final class CpuNorm {
  private CpuNorm() {}

  private static final VectorSpecies<Float> FS = CpuReduce.FS;
  private static final int FL = FS.length();
  private static final ByteOrder NO = ByteOrder.nativeOrder();
  private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT;
  private static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE;

  /** The type a kernel computes in for data of {@code dt}. */
  static DType computeType(DType dt) {
    return dt == DType.F64 ? DType.F64 : DType.F32;
  }

  // ------------------------------------------------------------------ row geometry

  /**
   * Rows of several operands of one rank: dims marked inner form a row, the others (same sizes in
   * every operand) index rows. Per operand: base offset of row r, its inner shape and strides, and
   * whether the row is one unit-stride run.
   */
  static final class Rows {
    final long count;
    final long[] outer;
    final long[][] outerSt, inner, innerSt;
    final long[] off, n;
    final boolean[] unit;

    Rows(boolean[] isInner, Tensor... ts) {
      int ops = ts.length, rank = isInner.length, no = 0;
      for (boolean b : isInner) if (!b) no++;
      outer = new long[no];
      outerSt = new long[ops][no];
      inner = new long[ops][rank - no];
      innerSt = new long[ops][rank - no];
      off = new long[ops];
      n = new long[ops];
      unit = new boolean[ops];
      for (int i = 0; i < ops; i++) {
        long[] sh = ts[i].shape(), st = ts[i].strides();
        for (int d = 0, o = 0, in = 0; d < rank; d++) {
          if (isInner[d]) {
            inner[i][in] = sh[d];
            innerSt[i][in++] = st[d];
          } else {
            if (i == 0) outer[o] = sh[d];
            outerSt[i][o++] = st[d];
          }
        }
        off[i] = ts[i].offset();
        long cnt = 1, expected = 1;
        boolean u = true;
        for (int d = inner[i].length - 1; d >= 0; d--) {
          cnt *= inner[i][d];
          if (inner[i][d] == 1) continue;
          u &= innerSt[i][d] == expected;
          expected *= inner[i][d];
        }
        n[i] = cnt;
        unit[i] = u;
      }
      long c = 1;
      for (long s : outer) c *= s;
      count = c;
    }

    long base(int i, long r) {
      long o = off[i];
      for (int d = outer.length - 1; d >= 0; d--) {
        o += (r % outer[d]) * outerSt[i][d];
        r /= outer[d];
      }
      return o;
    }

    /** True when operand i's rows can be used in place as {@code cdt} data. */
    boolean direct(int i, DType dt, DType cdt) {
      return unit[i] && dt == cdt;
    }

    /** Row r of operand i (at {@code base}) converted into contiguous {@code cdt} at dst[0..n). */
    void gather(int i, long base, MemorySegment s, DType dt, MemorySegment dst, DType cdt) {
      if (unit[i]) {
        Convert.toFloat(s, dt, base, n[i], dst, cdt, 0);
        return;
      }
      long[] sh = inner[i], st = innerSt[i];
      long[] idx = new long[sh.length];
      long o = base;
      for (long j = 0; j < n[i]; j++) {
        CpuReduce.store(dst, cdt, j, CpuReduce.load(s, dt, o));
        for (int d = sh.length - 1; d >= 0; d--) {
          o += st[d];
          if (++idx[d] < sh[d]) break;
          o -= st[d] * sh[d];
          idx[d] = 0;
        }
      }
    }

    /** Contiguous {@code cdt} src[0..n) written to row r of operand i (at {@code base}). */
    void scatter(int i, long base, MemorySegment src, DType cdt, MemorySegment s, DType dt) {
      if (unit[i]) {
        Convert.fromFloat(src, cdt, 0, n[i], s, dt, base);
        return;
      }
      long[] sh = inner[i], st = innerSt[i];
      long[] idx = new long[sh.length];
      long o = base;
      for (long j = 0; j < n[i]; j++) {
        CpuReduce.store(s, dt, o, CpuReduce.load(src, cdt, j));
        for (int d = sh.length - 1; d >= 0; d--) {
          o += st[d];
          if (++idx[d] < sh[d]) break;
          o -= st[d] * sh[d];
          idx[d] = 0;
        }
      }
    }

    /** Scratch for operand i's rows, or null when its rows are used in place. */
    MemorySegment scratch(Arena arena, int i, DType dt, DType cdt) {
      return direct(i, dt, cdt) ? null : arena.allocate(Math.max(1, n[i]) * cdt.byteSize(), 64);
    }
  }

  static long grain(long n) {
    return Math.max(1, StridedLoop.GRAIN / Math.max(1, n));
  }

  /** Offset of row r in a tensor whose shape is the rows' outer shape (meanOut, rstdOut). */
  static long rowOffset(Tensor t, long r) {
    long[] sh = t.shape(), st = t.strides();
    long o = t.offset();
    for (int d = sh.length - 1; d >= 0; d--) {
      o += (r % sh[d]) * st[d];
      r /= sh[d];
    }
    return o;
  }

  /**
   * {@code t} (whose shape is a row's shape) as one contiguous {@code cdt} row starting at index 0:
   * a slice of its own storage when it already is one, else a converted copy in the arena.
   */
  static MemorySegment contiguousRow(Arena arena, Tensor t, DType cdt) {
    boolean[] all = new boolean[t.dim()];
    java.util.Arrays.fill(all, true);
    Rows r = new Rows(all, t);
    if (r.direct(0, t.dtype(), cdt)) {
      return t.storage().segment().asSlice(t.offset() * cdt.byteSize(), r.n[0] * cdt.byteSize());
    }
    MemorySegment dst = arena.allocate(Math.max(1, r.n[0]) * cdt.byteSize(), 64);
    r.gather(0, r.base(0, 0), t.storage().segment(), t.dtype(), dst, cdt);
    return dst;
  }

  static MemorySegment constantRow(Arena arena, long n, DType cdt, double v) {
    MemorySegment dst = arena.allocate(Math.max(1, n) * cdt.byteSize(), 64);
    for (long j = 0; j < n; j++) CpuReduce.store(dst, cdt, j, v);
    return dst;
  }

  // ------------------------------------------------------------------ softmax

  static void softmax(Tensor x, int dim, boolean log, Tensor out) {
    if (x.numel() == 0) return;
    boolean[] isInner = new boolean[x.dim()];
    isInner[dim] = true;
    Rows rows = new Rows(isInner, x, out);
    DType xdt = x.dtype(), odt = out.dtype(), cdt = computeType(xdt);
    MemorySegment xs = x.storage().segment(), os = out.storage().segment();
    long n = rows.n[0];
    Parallel.forRange(
        rows.count,
        grain(n),
        (s, e) -> {
          try (Arena arena = Arena.ofConfined()) {
            MemorySegment sx = rows.scratch(arena, 0, xdt, cdt);
            MemorySegment sy = rows.scratch(arena, 1, odt, cdt);
            MemorySegment work =
                cdt == DType.F32 ? arena.allocate((CpuReduce.BLOCK + FL) * 4L, 64) : null;
            for (long r = s; r < e; r++) {
              long xb = rows.base(0, r), ob = rows.base(1, r);
              if (sx != null) rows.gather(0, xb, xs, xdt, sx, cdt);
              MemorySegment xseg = sx == null ? xs : sx, yseg = sy == null ? os : sy;
              long xo = sx == null ? xb : 0, yo = sy == null ? ob : 0;
              if (cdt == DType.F32) softmaxF32(xseg, xo, yseg, yo, n, log, work);
              else softmaxF64(xseg, xo, yseg, yo, n, log);
              if (sy != null) rows.scatter(1, ob, sy, cdt, os, odt);
            }
          }
        });
  }

  /**
   * Softmax of n contiguous floats: max, then exp(x - max) (stored for softmax) summed in f32
   * blocks added in double, then a scale (or, for log-softmax, {@code x - max - log(sum)}). The
   * exponentials are VectorMath's loop, run on a block's whole vectors in place and on its last
   * partial vector padded in {@code work} (BLOCK + FL floats, which also holds log-softmax's
   * exponentials), so an element's bits do not depend on where it sits in the row. A row of -inf
   * gives NaN, as in PyTorch. x and y may be the same memory.
   */
  static void softmaxF32(
      MemorySegment x, long xo, MemorySegment y, long yo, long n, boolean log, MemorySegment work) {
    float max = CpuReduce.maxF32(x, xo, n, false);
    long padAt = CpuReduce.BLOCK * 4L;
    double total = 0;
    for (long b = 0; b < n; b += CpuReduce.BLOCK) {
      int len = (int) Math.min(CpuReduce.BLOCK, n - b), whole = len - len % FL;
      MemorySegment e = log ? work : y;
      long eo = log ? 0 : yo + b;
      float part = VectorMath.exp(x, (xo + b) * 4, e, eo * 4, whole * 4L, 1, -max);
      if (whole < len) {
        MemorySegment.copy(x, (xo + b + whole) * 4, work, padAt, (len - whole) * 4L);
        VectorMath.exp(work, padAt, work, padAt, FL * 4L, 1, -max);
        for (int i = 0; i < len - whole; i++) part += work.getAtIndex(F32, CpuReduce.BLOCK + i);
        if (!log) MemorySegment.copy(work, padAt, y, (yo + b + whole) * 4, (len - whole) * 4L);
      }
      total += part;
    }
    FloatVector mv = FloatVector.broadcast(FS, max);
    long i = 0;
    long vn = n - n % FL;
    if (!log) {
      float inv = (float) (1 / total);
      for (; i < vn; i += FL) {
        FloatVector.fromMemorySegment(FS, y, (yo + i) * 4, NO)
            .mul(inv)
            .intoMemorySegment(y, (yo + i) * 4, NO);
      }
      for (; i < n; i++) y.setAtIndex(F32, yo + i, y.getAtIndex(F32, yo + i) * inv);
    } else {
      float lse = (float) StrictMath.log(total);
      for (; i < vn; i += FL) {
        FloatVector.fromMemorySegment(FS, x, (xo + i) * 4, NO)
            .sub(mv)
            .sub(lse)
            .intoMemorySegment(y, (yo + i) * 4, NO);
      }
      for (; i < n; i++) y.setAtIndex(F32, yo + i, x.getAtIndex(F32, xo + i) - max - lse);
    }
  }

  /** Softmax of n contiguous doubles (reference precision; scalar). */
  static void softmaxF64(MemorySegment x, long xo, MemorySegment y, long yo, long n, boolean log) {
    double max = CpuReduce.runF64(Kind.MAX, x, xo, n, 0);
    double total = 0, comp = 0;
    for (long i = 0; i < n; i++) {
      double ev = Math.exp(x.getAtIndex(F64, xo + i) - max);
      if (!log) y.setAtIndex(F64, yo + i, ev);
      double t = total + ev; // Neumaier: all terms are >= 0, so |total| >= ev after the first
      comp += Math.abs(total) >= ev ? (total - t) + ev : (ev - t) + total;
      total = t;
    }
    total += comp;
    if (!log) {
      for (long i = 0; i < n; i++) y.setAtIndex(F64, yo + i, y.getAtIndex(F64, yo + i) / total);
    } else {
      double lse = Math.log(total);
      for (long i = 0; i < n; i++) {
        y.setAtIndex(F64, yo + i, x.getAtIndex(F64, xo + i) - max - lse);
      }
    }
  }

  // ------------------------------------------------------------------ layer norm, rms norm

  static void layerNorm(
      Tensor x,
      int normalizedDims,
      Tensor weight,
      Tensor bias,
      double eps,
      Tensor out,
      Tensor meanOut,
      Tensor rstdOut) {
    normalize(false, x, normalizedDims, weight, bias, eps, out, meanOut, rstdOut);
  }

  static void rmsNorm(
      Tensor x, int normalizedDims, Tensor weight, double eps, Tensor out, Tensor rstdOut) {
    normalize(true, x, normalizedDims, weight, null, eps, out, null, rstdOut);
  }

  /** Layer norm (or RMS norm when {@code rms}) of each row of the trailing normalized dims. */
  private static void normalize(
      boolean rms,
      Tensor x,
      int normalizedDims,
      Tensor weight,
      Tensor bias,
      double eps,
      Tensor out,
      Tensor meanOut,
      Tensor rstdOut) {
    boolean[] isInner = new boolean[x.dim()];
    for (int d = x.dim() - normalizedDims; d < x.dim(); d++) isInner[d] = true;
    Rows rows = new Rows(isInner, x, out);
    if (rows.count == 0) return;
    DType xdt = x.dtype(), odt = out.dtype(), cdt = computeType(xdt);
    MemorySegment xs = x.storage().segment(), os = out.storage().segment();
    long n = rows.n[0];
    boolean affine = weight != null || bias != null;
    Parallel.forRange(
        rows.count,
        grain(n),
        (s, e) -> {
          double[] stats = new double[2];
          try (Arena arena = Arena.ofConfined()) {
            // Weight and bias as contiguous compute-type rows (converted per task when they are
            // not already); when only one is given, the other is ones (zeros), so one affine loop
            // serves every case.
            MemorySegment w =
                weight != null
                    ? contiguousRow(arena, weight, cdt)
                    : affine ? constantRow(arena, n, cdt, 1) : null;
            MemorySegment b =
                bias != null
                    ? contiguousRow(arena, bias, cdt)
                    : affine && !rms ? constantRow(arena, n, cdt, 0) : null;
            MemorySegment sx = rows.scratch(arena, 0, xdt, cdt);
            MemorySegment sy = rows.scratch(arena, 1, odt, cdt);
            for (long r = s; r < e; r++) {
              long xb = rows.base(0, r), ob = rows.base(1, r);
              if (sx != null) rows.gather(0, xb, xs, xdt, sx, cdt);
              MemorySegment xseg = sx == null ? xs : sx, yseg = sy == null ? os : sy;
              long xo = sx == null ? xb : 0, yo = sy == null ? ob : 0;
              if (cdt == DType.F32) {
                if (rms) rmsNormF32(xseg, xo, yseg, yo, n, w, (float) eps, stats);
                else layerNormF32(xseg, xo, yseg, yo, n, w, b, (float) eps, stats);
              } else {
                if (rms) rmsNormF64(xseg, xo, yseg, yo, n, w, eps, stats);
                else layerNormF64(xseg, xo, yseg, yo, n, w, b, eps, stats);
              }
              if (sy != null) rows.scatter(1, ob, sy, cdt, os, odt);
              if (meanOut != null) {
                CpuReduce.store(
                    meanOut.storage().segment(), meanOut.dtype(), rowOffset(meanOut, r), stats[0]);
              }
              if (rstdOut != null) {
                CpuReduce.store(
                    rstdOut.storage().segment(), rstdOut.dtype(), rowOffset(rstdOut, r), stats[1]);
              }
            }
          }
        });
  }

  /**
   * Layer norm of n contiguous floats, two-pass (mean, then squared deviations: no E[x^2]-E[x]^2
   * cancellation), biased variance. w and b are both null (no affine) or both rows of n floats.
   * stats receives (mean, rstd).
   */
  static void layerNormF32(
      MemorySegment x,
      long xo,
      MemorySegment y,
      long yo,
      long n,
      MemorySegment w,
      MemorySegment b,
      float eps,
      double[] stats) {
    float mean = (float) (CpuReduce.sum(x, xo, n) / n);
    double m2 = CpuReduce.sumSqDev(x, xo, n, mean);
    float rstd = (float) (1 / Math.sqrt((float) (m2 / n) + eps));
    FloatVector mv = FloatVector.broadcast(FS, mean), rv = FloatVector.broadcast(FS, rstd);
    long i = 0, vn = n - n % FL;
    if (w == null) {
      for (; i < vn; i += FL) {
        FloatVector.fromMemorySegment(FS, x, (xo + i) * 4, NO)
            .sub(mv)
            .mul(rv)
            .intoMemorySegment(y, (yo + i) * 4, NO);
      }
      for (; i < n; i++) y.setAtIndex(F32, yo + i, (x.getAtIndex(F32, xo + i) - mean) * rstd);
    } else {
      for (; i < vn; i += FL) {
        FloatVector wv = FloatVector.fromMemorySegment(FS, w, i * 4, NO);
        FloatVector bv = FloatVector.fromMemorySegment(FS, b, i * 4, NO);
        FloatVector.fromMemorySegment(FS, x, (xo + i) * 4, NO)
            .sub(mv)
            .mul(rv)
            .fma(wv, bv)
            .intoMemorySegment(y, (yo + i) * 4, NO);
      }
      for (; i < n; i++) {
        float v = (x.getAtIndex(F32, xo + i) - mean) * rstd;
        y.setAtIndex(F32, yo + i, Math.fma(v, w.getAtIndex(F32, i), b.getAtIndex(F32, i)));
      }
    }
    stats[0] = mean;
    stats[1] = rstd;
  }

  static void layerNormF64(
      MemorySegment x,
      long xo,
      MemorySegment y,
      long yo,
      long n,
      MemorySegment w,
      MemorySegment b,
      double eps,
      double[] stats) {
    double mean = CpuReduce.runF64(Kind.SUM, x, xo, n, 0) / n;
    double m2 = CpuReduce.runF64(Kind.SUM_SQDEV, x, xo, n, mean);
    double rstd = 1 / Math.sqrt(m2 / n + eps);
    for (long i = 0; i < n; i++) {
      double v = (x.getAtIndex(F64, xo + i) - mean) * rstd;
      if (w != null) v = v * w.getAtIndex(F64, i) + b.getAtIndex(F64, i);
      y.setAtIndex(F64, yo + i, v);
    }
    stats[0] = mean;
    stats[1] = rstd;
  }

  /** y = x / sqrt(mean(x^2) + eps) * w (w nullable); stats[1] receives the rstd. */
  static void rmsNormF32(
      MemorySegment x,
      long xo,
      MemorySegment y,
      long yo,
      long n,
      MemorySegment w,
      float eps,
      double[] stats) {
    double ss = CpuReduce.sumSq(x, xo, n);
    float rstd = (float) (1 / Math.sqrt((float) (ss / n) + eps));
    FloatVector rv = FloatVector.broadcast(FS, rstd);
    long i = 0, vn = n - n % FL;
    if (w == null) {
      for (; i < vn; i += FL) {
        FloatVector.fromMemorySegment(FS, x, (xo + i) * 4, NO)
            .mul(rv)
            .intoMemorySegment(y, (yo + i) * 4, NO);
      }
      for (; i < n; i++) y.setAtIndex(F32, yo + i, x.getAtIndex(F32, xo + i) * rstd);
    } else {
      for (; i < vn; i += FL) {
        FloatVector.fromMemorySegment(FS, x, (xo + i) * 4, NO)
            .mul(rv)
            .mul(FloatVector.fromMemorySegment(FS, w, i * 4, NO))
            .intoMemorySegment(y, (yo + i) * 4, NO);
      }
      for (; i < n; i++) {
        y.setAtIndex(F32, yo + i, x.getAtIndex(F32, xo + i) * rstd * w.getAtIndex(F32, i));
      }
    }
    stats[0] = 0;
    stats[1] = rstd;
  }

  static void rmsNormF64(
      MemorySegment x,
      long xo,
      MemorySegment y,
      long yo,
      long n,
      MemorySegment w,
      double eps,
      double[] stats) {
    double rstd = 1 / Math.sqrt(CpuReduce.runF64(Kind.SUM_SQ, x, xo, n, 0) / n + eps);
    for (long i = 0; i < n; i++) {
      double v = x.getAtIndex(F64, xo + i) * rstd;
      y.setAtIndex(F64, yo + i, w == null ? v : v * w.getAtIndex(F64, i));
    }
    stats[0] = 0;
    stats[1] = rstd;
  }

  // ------------------------------------------------------------------ rotary

  /** Lane i of the first (second) half of a vector of pairs reads angle i/2 (FL/2 + i/2). */
  private static final VectorShuffle<Float> DUP_LO = VectorShuffle.fromOp(FS, i -> i / 2),
      DUP_HI = VectorShuffle.fromOp(FS, i -> FL / 2 + i / 2);

  /** Swaps the elements of each pair. */
  private static final VectorShuffle<Float> SWAP = VectorShuffle.fromOp(FS, i -> i ^ 1);

  /** -1 on the first element of a pair, +1 on the second. */
  private static final FloatVector SIGN = FloatVector.fromArray(FS, signs(), 0);

  private static float[] signs() {
    float[] s = new float[FL];
    for (int i = 0; i < FL; i++) s[i] = i % 2 == 0 ? -1 : 1;
    return s;
  }

  static void rotary(Tensor x, Tensor cos, Tensor sin, boolean interleaved, Tensor out) {
    if (x.numel() == 0) return;
    boolean[] isInner = new boolean[x.dim()];
    isInner[x.dim() - 1] = true;
    Rows rows = new Rows(isInner, x, cos, sin, out);
    DType xdt = x.dtype(), cdt = computeType(xdt);
    DType[] dts = {xdt, cos.dtype(), sin.dtype(), out.dtype()};
    MemorySegment[] segs = {
      x.storage().segment(),
      cos.storage().segment(),
      sin.storage().segment(),
      out.storage().segment()
    };
    long half = rows.n[0] / 2;
    Parallel.forRange(
        rows.count,
        grain(rows.n[0]),
        (s, e) -> {
          try (Arena arena = Arena.ofConfined()) {
            MemorySegment[] scratch = new MemorySegment[4];
            for (int i = 0; i < 4; i++) scratch[i] = rows.scratch(arena, i, dts[i], cdt);
            MemorySegment[] seg = new MemorySegment[4];
            long[] base = new long[4], off = new long[4];
            for (long r = s; r < e; r++) {
              for (int i = 0; i < 4; i++) {
                base[i] = rows.base(i, r);
                seg[i] = scratch[i] == null ? segs[i] : scratch[i];
                off[i] = scratch[i] == null ? base[i] : 0;
                if (i < 3 && scratch[i] != null) {
                  rows.gather(i, base[i], segs[i], dts[i], scratch[i], cdt);
                }
              }
              if (cdt == DType.F32) {
                rotaryF32(
                    seg[0],
                    off[0],
                    seg[1],
                    off[1],
                    seg[2],
                    off[2],
                    seg[3],
                    off[3],
                    half,
                    interleaved);
              } else {
                rotaryF64(
                    seg[0],
                    off[0],
                    seg[1],
                    off[1],
                    seg[2],
                    off[2],
                    seg[3],
                    off[3],
                    half,
                    interleaved);
              }
              if (scratch[3] != null) rows.scatter(3, base[3], scratch[3], cdt, segs[3], dts[3]);
            }
          }
        });
  }

  /**
   * Rotates the {@code half} pairs of one row of floats. Interleaved pairs (2i, 2i+1): two x
   * vectors per cos/sin vector, the angles duplicated lane-wise by a shuffle and the pair partner
   * brought in by a swap shuffle. Halves (i, i + half): plain lane-wise arithmetic.
   */
  static void rotaryF32(
      MemorySegment x,
      long xo,
      MemorySegment c,
      long co,
      MemorySegment sn,
      long so,
      MemorySegment y,
      long yo,
      long half,
      boolean interleaved) {
    long i = 0, vn = half - half % FL;
    if (interleaved) {
      for (; i < vn; i += FL) {
        FloatVector cv = FloatVector.fromMemorySegment(FS, c, (co + i) * 4, NO);
        FloatVector sv = FloatVector.fromMemorySegment(FS, sn, (so + i) * 4, NO);
        FloatVector c0 = cv.rearrange(DUP_LO), c1 = cv.rearrange(DUP_HI);
        FloatVector s0 = sv.rearrange(DUP_LO).mul(SIGN), s1 = sv.rearrange(DUP_HI).mul(SIGN);
        long xb = (xo + 2 * i) * 4, yb = (yo + 2 * i) * 4;
        FloatVector x0 = FloatVector.fromMemorySegment(FS, x, xb, NO);
        FloatVector x1 = FloatVector.fromMemorySegment(FS, x, xb + FL * 4L, NO);
        // y[2j] = x[2j] c - x[2j+1] s; y[2j+1] = x[2j+1] c + x[2j] s
        x0.rearrange(SWAP).fma(s0, x0.mul(c0)).intoMemorySegment(y, yb, NO);
        x1.rearrange(SWAP).fma(s1, x1.mul(c1)).intoMemorySegment(y, yb + FL * 4L, NO);
      }
      for (; i < half; i++) { // as the vector code, fma included
        float a = x.getAtIndex(F32, xo + 2 * i), b = x.getAtIndex(F32, xo + 2 * i + 1);
        float cc = c.getAtIndex(F32, co + i), ss = sn.getAtIndex(F32, so + i);
        y.setAtIndex(F32, yo + 2 * i, Math.fma(b, -ss, a * cc));
        y.setAtIndex(F32, yo + 2 * i + 1, Math.fma(a, ss, b * cc));
      }
    } else {
      for (; i < vn; i += FL) {
        FloatVector cv = FloatVector.fromMemorySegment(FS, c, (co + i) * 4, NO);
        FloatVector sv = FloatVector.fromMemorySegment(FS, sn, (so + i) * 4, NO);
        FloatVector a = FloatVector.fromMemorySegment(FS, x, (xo + i) * 4, NO);
        FloatVector b = FloatVector.fromMemorySegment(FS, x, (xo + half + i) * 4, NO);
        a.mul(cv).sub(b.mul(sv)).intoMemorySegment(y, (yo + i) * 4, NO);
        a.fma(sv, b.mul(cv)).intoMemorySegment(y, (yo + half + i) * 4, NO);
      }
      for (; i < half; i++) {
        float a = x.getAtIndex(F32, xo + i), b = x.getAtIndex(F32, xo + half + i);
        float cc = c.getAtIndex(F32, co + i), ss = sn.getAtIndex(F32, so + i);
        y.setAtIndex(F32, yo + i, a * cc - b * ss); // as the vector code, fma included
        y.setAtIndex(F32, yo + half + i, Math.fma(a, ss, b * cc));
      }
    }
  }

  static void rotaryF64(
      MemorySegment x,
      long xo,
      MemorySegment c,
      long co,
      MemorySegment sn,
      long so,
      MemorySegment y,
      long yo,
      long half,
      boolean interleaved) {
    long step = interleaved ? 1 : half, stride = interleaved ? 2 : 1;
    for (long i = 0; i < half; i++) {
      long p0 = i * stride, p1 = p0 + step;
      double a = x.getAtIndex(F64, xo + p0), b = x.getAtIndex(F64, xo + p1);
      double cc = c.getAtIndex(F64, co + i), ss = sn.getAtIndex(F64, so + i);
      y.setAtIndex(F64, yo + p0, a * cc - b * ss);
      y.setAtIndex(F64, yo + p1, a * ss + b * cc);
    }
  }
}
