package io.kinema.tensor.cpu;

import io.kinema.tensor.AttentionMask;
import io.kinema.tensor.DType;
import io.kinema.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;

/**
 * The backward of fused attention (FlashAttention-2), blockwise so that nothing of size Sq x Sk is
 * stored. With {@code P = exp(scale Q K^T - lse)} (the forward's log-sum-exp, so P is the softmax
 * itself; masked entries 0) and {@code D_i = dO_i . O_i}:
 *
 * <pre>
 *   dV = P^T dO,   dP = dO V^T,   dS = P * (dP - D),   dQ = scale dS K,   dK = scale dS^T Q
 * </pre>
 *
 * <p>Work is split in two passes so that every task owns the rows it writes and no reduction
 * between threads is needed: the result is the same bit for bit for any number of threads.
 *
 * <ol>
 *   <li>one task per (b, h, key block): walks the query blocks that can see the block, accumulates
 *       its dK and dV rows, and writes them;
 *   <li>one task per (b, h, query block): walks the key blocks its rows can see, accumulates its dQ
 *       rows, and writes them.
 * </ol>
 *
 * The second pass recomputes P and dP (about 40% more flops than one fused pass with dQ reduced
 * across key blocks), which buys full parallelism, determinism and no per-thread Sq x D buffers.
 * Masks are the forward's (see {@link CpuAttention}): per-row key limits (and KeyRanges' intervals)
 * let both passes skip the blocks the mask hides; Explicit and KeyRanges masks are applied per
 * (row, key).
 *
 * <p>{@link AttentionBackwardF32} is the fast path (F32; BF16/F16 computed in f32), {@link F64} the
 * reference-precision path. Gradients are F64 for F64 inputs, F32 otherwise.
 */
final class AttentionBackward {
  private AttentionBackward() {}

  static void run(
      Tensor q,
      Tensor k,
      Tensor v,
      Tensor out,
      Tensor lse,
      Tensor gradOut,
      AttentionMask mask,
      double scale,
      Tensor gradQ,
      Tensor gradK,
      Tensor gradV) {
    Plan p = new Plan(q, k, v, out, lse, gradOut, mask, scale, gradQ, gradK, gradV);
    if (p.a.b == 0 || p.a.h == 0) return;
    if (p.a.dtype == DType.F64) {
      run(p, F64.BQ, F64.BK, () -> new F64(p));
    } else {
      run(p, AttentionBackwardF32.BQ, AttentionBackwardF32.BK, () -> new AttentionBackwardF32(p));
    }
  }

  /** One thread's kernel with its scratch tiles. */
  interface Worker {
    /** Writes dK and dV rows {@code [k0, min(k0 + BK, Sk))} of (b, h). */
    void keyBlock(int b, int h, int k0);

    /** Writes dQ rows {@code [q0, min(q0 + BQ, Sq))} of (b, h). */
    void queryBlock(int b, int h, int q0);
  }

  private static void run(Plan p, int bq, int bk, Supplier<Worker> factory) {
    long bh = (long) p.a.b * p.a.h;
    long flops = 7L * bh * p.a.sq * p.a.sk * Math.max(p.a.d, p.a.dv);
    int workers = flops < (1L << 21) ? 1 : Parallel.threads();
    pass(bh, (p.a.sk + bk - 1) / bk, workers, factory, true, p.a.h, bk);
    pass(bh, (p.a.sq + bq - 1) / bq, workers, factory, false, p.a.h, bq);
  }

  /**
   * Runs every (b, h, block) of one pass, handed out one at a time from a shared counter (masked
   * blocks differ in cost); each worker allocates its scratch once.
   */
  private static void pass(
      long bh,
      long blocks,
      int workers,
      Supplier<Worker> factory,
      boolean keys,
      int heads,
      int size) {
    long items = bh * blocks;
    if (items == 0) return;
    AtomicLong next = new AtomicLong();
    Parallel.forRange(
        (int) Math.min(workers, items),
        1,
        (s, e) -> {
          for (long w = s; w < e; w++) {
            Worker kernel = factory.get();
            for (long it; (it = next.getAndIncrement()) < items; ) {
              // Key pass: the first key blocks are seen by the most queries (causal); query pass:
              // the last query blocks see the most keys. Start with the expensive ones.
              long t = keys ? it / bh : blocks - 1 - it / bh;
              long r = it % bh;
              int b = (int) (r / heads), h = (int) (r % heads), at = (int) (t * size);
              if (keys) kernel.keyBlock(b, h, at);
              else kernel.queryBlock(b, h, at);
            }
          }
        });
  }

  /** The forward's plan plus the gradient operands. */
  static final class Plan {
    final CpuAttention.Plan a;
    final MemorySegment gos, gqs, gks, gvs;
    final long goOff, gqOff, gkOff, gvOff;
    final long[] goSt, gqSt, gkSt, gvSt;
    final DType gradType;

    Plan(
        Tensor q,
        Tensor k,
        Tensor v,
        Tensor out,
        Tensor lse,
        Tensor gradOut,
        AttentionMask mask,
        double scale,
        Tensor gradQ,
        Tensor gradK,
        Tensor gradV) {
      a = new CpuAttention.Plan(q, k, v, mask, scale, out, lse);
      gos = gradOut.storage().segment();
      gqs = gradQ.storage().segment();
      gks = gradK.storage().segment();
      gvs = gradV.storage().segment();
      goOff = gradOut.offset();
      gqOff = gradQ.offset();
      gkOff = gradK.offset();
      gvOff = gradV.offset();
      goSt = gradOut.strides();
      gqSt = gradQ.strides();
      gkSt = gradK.strides();
      gvSt = gradV.strides();
      gradType = gradQ.dtype();
    }

    /** Row i's log-sum-exp. */
    double lse(int b, int h, long i) {
      long at = a.lOff + b * a.lSt[0] + h * a.lSt[1] + i * a.lSt[2];
      return a.lseType == DType.F64
          ? a.ls.getAtIndex(ValueLayout.JAVA_DOUBLE, at)
          : a.ls.getAtIndex(ValueLayout.JAVA_FLOAT, at);
    }

    /** First query row whose key limit exceeds {@code key} (rows before it cannot see it). */
    int firstRowSeeing(long key) {
      int lo = 0, hi = a.sq; // limits never decrease with the row: binary search
      while (lo < hi) {
        int mid = (lo + hi) >>> 1;
        if (a.keyLimit(mid) > key) hi = mid;
        else lo = mid + 1;
      }
      return lo;
    }
  }

  /**
   * The F64 reference kernel: the same two passes written plainly in double precision, one (query
   * row, key) pair at a time.
   */
  static final class F64 implements Worker {
    static final int BQ = 16;
    static final int BK = 32;

    private final Plan p;
    private final CpuAttention.Plan a;
    private final int d, dv;
    private final double[] qb, dob, kb, vb, acc1, acc2, lse, dd;
    private final KeySegments segments = new KeySegments(BQ);

    F64(Plan p) {
      this.p = p;
      a = p.a;
      d = a.d;
      dv = a.dv;
      int n = Math.max(BQ, BK);
      qb = new double[n * d];
      dob = new double[BQ * dv];
      kb = new double[n * d];
      vb = new double[BK * dv];
      acc1 = new double[n * Math.max(d, dv)];
      acc2 = new double[BK * dv];
      lse = new double[BQ];
      dd = new double[BQ];
    }

    @Override
    public void keyBlock(int b, int h, int k0) {
      int bk = Math.min(BK, a.sk - k0);
      double[] dk = acc1, dvAcc = acc2;
      java.util.Arrays.fill(dk, 0, bk * d, 0);
      java.util.Arrays.fill(dvAcc, 0, bk * dv, 0);
      AttentionF64.load(a.ks, a.kOff, a.kSt, b, h, k0, bk, d, kb);
      AttentionF64.load(a.vs, a.vOff, a.vSt, b, h, k0, bk, dv, vb);
      for (int q0 = p.firstRowSeeing(k0) / BQ * BQ; q0 < a.sq; q0 += BQ) {
        int rows = Math.min(BQ, a.sq - q0);
        if (!a.anySees(q0, rows, k0, k0 + bk)) continue;
        loadQueries(b, h, q0, rows);
        for (int i = 0; i < rows; i++) {
          for (int j = 0; j < bk; j++) {
            double pij = prob(b, h, q0 + i, k0 + j, i, j);
            if (pij == 0) continue;
            double dp = 0;
            for (int c = 0; c < dv; c++) {
              dp += dob[i * dv + c] * vb[j * dv + c];
              dvAcc[j * dv + c] += pij * dob[i * dv + c];
            }
            double ds = a.scale * pij * (dp - dd[i]);
            for (int x = 0; x < d; x++) dk[j * d + x] += ds * qb[i * d + x];
          }
        }
      }
      store(p.gks, p.gkOff, p.gkSt, b, h, k0, bk, d, dk);
      store(p.gvs, p.gvOff, p.gvSt, b, h, k0, bk, dv, dvAcc);
    }

    @Override
    public void queryBlock(int b, int h, int q0) {
      int rows = Math.min(BQ, a.sq - q0);
      double[] dq = acc1;
      java.util.Arrays.fill(dq, 0, rows * d, 0);
      loadQueries(b, h, q0, rows);
      KeySegments seg = segments.of(a, q0, rows);
      for (int si = 0; si < seg.count(); si++) {
        for (int k0 = seg.start(si); k0 < seg.end(si); k0 += BK) {
          queryKeyBlock(b, h, q0, rows, k0, Math.min(BK, seg.end(si) - k0), dq);
        }
      }
      store(p.gqs, p.gqOff, p.gqSt, b, h, q0, rows, d, dq);
    }

    /** Adds keys {@code [k0, k0 + bk)}'s part of dQ for rows {@code [q0, q0 + rows)}. */
    private void queryKeyBlock(int b, int h, int q0, int rows, int k0, int bk, double[] dq) {
      AttentionF64.load(a.ks, a.kOff, a.kSt, b, h, k0, bk, d, kb);
      AttentionF64.load(a.vs, a.vOff, a.vSt, b, h, k0, bk, dv, vb);
      for (int i = 0; i < rows; i++) {
        for (int j = 0; j < bk; j++) {
          double pij = prob(b, h, q0 + i, k0 + j, i, j);
          if (pij == 0) continue;
          double dp = 0;
          for (int c = 0; c < dv; c++) dp += dob[i * dv + c] * vb[j * dv + c];
          double ds = a.scale * pij * (dp - dd[i]);
          for (int x = 0; x < d; x++) dq[i * d + x] += ds * kb[j * d + x];
        }
      }
    }

    /** P for query row {@code qi} (tile row i) and key {@code kj} (tile row j); 0 when masked. */
    private double prob(int b, int h, long qi, long kj, int i, int j) {
      if (kj >= a.keyLimit(qi) || lse[i] == Double.NEGATIVE_INFINITY) return 0;
      if (a.maskKind >= CpuAttention.Plan.EXPLICIT && !a.allowedAt(b, h, qi, kj)) return 0;
      double s = 0;
      for (int x = 0; x < d; x++) s += qb[i * d + x] * kb[j * d + x];
      return Math.exp(a.scale * s - lse[i]);
    }

    /** Q, dO, lse and D = rowsum(dO * O) of rows {@code [q0, q0 + rows)}. */
    private void loadQueries(int b, int h, int q0, int rows) {
      AttentionF64.load(a.qs, a.qOff, a.qSt, b, h, q0, rows, d, qb);
      AttentionF64.load(p.gos, p.goOff, p.goSt, b, h, q0, rows, dv, dob);
      for (int i = 0; i < rows; i++) {
        lse[i] = p.lse(b, h, q0 + i);
        long o = a.oOff + b * a.oSt[0] + h * a.oSt[1] + (long) (q0 + i) * a.oSt[2];
        double s = 0;
        for (int c = 0; c < dv; c++) {
          s += dob[i * dv + c] * a.os.getAtIndex(ValueLayout.JAVA_DOUBLE, o + c * a.oSt[3]);
        }
        dd[i] = s;
      }
    }

    private static void store(
        MemorySegment seg,
        long off,
        long[] st,
        int b,
        int h,
        int r0,
        int n,
        int width,
        double[] src) {
      long base = off + b * st[0] + h * st[1] + (long) r0 * st[2];
      for (int j = 0; j < n; j++) {
        long r = base + j * st[2];
        for (int c = 0; c < width; c++) {
          seg.setAtIndex(ValueLayout.JAVA_DOUBLE, r + c * st[3], src[j * width + c]);
        }
      }
    }
  }
}
