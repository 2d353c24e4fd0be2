package io.kinema.tensor.cpu;

import io.kinema.tensor.DType;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.cpu.CpuNorm.Rows;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Backward kernels of softmax / log-softmax, layer_norm and rms_norm, a row at a time as {@link
 * CpuNorm}'s forwards (rows used in place when they are unit-stride compute-type data, else
 * gathered into scratch), computing in f32 (f64 for F64 data).
 *
 * <p>Norm rows: one pass sums {@code g = dy w} and {@code g xhat} (f32 blocks added in double), the
 * next writes dx, and the weight / bias gradients add {@code dy xhat} / {@code dy} into partial
 * rows (each pass only when its result is wanted; the row stays in cache between them). The rows
 * are cut into chunks by a rule that depends on the shape only ({@link #chunkRows}); each chunk
 * owns a partial row, and the partials are added in chunk order at the end. The parameter gradients
 * are therefore the same bits whatever the thread count or scheduling.
 */
final class CpuNormBackward {
  private CpuNormBackward() {}

  private static final VectorSpecies<Float> FS = CpuReduce.FS;
  private static final int FL = FS.length();
  private static final ByteOrder NO = ByteOrder.nativeOrder();
  private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT;
  private static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE;

  /** At most this many chunks of rows (and partial rows of the parameter gradients). */
  static final long MAX_CHUNKS = 64;

  /**
   * Rows per chunk for {@code rows} rows of {@code n} elements: enough for {@link
   * StridedLoop#GRAIN} elements, and few enough for at most {@link #MAX_CHUNKS} chunks. A function
   * of the shape alone, so the parameter gradients' sums do not depend on the threads.
   */
  static long chunkRows(long rows, long n) {
    long byGrain = Math.ceilDiv(StridedLoop.GRAIN, Math.max(1, n));
    return Math.max(1, Math.max(byGrain, Math.ceilDiv(rows, MAX_CHUNKS)));
  }

  // ------------------------------------------------------------------ softmax

  static void softmax(Tensor y, Tensor dy, int dim, boolean log, Tensor dx) {
    if (y.numel() == 0) return;
    boolean[] isInner = new boolean[y.dim()];
    isInner[dim] = true;
    Rows rows = new Rows(isInner, y, dy, dx);
    DType ydt = y.dtype(), gdt = dy.dtype(), xdt = dx.dtype(), cdt = CpuNorm.computeType(ydt);
    MemorySegment ys = y.storage().segment(), gs = dy.storage().segment();
    MemorySegment xs = dx.storage().segment();
    long n = rows.n[0];
    Parallel.forRange(
        rows.count,
        CpuNorm.grain(n),
        (s, e) -> {
          try (Arena arena = Arena.ofConfined()) {
            MemorySegment sy = rows.scratch(arena, 0, ydt, cdt);
            MemorySegment sg = rows.scratch(arena, 1, gdt, cdt);
            MemorySegment sx = rows.scratch(arena, 2, xdt, cdt);
            MemorySegment work =
                log && cdt == DType.F32 ? arena.allocate((n - n % FL + FL) * 4L, 64) : null;
            for (long r = s; r < e; r++) {
              long yb = rows.base(0, r), gb = rows.base(1, r), xb = rows.base(2, r);
              if (sy != null) rows.gather(0, yb, ys, ydt, sy, cdt);
              if (sg != null) rows.gather(1, gb, gs, gdt, sg, cdt);
              MemorySegment yseg = sy == null ? ys : sy, gseg = sg == null ? gs : sg;
              MemorySegment xseg = sx == null ? xs : sx;
              long yo = sy == null ? yb : 0, go = sg == null ? gb : 0, xo = sx == null ? xb : 0;
              if (cdt == DType.F32) softmaxF32(yseg, yo, gseg, go, xseg, xo, n, log, work);
              else softmaxF64(yseg, yo, gseg, go, xseg, xo, n, log);
              if (sx != null) rows.scatter(2, xb, sx, cdt, xs, xdt);
            }
          }
        });
  }

  /**
   * One row of n floats: {@code s = sum(dy y)} (sum(dy) for log-softmax), then {@code dx = (dy - s)
   * y}, or {@code dy - exp(y) s} with the exponentials in {@code work} (n rounded up to a whole
   * vector, plus one vector). dx may be dy's memory.
   */
  static void softmaxF32(
      MemorySegment y,
      long yo,
      MemorySegment dy,
      long go,
      MemorySegment dx,
      long xo,
      long n,
      boolean log,
      MemorySegment work) {
    double total = 0;
    for (long b = 0; b < n; b += CpuReduce.BLOCK) {
      long end = Math.min(n, b + CpuReduce.BLOCK), vend = end - (end - b) % FL, i = b;
      FloatVector acc = FloatVector.zero(FS);
      for (; i < vend; i += FL) {
        FloatVector g = FloatVector.fromMemorySegment(FS, dy, (go + i) * 4, NO);
        acc = log ? acc.add(g) : g.fma(FloatVector.fromMemorySegment(FS, y, (yo + i) * 4, NO), acc);
      }
      float part = VectorMath.sum(acc);
      for (; i < end; i++) {
        float g = dy.getAtIndex(F32, go + i);
        part = log ? part + g : Math.fma(g, y.getAtIndex(F32, yo + i), part);
      }
      total += part;
    }
    float s = (float) total;
    long vn = n - n % FL, i = 0;
    if (!log) {
      for (; i < vn; i += FL) {
        FloatVector.fromMemorySegment(FS, dy, (go + i) * 4, NO)
            .sub(s)
            .mul(FloatVector.fromMemorySegment(FS, y, (yo + i) * 4, NO))
            .intoMemorySegment(dx, (xo + i) * 4, NO);
      }
      for (; i < n; i++) {
        dx.setAtIndex(F32, xo + i, (dy.getAtIndex(F32, go + i) - s) * y.getAtIndex(F32, yo + i));
      }
      return;
    }
    VectorMath.exp(y, yo * 4, work, 0, vn * 4, 1, 0);
    if (vn < n) {
      MemorySegment.copy(y, (yo + vn) * 4, work, vn * 4, (n - vn) * 4);
      work.asSlice((n) * 4, (vn + FL - n) * 4).fill((byte) 0);
      VectorMath.exp(work, vn * 4, work, vn * 4, FL * 4L, 1, 0);
    }
    FloatVector sv = FloatVector.broadcast(FS, -s);
    for (; i < vn; i += FL) {
      FloatVector.fromMemorySegment(FS, work, i * 4, NO)
          .fma(sv, FloatVector.fromMemorySegment(FS, dy, (go + i) * 4, NO))
          .intoMemorySegment(dx, (xo + i) * 4, NO);
    }
    for (; i < n; i++) {
      dx.setAtIndex(F32, xo + i, Math.fma(work.getAtIndex(F32, i), -s, dy.getAtIndex(F32, go + i)));
    }
  }

  static void softmaxF64(
      MemorySegment y,
      long yo,
      MemorySegment dy,
      long go,
      MemorySegment dx,
      long xo,
      long n,
      boolean log) {
    double s = 0;
    for (long i = 0; i < n; i++) {
      double g = dy.getAtIndex(F64, go + i);
      s += log ? g : g * y.getAtIndex(F64, yo + i);
    }
    for (long i = 0; i < n; i++) {
      double g = dy.getAtIndex(F64, go + i), v = y.getAtIndex(F64, yo + i);
      dx.setAtIndex(F64, xo + i, log ? g - Math.exp(v) * s : v * (g - s));
    }
  }

  // ------------------------------------------------------------------ layer norm, rms norm

  /** Gradients of layer norm (rms norm when {@code mean} is null); see Backend. */
  static void normBackward(
      Tensor dy,
      Tensor x,
      int normalizedDims,
      Tensor weight,
      Tensor mean,
      Tensor rstd,
      Tensor dx,
      Tensor dw,
      Tensor db) {
    boolean[] isInner = new boolean[x.dim()];
    for (int d = x.dim() - normalizedDims; d < x.dim(); d++) isInner[d] = true;
    Rows rows = dx == null ? new Rows(isInner, x, dy) : new Rows(isInner, x, dy, dx);
    DType xdt = x.dtype(), gdt = dy.dtype(), cdt = CpuNorm.computeType(xdt);
    boolean f32 = cdt == DType.F32, rms = mean == null;
    int n = Math.toIntExact(rows.n[0]);
    long count = rows.count;
    long per = chunkRows(count, n), chunks = count == 0 ? 0 : Math.ceilDiv(count, per);
    // A partial row per chunk, in the compute type (heap arrays, zeroed, shared by the threads).
    int size = Math.toIntExact(chunks * n);
    float[] dwF = dw != null && f32 ? new float[size] : null;
    float[] dbF = db != null && f32 ? new float[size] : null;
    double[] dwD = dw != null && !f32 ? new double[size] : null;
    double[] dbD = db != null && !f32 ? new double[size] : null;
    MemorySegment xs = x.storage().segment(), gs = dy.storage().segment();
    MemorySegment xds = dx == null ? null : dx.storage().segment();
    DType xddt = dx == null ? null : dx.dtype();
    Parallel.forRange(
        chunks,
        1,
        (cs, ce) -> {
          double[] sums = new double[2];
          try (Arena arena = Arena.ofConfined()) {
            // The weight as a contiguous compute-type row; ones without one (one loop for both).
            MemorySegment w =
                weight == null
                    ? CpuNorm.constantRow(arena, n, cdt, 1)
                    : CpuNorm.contiguousRow(arena, weight, cdt);
            MemorySegment sx = rows.scratch(arena, 0, xdt, cdt);
            MemorySegment sg = rows.scratch(arena, 1, gdt, cdt);
            MemorySegment sdx = dx == null ? null : rows.scratch(arena, 2, xddt, cdt);
            for (long c = cs; c < ce; c++) {
              int po = Math.toIntExact(c * n);
              for (long r = c * per, end = Math.min(count, r + per); r < end; r++) {
                long xb = rows.base(0, r), gb = rows.base(1, r);
                if (sx != null) rows.gather(0, xb, xs, xdt, sx, cdt);
                if (sg != null) rows.gather(1, gb, gs, gdt, sg, cdt);
                MemorySegment xseg = sx == null ? xs : sx, gseg = sg == null ? gs : sg;
                long xo = sx == null ? xb : 0, go = sg == null ? gb : 0;
                long dxb = dx == null ? 0 : rows.base(2, r);
                MemorySegment dseg = dx == null ? null : sdx == null ? xds : sdx;
                long dxo = sdx == null ? dxb : 0;
                double mu = rms ? 0 : stat(mean, r), rs = stat(rstd, r);
                if (f32) {
                  rowF32(
                      rms,
                      xseg,
                      xo,
                      gseg,
                      go,
                      dseg,
                      dxo,
                      n,
                      w,
                      (float) mu,
                      (float) rs,
                      dwF,
                      dbF,
                      po,
                      sums);
                } else {
                  rowF64(rms, xseg, xo, gseg, go, dseg, dxo, n, w, mu, rs, dwD, dbD, po);
                }
                if (sdx != null) rows.scatter(2, dxb, sdx, cdt, xds, xddt);
              }
            }
          }
        });
    if (dw != null) sumChunks(f32 ? dwF : dwD, chunks, n, dw);
    if (db != null) sumChunks(f32 ? dbF : dbD, chunks, n, db);
  }

  private static double stat(Tensor t, long r) {
    return CpuReduce.load(t.storage().segment(), t.dtype(), CpuNorm.rowOffset(t, r));
  }

  /**
   * One row of n floats. With {@code xhat = (x - mu) rs} and {@code g = dy w}: dx (nullable) =
   * {@code rs (g - mean(g) - xhat mean(g xhat))} (no mean(g) term for rms); dwPart[po + j] += dy
   * xhat, dbPart[po + j] += dy (each nullable). w is a row (ones when the norm has no weight). Each
   * pass is its own small method so that C2 inlines every vector operation of its loop.
   */
  static void rowF32(
      boolean rms,
      MemorySegment x,
      long xo,
      MemorySegment dy,
      long go,
      MemorySegment dx,
      long dxo,
      int n,
      MemorySegment w,
      float mu,
      float rs,
      float[] dwPart,
      float[] dbPart,
      int po,
      double[] sums) {
    if (dx != null) {
      sumsF32(x, xo, dy, go, n, w, mu, rs, sums);
      float mg = rms ? 0 : (float) (sums[0] / n), mgx = (float) (sums[1] / n);
      dxF32(x, xo, dy, go, dx, dxo, n, w, mu, rs, mg, mgx);
    }
    if (dwPart != null) weightF32(x, xo, dy, go, n, mu, rs, dwPart, po);
    if (dbPart != null) biasF32(dy, go, n, dbPart, po);
  }

  /** sums = (sum of g, sum of g xhat): f32 blocks of {@link CpuReduce#BLOCK} added in double. */
  private static void sumsF32(
      MemorySegment x,
      long xo,
      MemorySegment dy,
      long go,
      int n,
      MemorySegment w,
      float mu,
      float rs,
      double[] sums) {
    FloatVector mv = FloatVector.broadcast(FS, mu), rv = FloatVector.broadcast(FS, rs);
    double sg = 0, sgx = 0;
    for (int b = 0; b < n; b += CpuReduce.BLOCK) {
      int end = Math.min(n, b + CpuReduce.BLOCK), vend = end - (end - b) % FL, i = b;
      FloatVector ag = FloatVector.zero(FS), agx = ag;
      for (; i < vend; i += FL) {
        FloatVector xh = FloatVector.fromMemorySegment(FS, x, (xo + i) * 4, NO).sub(mv).mul(rv);
        FloatVector g =
            FloatVector.fromMemorySegment(FS, dy, (go + i) * 4, NO)
                .mul(FloatVector.fromMemorySegment(FS, w, i * 4L, NO));
        ag = ag.add(g);
        agx = g.fma(xh, agx);
      }
      float pg = VectorMath.sum(ag), pgx = VectorMath.sum(agx);
      for (; i < end; i++) {
        float xh = (x.getAtIndex(F32, xo + i) - mu) * rs;
        float g = dy.getAtIndex(F32, go + i) * w.getAtIndex(F32, i);
        pg += g;
        pgx = Math.fma(g, xh, pgx);
      }
      sg += pg;
      sgx += pgx;
    }
    sums[0] = sg;
    sums[1] = sgx;
  }

  /** dx = rs (g - mg - xhat mgx), as {@code fma(xhat, -mgx, g - mg) rs} in every lane and tail. */
  private static void dxF32(
      MemorySegment x,
      long xo,
      MemorySegment dy,
      long go,
      MemorySegment dx,
      long dxo,
      int n,
      MemorySegment w,
      float mu,
      float rs,
      float mg,
      float mgx) {
    FloatVector mv = FloatVector.broadcast(FS, mu), rv = FloatVector.broadcast(FS, rs);
    FloatVector mgv = FloatVector.broadcast(FS, mg), nmgx = FloatVector.broadcast(FS, -mgx);
    int vn = n - n % FL, i = 0;
    for (; i < vn; i += FL) {
      FloatVector xh = FloatVector.fromMemorySegment(FS, x, (xo + i) * 4, NO).sub(mv).mul(rv);
      FloatVector g =
          FloatVector.fromMemorySegment(FS, dy, (go + i) * 4, NO)
              .mul(FloatVector.fromMemorySegment(FS, w, i * 4L, NO));
      xh.fma(nmgx, g.sub(mgv)).mul(rv).intoMemorySegment(dx, (dxo + i) * 4, NO);
    }
    for (; i < n; i++) {
      float xh = (x.getAtIndex(F32, xo + i) - mu) * rs;
      float g = dy.getAtIndex(F32, go + i) * w.getAtIndex(F32, i);
      dx.setAtIndex(F32, dxo + i, Math.fma(xh, -mgx, g - mg) * rs);
    }
  }

  /** part[po + j] += dy xhat. */
  private static void weightF32(
      MemorySegment x,
      long xo,
      MemorySegment dy,
      long go,
      int n,
      float mu,
      float rs,
      float[] part,
      int po) {
    FloatVector mv = FloatVector.broadcast(FS, mu), rv = FloatVector.broadcast(FS, rs);
    int vn = n - n % FL, i = 0;
    for (; i < vn; i += FL) {
      FloatVector xh = FloatVector.fromMemorySegment(FS, x, (xo + i) * 4, NO).sub(mv).mul(rv);
      FloatVector.fromMemorySegment(FS, dy, (go + i) * 4, NO)
          .fma(xh, FloatVector.fromArray(FS, part, po + i))
          .intoArray(part, po + i);
    }
    for (; i < n; i++) {
      float xh = (x.getAtIndex(F32, xo + i) - mu) * rs;
      part[po + i] = Math.fma(dy.getAtIndex(F32, go + i), xh, part[po + i]);
    }
  }

  /** part[po + j] += dy. */
  private static void biasF32(MemorySegment dy, long go, int n, float[] part, int po) {
    int vn = n - n % FL, i = 0;
    for (; i < vn; i += FL) {
      FloatVector.fromMemorySegment(FS, dy, (go + i) * 4, NO)
          .add(FloatVector.fromArray(FS, part, po + i))
          .intoArray(part, po + i);
    }
    for (; i < n; i++) part[po + i] += dy.getAtIndex(F32, go + i);
  }

  /** {@link #rowF32} for doubles (reference precision; scalar). */
  static void rowF64(
      boolean rms,
      MemorySegment x,
      long xo,
      MemorySegment dy,
      long go,
      MemorySegment dx,
      long dxo,
      int n,
      MemorySegment w,
      double mu,
      double rs,
      double[] dwPart,
      double[] dbPart,
      int po) {
    if (dx != null) {
      double sg = 0, sgx = 0;
      for (int i = 0; i < n; i++) {
        double xh = (x.getAtIndex(F64, xo + i) - mu) * rs;
        double g = dy.getAtIndex(F64, go + i) * w.getAtIndex(F64, i);
        sg += g;
        sgx += g * xh;
      }
      double mg = rms ? 0 : sg / n, mgx = sgx / n;
      for (int i = 0; i < n; i++) {
        double xh = (x.getAtIndex(F64, xo + i) - mu) * rs;
        double g = dy.getAtIndex(F64, go + i) * w.getAtIndex(F64, i);
        dx.setAtIndex(F64, dxo + i, rs * (g - mg - xh * mgx));
      }
    }
    for (int i = 0; i < n; i++) {
      double d = dy.getAtIndex(F64, go + i);
      if (dwPart != null) dwPart[po + i] += d * ((x.getAtIndex(F64, xo + i) - mu) * rs);
      if (dbPart != null) dbPart[po + i] += d;
    }
  }

  /**
   * out[j] = sum over chunks c (in order, in double) of the partial row c (a float[] or double[] of
   * chunks x n), stored in out's dtype.
   */
  private static void sumChunks(Object part, long chunks, int n, Tensor out) {
    double[] total = new double[n];
    for (int c = 0; c < chunks; c++) {
      for (int j = 0; j < n; j++) {
        int at = c * n + j;
        total[j] += part instanceof float[] f ? f[at] : ((double[]) part)[at];
      }
    }
    boolean[] all = new boolean[out.dim()];
    Arrays.fill(all, true);
    Rows r = new Rows(all, out);
    r.scatter(
        0,
        r.base(0, 0),
        MemorySegment.ofArray(total),
        DType.F64,
        out.storage().segment(),
        out.dtype());
  }
}
