package io.kinema.tensor.cuda;

import static io.kinema.tensor.cuda.CudaTesting.GPU;
import static io.kinema.tensor.cuda.CudaTesting.assertSame;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.kinema.ffi.cuda.junit.RequiresCuda;
import io.kinema.tensor.DType;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * index_select, gather and scatter_add on CUDA tensors (run on the host for now) equal the CPU's.
 */
@RequiresCuda
class CudaIndexTest {
  @Test
  void indexOps() {
    Random r = new Random(16);
    try (Scope s = Scope.open()) {
      Tensor x = CudaTesting.randn(r, DType.BF16, 6, 5, 4).permute(1, 0, 2);
      Tensor gx = x.to(GPU);
      Tensor idx = Tensor.of(new long[] {3, 0, 3, 5});
      assertSame(x.indexSelect(1, idx), gx.indexSelect(1, idx.to(GPU)), "indexSelect");
      Tensor gi = CudaTesting.uniform(r, DType.I64, 0, 6, 5, 2, 4);
      assertSame(x.gather(1, gi), gx.gather(1, gi.to(GPU)), "gather");
      Tensor src = CudaTesting.randn(r, DType.BF16, 5, 2, 4);
      Tensor base = CudaTesting.randn(r, DType.BF16, 5, 6, 4);
      assertSame(
          base.scatterAdd(1, gi, src),
          base.to(GPU).scatterAdd(1, gi.to(GPU), src.to(GPU)),
          "scatterAdd");
      Tensor bad = Tensor.of(new long[] {6});
      var e = assertThrows(IndexOutOfBoundsException.class, () -> gx.indexSelect(1, bad.to(GPU)));
      var c = assertThrows(IndexOutOfBoundsException.class, () -> x.indexSelect(1, bad));
      assertEquals(c.getMessage(), e.getMessage());
    }
  }
}
