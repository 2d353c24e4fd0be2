package io.kinema.tensor.cuda;

import static io.kinema.tensor.cuda.CudaTesting.GPU;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kinema.ffi.cuda.junit.RequiresCuda;
import io.kinema.tensor.Backends;
import io.kinema.tensor.DType;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.backend.MemoryStats;
import org.junit.jupiter.api.Test;

/**
 * The caching allocator: freed blocks come back for requests of their size class without a new
 * driver allocation, the statistics follow live and cached bytes and the peak, emptyCache returns
 * the cache, and an impossible request fails with a message naming it after freeing the cache.
 */
@RequiresCuda
class CudaAllocatorTest {
  private static CudaBackend backend() {
    return (CudaBackend) Backends.of(GPU);
  }

  @Test
  void freedBlocksAreReusedBySizeClass() {
    CudaBackend be = backend();
    be.emptyCache();
    MemoryStats before = be.memoryStats();
    long address;
    try (Tensor t = Tensor.empty(DType.F32, GPU, 1000)) {
      address = t.storage().segment().address();
      assertEquals(
          before.allocated() + 4096, be.memoryStats().allocated(), "4000 bytes -> 4 KiB class");
    }
    assertEquals(before.allocated(), be.memoryStats().allocated());
    assertEquals(4096, be.memoryStats().cached());
    long driver = be.driverAllocations();
    try (Tensor t = Tensor.empty(DType.BF16, GPU, 2040)) { // 4080 bytes: the same class
      assertEquals(address, t.storage().segment().address());
    }
    assertEquals(driver, be.driverAllocations(), "a cache hit takes nothing from the driver");
    // Large blocks: 3 MiB and 3.5 MiB share the 4 MiB class; 1.5 MiB does not take the 4 MiB block.
    long big;
    try (Tensor t = Tensor.empty(DType.U8, GPU, 3L << 20)) {
      big = t.storage().segment().address();
      assertEquals(4L << 20, t.storage().byteSize());
    }
    try (Tensor t = Tensor.empty(DType.U8, GPU, 7L << 19)) {
      assertEquals(big, t.storage().segment().address());
    }
    try (Tensor t = Tensor.empty(DType.U8, GPU, 3L << 19)) {
      assertNotEquals(big, t.storage().segment().address());
      assertEquals(2L << 20, t.storage().byteSize());
    }
    be.emptyCache();
    assertEquals(0, be.memoryStats().cached());
  }

  @Test
  void emptiedSizeListsAreSkippedAndBlocksFreedAfterEmptyCacheAreCached() {
    CudaBackend be = backend();
    be.emptyCache();
    long mib = 1L << 20;
    Tensor.empty(DType.U8, GPU, 16 * mib).close(); // a cached 16 MiB block
    long big;
    try (Tensor a = Tensor.empty(DType.U8, GPU, 16 * mib)) { // takes it: the 16 MiB list is empty
      try (Tensor b = Tensor.empty(DType.U8, GPU, 18 * mib)) {
        big = b.storage().segment().address();
      }
      // 16 MiB may take a cached block up to an eighth larger: the empty list is passed over.
      try (Tensor c = Tensor.empty(DType.U8, GPU, 16 * mib)) {
        assertEquals(big, c.storage().segment().address());
        assertEquals(18 * mib, c.storage().byteSize());
      }
    }
    be.emptyCache();
    Tensor held = Tensor.empty(DType.F32, GPU, 1000);
    long live = held.storage().segment().address();
    be.emptyCache(); // held's block is not in the cache: untouched
    held.close();
    assertEquals(4096, be.memoryStats().cached(), "a block freed after emptyCache is cached");
    long driver = be.driverAllocations();
    try (Tensor t = Tensor.empty(DType.F32, GPU, 1000)) {
      assertEquals(live, t.storage().segment().address());
    }
    assertEquals(driver, be.driverAllocations());
    be.emptyCache();
  }

  @Test
  void peakFollowsTheLargestAllocation() {
    CudaBackend be = backend();
    be.resetPeakMemory();
    long base = be.memoryStats().allocated();
    try (Tensor a = Tensor.empty(DType.F32, GPU, 1 << 20)) {
      try (Tensor b = Tensor.empty(DType.F32, GPU, 1 << 20)) {
        assertEquals(base + (8L << 20), be.memoryStats().allocated());
      }
    }
    assertEquals(base + (8L << 20), be.memoryStats().peakAllocated());
    assertEquals(base, be.memoryStats().allocated());
    be.resetPeakMemory();
    assertEquals(base, be.memoryStats().peakAllocated());
  }

  @Test
  void outOfMemoryNamesTheRequestAfterFreeingTheCache() {
    CudaBackend be = backend();
    Tensor.empty(DType.F32, GPU, 10_000).close(); // something cached
    long huge = 1L << 50;
    var e = assertThrows(CudaOutOfMemoryError.class, () -> be.allocate(huge));
    assertEquals(huge, e.requestedBytes());
    assertTrue(e.getMessage().startsWith("cuda:0: out of memory allocating "), e.getMessage());
    assertTrue(e.getMessage().contains(huge + " bytes"), e.getMessage());
    assertTrue(e.getMessage().contains("per the driver"), e.getMessage());
    assertEquals(0, be.memoryStats().cached(), "the cache was freed before the retry");
  }
}
