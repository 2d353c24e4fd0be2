package io.kinema.tensor.cuda;

import static io.kinema.tensor.cuda.CudaTesting.GPU;
import static io.kinema.tensor.cuda.CudaTesting.assertClose;

import io.kinema.ffi.cuda.CudaLibrary;
import io.kinema.ffi.cuda.junit.RequiresCuda;
import io.kinema.tensor.DType;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import java.util.Random;
import java.util.function.BinaryOperator;
import org.junit.jupiter.api.Test;

/**
 * matmul and bmm through cuBLAS against the CPU, on every float dtype: plain, batched, broadcast
 * (folded into one GEMM and not), transposed views read in place, sliced operands that must be
 * copied, vectors, and an empty inner dim.
 */
@RequiresCuda(CudaLibrary.CUBLAS)
class CudaMatmulTest {
  @Test
  void matmulShapesAndLayouts() {
    Random r = new Random(14);
    for (DType dt : new DType[] {DType.F32, DType.BF16, DType.F16, DType.F64}) {
      try (Scope s = Scope.open()) {
        check(r, dt, new long[] {5, 7}, new long[] {7, 3}, Tensor::matmul, "plain");
        check(r, dt, new long[] {2, 5, 7}, new long[] {7, 3}, Tensor::matmul, "broadcast weights");
        check(r, dt, new long[] {2, 5, 7}, new long[] {2, 7, 3}, Tensor::matmul, "batched");
        check(
            r, dt, new long[] {2, 1, 5, 7}, new long[] {3, 7, 4}, Tensor::matmul, "broadcast both");
        check(r, dt, new long[] {3, 5, 7}, new long[] {3, 7, 6}, Tensor::bmm, "bmm");
        check(r, dt, new long[] {7}, new long[] {7, 3}, Tensor::matmul, "vector @ matrix");
        check(r, dt, new long[] {2, 5, 7}, new long[] {7}, Tensor::matmul, "matrix @ vector");
        check(r, dt, new long[] {5, 0}, new long[] {0, 3}, Tensor::matmul, "empty inner dim");
        // Transposed operands are read in place; a step-2 slice is copied first.
        check(
            r,
            dt,
            new long[] {2, 7, 5},
            new long[] {2, 3, 7},
            (a, b) -> a.mT().matmul(b.mT()),
            "transposed");
        check(
            r,
            dt,
            new long[] {5, 14},
            new long[] {7, 3},
            (a, b) -> a.slice(1, 0, 14, 2).matmul(b),
            "sliced");
        check(
            r,
            dt,
            new long[] {4, 2, 5, 7},
            new long[] {4, 7, 3},
            (a, b) -> a.transpose(0, 1).matmul(b),
            "batch dims that do not fuse");
      }
    }
  }

  private static void check(
      Random r, DType dt, long[] as, long[] bs, BinaryOperator<Tensor> op, String what) {
    Tensor a = CudaTesting.randn(r, dt, as), b = CudaTesting.randn(r, dt, bs);
    Tensor want = op.apply(a, b), got = op.apply(a.to(GPU), b.to(GPU));
    // Sums of 7 terms in another order (and f32 outputs rounded once to the 16-bit types).
    double tol = dt == DType.F32 ? 1e-5 : CudaTesting.tol(dt);
    assertClose(want, got, tol, what + " " + dt);
  }

  @Test
  void largerProductAccumulatesInF32() {
    Random r = new Random(15);
    try (Scope s = Scope.open()) {
      Tensor a = CudaTesting.randn(r, DType.BF16, 33, 130),
          b = CudaTesting.randn(r, DType.BF16, 130, 17);
      assertClose(a.matmul(b), a.to(GPU).matmul(b.to(GPU)), "bf16 130-term dot products");
    }
  }
}
