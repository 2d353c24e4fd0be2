package io.kinema.tensor.cuda;

import static io.kinema.tensor.cuda.CudaTesting.GPU;
import static io.kinema.tensor.cuda.CudaTesting.assertSame;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.kinema.ffi.cuda.junit.RequiresCuda;
import io.kinema.tensor.DType;
import io.kinema.tensor.Device;
import io.kinema.tensor.Generator;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import org.junit.jupiter.api.Test;

/**
 * The Philox stream on the GPU gives the CPU's bits for the same (seed, offset): uniform, normal
 * and integer fills of every dtype, odd sizes (partial blocks), and generators advanced alike.
 */
@RequiresCuda
class CudaRandomTest {
  @Test
  void fillsAreBitIdenticalToTheCpu() {
    DType[] floats = {DType.F32, DType.BF16, DType.F16, DType.F64};
    DType[] integers = {DType.I64, DType.I32, DType.U8, DType.BOOL, DType.F32, DType.F64};
    for (long seed : new long[] {0, 42, -7, 0x1234_5678_9abcL}) {
      try (Scope s = Scope.open()) {
        for (long n : new long[] {1, 5, 1023}) {
          Generator cg = new Generator(seed), gg = new Generator(seed);
          cg.setOffset(3);
          gg.setOffset(3);
          for (DType dt : floats) {
            assertSame(
                Tensor.rand(cg, dt, Device.CPU, n),
                Tensor.rand(gg, dt, GPU, n),
                "rand " + dt + " " + n);
            assertSame(
                Tensor.randn(cg, dt, Device.CPU, n),
                Tensor.randn(gg, dt, GPU, n),
                "randn " + dt + " " + n);
          }
          for (DType dt : integers) {
            long hi = dt == DType.BOOL ? 2 : dt == DType.U8 ? 200 : 1000;
            assertSame(
                Tensor.randint(cg, -0, hi, dt, Device.CPU, n),
                Tensor.randint(gg, -0, hi, dt, GPU, n),
                "randint " + dt + " " + n);
          }
          assertEquals(cg.state(), gg.state(), "generators advance alike");
        }
      }
    }
  }
}
