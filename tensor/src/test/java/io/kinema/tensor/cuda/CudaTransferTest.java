package io.kinema.tensor.cuda;

import static io.kinema.tensor.cuda.CudaTesting.GPU;
import static io.kinema.tensor.cuda.CudaTesting.assertSame;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kinema.ffi.cuda.junit.RequiresCuda;
import io.kinema.tensor.Backends;
import io.kinema.tensor.DType;
import io.kinema.tensor.Device;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Host &lt;-&gt; device copies: every dtype round trips bit for bit, through one or several staging
 * chunks, from and to views with offsets and strides; results read on the host (item, arrays) see
 * every op queued before.
 */
@RequiresCuda
class CudaTransferTest {
  @Test
  void roundTripsEveryDtype() {
    Random r = new Random(18);
    for (DType dt : DType.values()) {
      try (Scope s = Scope.open()) {
        for (long n : new long[] {0, 1, 1001}) {
          Tensor cpu = CudaTesting.uniform(r, dt, -100, 100, n);
          Tensor gpu = cpu.to(GPU);
          assertEquals(GPU, gpu.device());
          assertSame(cpu, gpu.to(Device.CPU), "round trip " + dt + " " + n);
        }
      }
    }
  }

  @Test
  void largeCopiesCrossSeveralStagingChunks() {
    try (Scope s = Scope.open()) {
      long n = 2 * (PinnedStaging.CHUNK / 4) + 12345; // two full chunks and a part
      Tensor cpu = Tensor.arange(0, n, 1, DType.F32, Device.CPU);
      Tensor back = cpu.to(GPU).to(Device.CPU);
      float[] a = cpu.toFloatArray(), b = back.toFloatArray();
      assertTrue(java.util.Arrays.equals(a, b), "large round trip");
    }
  }

  @Test
  void viewsAndHostVisibility() {
    Random r = new Random(19);
    try (Scope s = Scope.open()) {
      Tensor cpu = CudaTesting.randn(r, DType.F32, 6, 7);
      Tensor gpu = cpu.to(GPU);
      assertSame(cpu.narrow(0, 2, 3), cpu.narrow(0, 2, 3).to(GPU), "host view with an offset");
      assertSame(cpu.mT(), cpu.mT().to(GPU), "strided host view");
      assertSame(cpu.narrow(1, 3, 2), gpu.narrow(1, 3, 2), "device view to the host");
      assertEquals(cpu.get(4, 5), gpu.get(4, 5));
      Tensor sum = gpu.mul(2).sum();
      assertEquals(cpu.mul(2).sum().item(), sum.item(), 1e-4);
      ((CudaBackend) Backends.of(GPU)).synchronize();
      assertTrue(Backends.of(GPU).toString().startsWith("CudaBackend(cuda:0 "));
    }
  }

  @Test
  void otherThreadsUseTheDeviceToo() throws Exception {
    Random r = new Random(21);
    Tensor cpu = CudaTesting.randn(r, DType.F32, 1000);
    try (Tensor gpu = cpu.to(GPU)) {
      double want = cpu.sum().item();
      var pool = java.util.concurrent.Executors.newFixedThreadPool(2);
      try {
        var a = pool.submit(() -> gpu.mul(1).sum().item());
        var b = pool.submit(() -> gpu.add(0).sum().item());
        assertEquals(want, a.get(), 1e-3);
        assertEquals(want, b.get(), 1e-3);
      } finally {
        pool.shutdown();
        cpu.close();
      }
    }
  }
}
