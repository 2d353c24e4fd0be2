package io.kinema.autograd;

import static io.kinema.autograd.GradTesting.check;
import static io.kinema.autograd.GradTesting.normal;

import io.kinema.tensor.AttentionMask;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.backend.Epilogue;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** Finite-difference checks of matmul in all of PyTorch's shape cases, bmm and fused attention. */
class LinalgAttentionGradTest {
  private static void matmul(Random r, long[] as, long[] bs) {
    check(in -> in.get(0).matmul(in.get(1)), normal(r, as), normal(r, bs));
  }

  @Test
  void matmulShapeCases() {
    try (var s = Scope.open()) {
      Random r = new Random(31);
      matmul(r, new long[] {4}, new long[] {4}); // dot
      matmul(r, new long[] {4}, new long[] {4, 3}); // vector-matrix
      matmul(r, new long[] {3, 4}, new long[] {4}); // matrix-vector
      matmul(r, new long[] {3, 4}, new long[] {4, 2}); // matrix-matrix
      matmul(r, new long[] {2, 3, 4}, new long[] {4, 2}); // batched x matrix
      matmul(r, new long[] {3, 4}, new long[] {2, 4, 2}); // matrix x batched
      matmul(r, new long[] {2, 1, 3, 4}, new long[] {3, 4, 2}); // broadcast batch dims
      matmul(r, new long[] {1, 3, 4}, new long[] {2, 1, 4, 2}); // broadcast both ways
      matmul(r, new long[] {4}, new long[] {2, 4, 3}); // vector x batched
      matmul(r, new long[] {2, 3, 4}, new long[] {4}); // batched x vector
      matmul(r, new long[] {1, 4}, new long[] {4, 1}); // size-1 dims
    }
  }

  @Test
  void matmulOnTransposedViewsAndConstants() {
    try (var s = Scope.open()) {
      Random r = new Random(32);
      Tensor a = normal(r, 4, 3), b = normal(r, 2, 4);
      check(in -> in.get(0).t().matmul(in.get(1).t()), a, b);
      Tensor ab = normal(r, 2, 4, 3), bb = normal(r, 2, 5, 4);
      check(in -> in.get(0).mT().matmul(in.get(1).mT()), ab, bb);
      check(
          in -> in.get(0).permute(0, 2, 1).matmul(in.get(1).transpose(1, 2).slice(2, 0, 5, 2)),
          ab,
          bb);
      Tensor w = normal(r, 3, 2).detach(); // constant operand
      check(in -> in.get(0).matmul(w), ab);
      check(in -> w.t().matmul(in.get(0).mT()), ab);
      // The same tensor on both sides: x^T x.
      check(in -> in.get(0).mT().matmul(in.get(0)), ab);
    }
  }

  @Test
  void linearShapeCasesBiasAndEpilogue() {
    try (var s = Scope.open()) {
      Random r = new Random(34);
      Tensor w = normal(r, 5, 4), b = normal(r, 5);
      for (long[] xs : new long[][] {{4}, {3, 4}, {2, 3, 4}, {2, 1, 3, 4}}) {
        check(in -> in.get(0).linear(in.get(1), in.get(2)), normal(r, xs), w, b);
        check(in -> in.get(0).linear(in.get(1), null), normal(r, xs), w);
        check(
            in -> in.get(0).linear(in.get(1), in.get(2), Epilogue.GELU_TANH), normal(r, xs), w, b);
      }
      // Transposed x and W views, a strided bias.
      check(
          in -> in.get(0).mT().linear(in.get(1).t(), in.get(2).slice(0, 0, 10, 2)),
          normal(r, 2, 4, 3),
          normal(r, 4, 5),
          normal(r, 10));
    }
  }

  @Test
  void linearWithConstantOperands() {
    try (var s = Scope.open()) {
      Random r = new Random(35);
      Tensor w = normal(r, 5, 4).detach(), b = normal(r, 5).detach(), x = normal(r, 2, 3, 4);
      check(in -> in.get(0).linear(w, b), x); // frozen layer: only dx
      check(in -> x.detach().linear(in.get(0), in.get(1)), normal(r, 5, 4), normal(r, 5));
      check(in -> x.detach().linear(w, in.get(0)), normal(r, 5)); // only db
      // With the GELU epilogue: only dx; dW and db without dx; db alone; no bias.
      Epilogue gelu = Epilogue.GELU_TANH;
      check(in -> in.get(0).linear(w, b, gelu), x);
      check(in -> x.detach().linear(in.get(0), in.get(1), gelu), normal(r, 5, 4), normal(r, 5));
      check(in -> x.detach().linear(w, in.get(0), gelu), normal(r, 5));
      check(in -> in.get(0).linear(in.get(1), null, gelu), normal(r, 2, 3, 4), normal(r, 5, 4));
    }
  }

  @Test
  void bmm() {
    try (var s = Scope.open()) {
      Random r = new Random(33);
      Tensor a = normal(r, 2, 3, 4), b = normal(r, 2, 4, 5);
      check(in -> in.get(0).bmm(in.get(1)), a, b);
      check(in -> in.get(1).mT().bmm(in.get(0).mT()), a, b);
    }
  }

  private static Tensor sdpa(Tensor q, Tensor k, Tensor v, AttentionMask m) {
    return Tensor.scaledDotProductAttention(q, k, v, m);
  }

  @Test
  void attentionWithEveryMask() {
    try (var s = Scope.open()) {
      Random r = new Random(34);
      // [B=1, H=2, S, D=3]: Sq == Sk, then a longer key sequence (a KV cache).
      for (long sk : new long[] {4, 6}) {
        Tensor q = normal(r, 1, 2, 4, 3), k = normal(r, 1, 2, sk, 3), v = normal(r, 1, 2, sk, 2);
        for (AttentionMask m :
            new AttentionMask[] {
              AttentionMask.NONE,
              AttentionMask.CAUSAL,
              AttentionMask.blockCausal(2),
              AttentionMask.blockCausal(3)
            }) {
          check(in -> sdpa(in.get(0), in.get(1), in.get(2), m), q, k, v);
        }
      }
      // Explicit masks: full [Sq, Sk], one broadcast over queries, and one with an empty row.
      Tensor q = normal(r, 2, 3, 3), k = normal(r, 2, 5, 3), v = normal(r, 2, 5, 4);
      boolean[] m = new boolean[15];
      for (int i = 0; i < m.length; i++) m[i] = r.nextInt(3) != 0;
      m[0] = true;
      Tensor full = Tensor.of(m, 3, 5);
      Tensor row = Tensor.of(new boolean[] {true, false, true, true, false}, 5);
      boolean[] e = m.clone();
      for (int j = 5; j < 10; j++) e[j] = false; // query 1 sees nothing: output 0, gradient 0
      Tensor emptyRow = Tensor.of(e, 1, 3, 5);
      for (Tensor mask : new Tensor[] {full, row, emptyRow}) {
        AttentionMask am = new AttentionMask.Explicit(mask);
        check(in -> sdpa(in.get(0), in.get(1), in.get(2), am), q, k, v);
      }
      // Key ranges (two intervals per query; query 1 sees nothing), the mask's tensor saved for
      // backward.
      AttentionMask ranges =
          AttentionMask.KeyRanges.of(new int[] {0, 2, 3, 5, 4, 4, 1, 1, 1, 3, 2, 4});
      check(in -> sdpa(in.get(0), in.get(1), in.get(2), ranges), q, k, v);
      // Causal with Sk < Sq: the first queries see no key.
      Tensor qLong = normal(r, 5, 3);
      check(
          in -> sdpa(in.get(0), in.get(1), in.get(2), AttentionMask.CAUSAL),
          qLong,
          normal(r, 3, 3),
          normal(r, 3, 2));
    }
  }

  @Test
  void attentionOnPermutedInputsWithBroadcastLeadingDimsAndAScale() {
    try (var s = Scope.open()) {
      Random r = new Random(35);
      // Leaves in [B, S, H, D] layout, attention over [B, H, S, D] views (as a transformer does).
      Tensor q = normal(r, 2, 4, 2, 3), k = normal(r, 2, 5, 2, 3), v = normal(r, 2, 5, 2, 3);
      for (AttentionMask m : new AttentionMask[] {AttentionMask.NONE, AttentionMask.CAUSAL}) {
        check(
            in ->
                sdpa(
                    in.get(0).transpose(1, 2),
                    in.get(1).transpose(1, 2),
                    in.get(2).transpose(1, 2),
                    m),
            q,
            k,
            v);
      }
      // Broadcast leading dims: q [2, 2, S, D] against k/v shared by heads [2, 1, S, D] and a
      // rank-2 q against batched k/v; explicit scale.
      Tensor q4 = normal(r, 2, 2, 3, 3), k1 = normal(r, 2, 1, 4, 3), v1 = normal(r, 2, 1, 4, 2);
      check(
          in ->
              Tensor.scaledDotProductAttention(
                  in.get(0), in.get(1), in.get(2), AttentionMask.blockCausal(2), 0.7),
          q4,
          k1,
          v1);
      Tensor q2 = normal(r, 3, 3), kb = normal(r, 2, 4, 3), vb = normal(r, 2, 4, 2);
      check(in -> sdpa(in.get(0), in.get(1), in.get(2), AttentionMask.NONE), q2, kb, vb);
      // Only q requires grad.
      Tensor kc = kb.detach(), vc = vb.detach();
      check(in -> sdpa(in.get(0), kc, vc, AttentionMask.CAUSAL), q2);
      // Rank 5: leading dims flattened by the kernel.
      Tensor q5 = normal(r, 2, 1, 2, 3, 2), k5 = normal(r, 1, 2, 1, 3, 2), v5 = normal(r, 3, 2);
      check(in -> sdpa(in.get(0), in.get(1), in.get(2), AttentionMask.NONE), q5, k5, v5);
    }
  }
}
