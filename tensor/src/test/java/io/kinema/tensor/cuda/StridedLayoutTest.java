package io.kinema.tensor.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The index spaces strided kernels get: fusing keeps every operand's element offsets, in row-major
 * order of the original shape, and layouts beyond the kernels' 8 dims become host loops that still
 * visit exactly those offsets.
 */
class StridedLayoutTest {
  @Test
  void contiguousOperandsFuseToOneDenseDim() {
    StridedLayout l =
        StridedLayout.of(new long[] {2, 3, 4}, new long[] {12, 4, 1}, new long[] {12, 4, 1});
    assertArrayEquals(new long[] {24}, l.shape());
    assertTrue(l.dense(0) && l.dense(1));
  }

  @Test
  void broadcastScalarAndSizeOneDims() {
    StridedLayout l =
        StridedLayout.of(
            new long[] {1, 5, 1, 6}, new long[] {99, 6, 7, 1}, new long[] {0, 0, 0, 0});
    assertArrayEquals(new long[] {30}, l.shape());
    assertTrue(l.dense(0));
    assertTrue(l.broadcastScalar(1));
    StridedLayout one = StridedLayout.of(new long[] {1, 1}, new long[] {3, 1});
    assertEquals(0, one.rank());
    assertEquals(1, one.numel());
    assertTrue(one.dense(0));
  }

  @Test
  void fusedOffsetsEqualTheOriginalOnes() {
    Random r = new Random(3);
    for (int trial = 0; trial < 200; trial++) {
      int rank = 1 + r.nextInt(11);
      long[] shape = new long[rank];
      for (int d = 0; d < rank; d++) shape[d] = 1 + r.nextInt(3);
      long[][] strides = new long[3][];
      for (int i = 0; i < 3; i++) strides[i] = randomStrides(r, shape);
      StridedLayout l = StridedLayout.of(shape, strides);
      assertTrue(l.rank() <= rank);
      List<long[]> got = new ArrayList<>();
      l.forEachLaunch(
          (offs, part) -> {
            assertTrue(part.rank() <= KernelStructs.MAX_RANK, "launch rank " + part.rank());
            for (long i = 0; i < part.numel(); i++) {
              long[] o = offs.clone();
              long rem = i;
              for (int d = part.rank() - 1; d >= 0; d--) {
                long c = rem % part.shape()[d];
                rem /= part.shape()[d];
                for (int k = 0; k < 3; k++) o[k] += c * part.strides()[k][d];
              }
              got.add(o);
            }
          });
      List<long[]> want = new ArrayList<>();
      long n = 1;
      for (long s : shape) n *= s;
      for (long i = 0; i < n; i++) {
        long[] o = new long[3];
        long rem = i;
        for (int d = rank - 1; d >= 0; d--) {
          long c = rem % shape[d];
          rem /= shape[d];
          for (int k = 0; k < 3; k++) o[k] += c * strides[k][d];
        }
        want.add(o);
      }
      assertEquals(want.size(), got.size());
      for (int i = 0; i < want.size(); i++) {
        assertArrayEquals(
            want.get(i),
            got.get(i),
            "element " + i + " of shape " + java.util.Arrays.toString(shape));
      }
    }
  }

  /** Contiguous, permuted, broadcast or padded strides for {@code shape}. */
  private static long[] randomStrides(Random r, long[] shape) {
    int rank = shape.length;
    long[] st = new long[rank];
    long s = 1 + r.nextInt(2);
    int[] order = new int[rank];
    for (int d = 0; d < rank; d++) order[d] = rank - 1 - d;
    if (r.nextBoolean()) {
      for (int d = rank - 1; d > 0; d--) {
        int j = r.nextInt(d + 1);
        int t = order[d];
        order[d] = order[j];
        order[j] = t;
      }
    }
    for (int d : order) {
      st[d] = r.nextInt(5) == 0 ? 0 : s;
      s *= shape[d] + (r.nextInt(4) == 0 ? 1 : 0);
    }
    return st;
  }

  @Test
  void emptyShapesLaunchNothing() {
    StridedLayout l = StridedLayout.of(new long[] {3, 0, 2}, new long[] {0, 2, 1});
    l.forEachLaunch((offs, p) -> org.junit.jupiter.api.Assertions.fail("launched"));
  }
}
