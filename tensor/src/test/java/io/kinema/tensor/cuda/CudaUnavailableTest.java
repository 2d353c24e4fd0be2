package io.kinema.tensor.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import io.kinema.ffi.cuda.CudaDevices;
import io.kinema.tensor.Backends;
import io.kinema.tensor.DType;
import io.kinema.tensor.Device;
import io.kinema.tensor.Tensor;
import org.junit.jupiter.api.Test;

/** Where no GPU is usable, asking for one fails once, clearly, naming what is missing. */
class CudaUnavailableTest {
  @Test
  void cudaDeviceWithoutDriverSaysWhy() {
    assumeFalse(CudaDevices.available(), "a CUDA device is usable here");
    var e = assertThrows(IllegalStateException.class, () -> Backends.of(Device.cuda(0)));
    assertTrue(
        e.getMessage().startsWith("cannot run on cuda:0: CUDA is not available: "), e.getMessage());
    assertTrue(e.getMessage().endsWith(CudaDevices.unavailableReason()), e.getMessage());
    var t =
        assertThrows(IllegalStateException.class, () -> Tensor.zeros(DType.F32, Device.cuda(0), 2));
    assertEquals(e.getMessage(), t.getMessage());
  }

  @Test
  void providerIsRegisteredForCuda() {
    var kinds =
        java.util.ServiceLoader.load(Backends.Provider.class).stream()
            .map(p -> p.get().kind())
            .toList();
    assertEquals(java.util.List.of(Device.Kind.CUDA), kinds);
  }

  @Test
  void sizeClasses() {
    assertEquals(512, CudaAllocator.sizeClass(0));
    assertEquals(512, CudaAllocator.sizeClass(1));
    assertEquals(1024, CudaAllocator.sizeClass(513));
    assertEquals((1L << 20) - 512, CudaAllocator.sizeClass((1L << 20) - 600));
    assertEquals(2L << 20, CudaAllocator.sizeClass(1L << 20));
    assertEquals(4L << 20, CudaAllocator.sizeClass((2L << 20) + 1));
  }
}
