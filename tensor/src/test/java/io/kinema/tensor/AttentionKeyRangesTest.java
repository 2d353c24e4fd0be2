package io.kinema.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * {@link AttentionMask.KeyRanges} on the CPU kernels: forward and backward equal those of the
 * {@link AttentionMask.Explicit} mask spelling out the same intervals (which visits every key
 * block), and the materialized reference; the intervals let the kernels skip blocks, so a wrong
 * skip shows up here as a difference.
 */
class AttentionKeyRangesTest {
  /** Random (lo1, hi1, lo2, hi2) rows: overlapping, touching, empty (lo >= hi) and empty rows. */
  static int[] randomRanges(Random r, int sq, int sk) {
    int[] out = new int[4 * sq];
    for (int i = 0; i < sq; i++) {
      int kind = r.nextInt(8);
      for (int c = 0; c < 4; c += 2) {
        int lo = r.nextInt(sk + 1), hi = r.nextInt(sk + 1);
        if (kind == 0) hi = lo; // a row that sees nothing
        else if (c == 0 && hi < lo) { // the first interval non-empty in most rows
          int t = lo;
          lo = hi;
          hi = t;
        }
        if (kind == 1 && c == 2) lo = out[4 * i + 1]; // touching the first
        out[4 * i + c] = lo;
        out[4 * i + c + 1] = hi;
      }
    }
    return out;
  }

  /** The same mask as a BOOL [Sq, Sk] matrix. */
  static Tensor explicit(int[] ranges, int sq, int sk) {
    boolean[] m = new boolean[sq * sk];
    for (int i = 0; i < sq; i++) {
      for (int j = 0; j < sk; j++) {
        m[i * sk + j] =
            (ranges[4 * i] <= j && j < ranges[4 * i + 1])
                || (ranges[4 * i + 2] <= j && j < ranges[4 * i + 3]);
      }
    }
    return Tensor.of(m, sq, sk);
  }

  /** The teacher-forcing mask of a [clean | noisy] sequence of 2 * frames * tokens (Wan). */
  static int[] teacherForcing(int frames, int tokens) {
    int len = frames * tokens;
    int[] r = new int[8 * len];
    for (int n = 0; n < 2 * len; n++) {
      int pos = n % len, start = pos / tokens * tokens, end = start + tokens;
      if (n < len) r[4 * n + 1] = end;
      else {
        r[4 * n + 1] = start;
        r[4 * n + 2] = len + start;
        r[4 * n + 3] = len + end;
      }
    }
    return r;
  }

  private static double maxAbs(double[] a) {
    double m = 1e-3;
    for (double x : a) m = Math.max(m, Math.abs(x));
    return m;
  }

  private static void assertClose(String what, Tensor want, Tensor got, double tol) {
    double[] w = want.toDoubleArray(), g = got.toDoubleArray();
    assertEquals(w.length, g.length, what);
    double scale = maxAbs(w);
    for (int i = 0; i < w.length; i++) {
      boolean same = w[i] == g[i] || Math.abs(w[i] - g[i]) <= tol * scale;
      if (!same) {
        throw new AssertionError(what + "[" + i + "]: want " + w[i] + ", got " + g[i]);
      }
    }
  }

  /** KeyRanges vs Explicit: out, lse and the three gradients. */
  private static void compare(
      Random r, DType dt, int b, int h, int sq, int sk, int d, int dv, int[] ranges, double tol) {
    Tensor q = AttentionOpsTest.randn(r, dt, b, h, sq, d);
    Tensor k = AttentionOpsTest.randn(r, dt, b, h, sk, d);
    Tensor v = AttentionOpsTest.randn(r, dt, b, h, sk, dv);
    Tensor go = AttentionOpsTest.randn(r, dt, b, h, sq, dv);
    AttentionMask ranged = AttentionMask.KeyRanges.of(ranges);
    AttentionMask spelled = new AttentionMask.Explicit(explicit(ranges, sq, sk));
    double scale = 1.1 / Math.sqrt(d);
    Attention.Forward fr = Attention.forward(q, k, v, ranged, scale);
    Attention.Forward fe = Attention.forward(q, k, v, spelled, scale);
    String what = dt + " " + b + "x" + h + " " + sq + "x" + sk + " d" + d + "/" + dv;
    assertClose(what + " out", fe.out(), fr.out(), tol);
    assertClose(what + " lse", fe.lse(), fr.lse(), tol);
    Attention.Grads gr = Attention.backward(q, k, v, fr.out(), fr.lse(), go, ranged, scale);
    Attention.Grads ge = Attention.backward(q, k, v, fe.out(), fe.lse(), go, spelled, scale);
    assertClose(what + " dq", ge.q(), gr.q(), tol);
    assertClose(what + " dk", ge.k(), gr.k(), tol);
    assertClose(what + " dv", ge.v(), gr.v(), tol);
  }

  @Test
  void randomRangesMatchTheExplicitMask() {
    Random r = new Random(11);
    try (var s = Scope.open()) {
      int[][] shapes = { // sq, sk, d, dv: tiles and blocks of every kernel cut in odd places
        {1, 1, 4, 4}, {7, 150, 16, 8}, {150, 7, 8, 16}, {97, 211, 32, 32}, {200, 130, 24, 40}
      };
      for (int[] sh : shapes) {
        int[] ranges = randomRanges(r, sh[0], sh[1]);
        compare(r, DType.F64, 2, 2, sh[0], sh[1], sh[2], sh[3], ranges, 1e-12);
        compare(r, DType.F32, 2, 2, sh[0], sh[1], sh[2], sh[3], ranges, 2e-5);
      }
    }
  }

  @Test
  void blockAlignedRangesSkipWholeBlocks() {
    // Teacher forcing over 4 frames of 40 tokens: whole key blocks invisible to a tile, blocks
    // every row sees entirely, and blocks cut by the intervals.
    Random r = new Random(12);
    try (var s = Scope.open()) {
      int[] tf = teacherForcing(4, 40);
      compare(r, DType.F64, 1, 2, 320, 320, 16, 16, tf, 1e-12);
      compare(r, DType.F32, 1, 2, 320, 320, 16, 16, tf, 2e-5);
      compare(r, DType.BF16, 1, 1, 320, 320, 32, 32, tf, 2e-2);
    }
  }

  @Test
  void matchesTheMaterializedReference() {
    Random r = new Random(13);
    try (var s = Scope.open()) {
      int sq = 70, sk = 90, d = 12, dv = 10;
      int[] ranges = randomRanges(r, sq, sk);
      Tensor q = AttentionOpsTest.randn(r, DType.F64, 1, 2, sq, d);
      Tensor k = AttentionOpsTest.randn(r, DType.F64, 1, 2, sk, d);
      Tensor v = AttentionOpsTest.randn(r, DType.F64, 1, 2, sk, dv);
      Tensor go = AttentionOpsTest.randn(r, DType.F64, 1, 2, sq, dv);
      AttentionMask m = AttentionMask.KeyRanges.of(ranges);
      Attention.Forward f = Attention.forward(q, k, v, m, 0.3);
      Attention.Grads g = Attention.backward(q, k, v, f.out(), f.lse(), go, m, 0.3);
      double[][] want =
          AttentionBackwardTest.reference(
              q.toDoubleArray(),
              k.toDoubleArray(),
              v.toDoubleArray(),
              go.toDoubleArray(),
              2,
              sq,
              sk,
              d,
              dv,
              0.3,
              AttentionBackwardTest.allowed(m, sq, sk, null));
      assertClose("dq", Tensor.of(want[0], 2 * sq * d), g.q().reshape(-1), 1e-12);
      assertClose("dk", Tensor.of(want[1], 2 * sk * d), g.k().reshape(-1), 1e-12);
      assertClose("dv", Tensor.of(want[2], 2 * sk * dv), g.v().reshape(-1), 1e-12);
      // rows that see nothing: output 0, lse -inf
      double[] out = f.out().toDoubleArray(), lse = f.lse().toDoubleArray();
      for (int i = 0; i < sq; i++) {
        boolean empty =
            ranges[4 * i] >= ranges[4 * i + 1] && ranges[4 * i + 2] >= ranges[4 * i + 3];
        if (!empty) continue;
        assertEquals(Double.NEGATIVE_INFINITY, lse[i], "lse of empty row " + i);
        for (int c = 0; c < dv; c++) assertEquals(0.0, out[i * dv + c], "out of empty row " + i);
      }
    }
  }

  @Test
  void badRangesAreRefused() {
    try (var s = Scope.open()) {
      Random r = new Random(14);
      Tensor q = AttentionOpsTest.randn(r, DType.F32, 1, 1, 3, 4);
      Tensor kv = AttentionOpsTest.randn(r, DType.F32, 1, 1, 5, 4);
      var e =
          assertThrows(
              IllegalArgumentException.class,
              () -> new AttentionMask.KeyRanges(Tensor.of(new long[] {0, 1, 0, 0}, 1, 4)));
      assertTrue(e.getMessage().contains("must be I32 [Sq, 4]"), e.getMessage());
      assertThrows(
          IllegalArgumentException.class,
          () -> new AttentionMask.KeyRanges(Tensor.of(new int[] {0, 1, 0}, 1, 3)));
      assertThrows(IllegalArgumentException.class, () -> AttentionMask.KeyRanges.of(new int[5]));
      var rows =
          assertThrows(
              IllegalArgumentException.class,
              () ->
                  Tensor.scaledDotProductAttention(
                      q, kv, kv, AttentionMask.KeyRanges.of(new int[8]), 1));
      assertTrue(rows.getMessage().contains("one row per query (Sq = 3)"), rows.getMessage());
      // Bounds past the keys are clipped, not refused: the table is never read back to check.
      int[] wide = {-3, 9, 0, 0, 0, 6, -1, 2, 7, 9, -5, 1};
      int[] clipped = {0, 5, 0, 0, 0, 5, 0, 2, 5, 5, 0, 1};
      assertArrayEquals(
          Tensor.scaledDotProductAttention(q, kv, kv, AttentionMask.KeyRanges.of(wide), 1)
              .toFloatArray(),
          Tensor.scaledDotProductAttention(q, kv, kv, AttentionMask.KeyRanges.of(clipped), 1)
              .toFloatArray());
    }
  }
}
