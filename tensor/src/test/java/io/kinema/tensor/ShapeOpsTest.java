package io.kinema.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** cat, stack, split and chunk against index arithmetic on Java arrays. */
class ShapeOpsTest {
  private final Random rnd = new Random(11);

  private Tensor random(long... shape) {
    double[] d = new double[(int) Shapes.numel(shape)];
    for (int i = 0; i < d.length; i++) d[i] = rnd.nextGaussian();
    return Tensor.of(d, shape);
  }

  @Test
  void catMatchesReferenceOnEveryDimIncludingNonContiguousInputs() {
    for (int dim = 0; dim < 3; dim++) {
      try (var s = Scope.open()) {
        List<Tensor> parts = new ArrayList<>();
        long total = 0;
        for (int p = 0; p < 3; p++) {
          long[] sh = {2, 3, 4};
          sh[dim] = p == 1 ? 0 : 1 + rnd.nextInt(3);
          total += sh[dim];
          Tensor t = random(sh[2], sh[1], sh[0]).permute(2, 1, 0); // non-contiguous
          parts.add(t);
        }
        Tensor out = Tensor.cat(parts, dim - 3);
        long[] expectShape = {2, 3, 4};
        expectShape[dim] = total;
        assertArrayEquals(expectShape, out.shape());
        long at = 0;
        for (Tensor t : parts) {
          for (int i = 0; i < t.size(0); i++)
            for (int j = 0; j < t.size(1); j++)
              for (int k = 0; k < t.size(2); k++) {
                long[] idx = {i, j, k};
                idx[dim] += at;
                assertEquals(t.get(i, j, k), out.get(idx));
              }
          at += t.size(dim);
        }
      }
    }
  }

  @Test
  void catPromotesDtypes() {
    try (var s = Scope.open()) {
      Tensor a = Tensor.of(new int[] {1, 2}, 2);
      Tensor b = Tensor.of(new float[] {0.5f}, 1);
      Tensor c = Tensor.cat(List.of(a, b), 0);
      assertEquals(DType.F32, c.dtype());
      assertArrayEquals(new float[] {1, 2, 0.5f}, c.toFloatArray());
    }
  }

  @Test
  void stackAddsADim() {
    try (var s = Scope.open()) {
      Tensor a = random(2, 3), b = random(2, 3);
      Tensor st = Tensor.stack(List.of(a, b), 1);
      assertArrayEquals(new long[] {2, 2, 3}, st.shape());
      assertEquals(b.get(1, 2), st.get(1, 1, 2));
      assertEquals(a.get(0, 1), st.get(0, 0, 1));
      Tensor last = Tensor.stack(List.of(a, b), -1);
      assertArrayEquals(new long[] {2, 3, 2}, last.shape());
      assertEquals(b.get(1, 0), last.get(1, 0, 1));
    }
  }

  @Test
  void splitAndChunkAreViewsLikePyTorch() {
    try (var s = Scope.open()) {
      Tensor x = random(7, 2);
      List<Tensor> parts = x.split(3, 0);
      assertEquals(3, parts.size());
      assertArrayEquals(new long[] {1, 2}, parts.get(2).shape());
      assertEquals(x.storage(), parts.get(1).storage());
      assertEquals(x.get(4, 1), parts.get(1).get(1, 1));
      List<Tensor> sized = x.split(new long[] {2, 5}, 0);
      assertEquals(x.get(6, 0), sized.get(1).get(4, 0));
      // torch.chunk(7 rows, 4) -> sizes 2, 2, 2, 1
      List<Tensor> ch = x.chunk(4, 0);
      assertEquals(4, ch.size());
      assertEquals(1, ch.get(3).size(0));
      // torch.chunk(6, 4) -> sizes 2, 2, 2 (three chunks)
      assertEquals(3, random(6).chunk(4, 0).size());
    }
  }

  @Test
  void badJoinsNameTheOffendingTensor() {
    try (var s = Scope.open()) {
      Tensor a = random(2, 3), b = random(2, 4);
      var e = assertThrows(IllegalArgumentException.class, () -> Tensor.cat(List.of(a, b), 0));
      assertTrue(
          e.getMessage().contains("cat: tensor 1 F64[2, 4]") && e.getMessage().contains("dim 1"),
          e.getMessage());
      var e2 = assertThrows(IllegalArgumentException.class, () -> Tensor.stack(List.of(a, b), 0));
      assertTrue(e2.getMessage().contains("stack"), e2.getMessage());
      var e3 = assertThrows(IllegalArgumentException.class, () -> a.split(new long[] {1, 1}, 1));
      assertTrue(e3.getMessage().contains("sum to 2 but dim 1"), e3.getMessage());
      assertThrows(IllegalArgumentException.class, () -> Tensor.cat(List.of(), 0));
    }
  }
}
