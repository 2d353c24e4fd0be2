package io.kinema.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.kinema.tensor.cpu.CpuAllocator;
import java.lang.foreign.ValueLayout;
import java.util.Random;
import org.junit.jupiter.api.Test;

class AttentionOpsTest {
  private static final String OP = "scaledDotProductAttention";

  /** Which (batch-row n, query i, key j) may attend, for the reference. */
  interface Allowed {
    boolean at(int n, int i, int j);
  }

  /**
   * Naive double-precision attention over flattened batch rows: q [n, sq, d], k [n, sk, d], v [n,
   * sk, dv]. Materializes every score row. Returns {out [n, sq, dv], lse [n, sq]}; a row that sees
   * no key gets 0 and -inf.
   */
  static double[][] reference(
      double[] q,
      double[] k,
      double[] v,
      int n,
      int sq,
      int sk,
      int d,
      int dv,
      double scale,
      Allowed allowed) {
    double[] out = new double[n * sq * dv];
    double[] lse = new double[n * sq];
    double[] s = new double[sk];
    for (int b = 0; b < n; b++) {
      for (int i = 0; i < sq; i++) {
        double mx = Double.NEGATIVE_INFINITY;
        for (int j = 0; j < sk; j++) {
          if (!allowed.at(b, i, j)) {
            s[j] = Double.NEGATIVE_INFINITY;
            continue;
          }
          double dot = 0;
          for (int x = 0; x < d; x++) dot += q[(b * sq + i) * d + x] * k[(b * sk + j) * d + x];
          s[j] = dot * scale;
          mx = Math.max(mx, s[j]);
        }
        if (mx == Double.NEGATIVE_INFINITY) {
          lse[b * sq + i] = Double.NEGATIVE_INFINITY;
          continue;
        }
        double sum = 0;
        for (int j = 0; j < sk; j++) sum += Math.exp(s[j] - mx);
        for (int j = 0; j < sk; j++) {
          double pj = Math.exp(s[j] - mx) / sum;
          for (int c = 0; c < dv; c++) out[(b * sq + i) * dv + c] += pj * v[(b * sk + j) * dv + c];
        }
        lse[b * sq + i] = mx + Math.log(sum);
      }
    }
    return new double[][] {out, lse};
  }

  static Allowed causal(int sq, int sk) {
    return (n, i, j) -> j <= i + (sk - sq);
  }

  static Allowed blockCausal(int sq, int sk, long bs) {
    return (n, i, j) -> Math.floorDiv(j, bs) <= Math.floorDiv(i + (long) (sk - sq), bs);
  }

  static final Allowed ALL = (n, i, j) -> true;

  static Tensor randn(Random r, DType dtype, long... shape) {
    double[] x = new double[(int) Shapes.numel(shape)];
    for (int i = 0; i < x.length; i++) x[i] = r.nextGaussian();
    return Tensor.of(x, shape).to(dtype);
  }

  static double tolerance(DType t) {
    return switch (t) {
      case F64 -> 1e-12;
      case F32 -> 1e-5;
      case F16 -> 2e-3;
      default -> 1.5e-2;
    };
  }

  static void assertClose(double[] expected, double[] actual, double tol, String what) {
    assertEquals(expected.length, actual.length, what + ": length");
    for (int i = 0; i < expected.length; i++) {
      double e = expected[i], a = actual[i];
      if (e == a) continue; // covers -inf
      if (!(Math.abs(e - a) <= tol * Math.max(1, Math.abs(e)))) {
        fail(what + ": element " + i + " expected " + e + " got " + a + " (tol " + tol + ")");
      }
    }
  }

  /** Runs q [n, sq, d] style rank-3 inputs through the op and compares with the reference. */
  private static void check(
      Random r, DType dtype, int n, int sq, int sk, int d, int dv, AttentionMask mask, Allowed a) {
    try (var s = Scope.open()) {
      Tensor q = randn(r, dtype, n, sq, d);
      Tensor k = randn(r, dtype, n, sk, d);
      Tensor v = randn(r, dtype, n, sk, dv);
      double scale = 1 / Math.sqrt(d) * 1.7;
      Tensor out = Tensor.scaledDotProductAttention(q, k, v, mask, scale);
      assertArrayEquals(new long[] {n, sq, dv}, out.shape());
      assertEquals(dtype, out.dtype());
      double[][] ref =
          reference(
              q.toDoubleArray(), k.toDoubleArray(), v.toDoubleArray(), n, sq, sk, d, dv, scale, a);
      String what = dtype + " " + mask + " n=" + n + " sq=" + sq + " sk=" + sk + " d=" + d;
      assertClose(ref[0], out.toDoubleArray(), tolerance(dtype), what + " dv=" + dv);
    }
  }

  private static final int[][] SHAPES = {
    // n, sq, sk, d, dv
    {1, 1, 1, 8, 8},
    {2, 5, 33, 20, 72},
    {1, 33, 130, 64, 20},
    {2, 130, 5, 72, 64},
    {1, 70, 257, 16, 17},
    {3, 17, 17, 3, 1},
  };

  private static void sweep(DType dtype) {
    Random r = new Random(11 + dtype.ordinal());
    for (int[] sh : SHAPES) {
      int n = sh[0], sq = sh[1], sk = sh[2], d = sh[3], dv = sh[4];
      check(r, dtype, n, sq, sk, d, dv, AttentionMask.NONE, ALL);
      check(r, dtype, n, sq, sk, d, dv, AttentionMask.CAUSAL, causal(sq, sk));
      for (long bs : new long[] {1, 3, 16, 64}) {
        check(r, dtype, n, sq, sk, d, dv, AttentionMask.blockCausal(bs), blockCausal(sq, sk, bs));
      }
    }
  }

  @Test
  void f64MatchesReferenceForEveryStructuredMask() {
    sweep(DType.F64);
  }

  @Test
  void f32MatchesReferenceForEveryStructuredMask() {
    sweep(DType.F32);
  }

  @Test
  void halfPrecisionMatchesReference() {
    Random r = new Random(5);
    for (DType t : new DType[] {DType.BF16, DType.F16}) {
      check(r, t, 2, 33, 70, 20, 24, AttentionMask.NONE, ALL);
      check(r, t, 1, 130, 130, 64, 64, AttentionMask.CAUSAL, causal(130, 130));
      check(r, t, 1, 40, 90, 8, 16, AttentionMask.blockCausal(16), blockCausal(40, 90, 16));
    }
  }

  /**
   * With one key the softmax weight is exactly 1, so the output is v itself: run every 16-bit
   * pattern (subnormals, infinities, NaNs included) through the vectorized half loads.
   */
  @Test
  void halfInputsWidenExactly() {
    for (DType t : new DType[] {DType.BF16, DType.F16}) {
      try (var s = Scope.open()) {
        Tensor v = Tensor.empty(t, 256, 1, 256);
        var seg = v.storage().segment();
        for (int i = 0; i < 65536; i++) seg.setAtIndex(ValueLayout.JAVA_SHORT, i, (short) i);
        Tensor q = Tensor.ones(t, 256, 1, 3);
        Tensor k = Tensor.ones(t, 256, 1, 3);
        double[] expected = v.toDoubleArray();
        double[] got =
            Tensor.scaledDotProductAttention(q, k, v, AttentionMask.NONE).toDoubleArray();
        for (int i = 0; i < 65536; i++) {
          boolean same = Double.isNaN(expected[i]) ? Double.isNaN(got[i]) : expected[i] == got[i];
          assertTrue(same, t + " bits " + Integer.toHexString(i) + ": " + got[i]);
        }
      }
    }
  }

  @Test
  void causalAlignsKeysToTheEnd() {
    Random r = new Random(3);
    for (DType t : new DType[] {DType.F64, DType.F32}) {
      // Sk > Sq: a KV cache; every query sees the whole prefix.
      check(r, t, 1, 20, 150, 16, 16, AttentionMask.CAUSAL, causal(20, 150));
      // Sk < Sq: the first Sq - Sk queries see nothing and produce 0.
      check(r, t, 1, 90, 40, 16, 8, AttentionMask.CAUSAL, causal(90, 40));
      check(r, t, 1, 90, 40, 16, 8, AttentionMask.blockCausal(7), blockCausal(90, 40, 7));
    }
  }

  @Test
  void explicitMasksBroadcast() {
    Random r = new Random(21);
    int b = 2, h = 3, sq = 70, sk = 133, d = 24, dv = 20;
    long[][] maskShapes = {{sq, sk}, {h, 1, sk}, {b, 1, 1, sk}, {b, h, sq, sk}, {1, sk}};
    for (DType t : new DType[] {DType.F64, DType.F32, DType.BF16}) {
      for (long[] ms : maskShapes) {
        try (var s = Scope.open()) {
          boolean[] mb = new boolean[(int) Shapes.numel(ms)];
          for (int i = 0; i < mb.length; i++) mb[i] = r.nextDouble() < 0.7;
          if (ms.length == 2 && ms[0] == sq) {
            for (int j = 0; j < sk; j++) mb[5 * sk + j] = false; // row 5 sees nothing
            for (int j = 0; j < 128; j++) mb[6 * sk + j] = false; // row 6: only the last keys
          }
          Tensor mask = Tensor.of(mb, ms);
          Tensor q = randn(r, t, b, h, sq, d);
          Tensor k = randn(r, t, b, h, sk, d);
          Tensor v = randn(r, t, b, h, sk, dv);
          Tensor out =
              Tensor.scaledDotProductAttention(q, k, v, new AttentionMask.Explicit(mask), 0.3);
          boolean[] full;
          try (Tensor e = mask.expand(b, h, sq, sk)) {
            full = e.toBooleanArray();
          }
          Allowed a = (n, i, j) -> full[(n * sq + i) * sk + j];
          double[][] ref =
              reference(
                  q.toDoubleArray(),
                  k.toDoubleArray(),
                  v.toDoubleArray(),
                  b * h,
                  sq,
                  sk,
                  d,
                  dv,
                  0.3,
                  a);
          assertClose(ref[0], out.toDoubleArray(), tolerance(t), t + " mask " + Shapes.str(ms));
        }
      }
    }
  }

  @Test
  void nonContiguousInputs() {
    Random r = new Random(8);
    int b = 2, h = 3, sq = 37, sk = 140, d = 20, dv = 12;
    for (DType t : new DType[] {DType.F64, DType.F32, DType.F16}) {
      try (var s = Scope.open()) {
        // As Wan produces them: [B, S, H, D] permuted to [B, H, S, D].
        Tensor q = randn(r, t, b, sq, h, d).permute(0, 2, 1, 3);
        Tensor k = randn(r, t, b, sk, h, d).permute(0, 2, 1, 3);
        // v: every other row and every other column of a bigger tensor, head-major.
        Tensor v = randn(r, t, b, h, 2 * sk, 2 * dv).slice(2, 0, 2 * sk, 2).slice(3, 1, 2 * dv, 2);
        assertTrue(!q.isContiguous() && !v.isContiguous());
        Tensor out = Tensor.scaledDotProductAttention(q, k, v, AttentionMask.CAUSAL, 0.25);
        double[][] ref =
            reference(
                q.toDoubleArray(),
                k.toDoubleArray(),
                v.toDoubleArray(),
                b * h,
                sq,
                sk,
                d,
                dv,
                0.25,
                causal(sq, sk));
        assertClose(ref[0], out.toDoubleArray(), tolerance(t), t + " permuted");
        // Transposed k (last dim strided): D is not the innermost dim in memory.
        Tensor kt = randn(r, t, b, h, d, sk).transpose(2, 3);
        Tensor out2 = Tensor.scaledDotProductAttention(q, kt, v, AttentionMask.NONE, 0.25);
        double[][] ref2 =
            reference(
                q.toDoubleArray(),
                kt.toDoubleArray(),
                v.toDoubleArray(),
                b * h,
                sq,
                sk,
                d,
                dv,
                0.25,
                ALL);
        assertClose(ref2[0], out2.toDoubleArray(), tolerance(t), t + " transposed k");
      }
    }
  }

  @Test
  void ranksAndBroadcastLeadingDims() {
    Random r = new Random(13);
    for (DType t : new DType[] {DType.F64, DType.F32}) {
      try (var s = Scope.open()) {
        // Rank 2.
        Tensor q = randn(r, t, 9, 8);
        Tensor k = randn(r, t, 11, 8);
        Tensor v = randn(r, t, 11, 5);
        Tensor out = Tensor.scaledDotProductAttention(q, k, v, AttentionMask.CAUSAL);
        assertArrayEquals(new long[] {9, 5}, out.shape());
        double[][] ref =
            reference(
                q.toDoubleArray(),
                k.toDoubleArray(),
                v.toDoubleArray(),
                1,
                9,
                11,
                8,
                5,
                1 / Math.sqrt(8),
                causal(9, 11));
        assertClose(ref[0], out.toDoubleArray(), tolerance(t), t + " rank 2");

        // Rank 5, k and v broadcast over the two leading dims (shared across batch and group).
        Tensor q5 = randn(r, t, 2, 3, 2, 10, 16);
        Tensor k5 = randn(r, t, 2, 12, 16);
        Tensor v5 = randn(r, t, 1, 1, 2, 12, 4);
        Tensor out5 = Tensor.scaledDotProductAttention(q5, k5, v5, AttentionMask.NONE, 0.5);
        assertArrayEquals(new long[] {2, 3, 2, 10, 4}, out5.shape());
        double[][] ref5 =
            reference(
                q5.toDoubleArray(),
                k5.expand(2, 3, 2, 12, 16).toDoubleArray(),
                v5.expand(2, 3, 2, 12, 4).toDoubleArray(),
                12,
                10,
                12,
                16,
                4,
                0.5,
                ALL);
        assertClose(ref5[0], out5.toDoubleArray(), tolerance(t), t + " rank 5 broadcast");
      }
    }
  }

  @Test
  void logSumExpThroughTheBackend() {
    Random r = new Random(17);
    int b = 1, h = 2, sq = 75, sk = 50, d = 20, dv = 8;
    for (DType t : new DType[] {DType.F64, DType.F32}) {
      for (AttentionMask mask : new AttentionMask[] {AttentionMask.NONE, AttentionMask.CAUSAL}) {
        try (var s = Scope.open()) {
          Tensor q = randn(r, t, b, h, sq, d);
          Tensor k = randn(r, t, b, h, sk, d);
          Tensor v = randn(r, t, b, h, sk, dv);
          Tensor out = Tensor.empty(t, b, h, sq, dv);
          // lse as a strided view: every other element of a bigger buffer.
          Tensor lse = Tensor.zeros(t, b, h, 2 * sq).slice(2, 0, 2 * sq, 2);
          Backends.of(Device.CPU).attention(q, k, v, mask, 0.4, out, lse);
          Allowed a = mask instanceof AttentionMask.Causal ? causal(sq, sk) : ALL;
          double[][] ref =
              reference(
                  q.toDoubleArray(),
                  k.toDoubleArray(),
                  v.toDoubleArray(),
                  b * h,
                  sq,
                  sk,
                  d,
                  dv,
                  0.4,
                  a);
          assertClose(ref[0], out.toDoubleArray(), tolerance(t), t + " out");
          double[] got = lse.toDoubleArray();
          assertClose(ref[1], got, tolerance(t), t + " " + mask + " lse");
          if (a != ALL) assertEquals(Double.NEGATIVE_INFINITY, got[0]); // row 0 sees no key
        }
      }
    }
  }

  @Test
  void fullyMaskedRowsGiveZero() {
    for (DType t : new DType[] {DType.F64, DType.F32, DType.BF16}) {
      try (var s = Scope.open()) {
        Random r = new Random(2);
        Tensor q = randn(r, t, 1, 3, 4);
        Tensor k = randn(r, t, 1, 6, 4);
        Tensor v = randn(r, t, 1, 6, 5);
        Tensor none = Tensor.of(new boolean[18], 3, 6);
        Tensor out = Tensor.scaledDotProductAttention(q, k, v, new AttentionMask.Explicit(none));
        assertArrayEquals(new double[15], out.toDoubleArray());
        // No keys at all: every row is fully masked.
        Tensor k0 = Tensor.zeros(t, 1, 0, 4);
        Tensor v0 = Tensor.zeros(t, 1, 0, 5);
        Tensor out0 = Tensor.scaledDotProductAttention(q, k0, v0, AttentionMask.NONE);
        assertArrayEquals(new double[15], out0.toDoubleArray());
      }
    }
  }

  @Test
  void emptyShapes() {
    try (var s = Scope.open()) {
      Tensor q = Tensor.zeros(2, 0, 8);
      Tensor k = Tensor.ones(2, 5, 8);
      Tensor v = Tensor.ones(2, 5, 3);
      assertArrayEquals(
          new long[] {2, 0, 3},
          Tensor.scaledDotProductAttention(q, k, v, AttentionMask.CAUSAL).shape());
      Tensor out =
          Tensor.scaledDotProductAttention(
              Tensor.zeros(0, 4, 8), Tensor.zeros(0, 5, 8), Tensor.zeros(0, 5, 3), null);
      assertArrayEquals(new long[] {0, 4, 3}, out.shape());
    }
  }

  /**
   * Sq = Sk = 4096, one head: the op must not allocate anything near Sq x Sk (64 MiB of f32); only
   * the output (1 MiB) is allocated on the tensor heap.
   */
  @Test
  void longSequenceAllocatesNoScoreMatrix() {
    int n = 4096, d = 64;
    Random r = new Random(99);
    try (var s = Scope.open()) {
      Tensor q = randn(r, DType.F32, 1, n, d);
      Tensor k = randn(r, DType.F32, 1, n, d);
      Tensor v = randn(r, DType.F32, 1, n, d);
      for (AttentionMask mask : new AttentionMask[] {AttentionMask.NONE, AttentionMask.CAUSAL}) {
        var backend = Backends.of(Device.CPU);
        CpuAllocator.get().resetPeak();
        long before = backend.memoryStats().allocated();
        Tensor out = Tensor.scaledDotProductAttention(q, k, v, mask);
        long extra = backend.memoryStats().peakAllocated() - before;
        assertTrue(
            extra <= (long) n * d * 4 + 4096,
            "attention allocated " + extra + " bytes; Sq*Sk*4 = " + (long) n * n * 4);
        // Spot-check a few rows against the reference.
        double[] qa = q.toDoubleArray(), ka = k.toDoubleArray(), va = v.toDoubleArray();
        double[] got = out.toDoubleArray();
        for (int row : new int[] {0, 1, 1777, n - 1}) {
          double[] qr = new double[d];
          System.arraycopy(qa, row * d, qr, 0, d);
          final int rr = row;
          Allowed a = mask instanceof AttentionMask.Causal ? (b, i, j) -> j <= rr : ALL;
          double[][] ref = reference(qr, ka, va, 1, 1, n, d, d, 1 / Math.sqrt(d), a);
          double[] g = new double[d];
          System.arraycopy(got, row * d, g, 0, d);
          assertClose(ref[0], g, 1e-5, mask + " row " + row);
        }
      }
    }
  }

  private static void assertError(String expectedFragment, Runnable r) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, r::run);
    assertTrue(e.getMessage().startsWith(OP), e.getMessage());
    assertTrue(e.getMessage().contains(expectedFragment), e.getMessage());
  }

  @Test
  void badInputsThrowNamingOpAndShapes() {
    try (var s = Scope.open()) {
      Tensor q = Tensor.zeros(2, 4, 8);
      Tensor k = Tensor.zeros(2, 6, 8);
      Tensor v = Tensor.zeros(2, 6, 5);
      AttentionMask none = AttentionMask.NONE;
      assertError(
          "F64[2, 6, 8]", () -> Tensor.scaledDotProductAttention(q, k.to(DType.F64), v, none, 1));
      assertError(
          "F32[2, 6, 7]",
          () -> Tensor.scaledDotProductAttention(q, Tensor.zeros(2, 6, 7), v, none, 1));
      assertError(
          "F32[2, 7, 5]",
          () -> Tensor.scaledDotProductAttention(q, k, Tensor.zeros(2, 7, 5), none, 1));
      assertError(
          "rank >= 2", () -> Tensor.scaledDotProductAttention(Tensor.zeros(8), k, v, none, 1));
      assertError(
          "floating-point",
          () ->
              Tensor.scaledDotProductAttention(
                  q.to(DType.I32), k.to(DType.I32), v.to(DType.I32), none, 1));
      assertError(
          "cannot be broadcast",
          () -> Tensor.scaledDotProductAttention(Tensor.zeros(3, 4, 8), k, v, none, 1));
      assertError(
          "must be BOOL",
          () ->
              Tensor.scaledDotProductAttention(
                  q, k, v, new AttentionMask.Explicit(Tensor.zeros(4, 6)), 1));
      assertError(
          "BOOL[5, 6] is not broadcastable to the scores' shape [2, 4, 6]",
          () ->
              Tensor.scaledDotProductAttention(
                  q, k, v, new AttentionMask.Explicit(Tensor.of(new boolean[30], 5, 6)), 1));
      assertError("scale", () -> Tensor.scaledDotProductAttention(q, k, v, none, Double.NaN));
      assertThrows(IllegalArgumentException.class, () -> AttentionMask.blockCausal(0));
    }
  }
}
