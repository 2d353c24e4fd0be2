package io.kinema.tensor.cuda;

import static io.kinema.tensor.cuda.CudaTesting.GPU;
import static io.kinema.tensor.cuda.CudaTesting.assertClose;
import static io.kinema.tensor.cuda.CudaTesting.assertSame;

import io.kinema.ffi.cuda.junit.RequiresCuda;
import io.kinema.tensor.DType;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import java.util.Random;
import java.util.function.BiFunction;
import org.junit.jupiter.api.Test;

/**
 * Reductions on the GPU against the CPU: every op over several dim sets of dense and permuted
 * inputs (row, warp and column plans, split and unsplit), integer reductions, argmax/argmin, and
 * empty reductions. Sums in f32 are compared with a tolerance that allows for another order.
 */
@RequiresCuda
class CudaReduceTest {
  private static final int[][] DIMS = {null, {2}, {0}, {0, 2}, {1, 2}};

  @Test
  void everyOpOverSeveralDims() {
    Random r = new Random(7);
    for (DType dt : new DType[] {DType.F32, DType.BF16, DType.F64}) {
      try (Scope s = Scope.open()) {
        // Dense for F32, permuted (kept and reduced dims interleaved in memory) for the others.
        Tensor cpu =
            dt == DType.F32
                ? CudaTesting.randn(r, dt, 6, 7, 40)
                : CudaTesting.randn(r, dt, 40, 6, 7).permute(1, 2, 0);
        {
          Tensor gpu = cpu.to(GPU);
          for (int[] dims : DIMS) {
            String what = cpu.describe() + " dims " + java.util.Arrays.toString(dims);
            check(cpu, gpu, (t, d) -> t.sum(d, false), dims, "sum " + what);
            check(cpu, gpu, (t, d) -> t.mean(d, true), dims, "mean " + what);
            check(cpu, gpu, (t, d) -> t.amax(d, false), dims, "amax " + what);
            check(cpu, gpu, (t, d) -> t.amin(d, false), dims, "amin " + what);
            if (dims == null || dims.length == 1) {
              check(cpu, gpu, (t, d) -> t.div(3).add(1).prod(d, false), dims, "prod " + what);
            }
            check(cpu, gpu, (t, d) -> t.var(d, 1, false), dims, "var " + what);
            check(cpu, gpu, (t, d) -> t.std(d, 0, true), dims, "std " + what);
          }
          int[] dims = {0, 2};
          for (double p : new double[] {1, 2, 3, 0, Double.POSITIVE_INFINITY}) {
            check(
                cpu, gpu, (t, d) -> t.norm(p, d, false), dims, "norm " + p + " " + cpu.describe());
          }
        }
      }
    }
  }

  private static void check(
      Tensor cpu, Tensor gpu, BiFunction<Tensor, int[], Tensor> op, int[] dims, String what) {
    Tensor want = op.apply(cpu, dims), got = op.apply(gpu, dims);
    // Sums of ~300 terms in another order: a few ulps of the larger partial sums.
    double tol = cpu.dtype() == DType.F32 ? 1e-4 : CudaTesting.tol(cpu.dtype());
    assertClose(want, got, tol, what);
  }

  @Test
  void longAndShortReductionsTakeEveryPlan() {
    Random r = new Random(8);
    try (Scope s = Scope.open()) {
      // One output of 70000 elements: the reduced range is split over the GPU.
      Tensor big = CudaTesting.randn(r, DType.F32, 70000);
      assertClose(big.sum(), big.to(GPU).sum(), 1e-4, "split sum");
      assertClose(big.var(), big.to(GPU).var(), 1e-4, "split var");
      // Short rows: a warp per output.
      Tensor rows = CudaTesting.randn(r, DType.F32, 300, 30);
      assertClose(rows.sum(1, false), rows.to(GPU).sum(1, false), 1e-5, "warp rows");
      // Reducing the outer dim of [300, 40]: the column plan, split in two.
      Tensor cols = CudaTesting.randn(r, DType.BF16, 300, 40);
      assertClose(cols.sum(0, false), cols.to(GPU).sum(0, false), "column plan");
      assertClose(cols.amax(0, false), cols.to(GPU).amax(0, false), "column max");
    }
  }

  @Test
  void integerReductionsAndArgmax() {
    Random r = new Random(9);
    try (Scope s = Scope.open()) {
      for (DType dt : new DType[] {DType.I64, DType.I32, DType.U8, DType.BOOL}) {
        Tensor cpu = CudaTesting.uniform(r, dt, 0, 9, 5, 6, 7).permute(2, 0, 1);
        Tensor gpu = cpu.to(GPU);
        assertSame(cpu.sum(), gpu.sum(), "sum " + dt);
        assertSame(cpu.sum(1, true), gpu.sum(1, true), "sum dim " + dt);
        if (dt != DType.BOOL) {
          assertSame(
              cpu.amax(new int[] {0, 2}, false), gpu.amax(new int[] {0, 2}, false), "amax " + dt);
          assertSame(cpu.prod(new int[] {2}, false), gpu.prod(new int[] {2}, false), "prod " + dt);
        }
      }
      for (DType dt : new DType[] {DType.F32, DType.BF16, DType.F64, DType.I32}) {
        // Few distinct values: ties, where the first index must win.
        Tensor cpu = CudaTesting.uniform(r, DType.I32, 0, 4, 6, 9, 5).to(dt);
        Tensor gpu = cpu.to(GPU);
        for (int d = 0; d < 3; d++) {
          assertSame(cpu.argmax(d, false), gpu.argmax(d, false), "argmax " + d + " " + dt);
          assertSame(cpu.argmin(d, true), gpu.argmin(d, true), "argmin " + d + " " + dt);
          assertSame(
              cpu.permute(2, 0, 1).argmax(d, false),
              gpu.permute(2, 0, 1).argmax(d, false),
              "argmax permuted " + d + " " + dt);
        }
      }
    }
  }

  @Test
  void emptyReductions() {
    try (Scope s = Scope.open()) {
      Tensor cpu = Tensor.zeros(DType.F32, 3, 0, 4), gpu = Tensor.zeros(DType.F32, GPU, 3, 0, 4);
      assertSame(cpu.sum(1, false), gpu.sum(1, false), "empty sum");
      assertSame(cpu.mean(1, false), gpu.mean(1, false), "empty mean");
      assertSame(cpu.prod(new int[] {1}, false), gpu.prod(new int[] {1}, false), "empty prod");
      assertSame(cpu.sum(0, false), gpu.sum(0, false), "no outputs");
    }
  }
}
