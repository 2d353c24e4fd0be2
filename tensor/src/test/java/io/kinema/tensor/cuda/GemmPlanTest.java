package io.kinema.tensor.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kinema.tensor.DType;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The row-major to column-major translation of matmul: each {@link GemmPlan} is executed here with
 * cuBLAS's documented semantics (column-major {@code C = op(A) op(B)}, leading dimensions, batch
 * strides) on the CPU tensors' memory, and must give the CPU backend's product — for transposed,
 * broadcast, sliced and batched operands.
 */
class GemmPlanTest {
  @Test
  void plansComputeTheMatmul() {
    Random r = new Random(11);
    int folded = 0, batched = 0, hostLoops = 0;
    for (int trial = 0; trial < 300; trial++) {
      try (Scope s = Scope.open()) {
        int br = r.nextInt(3);
        long[] batch = new long[br];
        for (int d = 0; d < br; d++) batch[d] = 1 + r.nextInt(3);
        long m = 1 + r.nextInt(6), k = 1 + r.nextInt(6), n = 1 + r.nextInt(6);
        Tensor a = operand(r, batch, m, k);
        Tensor b = operand(r, batch, k, n);
        Tensor want = a.matmul(b);
        Tensor out = Tensor.zeros(DType.F64, want.shape());
        GemmPlan p = GemmPlan.of(batch, m, n, k, a.strides(), b.strides(), out.strides());
        if (p.calls().size() > 1) hostLoops++;
        if (p.n() > m) folded++;
        if (p.calls().getFirst().batch() > 1) batched++;
        execute(p, a, b, out);
        double[] w = want.toDoubleArray(), g = out.toDoubleArray();
        for (int i = 0; i < w.length; i++) {
          assertEquals(w[i], g[i], 1e-12, "trial " + trial + " element " + i + " plan " + p);
        }
      }
    }
    assertTrue(
        folded > 0 && batched > 0 && hostLoops > 0, folded + " " + batched + " " + hostLoops);
  }

  /**
   * A [batch..., rows, cols] F64 operand: contiguous, transposed, broadcast over the batch, or with
   * a padded row stride (a narrowed view).
   */
  private static Tensor operand(Random r, long[] batch, long rows, long cols) {
    int br = batch.length;
    long[] shape = Arrays.copyOf(batch, br + 2);
    boolean broadcast = br > 0 && r.nextInt(3) == 0;
    if (broadcast) shape[r.nextInt(br)] = 1;
    boolean transposed = r.nextBoolean();
    shape[br] = transposed ? cols : rows;
    shape[br + 1] = transposed ? rows : cols;
    boolean padded = r.nextInt(3) == 0;
    long[] alloc = shape.clone();
    if (padded) alloc[br + 1] += 3;
    Tensor t = CudaTesting.randn(r, DType.F64, alloc);
    if (padded) t = t.narrow(br + 1, 1, shape[br + 1]);
    if (transposed) t = t.mT();
    long[] full = Arrays.copyOf(batch, br + 2);
    full[br] = rows;
    full[br + 1] = cols;
    return t.expand(full);
  }

  /** Runs the plan's cuBLAS calls as cuBLAS defines them, on host memory. */
  private static void execute(GemmPlan p, Tensor a, Tensor b, Tensor out) {
    MemorySegment as = a.storage().segment(), bs = b.storage().segment();
    MemorySegment cs = out.storage().segment();
    for (GemmPlan.Call c : p.calls()) {
      for (int e = 0; e < c.batch(); e++) {
        long a0 = b.offset() + c.offsetA() + e * p.strideA(); // cuBLAS's A is our b
        long b0 = a.offset() + c.offsetB() + e * p.strideB();
        long c0 = out.offset() + c.offsetC() + e * p.strideC();
        for (int j = 0; j < p.n(); j++) {
          for (int i = 0; i < p.m(); i++) {
            double sum = 0;
            for (int l = 0; l < p.k(); l++) {
              long ai = p.transA() ? (long) i * p.lda() + l : (long) l * p.lda() + i;
              long bi = p.transB() ? (long) l * p.ldb() + j : (long) j * p.ldb() + l;
              sum += at(bs, a0 + ai) * at(as, b0 + bi);
            }
            cs.setAtIndex(ValueLayout.JAVA_DOUBLE, c0 + (long) j * p.ldc() + i, sum);
          }
        }
      }
    }
  }

  private static double at(MemorySegment s, long i) {
    return s.getAtIndex(ValueLayout.JAVA_DOUBLE, i);
  }

  @Test
  void leadingDimensionsFollowCublasRules() {
    GemmPlan.Matrix rowMajor = GemmPlan.matrix(4, 3, 5, 1);
    assertNotNull(rowMajor);
    assertTrue(rowMajor.rowMajor());
    assertEquals(5, rowMajor.ld());
    GemmPlan.Matrix colMajor = GemmPlan.matrix(4, 3, 1, 4);
    assertNotNull(colMajor);
    assertTrue(!colMajor.rowMajor());
    assertEquals(4, colMajor.ld());
    // A single row: any row stride, the leading dimension is the row's length.
    assertEquals(3, GemmPlan.matrix(1, 3, 0, 1).ld());
    // Neither dim of stride 1 (a step-2 slice), or rows overlapping: a copy is needed.
    assertNull(GemmPlan.matrix(4, 3, 6, 2));
    assertNull(GemmPlan.matrix(4, 3, 2, 1));
  }

  @Test
  void broadcastWeightsFoldTheBatchIntoOneGemm() {
    // x [2, 3, 5, 4] @ w [4, 6] (a linear layer): one GEMM of 30 rows.
    GemmPlan p =
        GemmPlan.of(
            new long[] {2, 3},
            5,
            6,
            4,
            new long[] {60, 20, 4, 1},
            new long[] {0, 0, 6, 1},
            new long[] {90, 30, 6, 1});
    assertEquals(1, p.calls().size());
    assertEquals(1, p.calls().getFirst().batch());
    assertEquals(6, p.m());
    assertEquals(30, p.n());
  }
}
