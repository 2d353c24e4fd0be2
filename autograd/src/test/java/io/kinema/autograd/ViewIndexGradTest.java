package io.kinema.autograd;

import static io.kinema.autograd.GradTesting.check;
import static io.kinema.autograd.GradTesting.normal;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;

import io.kinema.tensor.DType;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** Finite-difference checks of indexing, joining, every view and the conversions. */
class ViewIndexGradTest {
  @Test
  void indexSelectWithRepeatedIndices() {
    try (var s = Scope.open()) {
      Random r = new Random(41);
      Tensor x = normal(r, 4, 3);
      Tensor idx = Tensor.of(new long[] {2, 0, 2, 3, 2}, 5);
      check(in -> in.get(0).indexSelect(0, idx), x);
      check(in -> in.get(0).indexSelect(-1, Tensor.of(new int[] {1, 1, 0}, 3)), x);
      check(in -> in.get(0).transpose(0, 1).indexSelect(1, idx), x);
      check(in -> in.get(0).indexSelect(0, Tensor.of(new long[] {1}, 1)), x);
    }
  }

  @Test
  void gatherWithRepeatsAndASmallerIndex() {
    try (var s = Scope.open()) {
      Random r = new Random(42);
      Tensor x = normal(r, 3, 4);
      Tensor idx = Tensor.of(new long[] {0, 3, 3, 1, 2, 2, 0, 0}, 2, 4); // index smaller on dim 0
      check(in -> in.get(0).gather(1, idx), x);
      Tensor idx0 = Tensor.of(new long[] {2, 0, 1, 2, 2, 2}, 2, 3);
      check(in -> in.get(0).gather(0, idx0), x);
      check(in -> in.get(0).transpose(0, 1).gather(-1, idx0), x);
    }
  }

  @Test
  void scatterAddToSelfAndSrc() {
    try (var s = Scope.open()) {
      Random r = new Random(43);
      Tensor self = normal(r, 3, 4);
      Tensor idx = Tensor.of(new long[] {0, 2, 2, 1, 1, 1, 0, 2}, 2, 4);
      Tensor src = normal(r, 2, 4); // same shape as the index
      check(in -> in.get(0).scatterAdd(0, idx, in.get(1)), self, src);
      Tensor big = normal(r, 3, 5); // larger than the index: the rest is unused (gradient 0)
      check(in -> in.get(0).scatterAdd(0, idx, in.get(1)), self, big);
      Tensor idx1 = Tensor.of(new long[] {3, 3, 0, 1, 1, 1}, 3, 2);
      check(in -> in.get(0).scatterAdd(1, idx1, in.get(1)), self, big);
      // Only one side requires grad, and non-contiguous operands.
      Tensor sc = self.detach();
      check(in -> sc.scatterAdd(0, idx, in.get(0).transpose(0, 1)), normal(r, 5, 3));
      check(in -> in.get(0).transpose(0, 1).scatterAdd(1, idx1, big.detach()), normal(r, 4, 3));
    }
  }

  @Test
  void catAndStack() {
    try (var s = Scope.open()) {
      Random r = new Random(44);
      Tensor a = normal(r, 2, 3), b = normal(r, 1, 3), c = normal(r, 4, 3);
      Tensor constant = Tensor.of(new double[] {1, 2, 3}, 1, 3);
      check(in -> Tensor.cat(List.of(in.get(0), in.get(1), in.get(2)), 0), a, b, c);
      check(in -> Tensor.cat(List.of(in.get(0), constant, in.get(1), constant), 0), a, b);
      check(in -> Tensor.cat(List.of(in.get(0).t(), in.get(0).t(), in.get(1).t()), -1), a, c);
      check(in -> Tensor.cat(List.of(constant, in.get(0)), 0), c);
      Tensor d = normal(r, 2, 3), e = normal(r, 2, 3);
      for (int dim : new int[] {0, 1, 2, -1}) {
        check(in -> Tensor.stack(List.of(in.get(0), in.get(1), a.detach()), dim), d, e);
      }
      check(in -> Tensor.stack(List.of(in.get(0).t(), in.get(1).t()), 1), d, e);
    }
  }

  @Test
  void splitAndChunkViews() {
    try (var s = Scope.open()) {
      Random r = new Random(45);
      Tensor x = normal(r, 5, 4);
      // Parts used unequally, one not at all.
      check(
          in -> {
            List<Tensor> p = in.get(0).split(2, 0); // [2,4] [2,4] [1,4]
            return p.get(0).mul(p.get(1)).add(p.get(2).exp());
          },
          x);
      check(
          in -> {
            List<Tensor> p = in.get(0).split(new long[] {1, 3}, 1);
            return p.get(1).sum(1, true).mul(p.get(0));
          },
          x);
      check(
          in -> {
            List<Tensor> p = in.get(0).chunk(3, 1); // [5,2] [5,2]
            return p.get(1).sin();
          },
          x);
      check(in -> in.get(0).t().chunk(2, 0).get(1).square(), x);
    }
  }

  @Test
  void reshapingViews() {
    try (var s = Scope.open()) {
      Random r = new Random(46);
      Tensor x = normal(r, 2, 3, 4);
      Tensor w = normal(r, 6, 4).detach();
      // Each view is followed by a non-linear op so the gradient has to come back in place.
      check(in -> in.get(0).view(6, 4).mul(w).sin(), x);
      check(in -> in.get(0).view(-1).sin(), x);
      check(in -> in.get(0).reshape(4, 6).sin(), x);
      // reshape of a transposed tensor copies (no view exists): the gradient must still flow.
      check(in -> in.get(0).transpose(1, 2).reshape(2, 12).sin(), x);
      check(in -> in.get(0).permute(2, 0, 1).reshape(-1).sin(), x);
      check(in -> in.get(0).flatten().sin(), x);
      check(in -> in.get(0).flatten(1, 2).sin(), x);
      check(in -> in.get(0).transpose(0, 2).flatten(0, 1).sin(), x);
      check(in -> in.get(0).unflatten(2, 2, 2).sin(), x);
      check(in -> in.get(0).unsqueeze(1).unsqueeze(-1).sin(), x);
      check(in -> in.get(0).view(2, 1, 3, 4).squeeze().sin(), x);
      check(in -> in.get(0).view(2, 1, 3, 4).squeeze(1).sin(), x);
      check(in -> in.get(0).squeeze(0).sin(), x); // size 2: an unchanged view
      check(in -> in.get(0).unsqueeze(0).expand(3, 2, 3, 4).sin(), x);
    }
  }

  @Test
  void permutingAndSlicingViews() {
    try (var s = Scope.open()) {
      Random r = new Random(47);
      Tensor x = normal(r, 2, 3, 4);
      Tensor m = normal(r, 3, 4);
      check(in -> in.get(0).permute(2, 0, 1).sin(), x);
      check(in -> in.get(0).permute(-1, 1, 0).exp(), x);
      check(in -> in.get(0).transpose(0, -1).sin(), x);
      check(in -> in.get(0).transpose(1, 1).sin(), x);
      check(in -> in.get(0).t().sin(), m);
      check(in -> in.get(0).mT().sin(), x);
      check(in -> in.get(0).narrow(2, 1, 2).sin(), x);
      check(in -> in.get(0).narrow(-2, -2, 2).sin(), x);
      check(in -> in.get(0).slice(2, 0, 4, 3).sin(), x);
      check(in -> in.get(0).slice(1, -2, 100, 1).sin(), x);
      check(in -> in.get(0).slice(0, 0, 2, 2).slice(2, 1, 4, 2).sin(), x);
      check(in -> in.get(0).select(1, 2).sin(), x);
      check(in -> in.get(0).select(-1, 0).sin().add(in.get(0).select(-1, 3)), x);
      // The same element reached through several views.
      check(in -> in.get(0).narrow(0, 1, 1).mul(in.get(0).select(0, 1)).add(in.get(0).t().t()), m);
      // Empty slice: the gradient is zero everywhere.
      check(in -> in.get(0).narrow(1, 1, 0).sum().add(in.get(0).sum()), m);
    }
  }

  @Test
  void broadcastViews() {
    try (var s = Scope.open()) {
      Random r = new Random(48);
      Tensor x = normal(r, 3, 1), y = normal(r, 2, 3, 4);
      check(in -> in.get(0).expand(2, 3, 4).sin(), x);
      check(in -> in.get(0).expand(-1, 5).sin(), x);
      check(in -> in.get(0).expandAs(in.get(1)).mul(in.get(1)), x, y);
      Tensor z = normal(r);
      check(in -> in.get(0).expand(3, 2).sin(), z);
      check(in -> in.get(0).t().expand(4, 3).sin(), x);
    }
  }

  @Test
  void copiesAliasesAndConversions() {
    try (var s = Scope.open()) {
      Random r = new Random(49);
      Tensor x = normal(r, 3, 4);
      check(in -> in.get(0).contiguous().sin(), x);
      check(in -> in.get(0).t().contiguous().sin(), x);
      check(in -> in.get(0).clone().sin(), x);
      check(in -> in.get(0).t().clone().exp(), x);
      check(in -> in.get(0).copy().sin(), x);
      check(in -> in.get(0).alias().sin(), x);
      check(in -> in.get(0).to(DType.F64).sin(), x);
      check(in -> in.get(0).to(x.device()).sin(), x);
    }
  }

  @Test
  void dtypeRoundTripPassesTheGradientThroughF32() {
    try (var s = Scope.open()) {
      Random r = new Random(50);
      Tensor x = normal(r, 3, 4);
      // Finite differences of an F32 round trip are exact only to F32 resolution: a wide step
      // (the function is the identity, so the step adds no truncation error) and a loose atol.
      GradTesting.check(1e-2, 5e-4, 1e-4, in -> in.get(0).to(DType.F32).to(DType.F64).mul(3), x);
      // The rule itself: the gradient is the upstream one, rounded to F32 on its way.
      double[] w = {0.1, -0.2, 0.3, 1, 2, 3, 1e-3, 4, 5, 6, 7, 1.0 / 3};
      x.to(DType.F32).to(DType.F64).mul(Tensor.of(w, 3, 4)).sum().backward();
      assertEquals(DType.F64, x.grad().dtype());
      double[] g = x.grad().toDoubleArray();
      for (int i = 0; i < w.length; i++) assertEquals((float) w[i], g[i], 0.0);
      // An F32 leaf used through F64 gets an F32 gradient.
      Tensor f = Tensor.of(new float[] {1, 2, 3}, 3).requiresGrad(true);
      f.to(DType.F64).square().sum().backward();
      assertEquals(DType.F32, f.grad().dtype());
      assertArrayEquals(new double[] {2, 4, 6}, f.grad().toDoubleArray());
    }
  }

  @Test
  void detachStopsTheGradient() {
    try (var s = Scope.open()) {
      Tensor x = Tensor.of(new double[] {1, 2, 3}, 3).requiresGrad(true);
      Tensor d = x.detach();
      assertFalse(d.requiresGrad());
      assertNull(d.gradFn());
      // y = x * detach(x)^2: only the first factor is differentiated.
      x.mul(d.square()).sum().backward();
      assertArrayEquals(new double[] {1, 4, 9}, x.grad().toDoubleArray());
      x.zeroGrad();
      // A branch made only of detached values contributes nothing.
      x.detach().exp().add(x.mul(2)).sum().backward();
      assertArrayEquals(new double[] {2, 2, 2}, x.grad().toDoubleArray());
    }
  }
}
