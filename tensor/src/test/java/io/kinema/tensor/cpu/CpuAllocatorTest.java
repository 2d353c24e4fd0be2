package io.kinema.tensor.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kinema.tensor.DType;
import io.kinema.tensor.Tensor;
import org.junit.jupiter.api.Test;

/** Alignment, size classes and block reuse of the host allocator. */
class CpuAllocatorTest {
  @Test
  void blocksAreAlignedAndSizeClassesBounded() {
    for (long n :
        new long[] {
          1, 63, 64, 65, 4096, 65_535, 65_536, 100_000, 1 << 20, (1 << 20) + 1, 123_456_789
        }) {
      long c = CpuAllocator.sizeClass(n);
      assertTrue(c >= n && c % 64 == 0, n + " -> " + c);
      if (n >= 65_536) assertTrue(c <= n * 1.125 + 64, n + " -> " + c);
    }
    try (Tensor t = Tensor.empty(DType.F32, 3, 5)) {
      assertEquals(0, t.storage().segment().address() % CpuAllocator.ALIGNMENT);
    }
  }

  @Test
  void freedLargeBlocksAreReused() {
    var alloc = CpuAllocator.get();
    long address;
    try (Tensor t = Tensor.empty(DType.F32, 1 << 20)) {
      address = t.storage().segment().address();
    }
    long before = alloc.stats().allocated();
    try (Tensor t = Tensor.empty(DType.F32, 1 << 20)) {
      assertEquals(address, t.storage().segment().address());
      assertEquals(before + (4L << 20), alloc.stats().allocated());
    }
    assertEquals(before, alloc.stats().allocated());
  }
}
