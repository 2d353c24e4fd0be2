package io.kinema.tensor.cuda;

import static io.kinema.tensor.cuda.CudaTesting.GPU;
import static io.kinema.tensor.cuda.CudaTesting.assertClose;
import static io.kinema.tensor.cuda.CudaTesting.randn;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.kinema.ffi.cuda.CublasLt;
import io.kinema.ffi.cuda.CudaLibrary;
import io.kinema.ffi.cuda.junit.RequiresCuda;
import io.kinema.tensor.Backends;
import io.kinema.tensor.DType;
import io.kinema.tensor.Device;
import io.kinema.tensor.LinearGrad;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.backend.Epilogue;
import java.util.Random;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;

/**
 * What autograd's {@code linear} rule asks of the GPU, against the CPU, through cuBLASLt and
 * through the composed fallback ({@link CudaLinear#useCublasLt} off): the forward keeping the
 * GELU's input ({@code GELU_AUX_BIAS} / {@code GELU_AUX}; a leading dimension cuBLASLt does not
 * take falls back), and the weight gradient with the bias gradient from the same GEMM ({@code
 * BGRADB}) on plain, batched, transposed and sliced operands and no rows at all.
 */
@RequiresCuda(CudaLibrary.CUBLAS)
class CudaLinearBackwardTest {
  private static final DType[] TYPES = {DType.F32, DType.BF16, DType.F16, DType.F64};

  private static CudaLinear linearOps() {
    return ((CudaBackend) Backends.of(GPU)).linearOps();
  }

  @Test
  void keptPreActivationThroughCublasLt() {
    assumeTrue(CublasLt.isAvailable(), "cuBLASLt: " + CudaLibrary.CUBLASLT.shortReason());
    Random r = new Random(91);
    long before = linearOps().plansMade();
    try (Scope s = Scope.open()) {
      preActivation(r, DType.F32, new long[] {5, 7}, 8, true, x -> x, "plain");
    }
    assertEquals(before + 1, linearOps().plansMade(), "GELU_AUX_BIAS took no cuBLASLt plan");
    before = linearOps().plansMade();
    try (Scope s = Scope.open()) {
      // 5 output features: an auxiliary leading dimension of 5 is not a multiple of 8.
      preActivation(r, DType.F32, new long[] {5, 7}, 5, true, x -> x, "odd width");
    }
    assertEquals(before, linearOps().plansMade(), "an auxiliary ld of 5 went to cuBLASLt");
    preActivationCases(r);
  }

  @Test
  void keptPreActivationComposed() {
    withoutCublasLt(() -> preActivationCases(new Random(92)));
  }

  @Test
  void weightGradientThroughCublasLt() {
    assumeTrue(CublasLt.isAvailable(), "cuBLASLt: " + CudaLibrary.CUBLASLT.shortReason());
    Random r = new Random(93);
    long before = linearOps().plansMade();
    try (Scope s = Scope.open()) {
      weightGrad(r, DType.F32, new long[] {6, 5}, new long[] {6, 7}, t -> t, t -> t, true, "plain");
    }
    assertEquals(before + 1, linearOps().plansMade(), "BGRADB took no cuBLASLt plan");
    weightGradCases(r);
  }

  @Test
  void weightGradientComposed() {
    withoutCublasLt(() -> weightGradCases(new Random(94)));
  }

  private static void withoutCublasLt(Runnable body) {
    boolean saved = CudaLinear.useCublasLt;
    CudaLinear.useCublasLt = false;
    try {
      long before = linearOps().plansMade();
      body.run();
      assertEquals(before, linearOps().plansMade(), "cuBLASLt was used while switched off");
    } finally {
      CudaLinear.useCublasLt = saved;
    }
  }

  private static void preActivationCases(Random r) {
    for (DType dt : TYPES) {
      try (Scope s = Scope.open()) {
        preActivation(r, dt, new long[] {5, 7}, 8, true, x -> x, "plain");
        preActivation(r, dt, new long[] {3, 9}, 16, false, x -> x, "no bias");
        preActivation(r, dt, new long[] {2, 5, 7}, 8, true, x -> x, "batch folded into rows");
        preActivation(
            r, dt, new long[] {4, 2, 5, 7}, 8, true, x -> x.transpose(0, 1), "strided batch");
        preActivation(r, dt, new long[] {6, 7}, 5, true, x -> x, "width not a multiple of 8");
        preActivation(r, dt, new long[] {4, 0}, 8, true, x -> x, "empty K");
      }
    }
  }

  /**
   * The backend's {@code linear} with GELU and a kept pre-activation on the GPU against the CPU's:
   * both the result and the pre-activation.
   */
  private static void preActivation(
      Random r,
      DType dt,
      long[] xShape,
      long outFeatures,
      boolean withBias,
      UnaryOperator<Tensor> view,
      String what) {
    Tensor x = randn(r, dt, xShape);
    long in = xShape[xShape.length - 1];
    Tensor w = randn(r, dt, outFeatures, in), b = withBias ? randn(r, dt, outFeatures) : null;
    Tensor[] want = keptLinear(view.apply(x), w, b);
    Tensor[] got = keptLinear(view.apply(x.to(GPU)), w.to(GPU), b == null ? null : b.to(GPU));
    String where = what + " " + dt;
    // The GPU's GELU reads the unrounded f32 sum, the CPU's the kept (rounded) one: one more ulp.
    assertClose(want[0], got[0].to(Device.CPU), 6 * CudaTesting.tol(dt), "output of " + where);
    assertClose(want[1], got[1].to(Device.CPU), 4 * CudaTesting.tol(dt), "pre of " + where);
  }

  /** {@code {gelu(x W^T + b), x W^T + b}} from one backend call on x's device. */
  private static Tensor[] keptLinear(Tensor x, Tensor w, Tensor b) {
    long[] shape = x.shape();
    shape[shape.length - 1] = w.size(0);
    Tensor out = Tensor.empty(x.dtype(), x.device(), shape);
    Tensor pre = Tensor.empty(x.dtype(), x.device(), shape);
    Backends.of(x.device()).linear(x, w, b, Epilogue.GELU_TANH, out, pre);
    return new Tensor[] {out, pre};
  }

  private static void weightGradCases(Random r) {
    UnaryOperator<Tensor> same = t -> t;
    for (DType dt : TYPES) {
      try (Scope s = Scope.open()) {
        weightGrad(r, dt, new long[] {6, 5}, new long[] {6, 7}, same, same, true, "plain");
        weightGrad(r, dt, new long[] {2, 9, 5}, new long[] {2, 9, 12}, same, same, true, "batch");
        weightGrad(r, dt, new long[] {6, 5}, new long[] {6, 7}, same, same, false, "no bias");
        weightGrad(
            r, dt, new long[] {5, 6}, new long[] {7, 6}, Tensor::mT, Tensor::mT, true, "mT views");
        UnaryOperator<Tensor> everyOther = t -> t.slice(1, 0, 10, 2);
        weightGrad(r, dt, new long[] {6, 10}, new long[] {6, 7}, everyOther, same, true, "sliced");
        // Views starting inside their allocation: pointers less aligned than a fresh block.
        UnaryOperator<Tensor> fromRow1 = t -> t.slice(0, 1, 7, 1);
        weightGrad(r, dt, new long[] {7, 5}, new long[] {7, 6}, fromRow1, fromRow1, true, "offset");
        weightGrad(r, dt, new long[] {0, 5}, new long[] {0, 7}, same, same, true, "no rows");
      }
    }
  }

  /**
   * {@link LinearGrad#weightAndBias} of views of x and g (made with the given storage shapes) on
   * the GPU against the CPU.
   */
  private static void weightGrad(
      Random r,
      DType dt,
      long[] xShape,
      long[] gShape,
      UnaryOperator<Tensor> xView,
      UnaryOperator<Tensor> gView,
      boolean withBias,
      String what) {
    Tensor x = randn(r, dt, xShape), g = randn(r, dt, gShape);
    LinearGrad.Grads want = LinearGrad.weightAndBias(gView.apply(g), xView.apply(x), withBias);
    LinearGrad.Grads got =
        LinearGrad.weightAndBias(gView.apply(g.to(GPU)), xView.apply(x.to(GPU)), withBias);
    String where = what + " " + dt;
    // Sums of up to 18 products of normals: a few times the per-element tolerance.
    assertClose(want.weight(), got.weight().to(Device.CPU), 4 * CudaTesting.tol(dt), "dW " + where);
    if (!withBias) {
      assertNull(got.bias(), where);
      return;
    }
    assertClose(want.bias(), got.bias().to(Device.CPU), 4 * CudaTesting.tol(dt), "db " + where);
  }
}
