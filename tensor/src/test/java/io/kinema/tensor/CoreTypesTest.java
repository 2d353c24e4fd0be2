package io.kinema.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import io.kinema.ffi.cuda.CudaDevices;
import org.junit.jupiter.api.Test;

/** DType promotion, devices, shapes, broadcasting. */
class CoreTypesTest {
  @Test
  void promotionFollowsPyTorch() {
    assertEquals(DType.F32, DType.promote(DType.F32, DType.I64));
    assertEquals(DType.F64, DType.promote(DType.F32, DType.F64));
    assertEquals(DType.F32, DType.promote(DType.BF16, DType.F16));
    assertEquals(DType.BF16, DType.promote(DType.BF16, DType.I64));
    assertEquals(DType.I64, DType.promote(DType.I32, DType.I64));
    assertEquals(DType.I32, DType.promote(DType.BOOL, DType.I32));
    assertEquals(DType.U8, DType.promote(DType.BOOL, DType.U8));
    assertEquals(DType.F16, DType.promote(DType.F16, DType.F16));
  }

  @Test
  void devicesParseAndPrint() {
    assertEquals(Device.CPU, Device.parse("cpu"));
    assertEquals(Device.cuda(1), Device.parse("CUDA:1"));
    assertEquals("cuda:0", Device.parse("cuda").toString());
    var e = assertThrows(IllegalArgumentException.class, () -> Device.parse("tpu"));
    assertTrue(e.getMessage().contains("tpu"));
  }

  @Test
  void unusableDeviceIsAClearError() {
    assumeFalse(CudaDevices.available(), "a CUDA device is usable here");
    var e =
        assertThrows(IllegalStateException.class, () -> Tensor.zeros(DType.F32, Device.cuda(0), 2));
    assertTrue(e.getMessage().contains("cannot run on cuda:0"), e.getMessage());
    assertTrue(e.getMessage().contains(CudaDevices.unavailableReason()), e.getMessage());
  }

  @Test
  void broadcastingRules() {
    assertArrayEquals(
        new long[] {4, 3, 5}, Shapes.broadcast("add", new long[] {3, 1}, new long[] {4, 1, 5}));
    assertArrayEquals(
        new long[] {2, 0}, Shapes.broadcast("add", new long[] {1, 0}, new long[] {2, 1}));
    var e =
        assertThrows(
            IllegalArgumentException.class,
            () -> Shapes.broadcast("mul", new long[] {3}, new long[] {4}));
    assertTrue(
        e.getMessage().startsWith("mul: shapes [3] and [4] cannot be broadcast"), e.getMessage());
    assertArrayEquals(new int[] {0, 2}, Shapes.normalizeDims("sum", new int[] {-1, 0}, 3));
    assertThrows(
        IllegalArgumentException.class, () -> Shapes.normalizeDims("sum", new int[] {1, -2}, 3));
    assertThrows(IndexOutOfBoundsException.class, () -> Shapes.normalizeDim("sum", 3, 3));
  }
}
