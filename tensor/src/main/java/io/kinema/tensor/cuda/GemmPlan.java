package io.kinema.tensor.cuda;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * How a batched row-major matmul {@code out[..., M, N] = a[..., M, K] @ b[..., K, N]} becomes
 * column-major cuBLAS calls. A row-major matrix read column-major is its transpose, so the product
 * is computed as {@code out^T = b^T a^T}: cuBLAS's A is our b, its B is our a, and its m, n are our
 * N, M. Each operand is read in place when its last two dims are GEMM-compatible — one of them of
 * stride 1, the other a leading dimension at least as large as the rows it spans — with the
 * transpose flag telling which; the batch dims (fused where every operand's strides allow) become
 * one strided-batched call per index of the dims that do not fuse. A broadcast b (batch stride 0)
 * over a row-major a whose batch entries follow each other folds the batch into M: one plain GEMM.
 *
 * @param transA cuBLAS's op(A): our b is stored transposed relative to what cuBLAS reads
 * @param transB cuBLAS's op(B): likewise for our a
 * @param m cuBLAS's m (our N)
 * @param n cuBLAS's n (our M, times the batch when folded)
 * @param k the shared dim K
 * @param lda leading dimension of b as cuBLAS reads it
 * @param ldb leading dimension of a
 * @param ldc leading dimension of out
 * @param strideA batch stride (elements) of b
 * @param strideB batch stride of a
 * @param strideC batch stride of out
 * @param calls one cuBLAS call each: element offsets into b, a and out, and its batch count
 */
record GemmPlan(
    boolean transA,
    boolean transB,
    int m,
    int n,
    int k,
    int lda,
    int ldb,
    int ldc,
    long strideA,
    long strideB,
    long strideC,
    List<Call> calls) {

  /** The most batch entries one strided-batched call is given. */
  static final int MAX_BATCH = 65535;

  /** One cuBLAS call: operand offsets in elements (b, a, out) and how many batch entries. */
  record Call(long offsetA, long offsetB, long offsetC, int batch) {}

  /** One operand's matrix as cuBLAS can read it: column-major with {@code ld}, or transposed. */
  record Matrix(boolean rowMajor, long ld) {}

  /**
   * How cuBLAS can read a {@code rows x cols} matrix with element strides {@code (rs, cs)}: row
   * major (preferred) or column major; null when neither (a copy is needed).
   */
  static Matrix matrix(long rows, long cols, long rs, long cs) {
    if (cs == 1 || cols == 1) {
      long ld = rows == 1 ? Math.max(1, cols) : rs;
      if (ld >= Math.max(1, cols) && ld <= Integer.MAX_VALUE) return new Matrix(true, ld);
    }
    if (rs == 1 || rows == 1) {
      long ld = cols == 1 ? Math.max(1, rows) : cs;
      if (ld >= Math.max(1, rows) && ld <= Integer.MAX_VALUE) return new Matrix(false, ld);
    }
    return null;
  }

  /**
   * The plan for {@code a [batch..., M, K] @ b [batch..., K, N] -> out [batch..., M, N]} with the
   * given strides (batch dims already broadcast: equal sizes, stride 0 where broadcast). Every
   * operand must be readable ({@link #matrix} non-null) and out row major; M, N, K and the batch
   * positive.
   */
  static GemmPlan of(
      long[] batch, long m, long n, long k, long[] aStrides, long[] bStrides, long[] outStrides) {
    int br = batch.length;
    Matrix ma = matrix(m, k, aStrides[br], aStrides[br + 1]);
    Matrix mb = matrix(k, n, bStrides[br], bStrides[br + 1]);
    Matrix mc = matrix(m, n, outStrides[br], outStrides[br + 1]);
    if (ma == null || mb == null || mc == null || !mc.rowMajor()) {
      throw new IllegalArgumentException(
          "matmul operands cuBLAS cannot read in place: a strides "
              + Arrays.toString(aStrides)
              + ", b strides "
              + Arrays.toString(bStrides)
              + ", out strides "
              + Arrays.toString(outStrides));
    }
    StridedLayout bl =
        StridedLayout.of(
            batch,
            Arrays.copyOf(bStrides, br),
            Arrays.copyOf(aStrides, br),
            Arrays.copyOf(outStrides, br));
    int inner = bl.rank() - 1;
    long count = inner < 0 ? 1 : bl.shape()[inner];
    long sA = inner < 0 ? 0 : bl.strides()[0][inner];
    long sB = inner < 0 ? 0 : bl.strides()[1][inner];
    long sC = inner < 0 ? 0 : bl.strides()[2][inner];
    // Broadcast b over consecutive row-major a matrices: one GEMM with the batch folded into M.
    if (bl.rank() == 1
        && sA == 0
        && ma.rowMajor()
        && sB == m * ma.ld()
        && sC == m * mc.ld()
        && count * m <= Integer.MAX_VALUE) {
      return new GemmPlan(
          !mb.rowMajor(),
          false,
          toInt(n),
          toInt(count * m),
          toInt(k),
          (int) mb.ld(),
          (int) ma.ld(),
          (int) mc.ld(),
          0,
          0,
          0,
          List.of(new Call(0, 0, 0, 1)));
    }
    List<Call> calls = new ArrayList<>();
    long outerCount = 1;
    for (int d = 0; d < inner; d++) outerCount *= bl.shape()[d];
    long[] idx = new long[Math.max(0, inner)];
    for (long o = 0; o < outerCount; o++) {
      long oa = 0, ob = 0, oc = 0;
      for (int d = 0; d < inner; d++) {
        oa += idx[d] * bl.strides()[0][d];
        ob += idx[d] * bl.strides()[1][d];
        oc += idx[d] * bl.strides()[2][d];
      }
      for (long first = 0; first < count; first += MAX_BATCH) {
        int len = (int) Math.min(MAX_BATCH, count - first);
        calls.add(new Call(oa + first * sA, ob + first * sB, oc + first * sC, len));
      }
      for (int d = inner - 1; d >= 0 && ++idx[d] == bl.shape()[d]; d--) idx[d] = 0;
    }
    return new GemmPlan(
        !mb.rowMajor(),
        !ma.rowMajor(),
        toInt(n),
        toInt(m),
        toInt(k),
        (int) mb.ld(),
        (int) ma.ld(),
        (int) mc.ld(),
        sA,
        sB,
        sC,
        List.copyOf(calls));
  }

  private static int toInt(long v) {
    if (v > Integer.MAX_VALUE) {
      throw new UnsupportedOperationException(
          "not supported on CUDA yet: a matmul dimension of " + v + " (cuBLAS takes int sizes)");
    }
    return (int) v;
  }
}
