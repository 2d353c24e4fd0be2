package io.kinema.tensor.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kinema.tensor.cuda.KernelCatalog.Kernel;
import io.kinema.tensor.cuda.KernelCatalog.Param;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
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

  @Test
  void theBlockHoldsEveryKernelsArgumentsInDisjointSlots() {
    KernelArgs block = KernelArgs.forEveryKernel(Arena.global());
    SplittableRandom rnd = new SplittableRandom(7);
    for (Kernel k : KernelCatalog.kernels()) {
      Object[] args = randomArgs(k, rnd);
      MemorySegment p = block.encode(k, args);
      List<Param> params = k.params();
      long[][] ranges = new long[params.size()][];
      for (int i = 0; i < params.size(); i++) {
        int bytes = params.get(i).type().bytes();
        MemorySegment s = slot(p, i, bytes);
        ranges[i] = new long[] {s.address(), s.address() + bytes};
        assertArgument(k, i, args[i], s);
      }
      Arrays.sort(ranges, (a, b) -> Long.compare(a[0], b[0]));
      for (int i = 1; i < ranges.length; i++) {
        assertTrue(ranges[i - 1][1] <= ranges[i][0], k.name() + ": slots overlap");
      }
    }
  }

  @Test
  void aBlockIsReusedByEveryLaunchAndHoldsTheLatestArguments() {
    var k = KernelCatalog.kernel("kinema_softmax_f32");
    try (Arena arena = Arena.ofConfined()) {
      KernelArgs block = KernelArgs.forEveryKernel(arena);
      MemorySegment first = block.encode(k, 1L, 2L, 3L, 0);
      MemorySegment second = block.encode(k, 4L, 5L, 6L, 1);
      assertEquals(first.address(), second.address());
      Object[] latest = {4L, 5L, 6L, 1};
      for (int i = 0; i < latest.length; i++) {
        assertArgument(k, i, latest[i], slot(second, i, k.params().get(i).type().bytes()));
      }
    }
  }

  /** Arguments of the types {@code k} takes, random values (struct bytes too). */
  private static Object[] randomArgs(Kernel k, SplittableRandom rnd) {
    Object[] args = new Object[k.params().size()];
    for (int i = 0; i < args.length; i++) {
      var t = k.params().get(i).type();
      args[i] =
          switch (t) {
            case PTR, I64, U64 -> rnd.nextLong();
            case I32 -> rnd.nextInt();
            case F32 -> (float) rnd.nextDouble();
            case F64 -> rnd.nextDouble();
            case SHAPE, STRIDES, ATTENTION_ARGS -> {
              byte[] b = new byte[t.bytes()];
              rnd.nextBytes(b);
              yield b;
            }
          };
    }
    return args;
  }

  private static void assertArgument(Kernel k, int i, Object arg, MemorySegment s) {
    String what = k.name() + " argument " + i;
    switch (arg) {
      case Long v -> assertEquals(v, s.get(ValueLayout.JAVA_LONG, 0), what);
      case Integer v -> assertEquals(v, s.get(ValueLayout.JAVA_INT, 0), what);
      case Float v -> assertEquals(v, s.get(ValueLayout.JAVA_FLOAT, 0), what);
      case Double v -> assertEquals(v, s.get(ValueLayout.JAVA_DOUBLE, 0), what);
      case byte[] v -> assertTrue(Arrays.equals(v, s.toArray(ValueLayout.JAVA_BYTE)), what);
      default -> throw new AssertionError(what + ": " + arg);
    }
  }
}
