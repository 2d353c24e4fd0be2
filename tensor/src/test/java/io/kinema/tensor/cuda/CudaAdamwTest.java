package io.kinema.tensor.cuda;

import static io.kinema.tensor.cuda.CudaTesting.GPU;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kinema.ffi.cuda.junit.RequiresCuda;
import io.kinema.tensor.Backends;
import io.kinema.tensor.DType;
import io.kinema.tensor.Device;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.backend.AdamwScalars;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The fused AdamW kernel against the CPU's fused step: the same f32 bits, step after step. */
@RequiresCuda
class CudaAdamwTest {
  @Test
  void adamwStepHasTheCpuBits() {
    Random r = new Random(9);
    try (Scope s = Scope.open()) {
      long[] shape = {37, 129};
      Tensor p = CudaTesting.randn(r, DType.F32, shape);
      Tensor m = Tensor.zeros(DType.F32, shape), v = Tensor.zeros(DType.F32, shape);
      Tensor pg = p.to(GPU), mg = m.to(GPU), vg = v.to(GPU);
      for (int t = 1; t <= 3; t++) {
        Tensor g = CudaTesting.randn(r, DType.F32, shape);
        double bc1 = 1 - Math.pow(0.9, t), bc2 = 1 - Math.pow(0.999, t);
        AdamwScalars sc =
            new AdamwScalars(
                (float) (1 - 1e-3 * 0.01),
                0.9f,
                (float) (1 - 0.9),
                0.999f,
                (float) (1 - 0.999),
                (float) (-1e-3 / bc1),
                (float) Math.sqrt(bc2),
                1e-8f,
                t == 2);
        assertTrue(Backends.of(Device.CPU).adamwStep(p, g, m, v, sc));
        assertTrue(Backends.of(GPU).adamwStep(pg, g.to(GPU), mg, vg, sc));
      }
      assertArrayEquals(p.toFloatArray(), pg.toFloatArray(), 0f, "param");
      assertArrayEquals(m.toFloatArray(), mg.toFloatArray(), 0f, "exp_avg");
      assertArrayEquals(v.toFloatArray(), vg.toFloatArray(), 0f, "exp_avg_sq");
    }
  }
}
