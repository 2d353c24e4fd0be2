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
 * <p>Norm rows: a first pass sums {@code g = dy w} and {@code g xhat} (f32 blocks added in double),
 * a second writes dx and adds {@code dy xhat} / {@code dy} into the weight / bias partials. The
 * rows are cut into chunks by a rule that depends on the shape only ({@link #chunkRows}); each
 * chunk owns a partial row, and the partials are added in chunk order at the end. The parameter
 * gradients are therefore the same bits whatever the thread count or scheduling.
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
    long n = rows.n[0], count = rows.count;
    boolean params = dw != null || db != null;
    long per = chunkRows(count, n), chunks = count == 0 ? 0 : Math.ceilDiv(count, per);
    // Partial rows per chunk, in the compute type (zeroed by allocation; heap arrays so that the
    // pool threads may share them).
    int size = params ? Math.toIntExact(chunks * n) : 0;
    MemorySegment dwPart = dw == null ? null : partials(cdt, size);
    MemorySegment dbPart = db == null ? null : partials(cdt, size);
    MemorySegment xs = x.storage().segment(), gs = dy.storage().segment();
    MemorySegment xds = dx == null ? null : dx.storage().segment();
    DType xddt = dx == null ? null : dx.dtype();
    Parallel.forRange(
        chunks,
        1,
        (cs, ce) -> {
          try (Arena arena = Arena.ofConfined()) {
            MemorySegment w = weight == null ? null : CpuNorm.contiguousRow(arena, weight, cdt);
            MemorySegment sx = rows.scratch(arena, 0, xdt, cdt);
            MemorySegment sg = rows.scratch(arena, 1, gdt, cdt);
            MemorySegment sdx = dx == null ? null : rows.scratch(arena, 2, xddt, cdt);
            for (long c = cs; c < ce; c++) {
              long po = c * n;
              for (long r = c * per, end = Math.min(count, r + per); r < end; r++) {
                long xb = rows.base(0, r), gb = rows.base(1, r);
                if (sx != null) rows.gather(0, xb, xs, xdt, sx, cdt);
                if (sg != null) rows.gather(1, gb, gs, gdt, sg, cdt);
                MemorySegment xseg = sx == null ? xs : sx, gseg = sg == null ? gs : sg;
                long xo = sx == null ? xb : 0, go = sg == null ? gb : 0;
                long db0 = dx == null ? 0 : rows.base(2, r);
                MemorySegment dseg = dx == null ? null : sdx == null ? xds : sdx;
                long dxo = sdx == null ? db0 : 0;
                double mu = mean == null ? 0 : stat(mean, r), rs = stat(rstd, r);
                if (cdt == DType.F32) {
                  rowF32(
                      mean == null,
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
                      dwPart,
                      dbPart,
                      po);
                } else {
                  rowF64(
                      mean == null,
                      xseg,
                      xo,
                      gseg,
                      go,
                      dseg,
                      dxo,
                      n,
                      w,
                      mu,
                      rs,
                      dwPart,
                      dbPart,
                      po);
                }
                if (sdx != null) rows.scatter(2, db0, sdx, cdt, xds, xddt);
              }
            }
          }
        });
    if (dw != null) sumChunks(dwPart, cdt, chunks, n, dw);
    if (db != null) sumChunks(dbPart, cdt, chunks, n, db);
  }

  private static MemorySegment partials(DType cdt, int size) {
    return cdt == DType.F32
        ? MemorySegment.ofArray(new float[size])
        : MemorySegment.ofArray(new double[size]);
  }

  private static double stat(Tensor t, long r) {
    return CpuReduce.load(t.storage().segment(), t.dtype(), CpuNorm.rowOffset(t, r));
  }

  /**
   * One row of n floats. With {@code xhat = (x - mu) rs} and {@code g = dy w}: dx (nullable) =
   * {@code rs (g - mean(g) - xhat mean(g xhat))} (no mean(g) term for rms); dwPart[po + j] += dy
   * xhat, dbPart[po + j] += dy (each nullable). The scalar tail computes what the vector lanes do.
   */
  static void rowF32(
      boolean rms,
      MemorySegment x,
      long xo,
      MemorySegment dy,
      long go,
      MemorySegment dx,
      long dxo,
      long n,
      MemorySegment w,
      float mu,
      float rs,
      MemorySegment dwPart,
      MemorySegment dbPart,
      long po) {
    FloatVector mv = FloatVector.broadcast(FS, mu), rv = FloatVector.broadcast(FS, rs);
    float mg = 0, mgx = 0;
    if (dx != null) {
      double sg = 0, sgx = 0;
      for (long b = 0; b < n; b += CpuReduce.BLOCK) {
        long end = Math.min(n, b + CpuReduce.BLOCK), vend = end - (end - b) % FL, i = b;
        FloatVector ag = FloatVector.zero(FS), agx = ag;
        for (; i < vend; i += FL) {
          FloatVector xh = FloatVector.fromMemorySegment(FS, x, (xo + i) * 4, NO).sub(mv).mul(rv);
          FloatVector g = FloatVector.fromMemorySegment(FS, dy, (go + i) * 4, NO);
          if (w != null) g = g.mul(FloatVector.fromMemorySegment(FS, w, i * 4, NO));
          ag = ag.add(g);
          agx = g.fma(xh, agx);
        }
        float pg = VectorMath.sum(ag), pgx = VectorMath.sum(agx);
        for (; i < end; i++) {
          float xh = (x.getAtIndex(F32, xo + i) - mu) * rs;
          float g = dy.getAtIndex(F32, go + i);
          if (w != null) g *= w.getAtIndex(F32, i);
          pg += g;
          pgx = Math.fma(g, xh, pgx);
        }
        sg += pg;
        sgx += pgx;
      }
      mg = rms ? 0 : (float) (sg / n);
      mgx = (float) (sgx / n);
    }
    FloatVector mgv = FloatVector.broadcast(FS, mg), nmgx = FloatVector.broadcast(FS, -mgx);
    long vn = n - n % FL, i = 0;
    for (; i < vn; i += FL) {
      FloatVector xh = FloatVector.fromMemorySegment(FS, x, (xo + i) * 4, NO).sub(mv).mul(rv);
      FloatVector d = FloatVector.fromMemorySegment(FS, dy, (go + i) * 4, NO);
      if (dx != null) {
        FloatVector g = w == null ? d : d.mul(FloatVector.fromMemorySegment(FS, w, i * 4, NO));
        xh.fma(nmgx, g.sub(mgv)).mul(rv).intoMemorySegment(dx, (dxo + i) * 4, NO);
      }
      if (dwPart != null) {
        long o = (po + i) * 4;
        d.fma(xh, FloatVector.fromMemorySegment(FS, dwPart, o, NO))
            .intoMemorySegment(dwPart, o, NO);
      }
      if (dbPart != null) {
        long o = (po + i) * 4;
        d.add(FloatVector.fromMemorySegment(FS, dbPart, o, NO)).intoMemorySegment(dbPart, o, NO);
      }
    }
    for (; i < n; i++) {
      float xh = (x.getAtIndex(F32, xo + i) - mu) * rs;
      float d = dy.getAtIndex(F32, go + i);
      if (dx != null) {
        float g = w == null ? d : d * w.getAtIndex(F32, i);
        dx.setAtIndex(F32, dxo + i, Math.fma(xh, -mgx, g - mg) * rs);
      }
      if (dwPart != null) {
        dwPart.setAtIndex(F32, po + i, Math.fma(d, xh, dwPart.getAtIndex(F32, po + i)));
      }
      if (dbPart != null) dbPart.setAtIndex(F32, po + i, d + dbPart.getAtIndex(F32, po + i));
    }
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
      long n,
      MemorySegment w,
      double mu,
      double rs,
      MemorySegment dwPart,
      MemorySegment dbPart,
      long po) {
    double mg = 0, mgx = 0;
    if (dx != null) {
      double sg = 0, sgx = 0;
      for (long i = 0; i < n; i++) {
        double xh = (x.getAtIndex(F64, xo + i) - mu) * rs;
        double g = dy.getAtIndex(F64, go + i) * (w == null ? 1 : w.getAtIndex(F64, i));
        sg += g;
        sgx += g * xh;
      }
      mg = rms ? 0 : sg / n;
      mgx = sgx / n;
    }
    for (long i = 0; i < n; i++) {
      double xh = (x.getAtIndex(F64, xo + i) - mu) * rs;
      double d = dy.getAtIndex(F64, go + i);
      if (dx != null) {
        double g = w == null ? d : d * w.getAtIndex(F64, i);
        dx.setAtIndex(F64, dxo + i, rs * (g - mg - xh * mgx));
      }
      if (dwPart != null) dwPart.setAtIndex(F64, po + i, dwPart.getAtIndex(F64, po + i) + d * xh);
      if (dbPart != null) dbPart.setAtIndex(F64, po + i, dbPart.getAtIndex(F64, po + i) + d);
    }
  }

  /** out[j] = sum over chunks c (in order, in double) of part[c n + j], stored in out's dtype. */
  private static void sumChunks(MemorySegment part, DType cdt, long chunks, long n, Tensor out) {
    MemorySegment total = MemorySegment.ofArray(new double[(int) Math.max(1, n)]);
    for (long c = 0; c < chunks; c++) {
      for (long j = 0; j < n; j++) {
        total.setAtIndex(F64, j, total.getAtIndex(F64, j) + CpuReduce.load(part, cdt, c * n + j));
      }
    }
    boolean[] all = new boolean[out.dim()];
    Arrays.fill(all, true);
    Rows r = new Rows(all, out);
    r.scatter(0, r.base(0, 0), total, DType.F64, out.storage().segment(), out.dtype());
  }
}
