package io.kinema.tensor.cpu;

import io.kinema.tensor.DType;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.backend.ReduceGeometry;
import io.kinema.tensor.backend.ReduceOp;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Reduction kernels.
 *
 * <p>The tensor is split into kept dims (one output each) and reduced dims; each group is sorted by
 * stride and merged where contiguous, so any permutation or slicing of a contiguous tensor takes
 * the same path as the contiguous one. Then one of two plans runs:
 *
 * <ul>
 *   <li><b>row</b>: each output reduces runs along the innermost reduced dim; when that dim is
 *       contiguous (reduce all, reduce the last dims) the run is a vector loop with four
 *       accumulators;
 *   <li><b>column</b>: the innermost kept dim is contiguous and the reduced dims are outer (sum
 *       over dim 0 of [N, D]); a tile of up to {@link #TILE} outputs accumulates whole rows
 *       vectorially.
 * </ul>
 *
 * Outputs are split across threads; when there are few outputs the reduced range is split too (by
 * the shape alone, not the thread count) and the partial results combined in order. F32 sums
 * accumulate in f32 vectors over blocks of {@link #BLOCK} elements (rows for the column plan) that
 * are then added in double, so long sums keep f32-rounding error of one block only. VAR/STD are
 * two-pass (mean, then squared deviations). BF16/F16 are widened to f32 in a per-task scratch
 * (blocks of a run, rows of a column tile) and take the F32 loops; F64 has its own double loops;
 * integers and BOOL reduce in long, scalar. Vector accumulators are summed by {@link
 * VectorMath#sum} (a fixed order, unlike {@code reduceLanes(ADD)}), so results depend neither on
 * the JIT nor on the number of threads.
 */
final class CpuReduce {
  private CpuReduce() {}

  static final VectorSpecies<Float> FS = FloatVector.SPECIES_PREFERRED;
  static final VectorSpecies<Double> DS = DoubleVector.SPECIES_PREFERRED;
  static final int FL = FS.length();
  static final int DL = DS.length();
  static final ByteOrder NO = ByteOrder.nativeOrder();
  static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT;
  static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE;

  /** Elements summed in f32 (or double, for F64 data) before the partial goes to the total. */
  static final int BLOCK = 4096;

  /** Outputs per work item of the column plan. */
  private static final int TILE = 1024;

  /** Work items a reduction with few outputs is split into (when it is large enough). */
  private static final int SPLIT_ITEMS = 64;

  /** Rows the column plan sums in f32 before flushing into its double accumulators. */
  private static final int COLUMN_FLUSH = 128;

  /** What each element contributes, and how contributions combine. */
  enum Kind {
    SUM,
    SUM_ABS,
    SUM_SQ,
    /** Squared deviation from a per-output mean (second pass of VAR). */
    SUM_SQDEV,
    /** |x|^p. */
    SUM_POW,
    COUNT_NZ,
    PROD,
    MAX,
    MIN,
    MAX_ABS,
    MIN_ABS;

    double identity() {
      return switch (this) {
        case PROD -> 1;
        case MAX, MAX_ABS -> Double.NEGATIVE_INFINITY;
        case MIN, MIN_ABS -> Double.POSITIVE_INFINITY;
        default -> 0;
      };
    }

    /** Combines two partials; max/min propagate NaN like PyTorch. */
    double combine(double a, double b) {
      return switch (this) {
        case PROD -> a * b;
        case MAX, MAX_ABS -> Math.max(a, b);
        case MIN, MIN_ABS -> Math.min(a, b);
        default -> a + b;
      };
    }

    /** Kinds the vector loops (row and column plans) handle; the rest run scalar. */
    boolean vectorized() {
      return this != SUM_POW && this != COUNT_NZ && this != PROD;
    }
  }

  /** The per-element kind of an op's (first) pass. */
  static Kind kindOf(ReduceOp op, double p) {
    return switch (op) {
      case SUM, MEAN, VAR, STD -> Kind.SUM;
      case PROD -> Kind.PROD;
      case MAX -> Kind.MAX;
      case MIN -> Kind.MIN;
      case NORM -> {
        if (p == 2) yield Kind.SUM_SQ;
        if (p == 1) yield Kind.SUM_ABS;
        if (p == Double.POSITIVE_INFINITY) yield Kind.MAX_ABS;
        if (p == Double.NEGATIVE_INFINITY) yield Kind.MIN_ABS;
        if (p == 0) yield Kind.COUNT_NZ;
        yield Kind.SUM_POW;
      }
    };
  }

  /** The output value from the combined accumulator {@code acc} over {@code n} elements. */
  static double finish(ReduceOp op, double acc, long n, double param) {
    return switch (op) {
      case SUM, PROD, MAX, MIN -> acc;
      case MEAN -> acc / n;
      case NORM -> {
        if (param == 2) yield Math.sqrt(acc);
        if (param == 1 || param == 0 || Double.isInfinite(param)) yield acc;
        yield Math.pow(acc, 1 / param);
      }
      // PyTorch: the divisor is max(0, n - correction); m2 / 0 is inf (or NaN when m2 is 0).
      case VAR -> acc / Math.max(0, n - param);
      case STD -> Math.sqrt(acc / Math.max(0, n - param));
    };
  }

  // ------------------------------------------------------------------ geometry

  /**
   * x split into kept dims (shape {@code ks}, x strides {@code kxs}, out strides {@code kos}) and
   * reduced dims ({@code rs}, {@code rxs}), each sorted outer to inner and merged. The reduced
   * group always has at least one dim (size 1 when nothing is reduced).
   */
  static final class Geometry {
    final long[] ks, kxs, kos, rs, rxs;
    final long n, numOut;

    Geometry(Tensor x, int[] dims, Tensor out) {
      ReduceGeometry g = ReduceGeometry.of(x.shape(), x.strides(), out.strides(), dims);
      ks = g.keptShape();
      kxs = g.keptX();
      kos = g.keptOut();
      rs = g.redShape();
      rxs = g.redX();
      n = g.n();
      numOut = g.numOut();
    }

    /** Offset (in x when {@code inX}, else in out) of kept index {@code g} (row-major over ks). */
    long keptOffset(long g, boolean inX) {
      long[] st = inX ? kxs : kos;
      long off = 0;
      for (int d = ks.length - 1; d >= 0; d--) {
        off += (g % ks[d]) * st[d];
        g /= ks[d];
      }
      return off;
    }
  }

  // ------------------------------------------------------------------ entry points

  static void reduce(ReduceOp op, Tensor x, int[] dims, double param, Tensor out) {
    Geometry geo = new Geometry(x, dims, out);
    if (geo.numOut == 0) return;
    if (geo.n == 0) {
      // Empty reductions: the identity (front-end rejects MAX/MIN and norms without one).
      double v =
          switch (op) {
            case SUM, NORM -> 0;
            case PROD -> 1;
            default -> Double.NaN;
          };
      CpuElementwise.fill(out, v);
      return;
    }
    if (!x.dtype().isFloatingPoint()) {
      integerReduce(op, x, geo, out);
      return;
    }
    new FloatReduce(op, x, geo, param, out).run();
  }

  /** One plan run for a floating-point reduction. */
  private static final class FloatReduce {
    final ReduceOp op;
    final Kind kind;
    final Geometry geo;
    final MemorySegment xs, os;
    final DType dt, odt;
    final long xOff, oOff;
    final double param;
    final boolean column;
    final int width; // outputs per group: TILE for the column plan, else 1
    final long tiles, groups;

    FloatReduce(ReduceOp op, Tensor x, Geometry geo, double param, Tensor out) {
      this.op = op;
      this.kind = kindOf(op, param);
      this.geo = geo;
      this.param = param;
      xs = x.storage().segment();
      os = out.storage().segment();
      dt = x.dtype();
      odt = out.dtype();
      xOff = x.offset();
      oOff = out.offset();
      int kr = geo.ks.length;
      int lanes = dt == DType.F64 ? DL : FL; // halves run the F32 column kernel
      column =
          dt.isFloatingPoint()
              && kind.vectorized()
              && kr > 0
              && geo.kxs[kr - 1] == 1
              && geo.ks[kr - 1] >= lanes
              && geo.rxs[geo.rxs.length - 1] != 1;
      if (column) {
        long inner = geo.ks[kr - 1];
        width = (int) Math.min(TILE, inner);
        tiles = (inner + width - 1) / width;
        groups = geo.numOut / inner * tiles;
      } else {
        width = 1;
        tiles = 1;
        groups = geo.numOut;
      }
    }

    void run() {
      long n = geo.n;
      // Few outputs and much work: split the reduced range as well, into at most SPLIT_ITEMS work
      // items of at least GRAIN elements. The split is a function of the shape only, never of the
      // thread count: it decides how partial sums are rounded, so results stay the same on any
      // number of threads.
      long byWork = n * width / StridedLoop.GRAIN;
      int chunks = (int) Math.max(1, Math.min(Math.min(n, byWork), SPLIT_ITEMS / groups));
      if (chunks == 1) {
        long perGroup = n * width;
        Parallel.forRange(
            groups,
            Math.max(1, StridedLoop.GRAIN / perGroup),
            (s, e) -> {
              double[] acc = new double[width];
              double[] mean = op == ReduceOp.VAR || op == ReduceOp.STD ? new double[width] : null;
              try (Arena arena = Arena.ofConfined()) {
                MemorySegment scratch = dt.isHalf() ? arena.allocate(BLOCK * 4L, 64) : null;
                for (long g = s; g < e; g++) {
                  int w = groupWidth(g);
                  accumulate(kind, g, 0, n, null, acc, scratch);
                  if (mean != null) {
                    for (int k = 0; k < w; k++) mean[k] = acc[k] / n;
                    accumulate(Kind.SUM_SQDEV, g, 0, n, mean, acc, scratch);
                  }
                  store(g, acc, w);
                }
              }
            });
        return;
      }
      // Split plan: partials[(g * chunks + c) * width + k].
      final int c = chunks;
      double[] part = new double[(int) (groups * c * width)];
      partials(kind, c, part, null);
      double[] acc = combine(kind, c, part);
      if (op == ReduceOp.VAR || op == ReduceOp.STD) {
        double[] mean = new double[acc.length];
        for (int i = 0; i < acc.length; i++) mean[i] = acc[i] / n;
        partials(Kind.SUM_SQDEV, c, part, mean);
        acc = combine(Kind.SUM_SQDEV, c, part);
      }
      double[] one = new double[width];
      for (long g = 0; g < groups; g++) {
        System.arraycopy(acc, (int) (g * width), one, 0, width);
        store(g, one, groupWidth(g));
      }
    }

    private void partials(Kind k, int chunks, double[] part, double[] means) {
      long n = geo.n;
      Parallel.forRange(
          groups * chunks,
          1,
          (s, e) -> {
            double[] acc = new double[width];
            double[] mean = means == null ? null : new double[width];
            try (Arena arena = Arena.ofConfined()) {
              MemorySegment scratch = dt.isHalf() ? arena.allocate(BLOCK * 4L, 64) : null;
              for (long it = s; it < e; it++) {
                long g = it / chunks, ch = it % chunks;
                if (mean != null) System.arraycopy(means, (int) (g * width), mean, 0, width);
                accumulate(k, g, n * ch / chunks, n * (ch + 1) / chunks, mean, acc, scratch);
                System.arraycopy(acc, 0, part, (int) (it * width), width);
              }
            }
          });
    }

    private double[] combine(Kind k, int chunks, double[] part) {
      double[] acc = new double[(int) (groups * width)];
      for (long g = 0; g < groups; g++) {
        for (int w = 0; w < width; w++) {
          double a = k.identity();
          for (int ch = 0; ch < chunks; ch++)
            a = k.combine(a, part[(int) ((g * chunks + ch) * width + w)]);
          acc[(int) (g * width + w)] = a;
        }
      }
      return acc;
    }

    private int groupWidth(long g) {
      if (!column) return 1;
      long inner = geo.ks[geo.ks.length - 1];
      return (int) Math.min(width, inner - (g % tiles) * width);
    }

    /** x offset of group g's first element and out offset of its first output. */
    private long xBase(long g) {
      if (!column) return xOff + geo.keptOffset(g, true);
      long inner = geo.ks[geo.ks.length - 1];
      long kept = g / tiles * inner + (g % tiles) * width;
      return xOff + geo.keptOffset(kept, true);
    }

    private long oBase(long g) {
      if (!column) return oOff + geo.keptOffset(g, false);
      long inner = geo.ks[geo.ks.length - 1];
      long kept = g / tiles * inner + (g % tiles) * width;
      return oOff + geo.keptOffset(kept, false);
    }

    private void store(long g, double[] acc, int w) {
      long o = oBase(g);
      long os1 = column ? geo.kos[geo.kos.length - 1] : 0;
      for (int k = 0; k < w; k++) {
        Elements.setDouble(os, odt, o + k * os1, finish(op, acc[k], geo.n, param));
      }
    }

    /** acc[0..w) = the reduction of group g over reduced range [r0, r1). */
    private void accumulate(
        Kind k, long g, long r0, long r1, double[] mean, double[] acc, MemorySegment scratch) {
      long base = xBase(g);
      if (column) {
        int w = groupWidth(g);
        if (dt == DType.F64) columnF64(k, xs, base, w, geo.rs, geo.rxs, r0, r1, mean, acc);
        else columnF32(k, xs, dt, scratch, base, w, geo.rs, geo.rxs, r0, r1, mean, acc);
        return;
      }
      long[] rs = geo.rs, rxs = geo.rxs;
      int rr = rs.length;
      long len = rs[rr - 1], st = rxs[rr - 1];
      double m = mean == null ? 0 : mean[0];
      double a = k.identity();
      if (rr == 1) {
        acc[0] = k.combine(a, reduceRun(k, xs, dt, base + r0 * st, st, r1 - r0, m, param, scratch));
        return;
      }
      // Odometer over the outer reduced dims; each step is one run along the innermost.
      long outer = r0 / len, pos = r0 % len;
      long[] idx = new long[rr - 1];
      long off = 0;
      for (int d = rr - 2; d >= 0; d--) {
        idx[d] = outer % rs[d];
        outer /= rs[d];
        off += idx[d] * rxs[d];
      }
      for (long r = r0; r < r1; ) {
        long cnt = Math.min(len - pos, r1 - r);
        a = k.combine(a, reduceRun(k, xs, dt, base + off + pos * st, st, cnt, m, param, scratch));
        r += cnt;
        pos = 0;
        for (int d = rr - 2; d >= 0; d--) {
          off += rxs[d];
          if (++idx[d] < rs[d]) break;
          off -= rxs[d] * rs[d];
          idx[d] = 0;
        }
      }
      acc[0] = a;
    }
  }

  // ------------------------------------------------------------------ runs (row plan)

  /**
   * The reduction of one run of {@code n} elements at {@code off} with {@code stride}; {@code m} is
   * the mean for SUM_SQDEV, {@code p} the norm order. Contiguous F32/F64 runs take the vector
   * loops, contiguous halves are widened to f32 in {@code scratch} blocks first.
   */
  static double reduceRun(
      Kind k,
      MemorySegment s,
      DType dt,
      long off,
      long stride,
      long n,
      double m,
      double p,
      MemorySegment scratch) {
    if (stride == 1 && k.vectorized()) {
      if (dt == DType.F32) return runF32(k, s, off, n, (float) m);
      if (dt == DType.F64) return runF64(k, s, off, n, m);
      if (dt.isHalf() && scratch != null) {
        double a = k.identity();
        for (long b = 0; b < n; b += BLOCK) {
          int len = (int) Math.min(BLOCK, n - b);
          Convert.toFloat(s, dt, off + b, len, scratch, DType.F32, 0);
          a = k.combine(a, runF32(k, scratch, 0, len, (float) m));
        }
        return a;
      }
    }
    return runScalar(k, s, dt, off, stride, n, m, p);
  }

  /** Any kind, dtype and stride, one element at a time in double. */
  static double runScalar(
      Kind k, MemorySegment s, DType dt, long off, long stride, long n, double m, double p) {
    double a = k.identity();
    switch (k) {
      case SUM -> {
        for (long i = 0; i < n; i++) a += load(s, dt, off + i * stride);
      }
      case SUM_ABS -> {
        for (long i = 0; i < n; i++) a += Math.abs(load(s, dt, off + i * stride));
      }
      case SUM_SQ -> {
        for (long i = 0; i < n; i++) {
          double v = load(s, dt, off + i * stride);
          a += v * v;
        }
      }
      case SUM_SQDEV -> {
        for (long i = 0; i < n; i++) {
          double v = load(s, dt, off + i * stride) - m;
          a += v * v;
        }
      }
      case SUM_POW -> {
        for (long i = 0; i < n; i++) a += Math.pow(Math.abs(load(s, dt, off + i * stride)), p);
      }
      case COUNT_NZ -> {
        for (long i = 0; i < n; i++) a += load(s, dt, off + i * stride) != 0 ? 1 : 0;
      }
      case PROD -> {
        for (long i = 0; i < n; i++) a *= load(s, dt, off + i * stride);
      }
      case MAX -> {
        for (long i = 0; i < n; i++) a = Math.max(a, load(s, dt, off + i * stride));
      }
      case MIN -> {
        for (long i = 0; i < n; i++) a = Math.min(a, load(s, dt, off + i * stride));
      }
      case MAX_ABS -> {
        for (long i = 0; i < n; i++) a = Math.max(a, Math.abs(load(s, dt, off + i * stride)));
      }
      case MIN_ABS -> {
        for (long i = 0; i < n; i++) a = Math.min(a, Math.abs(load(s, dt, off + i * stride)));
      }
    }
    return a;
  }

  /** One floating element as double (scalar paths only). */
  static double load(MemorySegment s, DType dt, long i) {
    return switch (dt) {
      case F32 -> s.getAtIndex(F32, i);
      case F64 -> s.getAtIndex(F64, i);
      case BF16 -> Half.bf16ToFloat(s.getAtIndex(ValueLayout.JAVA_SHORT, i));
      case F16 -> Half.f16ToFloat(s.getAtIndex(ValueLayout.JAVA_SHORT, i));
      default -> Elements.getDouble(s, dt, i);
    };
  }

  /** A vectorized kind over n contiguous floats at element offset off. */
  static double runF32(Kind k, MemorySegment s, long off, long n, float m) {
    return switch (k) {
      case MAX -> maxF32(s, off, n, false);
      case MAX_ABS -> maxF32(s, off, n, true);
      case MIN -> minF32(s, off, n, false);
      case MIN_ABS -> minF32(s, off, n, true);
      case SUM -> sum(s, off, n);
      case SUM_SQ -> sumSq(s, off, n);
      case SUM_SQDEV -> sumSqDev(s, off, n, m);
      case SUM_ABS -> sumAbs(s, off, n);
      default -> throw new AssertionError(k);
    };
  }

  // Sums of n contiguous floats (element offset off): f32 blocks of BLOCK, added in double. The row
  // kernels call these directly rather than runF32, whose switch would otherwise be compiled into
  // them with every arm (and use up the inlining budget their own vector loops need).

  static double sum(MemorySegment s, long off, long n) {
    double total = 0;
    for (long b = 0; b < n; b += BLOCK) total += sumF32(s, off + b, (int) Math.min(BLOCK, n - b));
    return total;
  }

  static double sumSq(MemorySegment s, long off, long n) {
    double total = 0;
    for (long b = 0; b < n; b += BLOCK) total += sumSqF32(s, off + b, (int) Math.min(BLOCK, n - b));
    return total;
  }

  /** The sum of {@code (x - m)^2}. */
  static double sumSqDev(MemorySegment s, long off, long n, float m) {
    double total = 0;
    for (long b = 0; b < n; b += BLOCK) {
      total += sumSqDevF32(s, off + b, (int) Math.min(BLOCK, n - b), m);
    }
    return total;
  }

  static double sumAbs(MemorySegment s, long off, long n) {
    double total = 0;
    for (long b = 0; b < n; b += BLOCK)
      total += sumAbsF32(s, off + b, (int) Math.min(BLOCK, n - b));
    return total;
  }

  /** Sum of len (at most {@link #BLOCK}) contiguous floats, four vector accumulators. */
  static float sumF32(MemorySegment s, long off, int len) {
    FloatVector a0 = FloatVector.zero(FS), a1 = a0, a2 = a0, a3 = a0;
    long b = off * 4;
    int i = 0;
    for (int up = len - 4 * FL; i <= up; i += 4 * FL) {
      a0 = a0.add(FloatVector.fromMemorySegment(FS, s, b + i * 4L, NO));
      a1 = a1.add(FloatVector.fromMemorySegment(FS, s, b + (i + FL) * 4L, NO));
      a2 = a2.add(FloatVector.fromMemorySegment(FS, s, b + (i + 2 * FL) * 4L, NO));
      a3 = a3.add(FloatVector.fromMemorySegment(FS, s, b + (i + 3 * FL) * 4L, NO));
    }
    for (int up = len - FL; i <= up; i += FL) {
      a0 = a0.add(FloatVector.fromMemorySegment(FS, s, b + i * 4L, NO));
    }
    float r = VectorMath.sum(a0.add(a1).add(a2.add(a3)));
    for (; i < len; i++) r += s.getAtIndex(F32, off + i);
    return r;
  }

  static float sumSqF32(MemorySegment s, long off, int len) {
    FloatVector a0 = FloatVector.zero(FS), a1 = a0, a2 = a0, a3 = a0;
    long b = off * 4;
    int i = 0;
    for (int up = len - 4 * FL; i <= up; i += 4 * FL) {
      FloatVector v0 = FloatVector.fromMemorySegment(FS, s, b + i * 4L, NO);
      FloatVector v1 = FloatVector.fromMemorySegment(FS, s, b + (i + FL) * 4L, NO);
      FloatVector v2 = FloatVector.fromMemorySegment(FS, s, b + (i + 2 * FL) * 4L, NO);
      FloatVector v3 = FloatVector.fromMemorySegment(FS, s, b + (i + 3 * FL) * 4L, NO);
      a0 = v0.fma(v0, a0);
      a1 = v1.fma(v1, a1);
      a2 = v2.fma(v2, a2);
      a3 = v3.fma(v3, a3);
    }
    for (int up = len - FL; i <= up; i += FL) {
      FloatVector v = FloatVector.fromMemorySegment(FS, s, b + i * 4L, NO);
      a0 = v.fma(v, a0);
    }
    float r = VectorMath.sum(a0.add(a1).add(a2.add(a3)));
    for (; i < len; i++) {
      float v = s.getAtIndex(F32, off + i);
      r += v * v;
    }
    return r;
  }

  static float sumSqDevF32(MemorySegment s, long off, int len, float m) {
    FloatVector a0 = FloatVector.zero(FS), a1 = a0, a2 = a0, a3 = a0;
    FloatVector mv = FloatVector.broadcast(FS, m);
    long b = off * 4;
    int i = 0;
    for (int up = len - 4 * FL; i <= up; i += 4 * FL) {
      FloatVector v0 = FloatVector.fromMemorySegment(FS, s, b + i * 4L, NO).sub(mv);
      FloatVector v1 = FloatVector.fromMemorySegment(FS, s, b + (i + FL) * 4L, NO).sub(mv);
      FloatVector v2 = FloatVector.fromMemorySegment(FS, s, b + (i + 2 * FL) * 4L, NO).sub(mv);
      FloatVector v3 = FloatVector.fromMemorySegment(FS, s, b + (i + 3 * FL) * 4L, NO).sub(mv);
      a0 = v0.fma(v0, a0);
      a1 = v1.fma(v1, a1);
      a2 = v2.fma(v2, a2);
      a3 = v3.fma(v3, a3);
    }
    for (int up = len - FL; i <= up; i += FL) {
      FloatVector v = FloatVector.fromMemorySegment(FS, s, b + i * 4L, NO).sub(mv);
      a0 = v.fma(v, a0);
    }
    float r = VectorMath.sum(a0.add(a1).add(a2.add(a3)));
    for (; i < len; i++) {
      float v = s.getAtIndex(F32, off + i) - m;
      r += v * v;
    }
    return r;
  }

  static float sumAbsF32(MemorySegment s, long off, int len) {
    FloatVector a0 = FloatVector.zero(FS), a1 = a0, a2 = a0, a3 = a0;
    long b = off * 4;
    int i = 0;
    for (int up = len - 4 * FL; i <= up; i += 4 * FL) {
      a0 = a0.add(FloatVector.fromMemorySegment(FS, s, b + i * 4L, NO).abs());
      a1 = a1.add(FloatVector.fromMemorySegment(FS, s, b + (i + FL) * 4L, NO).abs());
      a2 = a2.add(FloatVector.fromMemorySegment(FS, s, b + (i + 2 * FL) * 4L, NO).abs());
      a3 = a3.add(FloatVector.fromMemorySegment(FS, s, b + (i + 3 * FL) * 4L, NO).abs());
    }
    for (int up = len - FL; i <= up; i += FL) {
      a0 = a0.add(FloatVector.fromMemorySegment(FS, s, b + i * 4L, NO).abs());
    }
    float r = VectorMath.sum(a0.add(a1).add(a2.add(a3)));
    for (; i < len; i++) r += Math.abs(s.getAtIndex(F32, off + i));
    return r;
  }

  /** Max (of |x| when abs) of n contiguous floats; NaN propagates. */
  static float maxF32(MemorySegment s, long off, long n, boolean abs) {
    FloatVector a0 = FloatVector.broadcast(FS, Float.NEGATIVE_INFINITY), a1 = a0;
    long b = off * 4, i = 0;
    for (long up = n - 2L * FL; i <= up; i += 2L * FL) {
      FloatVector v0 = FloatVector.fromMemorySegment(FS, s, b + i * 4, NO);
      FloatVector v1 = FloatVector.fromMemorySegment(FS, s, b + (i + FL) * 4, NO);
      if (abs) {
        v0 = v0.abs();
        v1 = v1.abs();
      }
      a0 = a0.max(v0);
      a1 = a1.max(v1);
    }
    float r = a0.max(a1).reduceLanes(VectorOperators.MAX);
    for (; i < n; i++) {
      float v = s.getAtIndex(F32, off + i);
      r = Math.max(r, abs ? Math.abs(v) : v);
    }
    return r;
  }

  static float minF32(MemorySegment s, long off, long n, boolean abs) {
    FloatVector a0 = FloatVector.broadcast(FS, Float.POSITIVE_INFINITY), a1 = a0;
    long b = off * 4, i = 0;
    for (long up = n - 2L * FL; i <= up; i += 2L * FL) {
      FloatVector v0 = FloatVector.fromMemorySegment(FS, s, b + i * 4, NO);
      FloatVector v1 = FloatVector.fromMemorySegment(FS, s, b + (i + FL) * 4, NO);
      if (abs) {
        v0 = v0.abs();
        v1 = v1.abs();
      }
      a0 = a0.min(v0);
      a1 = a1.min(v1);
    }
    float r = a0.min(a1).reduceLanes(VectorOperators.MIN);
    for (; i < n; i++) {
      float v = s.getAtIndex(F32, off + i);
      r = Math.min(r, abs ? Math.abs(v) : v);
    }
    return r;
  }

  /**
   * A vectorized kind over n contiguous doubles: four accumulators per {@link #BLOCK}, blocks added
   * with Neumaier compensation (F64 is the reference precision).
   */
  static double runF64(Kind k, MemorySegment s, long off, long n, double m) {
    boolean isMax = k == Kind.MAX || k == Kind.MAX_ABS;
    boolean isMin = k == Kind.MIN || k == Kind.MIN_ABS;
    boolean abs = k == Kind.MAX_ABS || k == Kind.MIN_ABS || k == Kind.SUM_ABS;
    double total = k.identity(), comp = 0;
    DoubleVector mv = DoubleVector.broadcast(DS, m);
    for (long blk = 0; blk < n; blk += BLOCK) {
      int len = (int) Math.min(BLOCK, n - blk);
      long b = (off + blk) * 8;
      DoubleVector a0 = DoubleVector.broadcast(DS, k.identity()), a1 = a0, a2 = a0, a3 = a0;
      int i = 0;
      for (int up = len - 4 * DL; i <= up; i += 4 * DL) {
        DoubleVector v0 = DoubleVector.fromMemorySegment(DS, s, b + i * 8L, NO);
        DoubleVector v1 = DoubleVector.fromMemorySegment(DS, s, b + (i + DL) * 8L, NO);
        DoubleVector v2 = DoubleVector.fromMemorySegment(DS, s, b + (i + 2 * DL) * 8L, NO);
        DoubleVector v3 = DoubleVector.fromMemorySegment(DS, s, b + (i + 3 * DL) * 8L, NO);
        if (abs) {
          v0 = v0.abs();
          v1 = v1.abs();
          v2 = v2.abs();
          v3 = v3.abs();
        }
        if (isMax) {
          a0 = a0.max(v0);
          a1 = a1.max(v1);
          a2 = a2.max(v2);
          a3 = a3.max(v3);
        } else if (isMin) {
          a0 = a0.min(v0);
          a1 = a1.min(v1);
          a2 = a2.min(v2);
          a3 = a3.min(v3);
        } else if (k == Kind.SUM_SQ) {
          a0 = v0.fma(v0, a0);
          a1 = v1.fma(v1, a1);
          a2 = v2.fma(v2, a2);
          a3 = v3.fma(v3, a3);
        } else if (k == Kind.SUM_SQDEV) {
          v0 = v0.sub(mv);
          v1 = v1.sub(mv);
          v2 = v2.sub(mv);
          v3 = v3.sub(mv);
          a0 = v0.fma(v0, a0);
          a1 = v1.fma(v1, a1);
          a2 = v2.fma(v2, a2);
          a3 = v3.fma(v3, a3);
        } else {
          a0 = a0.add(v0);
          a1 = a1.add(v1);
          a2 = a2.add(v2);
          a3 = a3.add(v3);
        }
      }
      double part;
      if (isMax) part = a0.max(a1).max(a2.max(a3)).reduceLanes(VectorOperators.MAX);
      else if (isMin) part = a0.min(a1).min(a2.min(a3)).reduceLanes(VectorOperators.MIN);
      else part = VectorMath.sum(a0.add(a1).add(a2.add(a3)));
      part = k.combine(part, runScalar(k, s, DType.F64, off + blk + i, 1, len - i, m, 0));
      if (isMax || isMin) {
        total = k.combine(total, part);
      } else {
        double t = total + part;
        comp += Math.abs(total) >= Math.abs(part) ? (total - t) + part : (part - t) + total;
        total = t;
      }
    }
    // An infinite total makes the compensation NaN (inf - inf); the total alone is then right.
    return isMax || isMin || !Double.isFinite(total) ? total : total + comp;
  }

  // ------------------------------------------------------------------ column plan

  /**
   * acc[0..w) = reduction over reduced indices [r0, r1) of the w contiguous F32 (or BF16/F16,
   * widened row by row into {@code scratch}) columns at base: each reduced index is one row added
   * into f32 vector accumulators, flushed into double every {@link #COLUMN_FLUSH} rows.
   */
  static void columnF32(
      Kind k,
      MemorySegment x,
      DType dt,
      MemorySegment scratch,
      long base,
      int w,
      long[] rs,
      long[] rxs,
      long r0,
      long r1,
      double[] mean,
      double[] acc) {
    boolean sum = k == Kind.SUM || k == Kind.SUM_ABS || k == Kind.SUM_SQ || k == Kind.SUM_SQDEV;
    float init = (float) k.identity();
    float[] fa = new float[w];
    float[] fm = new float[w];
    java.util.Arrays.fill(fa, init);
    java.util.Arrays.fill(acc, 0, w, k.identity());
    if (mean != null) for (int j = 0; j < w; j++) fm[j] = (float) mean[j];
    int rr = rs.length;
    long[] idx = new long[rr];
    long off = 0, r = r0;
    for (int d = rr - 1; d >= 0; d--) {
      idx[d] = r % rs[d];
      r /= rs[d];
      off += idx[d] * rxs[d];
    }
    int vw = w - w % FL;
    int rows = 0;
    for (long row = r0; row < r1; row++) {
      MemorySegment s = x;
      long ro = base + off; // element offset of this row's first column in s
      if (dt != DType.F32) {
        Convert.toFloat(x, dt, ro, w, scratch, DType.F32, 0);
        s = scratch;
        ro = 0;
      }
      long b = ro * 4;
      switch (k) {
        case SUM -> {
          for (int j = 0; j < vw; j += FL) {
            FloatVector v = FloatVector.fromMemorySegment(FS, s, b + j * 4L, NO);
            FloatVector.fromArray(FS, fa, j).add(v).intoArray(fa, j);
          }
          for (int j = vw; j < w; j++) fa[j] += s.getAtIndex(F32, ro + j);
        }
        case SUM_ABS -> {
          for (int j = 0; j < vw; j += FL) {
            FloatVector v = FloatVector.fromMemorySegment(FS, s, b + j * 4L, NO).abs();
            FloatVector.fromArray(FS, fa, j).add(v).intoArray(fa, j);
          }
          for (int j = vw; j < w; j++) fa[j] += Math.abs(s.getAtIndex(F32, ro + j));
        }
        case SUM_SQ -> {
          for (int j = 0; j < vw; j += FL) {
            FloatVector v = FloatVector.fromMemorySegment(FS, s, b + j * 4L, NO);
            v.fma(v, FloatVector.fromArray(FS, fa, j)).intoArray(fa, j);
          }
          for (int j = vw; j < w; j++) {
            float v = s.getAtIndex(F32, ro + j);
            fa[j] = Math.fma(v, v, fa[j]); // as the vector code
          }
        }
        case SUM_SQDEV -> {
          for (int j = 0; j < vw; j += FL) {
            FloatVector v =
                FloatVector.fromMemorySegment(FS, s, b + j * 4L, NO)
                    .sub(FloatVector.fromArray(FS, fm, j));
            v.fma(v, FloatVector.fromArray(FS, fa, j)).intoArray(fa, j);
          }
          for (int j = vw; j < w; j++) {
            float v = s.getAtIndex(F32, ro + j) - fm[j];
            fa[j] = Math.fma(v, v, fa[j]);
          }
        }
        case MAX, MAX_ABS -> {
          boolean abs = k == Kind.MAX_ABS;
          for (int j = 0; j < vw; j += FL) {
            FloatVector v = FloatVector.fromMemorySegment(FS, s, b + j * 4L, NO);
            if (abs) v = v.abs();
            FloatVector.fromArray(FS, fa, j).max(v).intoArray(fa, j);
          }
          for (int j = vw; j < w; j++) {
            float v = s.getAtIndex(F32, ro + j);
            fa[j] = Math.max(fa[j], abs ? Math.abs(v) : v);
          }
        }
        case MIN, MIN_ABS -> {
          boolean abs = k == Kind.MIN_ABS;
          for (int j = 0; j < vw; j += FL) {
            FloatVector v = FloatVector.fromMemorySegment(FS, s, b + j * 4L, NO);
            if (abs) v = v.abs();
            FloatVector.fromArray(FS, fa, j).min(v).intoArray(fa, j);
          }
          for (int j = vw; j < w; j++) {
            float v = s.getAtIndex(F32, ro + j);
            fa[j] = Math.min(fa[j], abs ? Math.abs(v) : v);
          }
        }
        default -> throw new AssertionError(k);
      }
      if (sum && ++rows == COLUMN_FLUSH) {
        rows = 0;
        for (int j = 0; j < w; j++) {
          acc[j] += fa[j];
          fa[j] = 0;
        }
      }
      for (int d = rr - 1; d >= 0; d--) {
        off += rxs[d];
        if (++idx[d] < rs[d]) break;
        off -= rxs[d] * rs[d];
        idx[d] = 0;
      }
    }
    for (int j = 0; j < w; j++) acc[j] = sum ? acc[j] + fa[j] : fa[j];
  }

  /** As {@link #columnF32} for F64, accumulating in double directly. */
  static void columnF64(
      Kind k,
      MemorySegment s,
      long base,
      int w,
      long[] rs,
      long[] rxs,
      long r0,
      long r1,
      double[] mean,
      double[] acc) {
    java.util.Arrays.fill(acc, 0, w, k.identity());
    int rr = rs.length;
    long[] idx = new long[rr];
    long off = 0, r = r0;
    for (int d = rr - 1; d >= 0; d--) {
      idx[d] = r % rs[d];
      r /= rs[d];
      off += idx[d] * rxs[d];
    }
    boolean abs = k == Kind.SUM_ABS || k == Kind.MAX_ABS || k == Kind.MIN_ABS;
    int vw = w - w % DL;
    for (long row = r0; row < r1; row++) {
      long b = (base + off) * 8;
      for (int j = 0; j < vw; j += DL) {
        DoubleVector v = DoubleVector.fromMemorySegment(DS, s, b + j * 8L, NO);
        DoubleVector a = DoubleVector.fromArray(DS, acc, j);
        if (abs) v = v.abs();
        a =
            switch (k) {
              case SUM, SUM_ABS -> a.add(v);
              case SUM_SQ -> v.fma(v, a);
              case SUM_SQDEV -> {
                DoubleVector dv = v.sub(DoubleVector.fromArray(DS, mean, j));
                yield dv.fma(dv, a);
              }
              case MAX, MAX_ABS -> a.max(v);
              case MIN, MIN_ABS -> a.min(v);
              default -> throw new AssertionError(k);
            };
        a.intoArray(acc, j);
      }
      for (int j = vw; j < w; j++) {
        double v = s.getAtIndex(F64, base + off + j);
        if (abs) v = Math.abs(v);
        acc[j] =
            switch (k) {
              case SUM, SUM_ABS -> acc[j] + v;
              case SUM_SQ -> acc[j] + v * v;
              case SUM_SQDEV -> acc[j] + (v - mean[j]) * (v - mean[j]);
              case MAX, MAX_ABS -> Math.max(acc[j], v);
              case MIN, MIN_ABS -> Math.min(acc[j], v);
              default -> throw new AssertionError(k);
            };
      }
      for (int d = rr - 1; d >= 0; d--) {
        off += rxs[d];
        if (++idx[d] < rs[d]) break;
        off -= rxs[d] * rs[d];
        idx[d] = 0;
      }
    }
  }

  // ------------------------------------------------------------------ integers

  /**
   * SUM/PROD (into I64), MAX/MIN of integer and BOOL tensors, in long; scalar, outputs parallel.
   */
  private static void integerReduce(ReduceOp op, Tensor x, Geometry geo, Tensor out) {
    MemorySegment xs = x.storage().segment(), os = out.storage().segment();
    DType dt = x.dtype(), odt = out.dtype();
    long xOff = x.offset(), oOff = out.offset();
    long[] rs = geo.rs, rxs = geo.rxs;
    int rr = rs.length;
    long n = geo.n;
    Parallel.forRange(
        geo.numOut,
        Math.max(1, StridedLoop.GRAIN / n),
        (s, e) -> {
          long[] idx = new long[rr];
          for (long g = s; g < e; g++) {
            long base = xOff + geo.keptOffset(g, true);
            long acc =
                switch (op) {
                  case PROD -> 1;
                  case MAX -> Long.MIN_VALUE;
                  case MIN -> Long.MAX_VALUE;
                  default -> 0;
                };
            java.util.Arrays.fill(idx, 0);
            long off = 0;
            for (long r = 0; r < n; r++) {
              long v = loadLong(xs, dt, base + off);
              acc =
                  switch (op) {
                    case PROD -> acc * v;
                    case MAX -> Math.max(acc, v);
                    case MIN -> Math.min(acc, v);
                    default -> acc + v;
                  };
              for (int d = rr - 1; d >= 0; d--) {
                off += rxs[d];
                if (++idx[d] < rs[d]) break;
                off -= rxs[d] * rs[d];
                idx[d] = 0;
              }
            }
            Elements.setLong(os, odt, oOff + geo.keptOffset(g, false), acc);
          }
        });
  }

  static long loadLong(MemorySegment s, DType dt, long i) {
    return switch (dt) {
      case I64 -> s.getAtIndex(ValueLayout.JAVA_LONG, i);
      case I32 -> s.getAtIndex(ValueLayout.JAVA_INT, i);
      case U8 -> s.get(ValueLayout.JAVA_BYTE, i) & 0xff;
      case BOOL -> s.get(ValueLayout.JAVA_BYTE, i) != 0 ? 1 : 0;
      default -> (long) Elements.getDouble(s, dt, i);
    };
  }

  // ------------------------------------------------------------------ argmax / argmin

  static void argReduce(boolean max, Tensor x, int dim, Tensor out) {
    long[] shape = x.shape(), xst = x.strides(), ost = out.strides();
    long len = shape[dim], stride = xst[dim];
    long lines = 1;
    for (int d = 0; d < shape.length; d++) if (d != dim) lines *= shape[d];
    if (lines == 0) return;
    MemorySegment xs = x.storage().segment(), os = out.storage().segment();
    DType dt = x.dtype();
    long xOff = x.offset(), oOff = out.offset();
    int rank = shape.length;
    Parallel.forRange(
        lines,
        Math.max(1, StridedLoop.GRAIN / Math.max(1, len)),
        (s, e) -> {
          for (long l = s; l < e; l++) {
            long xo = xOff, oo = oOff, rem = l;
            for (int d = rank - 1; d >= 0; d--) {
              if (d == dim) continue;
              long i = rem % shape[d];
              rem /= shape[d];
              xo += i * xst[d];
              oo += i * ost[d];
            }
            long best;
            if (dt == DType.F32 && stride == 1) best = argF32(xs, xo, len, max);
            else if (dt.isFloatingPoint()) best = argScalar(xs, dt, xo, stride, len, max);
            else best = argLong(xs, dt, xo, stride, len, max);
            os.setAtIndex(ValueLayout.JAVA_LONG, oo, best);
          }
        });
  }

  /** Contiguous F32: the extreme value by vector max/min (NaN propagates), then its first index. */
  private static long argF32(MemorySegment s, long off, long n, boolean max) {
    float target = max ? maxF32(s, off, n, false) : minF32(s, off, n, false);
    boolean nan = Float.isNaN(target);
    for (long i = 0; i < n; i++) {
      float v = s.getAtIndex(F32, off + i);
      if (nan ? Float.isNaN(v) : v == target) return i;
    }
    return 0;
  }

  /** First index of the max (min); the first NaN wins, as NaN counts as the extreme. */
  private static long argScalar(
      MemorySegment s, DType dt, long off, long stride, long n, boolean max) {
    double best = load(s, dt, off);
    long bi = 0;
    if (Double.isNaN(best)) return 0;
    for (long i = 1; i < n; i++) {
      double v = load(s, dt, off + i * stride);
      if (Double.isNaN(v)) return i;
      if (max ? v > best : v < best) {
        best = v;
        bi = i;
      }
    }
    return bi;
  }

  private static long argLong(
      MemorySegment s, DType dt, long off, long stride, long n, boolean max) {
    long best = loadLong(s, dt, off);
    long bi = 0;
    for (long i = 1; i < n; i++) {
      long v = loadLong(s, dt, off + i * stride);
      if (max ? v > best : v < best) {
        best = v;
        bi = i;
      }
    }
    return bi;
  }

  // ------------------------------------------------------------------ conversions

  /**
   * Widening of contiguous runs to a compute type (F32, or F64) and narrowing back, rounding to
   * nearest even; the 16-bit formats go through {@link Casts}' vectorized conversions.
   */
  static final class Convert {
    private Convert() {}

    /** dst[dOff + i] = src[off + i] for i in [0, n), as {@code dt} (F32 or F64). */
    static void toFloat(
        MemorySegment src, DType st, long off, long n, MemorySegment dst, DType dt, long dOff) {
      if (st == dt) {
        MemorySegment.copy(src, off * st.byteSize(), dst, dOff * dt.byteSize(), n * dt.byteSize());
      } else if (dt == DType.F32 && st == DType.BF16) {
        Casts.bf16ToF32(src, off * 2, dst, dOff * 4, n);
      } else if (dt == DType.F32 && st == DType.F16) {
        Casts.f16ToF32(src, off * 2, dst, dOff * 4, n);
      } else if (dt == DType.F32) {
        for (long i = 0; i < n; i++) dst.setAtIndex(F32, dOff + i, (float) load(src, st, off + i));
      } else {
        for (long i = 0; i < n; i++) dst.setAtIndex(F64, dOff + i, load(src, st, off + i));
      }
    }

    /** dst[dOff + i] = src[off + i] for i in [0, n), from {@code st} (F32 or F64) to {@code dt}. */
    static void fromFloat(
        MemorySegment src, DType st, long off, long n, MemorySegment dst, DType dt, long dOff) {
      if (st == dt) {
        MemorySegment.copy(src, off * st.byteSize(), dst, dOff * dt.byteSize(), n * dt.byteSize());
      } else if (st == DType.F32 && dt == DType.BF16) {
        Casts.f32ToBf16(src, off * 4, dst, dOff * 2, n);
      } else if (st == DType.F32 && dt == DType.F16) {
        Casts.f32ToF16(src, off * 4, dst, dOff * 2, n);
      } else if (st == DType.F32) {
        for (long i = 0; i < n; i++) store(dst, dt, dOff + i, src.getAtIndex(F32, off + i));
      } else {
        for (long i = 0; i < n; i++) store(dst, dt, dOff + i, src.getAtIndex(F64, off + i));
      }
    }
  }

  /** One floating element stored from double, rounding to nearest even for 16-bit formats. */
  static void store(MemorySegment s, DType dt, long i, double v) {
    switch (dt) {
      case F32 -> s.setAtIndex(F32, i, (float) v);
      case F64 -> s.setAtIndex(F64, i, v);
      case BF16 -> s.setAtIndex(ValueLayout.JAVA_SHORT, i, Half.floatToBf16((float) v));
      case F16 -> s.setAtIndex(ValueLayout.JAVA_SHORT, i, Half.floatToF16((float) v));
      default -> Elements.setDouble(s, dt, i, v);
    }
  }
}
