package io.kinema.tensor.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** Every element of every operand is visited exactly once, at the right offset. */
class StridedLoopTest {
  @Test
  void visitsEachElementOnceWithTheRightOffsets() {
    Random rnd = new Random(3);
    for (int trial = 0; trial < 300; trial++) {
      int rank = rnd.nextInt(5);
      long[] shape = new long[rank];
      for (int d = 0; d < rank; d++) shape[d] = 1 + rnd.nextInt(trial % 10 == 0 ? 40 : 6);
      long n = 1;
      for (long d : shape) n *= d;
      // operand 0: contiguous; operand 1: permuted strides with broadcast dims
      long[] s0 = new long[rank];
      long acc = 1;
      for (int d = rank - 1; d >= 0; d--) {
        s0[d] = acc;
        acc *= shape[d];
      }
      long[] s1 = new long[rank];
      acc = 1;
      for (int d = 0; d < rank; d++) {
        boolean broadcast = rnd.nextInt(4) == 0;
        s1[d] = broadcast ? 0 : acc;
        if (!broadcast) acc *= shape[d];
      }
      final long base1 = 5;
      AtomicIntegerArray seen = new AtomicIntegerArray((int) n);
      AtomicLong bad = new AtomicLong();
      long[] sh = shape.clone();
      StridedLoop.forEach(
          shape,
          new long[][] {s0, s1},
          new long[] {0, base1},
          64,
          (offs, strides, len) -> {
            for (long i = 0; i < len; i++) {
              long o0 = offs[0] + i * strides[0];
              long o1 = offs[1] + i * strides[1];
              seen.incrementAndGet((int) o0);
              // recover the index from o0 (row-major) and check o1 agrees
              long rem = o0, expect1 = base1;
              for (int d = sh.length - 1; d >= 0; d--) {
                expect1 += (rem % sh[d]) * s1[d];
                rem /= sh[d];
              }
              if (expect1 != o1) bad.incrementAndGet();
            }
          });
      assertEquals(0, bad.get(), "operand offsets disagree");
      for (int i = 0; i < n; i++) assertEquals(1, seen.get(i), "element " + i + " visits");
    }
  }

  @Test
  void emptyShapesRunNothing() {
    AtomicLong calls = new AtomicLong();
    StridedLoop.forEach(
        new long[] {3, 0, 2},
        new long[][] {{2, 2, 1}},
        new long[] {0},
        (o, s, n) -> calls.incrementAndGet());
    assertEquals(0, calls.get());
  }

  @Test
  void parallelCoversTheRangeExactlyOnce() {
    int n = 100_003;
    AtomicIntegerArray hits = new AtomicIntegerArray(n);
    Parallel.forRange(
        n,
        10,
        (s, e) -> {
          for (long i = s; i < e; i++) hits.incrementAndGet((int) i);
        });
    for (int i = 0; i < n; i++) assertEquals(1, hits.get(i));
    // nested calls run inline instead of deadlocking the pool
    AtomicLong inner = new AtomicLong();
    Parallel.forRange(
        4,
        1,
        (s, e) -> {
          for (long i = s; i < e; i++) Parallel.forRange(1000, 1, (a, b) -> inner.addAndGet(b - a));
        });
    assertEquals(4000, inner.get());
    assertTrue(Parallel.threads() >= 1);
  }
}
