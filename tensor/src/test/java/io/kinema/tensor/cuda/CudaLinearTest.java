package io.kinema.tensor.cuda;

import static io.kinema.tensor.cuda.CudaTesting.GPU;
import static io.kinema.tensor.cuda.CudaTesting.assertClose;
import static io.kinema.tensor.cuda.CudaTesting.randn;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.kinema.ffi.cuda.CublasLt;
import io.kinema.ffi.cuda.CudaLibrary;
import io.kinema.ffi.cuda.junit.RequiresCuda;
import io.kinema.tensor.Backends;
import io.kinema.tensor.DType;
import io.kinema.tensor.Device;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.backend.Epilogue;
import java.util.Random;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;

/**
 * {@code linear} on the GPU against the CPU, every float dtype and epilogue, through cuBLASLt's
 * fused epilogues and through the composed fallback (cuBLAS matmul + bias and GELU kernels, forced
 * with {@link CudaLinear#useCublasLt}): folded and strided-batched layouts, transposed views read
 * in place, sliced operands copied first, a strided bias, a vector input, no bias, an empty K; and
 * the bound of the plan cache.
 */
@RequiresCuda(CudaLibrary.CUBLAS)
class CudaLinearTest {
  private static CudaLinear linearOps() {
    return ((CudaBackend) Backends.of(GPU)).linearOps();
  }

  @Test
  void fusedThroughCublasLtMatchesCpu() {
    assumeTrue(CublasLt.isAvailable(), "cuBLASLt: " + CudaLibrary.CUBLASLT.shortReason());
    long before = linearOps().plansMade();
    shapesAndLayouts(new Random(21));
    assertTrue(linearOps().plansMade() > before, "no cuBLASLt plan was made");
  }

  @Test
  void composedFallbackMatchesCpu() {
    boolean saved = CudaLinear.useCublasLt;
    CudaLinear.useCublasLt = false;
    try {
      long before = linearOps().plansMade();
      shapesAndLayouts(new Random(22));
      assertEquals(before, linearOps().plansMade(), "cuBLASLt was used while switched off");
    } finally {
      CudaLinear.useCublasLt = saved;
    }
  }

  private static void shapesAndLayouts(Random r) {
    for (DType dt : new DType[] {DType.F32, DType.BF16, DType.F16, DType.F64}) {
      for (Epilogue e : Epilogue.values()) {
        try (Scope s = Scope.open()) {
          check(r, dt, e, new long[] {5, 7}, 3, true, x -> x, "plain");
          check(r, dt, e, new long[] {2, 5, 7}, 6, true, x -> x, "batch folded into rows");
          check(r, dt, e, new long[] {7}, 4, true, x -> x, "vector input");
          check(r, dt, e, new long[] {3, 8}, 5, false, x -> x, "no bias");
          check(r, dt, e, new long[] {2, 8, 5}, 3, true, Tensor::mT, "transposed x");
          check(r, dt, e, new long[] {5, 14}, 3, true, x -> x.slice(1, 0, 14, 2), "sliced x");
          check(
              r,
              dt,
              e,
              new long[] {4, 2, 5, 7},
              3,
              true,
              x -> x.transpose(0, 1),
              "batch dims that do not fold");
          check(r, dt, e, new long[] {4, 0}, 3, true, x -> x, "empty K");
          // Views starting inside their allocation: pointers less aligned than a fresh block.
          check(r, dt, e, new long[] {6, 7}, 3, true, x -> x.slice(0, 1, 6, 1), "offset x");
          Tensor xo = randn(r, dt, 4, 5), wo = randn(r, dt, 4, 5), bo = randn(r, dt, 5);
          compare(
              xo,
              wo,
              bo,
              x -> x,
              w -> w.slice(0, 1, 4, 1),
              b -> b.slice(0, 1, 4, 1),
              e,
              dt,
              "offset W and bias");
          // W stored transposed and a bias every other element.
          compare(
              randn(r, dt, 3, 9),
              randn(r, dt, 9, 4),
              randn(r, dt, 8),
              x -> x,
              Tensor::mT,
              b -> b.slice(0, 0, 8, 2),
              e,
              dt,
              "transposed W, strided bias");
        }
      }
    }
  }

  private static void check(
      Random r,
      DType dt,
      Epilogue e,
      long[] xShape,
      long outFeatures,
      boolean bias,
      UnaryOperator<Tensor> view,
      String what) {
    long in = view.apply(Tensor.zeros(dt, xShape)).size(-1);
    Tensor x = randn(r, dt, xShape);
    Tensor w = randn(r, dt, outFeatures, in), b = bias ? randn(r, dt, outFeatures) : null;
    compare(x, w, b, view, t -> t, t -> t, e, dt, what);
  }

  /**
   * The CPU's {@code linear} of the views of x, w and b against the GPU's of the same views of
   * their copies on the GPU (so the GPU reads views, not fresh dense copies).
   */
  private static void compare(
      Tensor x,
      Tensor w,
      Tensor b,
      UnaryOperator<Tensor> xView,
      UnaryOperator<Tensor> wView,
      UnaryOperator<Tensor> bView,
      Epilogue e,
      DType dt,
      String what) {
    Tensor want = xView.apply(x).linear(wView.apply(w), b == null ? null : bView.apply(b), e);
    Tensor got =
        xView
            .apply(x.to(GPU))
            .linear(wView.apply(w.to(GPU)), b == null ? null : bView.apply(b.to(GPU)), e);
    assertEquals(GPU, got.device());
    // Sums of up to 14 products of normals: a few times the per-element tolerance.
    assertClose(want, got.to(Device.CPU), 4 * CudaTesting.tol(dt), what + " " + dt + " " + e);
  }

  @Test
  void planCacheIsBoundedAndReused() {
    assumeTrue(CublasLt.isAvailable(), "cuBLASLt: " + CudaLibrary.CUBLASLT.shortReason());
    Random r = new Random(23);
    try (Scope s = Scope.open()) {
      Tensor w = randn(r, DType.F32, 4, 3).to(GPU), b = randn(r, DType.F32, 4).to(GPU);
      for (int rows = 1; rows <= CudaLinear.MAX_PLANS + 8; rows++) {
        randn(r, DType.F32, rows, 3).to(GPU).linear(w, b);
      }
      assertEquals(CudaLinear.MAX_PLANS, linearOps().cachedPlans());
      // The most recent shapes stay cached: running one again makes no new plan.
      Tensor x = randn(r, DType.F32, CudaLinear.MAX_PLANS + 8, 3);
      long made = linearOps().plansMade();
      Tensor y = x.to(GPU).linear(w, b);
      assertEquals(made, linearOps().plansMade());
      assertClose(
          x.linear(w.to(Device.CPU), b.to(Device.CPU)),
          y.to(Device.CPU),
          4 * CudaTesting.tol(DType.F32),
          "cached plan");
    }
  }
}
