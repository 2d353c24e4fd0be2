package io.kinema.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;

/** Views share storage and index exactly like a reference computed from shape and strides. */
class TensorViewTest {
  private final Random rnd = new Random(7);

  private static double[] iota(int n) {
    double[] d = new double[n];
    for (int i = 0; i < n; i++) d[i] = i * 1.5 - 3;
    return d;
  }

  /** Reference: element at a row-major multi-index of a contiguous array of shape {@code sh}. */
  private static double at(double[] data, long[] sh, long... idx) {
    long off = 0;
    for (int d = 0; d < sh.length; d++) off = off * sh[d] + idx[d];
    return data[(int) off];
  }

  @Test
  void permuteTransposeAndNarrowIndexLikeTheReference() {
    try (var s = Scope.open()) {
      long[] sh = {2, 3, 4};
      double[] data = iota(24);
      Tensor x = Tensor.of(data, sh);
      Tensor p = x.permute(2, 0, 1);
      assertArrayEquals(new long[] {4, 2, 3}, p.shape());
      assertFalse(p.isContiguous());
      for (int i = 0; i < 4; i++)
        for (int j = 0; j < 2; j++)
          for (int k = 0; k < 3; k++) assertEquals(at(data, sh, j, k, i), p.get(i, j, k));
      Tensor t = x.transpose(0, -1);
      assertEquals(at(data, sh, 1, 2, 3), t.get(3, 2, 1));
      Tensor n = x.narrow(2, 1, 2);
      assertArrayEquals(new long[] {2, 3, 2}, n.shape());
      assertEquals(at(data, sh, 1, 1, 2), n.get(1, 1, 1));
      Tensor sl = x.slice(2, 0, 4, 3);
      assertArrayEquals(new long[] {2, 3, 2}, sl.shape());
      assertEquals(at(data, sh, 1, 2, 3), sl.get(1, 2, 1));
      Tensor sel = x.select(1, -1);
      assertArrayEquals(new long[] {2, 4}, sel.shape());
      assertEquals(at(data, sh, 1, 2, 3), sel.get(1, 3));
      // all share one storage
      assertEquals(x.storage(), p.storage());
      assertEquals(6, x.storage().refCount());
    }
  }

  @Test
  void contiguousCopiesOnlyWhenNeeded() {
    try (var s = Scope.open()) {
      Tensor x = Tensor.of(iota(12), 3, 4);
      Tensor c = x.contiguous();
      assertEquals(x.storage(), c.storage());
      Tensor t = x.t().contiguous();
      assertTrue(t.isContiguous());
      assertFalse(t.storage() == x.storage());
      assertArrayEquals(x.t().toDoubleArray(), t.toDoubleArray());
      assertEquals(x.get(2, 1), t.get(1, 2));
    }
  }

  @Test
  void reshapeViewsWhenStridesAllowAndCopiesOtherwise() {
    try (var s = Scope.open()) {
      Tensor x = Tensor.of(iota(24), 2, 3, 4);
      Tensor v = x.view(6, -1);
      assertArrayEquals(new long[] {6, 4}, v.shape());
      assertEquals(x.storage(), v.storage());
      // a narrowed last dim keeps the outer dims mergeable
      Tensor n = x.narrow(2, 0, 2);
      Tensor nv = n.reshape(6, 2);
      assertEquals(n.storage(), nv.storage());
      assertArrayEquals(n.toDoubleArray(), nv.toDoubleArray());
      // a transposed tensor cannot be flattened without a copy
      Tensor t = x.transpose(1, 2);
      assertThrows(IllegalArgumentException.class, () -> t.view(24));
      Tensor r = t.reshape(24);
      assertArrayEquals(t.toDoubleArray(), r.toDoubleArray());
      // but a split of one dim of a permuted tensor is still a view
      Tensor split = t.view(2, 2, 2, 3);
      assertEquals(t.storage(), split.storage());
      assertArrayEquals(t.toDoubleArray(), split.toDoubleArray());
      var e = assertThrows(IllegalArgumentException.class, () -> x.view(5, 5));
      assertTrue(e.getMessage().contains("view"), e.getMessage());
    }
  }

  @Test
  void randomViewChainsMatchTheirContiguousCopies() {
    for (int trial = 0; trial < 200; trial++) {
      try (var s = Scope.open()) {
        int rank = 1 + rnd.nextInt(4);
        long[] sh = new long[rank];
        int n = 1;
        for (int d = 0; d < rank; d++) {
          sh[d] = 1 + rnd.nextInt(4);
          n *= (int) sh[d];
        }
        Tensor x = Tensor.of(iota(n), sh);
        Tensor v = x;
        for (int step = 0; step < 3; step++) {
          int r = v.dim();
          switch (rnd.nextInt(5)) {
            case 0 -> {
              int[] perm = randomPermutation(r);
              v = v.permute(perm);
            }
            case 1 -> {
              int d = rnd.nextInt(r);
              long sz = v.size(d);
              long start = rnd.nextInt((int) sz);
              v = v.narrow(d, start, 1 + rnd.nextInt((int) (sz - start)));
            }
            case 2 -> v = v.unsqueeze(rnd.nextInt(r + 1));
            case 3 -> v = v.reshape(v.numel());
            default -> v = v.slice(rnd.nextInt(r), 0, Long.MAX_VALUE, 1 + rnd.nextInt(2));
          }
        }
        double[] expect = v.toDoubleArray();
        Tensor c = v.contiguous();
        assertArrayEquals(expect, c.toDoubleArray());
        Tensor flat = v.reshape(-1);
        assertArrayEquals(expect, flat.toDoubleArray());
      }
    }
  }

  private int[] randomPermutation(int r) {
    int[] p = new int[r];
    for (int i = 0; i < r; i++) p[i] = i;
    for (int i = r - 1; i > 0; i--) {
      int j = rnd.nextInt(i + 1);
      int t = p[i];
      p[i] = p[j];
      p[j] = t;
    }
    return p;
  }

  @Test
  void expandSqueezeUnsqueezeFlatten() {
    try (var s = Scope.open()) {
      Tensor x = Tensor.of(new double[] {1, 2, 3}, 3, 1);
      Tensor e = x.expand(2, 3, 4);
      assertArrayEquals(new long[] {2, 3, 4}, e.shape());
      assertArrayEquals(new long[] {0, 1, 0}, e.strides());
      assertEquals(3.0, e.get(1, 2, 3));
      var err = assertThrows(IllegalArgumentException.class, () -> x.expand(2, 4));
      assertTrue(err.getMessage().contains("expand"), err.getMessage());
      assertArrayEquals(new long[] {3}, x.squeeze().shape());
      assertArrayEquals(new long[] {3}, x.squeeze(1).shape());
      assertArrayEquals(new long[] {3, 1}, x.squeeze(0).shape());
      assertArrayEquals(new long[] {1, 3, 1}, x.unsqueeze(0).shape());
      assertArrayEquals(new long[] {3, 1, 1}, x.unsqueeze(-1).shape());
      Tensor y = Tensor.of(iota(24), 2, 3, 4);
      assertArrayEquals(new long[] {2, 12}, y.flatten(1, -1).shape());
      assertArrayEquals(new long[] {2, 3, 2, 2}, y.unflatten(2, 2, -1).shape());
      assertArrayEquals(new long[] {24}, y.flatten().shape());
      // values, not only shapes: e[i][j][k] = x[j]; reshaping views keep row-major order
      double[] expanded = e.contiguous().toDoubleArray();
      for (int i = 0; i < 24; i++) assertEquals(1 + (i / 4) % 3, expanded[i], "expanded " + i);
      assertArrayEquals(iota(24), y.unflatten(2, 2, -1).toDoubleArray());
      assertArrayEquals(iota(24), y.flatten(1, -1).toDoubleArray());
    }
  }

  @Test
  void expandedViewsMaterializeAsBroadcasts() {
    try (var s = Scope.open()) {
      Tensor x = Tensor.of(new double[] {1, 2, 3}, 3);
      double[] got = x.expand(2, 3).contiguous().toDoubleArray();
      assertArrayEquals(new double[] {1, 2, 3, 1, 2, 3}, got);
    }
  }

  @Test
  void emptyAndScalarTensors() {
    try (var s = Scope.open()) {
      Tensor e = Tensor.zeros(DType.F32, 3, 0, 2);
      assertEquals(0, e.numel());
      assertArrayEquals(new float[0], e.toFloatArray());
      assertArrayEquals(new long[] {0, 3, 2}, e.permute(1, 0, 2).shape());
      assertEquals(0, e.reshape(0, 5).numel());
      Tensor sc = Tensor.scalar(2.5, DType.F64);
      assertEquals(0, sc.dim());
      assertEquals(2.5, sc.item());
      assertArrayEquals(new long[] {1}, sc.reshape(1).shape());
      assertArrayEquals(new long[] {4}, sc.expand(4).shape());
    }
  }

  @Test
  void badViewArgumentsNameTheOpAndShape() {
    try (var s = Scope.open()) {
      Tensor x = Tensor.zeros(DType.F32, 2, 3);
      var e1 = assertThrows(IndexOutOfBoundsException.class, () -> x.transpose(0, 2));
      assertTrue(
          e1.getMessage().contains("transpose") && e1.getMessage().contains("rank 2"),
          e1.getMessage());
      var e2 = assertThrows(IllegalArgumentException.class, () -> x.permute(0, 0));
      assertTrue(e2.getMessage().contains("permute"), e2.getMessage());
      var e3 = assertThrows(IndexOutOfBoundsException.class, () -> x.narrow(1, 2, 2));
      assertTrue(
          e3.getMessage().contains("narrow") && e3.getMessage().contains("F32[2, 3]"),
          e3.getMessage());
      var e4 = assertThrows(IllegalArgumentException.class, () -> x.reshape(4, -1));
      assertTrue(e4.getMessage().contains("reshape"), e4.getMessage());
      var e5 =
          assertThrows(
              IllegalArgumentException.class, () -> Tensor.of(new float[] {1, 2, 3}, 2, 2));
      assertTrue(e5.getMessage().contains("needs 4 values, got 3"), e5.getMessage());
    }
  }

  @Test
  void closedTensorsRefuseUseAndStorageIsFreedWithTheLastView() {
    Tensor x = Tensor.zeros(DType.F32, 4, 4);
    Tensor v = x.t();
    var storage = x.storage();
    x.close();
    assertEquals(1, storage.refCount());
    assertEquals(0.0, v.get(1, 2));
    var e = assertThrows(IllegalStateException.class, x::toFloatArray);
    assertTrue(e.getMessage().contains("closed"), e.getMessage());
    v.close();
    assertEquals(0, storage.refCount());
    x.close(); // idempotent
  }

  @Test
  void copiesBetweenDtypesThroughToAndCopyFrom() {
    try (var s = Scope.open()) {
      Tensor x = Tensor.of(new double[] {1.5, -2.25, 3, 1e9}, 2, 2);
      assertArrayEquals(new float[] {1.5f, -2.25f, 3f, 1e9f}, x.to(DType.F32).toFloatArray());
      assertArrayEquals(new long[] {1, -2, 3, 1000000000}, x.to(DType.I64).toLongArray());
      Tensor y = Tensor.zeros(DType.F64, 2, 2);
      y.copyFrom(Tensor.of(new float[] {7, 8}, 2));
      assertArrayEquals(new double[] {7, 8, 7, 8}, y.toDoubleArray());
    }
  }
}
