package io.kinema.tensor.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.junit.jupiter.api.Test;

/** Kernel arguments are laid out as cuLaunchKernel reads them, and checked against the catalog. */
class KernelArgsTest {
  @Test
  void encodesEachArgumentInItsOwnSlot() {
    var k = KernelCatalog.kernel("kinema_fill");
    byte[] shape = KernelStructs.shape(2, 3), strides = KernelStructs.strides(3, 1);
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment p = KernelArgs.encode(k, arena, 0x1000L, 4, 0xdeadbeefL, shape, strides, 6L);
      assertEquals(0x1000L, slot(p, 0, 8).get(ValueLayout.JAVA_LONG, 0));
      assertEquals(4, slot(p, 1, 4).get(ValueLayout.JAVA_INT, 0));
      assertEquals(0xdeadbeefL, slot(p, 2, 8).get(ValueLayout.JAVA_LONG, 0));
      MemorySegment s = slot(p, 3, KernelStructs.SHAPE_BYTES);
      assertEquals(2, s.get(ValueLayout.JAVA_LONG, 0));
      assertEquals(3, s.get(ValueLayout.JAVA_LONG, 8));
      assertEquals(2, s.get(ValueLayout.JAVA_LONG, 64)); // rank
      assertEquals(1, slot(p, 4, KernelStructs.STRIDES_BYTES).get(ValueLayout.JAVA_LONG, 8));
      assertEquals(6L, slot(p, 5, 8).get(ValueLayout.JAVA_LONG, 0));
    }
  }

  private static MemorySegment slot(MemorySegment params, int i, long bytes) {
    MemorySegment s = params.getAtIndex(ValueLayout.ADDRESS, i).reinterpret(bytes);
    assertEquals(0, s.address() % 8, "slot " + i + " is 8-byte aligned");
    return s;
  }

  @Test
  void rejectsWrongCountsAndTypes() {
    var k = KernelCatalog.kernel("kinema_softmax_f32");
    try (Arena arena = Arena.ofConfined()) {
      var count =
          assertThrows(IllegalArgumentException.class, () -> KernelArgs.encode(k, arena, 1L));
      assertTrue(
          count.getMessage().contains("kinema_softmax_f32 takes 4 arguments"), count.getMessage());
      // len is an i64: an int there would be read as 8 bytes of which 4 are garbage.
      var type =
          assertThrows(
              IllegalArgumentException.class, () -> KernelArgs.encode(k, arena, 1L, 2L, 3, 0));
      assertTrue(type.getMessage().contains("argument 2 (len, I64)"), type.getMessage());
      var struct = KernelCatalog.kernel("kinema_fill");
      var bytes =
          assertThrows(
              IllegalArgumentException.class,
              () -> KernelArgs.encode(struct, arena, 0L, 4, 0L, new byte[8], new byte[64], 1L));
      assertTrue(bytes.getMessage().contains("8 bytes instead of 72"), bytes.getMessage());
    }
  }
}
