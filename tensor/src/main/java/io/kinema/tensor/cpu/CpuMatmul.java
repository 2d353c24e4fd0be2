package io.kinema.tensor.cpu;

import io.kinema.tensor.DType;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.backend.BinaryOp;
import io.kinema.tensor.backend.Epilogue;
import io.kinema.tensor.backend.ReduceOp;
import io.kinema.tensor.backend.Storage;
import io.kinema.tensor.backend.UnaryOp;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;

/**
 * Batched matmul on top of the GEMM kernels: per-batch operand offsets (stride-0 batch dims read
 * the same matrix again), the split of the work over the shared pool, and the dtype dispatch (F64
 * to {@link GemmF64}; F32, BF16 and F16 to the f32 {@link GemmF32}).
 *
 * <p>Work items are (batch entry, part): a product big enough to be worth splitting is cut into
 * {@code parts} column (or row) ranges, so that the number of items divides evenly over the threads
 * — one part per thread for a single matrix, whole matrices per thread for a large batch.
 */
final class CpuMatmul {
  /**
   * One operand's matrix view: element (r, c) of a batch entry at offset o is {@code o + r*rs +
   * c*cs}.
   */
  record Mat(MemorySegment seg, DType dtype, long rs, long cs) {}

  /** Products with fewer multiply-adds are never split (one thread does the whole matrix). */
  static final long SPLIT_MIN = 1L << 21;

  /** Multiply-adds one thread should get before another is woken. */
  static final long GRAIN = 1L << 20;

  private CpuMatmul() {}

  static void matmul(Tensor a, Tensor b, Tensor out) {
    int r = out.dim();
    long[] shape = out.shape();
    int k = Math.toIntExact(a.size(-1));
    if (out.numel() == 0) return;
    if (k == 0) {
      CpuElementwise.fill(out, 0);
      return;
    }
    // The optional OpenBLAS provider (-Dkinema.blas=openblas) takes the layouts it can read in
    // place; it runs its own threads, so it is called from here, outside the pool.
    if (BlasProvider.useOpenBlas() && BlasProvider.matmul(a, b, out)) return;
    int nb = Math.toIntExact(out.numel() / (shape[r - 2] * shape[r - 1]));
    Mat ma = new Mat(a.storage().segment(), a.dtype(), a.stride(-2), a.stride(-1));
    Mat mb = new Mat(b.storage().segment(), b.dtype(), b.stride(-2), b.stride(-1));
    gemm(ma, batchOffsets(a, shape, nb), mb, batchOffsets(b, shape, nb), k, out, null, false, null);
  }

  /**
   * {@code out = epilogue(x @ weight^T + bias)} (see {@code Backend.linear}). F32, BF16 and F16 add
   * the bias (and apply GELU) in the GEMM's store, after the last k block, in f32: F32 gets the
   * bits of matmul, add and gelu run one after the other; BF16/F16 round once, or, when the
   * pre-activation is kept ({@code pre} not null), round it, store it and apply GELU to the rounded
   * values, the bits of the ops run one after the other. F64 and the OpenBLAS provider run those
   * ops one after the other.
   */
  static void linear(
      Tensor x, Tensor weight, Tensor bias, Epilogue epilogue, Tensor out, Tensor pre) {
    int r = out.dim();
    long[] shape = out.shape();
    int k = Math.toIntExact(x.size(-1));
    if (out.numel() == 0) return;
    if (epilogue == Epilogue.NONE) pre = null;
    // W^T [K, N] is weight [N, K] with its strides swapped, the same matrix for every batch entry.
    Mat mw =
        new Mat(weight.storage().segment(), weight.dtype(), weight.stride(1), weight.stride(0));
    if (k == 0 || out.dtype() == DType.F64 || BlasProvider.useOpenBlas()) {
      long[] wShape = shape.clone(), wStrides = new long[r];
      wShape[r - 2] = k;
      wStrides[r - 2] = mw.rs();
      wStrides[r - 1] = mw.cs();
      try (Tensor wt =
          new Tensor(
              weight.storage().retain(), weight.dtype(), wShape, wStrides, weight.offset())) {
        matmul(x, wt, pre == null ? out : pre);
      }
      if (pre == null) {
        composedEpilogue(bias, epilogue, out);
      } else {
        composedEpilogue(bias, Epilogue.NONE, pre);
        CpuElementwise.unary(UnaryOp.GELU_TANH, pre, out, 0, 0);
      }
      return;
    }
    Mat mx = new Mat(x.storage().segment(), x.dtype(), x.stride(-2), x.stride(-1));
    // Batch entries that follow each other row after row are one taller matrix (W is then packed
    // once per product); otherwise one offset per entry.
    long[] xOffs =
        foldsIntoRows(x)
            ? new long[] {x.offset()}
            : batchOffsets(x, shape, Math.toIntExact(out.numel() / (shape[r - 2] * shape[r - 1])));
    long[] wOffs = new long[xOffs.length];
    Arrays.fill(wOffs, weight.offset());
    float[] b = bias == null ? null : biasF32(bias);
    gemm(mx, xOffs, mw, wOffs, k, out, b, epilogue == Epilogue.GELU_TANH, pre);
  }

  /**
   * {@code gradWeight = g^T @ x} and {@code gradBias} (nullable) {@code = Σ} g's rows (see {@code
   * Backend.linearBackwardWeight}): the matmul and the sum autograd ran before, so their bits.
   */
  static void linearBackwardWeight(Tensor g, Tensor x, Tensor gradWeight, Tensor gradBias) {
    try (Tensor gt =
        new Tensor(
            g.storage().retain(),
            g.dtype(),
            new long[] {g.size(1), g.size(0)},
            new long[] {g.stride(1), g.stride(0)},
            g.offset())) {
      matmul(gt, x, gradWeight);
    }
    if (gradBias == null) return;
    try (Tensor row =
        new Tensor(
            gradBias.storage().retain(),
            gradBias.dtype(),
            new long[] {1, gradBias.size(0)},
            new long[] {gradBias.size(0), 1},
            gradBias.offset())) {
      CpuReduce.reduce(ReduceOp.SUM, g, new int[] {0}, 0, row);
    }
  }

  /** Bias add and activation as separate in-place ops over {@code out} (the unfused paths). */
  private static void composedEpilogue(Tensor bias, Epilogue epilogue, Tensor out) {
    if (bias != null) {
      long[] st = new long[out.dim()];
      st[st.length - 1] = bias.stride(0);
      try (Tensor be =
          new Tensor(bias.storage().retain(), bias.dtype(), out.shape(), st, bias.offset())) {
        CpuElementwise.binary(BinaryOp.ADD, out, be, out);
      }
    }
    if (epilogue == Epilogue.GELU_TANH) CpuElementwise.unary(UnaryOp.GELU_TANH, out, out, 0, 0);
  }

  /** The bias as f32 values (exact for F32, BF16 and F16). */
  private static float[] biasF32(Tensor bias) {
    MemorySegment s = bias.storage().segment();
    float[] b = new float[Math.toIntExact(bias.size(0))];
    for (int j = 0; j < b.length; j++) {
      long i = bias.offset() + j * bias.stride(0);
      b[j] =
          switch (bias.dtype()) {
            case F32 -> s.getAtIndex(ValueLayout.JAVA_FLOAT, i);
            case BF16 -> Half.bf16ToFloat(s.getAtIndex(ValueLayout.JAVA_SHORT, i));
            default -> Half.f16ToFloat(s.getAtIndex(ValueLayout.JAVA_SHORT, i));
          };
    }
    return b;
  }

  /** Whether {@code t}'s batch dims continue its rows: [..., M, K] reads as one [(...) M, K]. */
  private static boolean foldsIntoRows(Tensor t) {
    for (int d = t.dim() - 3; d >= 0; d--) {
      if (t.size(d) != 1 && t.stride(d) != t.stride(d + 1) * t.size(d + 1)) return false;
    }
    return true;
  }

  /**
   * The batched product into the contiguous {@code out} [..., M, N]: batch entry i reads A at
   * {@code aOffs[i]} and B at {@code bOffs[i]}, and a single offset for several entries reads them
   * as one matrix of all their rows; f32 {@code bias} (nullable), GELU and the kept pre-activation
   * {@code pre} (nullable; contiguous, out's shape) as in {@link #linear}.
   */
  private static void gemm(
      Mat ma,
      long[] aOffs,
      Mat mb,
      long[] bOffs,
      int k,
      Tensor out,
      float[] bias,
      boolean gelu,
      Tensor pre) {
    long[] shape = out.shape();
    int r = shape.length;
    int n = Math.toIntExact(shape[r - 1]);
    int nb = aOffs.length;
    int m = Math.toIntExact(out.numel() / n / nb);
    MemorySegment c = out.storage().segment();
    DType ct = out.dtype();
    long c0 = out.offset();
    MemorySegment p = pre == null ? null : pre.storage().segment();
    long p0 = pre == null ? 0 : pre.offset();

    long work = (long) m * n * k;
    boolean splitN = n >= m; // a split of N repeats A's packing per part, a split of M B's
    int parts = parts(nb, splitN ? n : m, splitN ? GemmKernel.NR : GemmKernel.MR, work);
    long grain = Math.max(1, GRAIN / Math.max(1, work / parts));
    Parallel.forRange(
        (long) nb * parts,
        grain,
        (s, e) -> {
          Storage scratch = null; // f32 accumulator for half outputs, one per thread and call
          try {
            for (long it = s; it < e; it++) {
              int bi = (int) (it / parts), part = (int) (it % parts);
              int m0 = 0, m1 = m, n0 = 0, n1 = n;
              if (splitN) {
                n0 = bound(n, parts, part, GemmKernel.NR);
                n1 = bound(n, parts, part + 1, GemmKernel.NR);
              } else {
                m0 = bound(m, parts, part, GemmKernel.MR);
                m1 = bound(m, parts, part + 1, GemmKernel.MR);
              }
              if (m0 == m1 || n0 == n1) continue;
              long co = c0 + (long) bi * m * n + (long) m0 * n + n0; // element offset of C[m0, n0]
              if (ct == DType.F64) {
                GemmF64.region(ma, aOffs[bi], mb, bOffs[bi], k, m0, m1, n0, n1, c, co, n);
                continue;
              }
              // F32 is computed in place; BF16/F16 into an f32 scratch block, rounded once after.
              boolean half = ct != DType.F32;
              MemorySegment dst = c;
              long db = 4 * co, ldd = 4L * n;
              if (half) {
                long bytes = 4L * (m1 - m0) * (n1 - n0);
                if (scratch == null || scratch.byteSize() < bytes) {
                  if (scratch != null) scratch.release();
                  scratch = CpuAllocator.get().allocate(bytes);
                }
                dst = scratch.segment();
                db = 0;
                ldd = 4L * (n1 - n0);
              }
              GemmF32.region(
                  ma,
                  aOffs[bi],
                  mb,
                  bOffs[bi],
                  k,
                  m0,
                  m1,
                  n0,
                  n1,
                  dst,
                  db,
                  ldd,
                  bias,
                  GemmF32.buffers());
              if (p != null) keepPre(dst, db, ldd, m1 - m0, n1 - n0, p, ct, p0 + (co - c0), n);
              if (gelu) CpuElementwise.geluTanhRows(dst, db, ldd, m1 - m0, n1 - n0);
              if (half) GemmF32.storeHalf(dst, 0, ldd, m1 - m0, n1 - n0, c, ct, co, n);
            }
          } finally {
            if (scratch != null) scratch.release();
          }
        });
  }

  /**
   * Stores the f32 block (the pre-activation) at element {@code po} of {@code p} (row length {@code
   * ldp}) in dtype {@code t}; for BF16/F16 the block then holds the rounded values, so the
   * activation applied next sees exactly what was kept (as when the ops run one after the other).
   */
  private static void keepPre(
      MemorySegment c,
      long cb,
      long ldc,
      int rows,
      int cols,
      MemorySegment p,
      DType t,
      long po,
      long ldp) {
    if (t == DType.F32) {
      for (int i = 0; i < rows; i++) {
        MemorySegment.copy(c, cb + i * ldc, p, 4 * (po + i * ldp), 4L * cols);
      }
      return;
    }
    GemmF32.storeHalf(c, cb, ldc, rows, cols, p, t, po, ldp);
    for (int i = 0; i < rows; i++) {
      for (int j = 0; j < cols; j++) {
        short h = p.getAtIndex(ValueLayout.JAVA_SHORT, po + i * ldp + j);
        float v = t == DType.BF16 ? Half.bf16ToFloat(h) : Half.f16ToFloat(h);
        c.set(ValueLayout.JAVA_FLOAT, cb + i * ldc + 4L * j, v);
      }
    }
  }

  /**
   * Parts per product: enough that (batch entries x parts) spreads evenly over the threads, no more
   * than the split dimension has micro-tiles, and 1 for small products or large batches.
   */
  private static int parts(int nb, int dim, int unit, long work) {
    int threads = Parallel.threads();
    if (threads == 1 || work < SPLIT_MIN || nb >= 4 * threads) return 1;
    int p = threads / gcd(nb, threads);
    return Math.max(1, Math.min(p, (dim + unit - 1) / unit));
  }

  /** Start of part {@code p} of {@code parts} over [0, dim), on multiples of {@code unit}. */
  private static int bound(int dim, int parts, int p, int unit) {
    long b = ((long) dim * p / parts + unit - 1) / unit * unit;
    return (int) Math.min(dim, b);
  }

  private static int gcd(int a, int b) {
    while (b != 0) {
      int t = a % b;
      a = b;
      b = t;
    }
    return a;
  }

  /**
   * Element offset of each batch entry's matrix, batch dims in row-major order of {@code shape}.
   */
  private static long[] batchOffsets(Tensor t, long[] shape, int nb) {
    int br = shape.length - 2;
    long[] st = t.strides();
    long[] offs = new long[nb];
    long[] idx = new long[br];
    long o = t.offset();
    for (int i = 0; i < nb; i++) {
      offs[i] = o;
      for (int d = br - 1; d >= 0; d--) {
        o += st[d];
        if (++idx[d] < shape[d]) break;
        o -= st[d] * shape[d];
        idx[d] = 0;
      }
    }
    return offs;
  }
}
