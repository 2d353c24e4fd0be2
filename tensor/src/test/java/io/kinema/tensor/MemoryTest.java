package io.kinema.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kinema.tensor.backend.Backend;
import io.kinema.tensor.backend.MemoryStats;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * Deterministic release: gigabytes allocated and dropped leave the process's resident memory and
 * the allocator's counters where they were; views, closed tensors and scopes behave as documented.
 */
class MemoryTest {
  private static final Backend CPU = Backends.of(Device.CPU);
  private static final long MIB = 1L << 20;

  /** Resident set size of this process, from /proc/self/status (VmRSS, in kB). */
  private static long rssBytes() {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
        if (line.startsWith("VmRSS:")) {
          return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
        }
      }
    } catch (IOException e) {
      throw new IllegalStateException("cannot read /proc/self/status", e);
    }
    throw new IllegalStateException("no VmRSS line in /proc/self/status");
  }

  /** A 256 MiB tensor with every page written, closed explicitly. */
  private static void allocateFillClose(long elements, double value) {
    Tensor t = Tensor.empty(DType.F64, elements);
    t.fill(value);
    assertEquals(value, t.get(elements - 1));
    t.close();
  }

  @Test
  void tenGibibytesThroughCloseAndScopeLeaveRssFlat() {
    long big = 256 * MIB / 8; // F64 elements of a 256 MiB tensor
    long small = 64 * MIB / 8;
    // Warm-up: the first round faults pages in, loads classes and fills the allocator's cache.
    allocateFillClose(big, 1);
    try (var s = Scope.open()) {
      for (int k = 0; k < 4; k++) Tensor.empty(DType.F64, small).fill(k);
    }
    MemoryStats base = CPU.memoryStats();
    long rss0 = rssBytes();
    long bytes = 0;
    for (int it = 0; it < 20; it++) { // 20 x 256 MiB closed one by one
      allocateFillClose(big, it);
      bytes += 256 * MIB;
    }
    for (int it = 0; it < 20; it++) { // 20 x 4 x 64 MiB released by a scope
      try (var s = Scope.open()) {
        for (int k = 0; k < 4; k++) {
          Tensor t = Tensor.empty(DType.F64, small).fill(it + k);
          assertEquals(it + k, t.get(0));
        }
        assertTrue(CPU.memoryStats().allocated() >= base.allocated() + 256 * MIB);
      }
      bytes += 256 * MIB;
    }
    long rss1 = rssBytes();
    assertEquals(10L << 30, bytes);
    assertEquals(base.allocated(), CPU.memoryStats().allocated(), "bytes still allocated");
    assertTrue(
        rss1 - rss0 < 300 * MIB,
        "RSS grew by " + (rss1 - rss0) / MIB + " MiB over 10 GiB of allocations");
  }

  @Test
  void emptyCacheReturnsCachedBlocks() {
    CPU.emptyCache();
    long before = CPU.memoryStats().allocated();
    Tensor.empty(DType.F32, 1 << 20).close(); // 4 MiB: cached on release
    MemoryStats s = CPU.memoryStats();
    assertEquals(before, s.allocated());
    assertTrue(s.cached() >= 4 * MIB, "cached " + s.cached());
    CPU.emptyCache();
    assertEquals(0, CPU.memoryStats().cached());
  }

  @Test
  void viewKeepsStorageAliveAfterTheBaseIsClosed() {
    long before = CPU.memoryStats().allocated();
    Tensor base = Tensor.of(new float[] {1, 2, 3, 4, 5, 6}, 2, 3);
    Tensor view;
    try (Tensor t = base.transpose(0, 1)) {
      view = t.slice(0, 1, 3, 1);
    }
    assertSame(base.storage(), view.storage());
    assertEquals(2, base.storage().refCount());
    base.close();
    assertTrue(base.isClosed());
    assertEquals(1, view.storage().refCount());
    assertTrue(CPU.memoryStats().allocated() > before, "storage freed while a view lives");
    assertArrayEquals(new double[] {2, 5, 3, 6}, view.toDoubleArray());
    view.close();
    assertEquals(before, CPU.memoryStats().allocated());
  }

  @Test
  void closingTwiceIsHarmlessAndUseAfterCloseIsAClearError() {
    Tensor t = Tensor.zeros(DType.F32, 2, 3);
    t.close();
    t.close(); // idempotent: releases once
    var e = assertThrows(IllegalStateException.class, () -> t.fill(1));
    assertEquals("fill: tensor F32[2, 3] is closed", e.getMessage());
    e = assertThrows(IllegalStateException.class, t::storage);
    assertEquals("storage: tensor F32[2, 3] is closed", e.getMessage());
    e = assertThrows(IllegalStateException.class, () -> t.view(6));
    assertEquals("view: tensor F32[2, 3] is closed", e.getMessage());
    e = assertThrows(IllegalStateException.class, t::toDoubleArray);
    assertTrue(e.getMessage().contains("is closed"), e.getMessage());
    assertEquals("Tensor(F32[2, 3], closed)", t.toString());
  }

  @Test
  void scopeClosesEverythingExceptWhatIsKept() {
    long before = CPU.memoryStats().allocated();
    Tensor kept, outerOwned, dropped;
    try (var outer = Scope.open()) {
      try (var inner = Scope.open()) {
        dropped = Tensor.zeros(DType.F32, 1000);
        kept = inner.keep(Tensor.ones(DType.F32, 1000));
      }
      assertTrue(dropped.isClosed());
      assertFalse(kept.isClosed(), "a kept tensor survives its scope");
      assertEquals(1000, kept.toDoubleArray()[999] * 1000);
      outerOwned = kept; // it now belongs to the outer scope
    }
    assertTrue(outerOwned.isClosed(), "the enclosing scope closes what the inner one kept");
    assertEquals(before, CPU.memoryStats().allocated());

    Tensor escaped;
    try (var only = Scope.open()) {
      escaped = only.keep(Tensor.full(7, DType.I64, 3));
    }
    assertFalse(escaped.isClosed(), "kept out of the outermost scope: the caller owns it");
    assertArrayEquals(new long[] {7, 7, 7}, escaped.toLongArray());
    escaped.close();
    assertEquals(before, CPU.memoryStats().allocated());
  }

  @Test
  void scopesMustCloseInnermostFirst() {
    var outer = Scope.open();
    var inner = Scope.open();
    var e = assertThrows(IllegalStateException.class, outer::close);
    assertEquals("scopes must be closed innermost first", e.getMessage());
    inner.close();
    outer.close();
  }
}
