package io.kinema.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kinema.tensor.cpu.CpuAllocator;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The blockwise attention backward ({@link Attention#backward}) against a materialized one. */
class AttentionBackwardTest {
  /** Whether query i may see key j (before any empty-row rule), for the reference. */
  interface Allowed {
    boolean at(int n, int i, int j);
  }

  static Allowed allowed(AttentionMask m, int sq, int sk, boolean[] explicit) {
    long shift = sk - sq;
    return switch (m) {
      case AttentionMask.None x -> (n, i, j) -> true;
      case AttentionMask.Causal x -> (n, i, j) -> j <= i + shift;
      case AttentionMask.BlockCausal(long bs) ->
          (n, i, j) -> Math.floorDiv(j, bs) <= Math.floorDiv(i + shift, bs);
      case AttentionMask.Explicit x -> (n, i, j) -> explicit[i * sk + j]; // [Sq, Sk], broadcast
      case AttentionMask.KeyRanges(Tensor ranges) -> {
        long[] r = ranges.toLongArray();
        yield (n, i, j) ->
            (r[4 * i] <= j && j < r[4 * i + 1]) || (r[4 * i + 2] <= j && j < r[4 * i + 3]);
      }
    };
  }

  /**
   * Naive double gradients over flattened batch rows: q [n, sq, d], k/v [n, sk, d/dv], dO [n, sq,
   * dv]. Materializes P and dS row by row. Returns {dq, dk, dv}.
   */
  static double[][] reference(
      double[] q,
      double[] k,
      double[] v,
      double[] go,
      int n,
      int sq,
      int sk,
      int d,
      int dv,
      double scale,
      Allowed allowed) {
    double[] gq = new double[n * sq * d], gk = new double[n * sk * d], gv = new double[n * sk * dv];
    double[] p = new double[sk], dp = new double[sk];
    for (int b = 0; b < n; b++) {
      for (int i = 0; i < sq; i++) {
        double mx = Double.NEGATIVE_INFINITY;
        for (int j = 0; j < sk; j++) {
          p[j] = Double.NEGATIVE_INFINITY;
          if (!allowed.at(b, i, j)) continue;
          double dot = 0;
          for (int x = 0; x < d; x++) dot += q[(b * sq + i) * d + x] * k[(b * sk + j) * d + x];
          p[j] = dot * scale;
          mx = Math.max(mx, p[j]);
        }
        if (mx == Double.NEGATIVE_INFINITY) continue; // sees nothing: output 0, gradients 0
        double sum = 0;
        for (int j = 0; j < sk; j++) sum += p[j] = Math.exp(p[j] - mx);
        double dsum = 0;
        for (int j = 0; j < sk; j++) {
          p[j] /= sum;
          double t = 0;
          for (int c = 0; c < dv; c++) t += go[(b * sq + i) * dv + c] * v[(b * sk + j) * dv + c];
          dp[j] = t;
          dsum += p[j] * t;
        }
        for (int j = 0; j < sk; j++) {
          for (int c = 0; c < dv; c++) {
            gv[(b * sk + j) * dv + c] += p[j] * go[(b * sq + i) * dv + c];
          }
          double ds = scale * p[j] * (dp[j] - dsum);
          for (int x = 0; x < d; x++) {
            gq[(b * sq + i) * d + x] += ds * k[(b * sk + j) * d + x];
            gk[(b * sk + j) * d + x] += ds * q[(b * sq + i) * d + x];
          }
        }
      }
    }
    return new double[][] {gq, gk, gv};
  }

  private static double[] randn(Random r, int n) {
    double[] a = new double[n];
    for (int i = 0; i < n; i++) a[i] = r.nextGaussian();
    return a;
  }

  private static void assertClose(String what, double[] want, Tensor got, double tol) {
    double[] g = got.toDoubleArray();
    assertEquals(want.length, g.length, what);
    double scale = 1e-3; // absolute floor for all-tiny gradients
    for (double w : want) scale = Math.max(scale, Math.abs(w));
    for (int i = 0; i < want.length; i++) {
      double err = Math.abs(want[i] - g[i]);
      if (!(err <= tol * scale)) {
        throw new AssertionError(
            what
                + "["
                + i
                + "]: want "
                + want[i]
                + ", got "
                + g[i]
                + " (max |want| "
                + scale
                + ")");
      }
    }
  }

  /**
   * One case: q [B, H, Sq, D] etc. made in {@code layout} ("contiguous", "bshd": [B, S, H, D]
   * transposed, "strided": a step-2 slice of a longer sequence), checked in {@code dtype}.
   */
  private static void check(
      Random r,
      DType dtype,
      String layout,
      int bb,
      int hh,
      int sq,
      int sk,
      int d,
      int dv,
      AttentionMask mask,
      double tol) {
    int n = bb * hh;
    double[] qd = randn(r, n * sq * d), kd = randn(r, n * sk * d), vd = randn(r, n * sk * dv);
    double[] god = randn(r, n * sq * dv);
    boolean[] ex = new boolean[sq * sk];
    for (int i = 0; i < ex.length; i++) ex[i] = r.nextInt(4) != 0;
    for (int j = 0; j < sk; j++) ex[Math.min(1, sq - 1) * sk + j] = false; // an empty row
    AttentionMask m =
        mask instanceof AttentionMask.Explicit
            ? new AttentionMask.Explicit(Tensor.of(ex, sq, sk))
            : mask;
    Tensor q = make(qd, dtype, layout, bb, hh, sq, d);
    Tensor k = make(kd, dtype, layout, bb, hh, sk, d);
    Tensor v = make(vd, dtype, layout, bb, hh, sk, dv);
    Tensor go = make(god, dtype, layout, bb, hh, sq, dv);
    // The reference sees exactly the (rounded) values the kernel sees.
    qd = q.toDoubleArray();
    kd = k.toDoubleArray();
    vd = v.toDoubleArray();
    god = go.toDoubleArray();
    double scale = 0.9 / Math.sqrt(d);
    Attention.Forward f = Attention.forward(q, k, v, m, scale);
    Attention.Grads g = Attention.backward(q, k, v, f.out(), f.lse(), go, m, scale);
    double[][] want =
        reference(qd, kd, vd, god, n, sq, sk, d, dv, scale, allowed(mask, sq, sk, ex));
    DType gt = dtype == DType.F64 ? DType.F64 : DType.F32;
    String what = dtype + " " + layout + " " + mask + " " + sq + "x" + sk + " d" + d + "/" + dv;
    assertEquals(gt, g.q().dtype(), what);
    assertArrayEquals(new long[] {bb, hh, sq, d}, g.q().shape(), what);
    assertArrayEquals(new long[] {bb, hh, sk, d}, g.k().shape(), what);
    assertArrayEquals(new long[] {bb, hh, sk, dv}, g.v().shape(), what);
    assertClose(what + " dq", want[0], g.q(), tol);
    assertClose(what + " dk", want[1], g.k(), tol);
    assertClose(what + " dv", want[2], g.v(), tol);
  }

  private static Tensor make(
      double[] data, DType dtype, String layout, int b, int h, int s, int d) {
    return switch (layout) {
      case "contiguous" -> Tensor.of(data, b, h, s, d).to(dtype);
      case "bshd" -> {
        // data is [B, H, S, D] in logical order: store it as [B, S, H, D] and view it back.
        Tensor t = Tensor.of(data, b, h, s, d).to(dtype).transpose(1, 2).contiguous();
        yield t.transpose(1, 2);
      }
      default -> {
        // A step-2 slice along S of a [B, H, 2S, D] tensor whose even rows are the data.
        double[] wide = new double[b * h * 2 * s * d];
        for (int bh = 0; bh < b * h; bh++) {
          for (int i = 0; i < s; i++) {
            for (int x = 0; x < d; x++) {
              wide[((bh * 2 * s) + 2 * i) * d + x] = data[(bh * s + i) * d + x];
              wide[((bh * 2 * s) + 2 * i + 1) * d + x] = 1e9; // must never be read
            }
          }
        }
        yield Tensor.of(wide, b, h, 2L * s, d).to(dtype).slice(2, 0, 2L * s, 2);
      }
    };
  }

  private static final AttentionMask[] MASKS = {
    AttentionMask.NONE,
    AttentionMask.CAUSAL,
    AttentionMask.blockCausal(5),
    AttentionMask.blockCausal(64),
    new AttentionMask.Explicit(null) // placeholder: check() builds the tensor
  };

  @Test
  void f64MatchesTheMaterializedGradient() {
    try (var s = Scope.open()) {
      Random r = new Random(1);
      for (AttentionMask m : MASKS) {
        check(r, DType.F64, "contiguous", 2, 2, 37, 53, 17, 9, m, 1e-12);
        check(r, DType.F64, "contiguous", 1, 2, 45, 19, 5, 3, m, 1e-12); // Sq > Sk: empty rows
      }
      check(r, DType.F64, "bshd", 2, 3, 20, 33, 8, 8, AttentionMask.CAUSAL, 1e-12);
      check(r, DType.F64, "strided", 1, 2, 17, 17, 3, 4, AttentionMask.blockCausal(4), 1e-12);
      check(r, DType.F64, "contiguous", 1, 1, 1, 1, 1, 1, AttentionMask.NONE, 1e-12);
    }
  }

  @Test
  void f32MatchesTheMaterializedGradient() {
    try (var s = Scope.open()) {
      Random r = new Random(2);
      for (AttentionMask m : MASKS) {
        // Block sizes are 64: cross block edges on both axes, D not a multiple of the vector.
        check(r, DType.F32, "contiguous", 1, 2, 133, 150, 33, 17, m, 1e-5);
        check(r, DType.F32, "contiguous", 2, 1, 100, 37, 64, 64, m, 1e-5); // Sq > Sk
      }
      check(r, DType.F32, "bshd", 2, 3, 70, 70, 16, 16, AttentionMask.CAUSAL, 1e-5);
      check(r, DType.F32, "strided", 1, 2, 65, 66, 3, 5, AttentionMask.blockCausal(7), 1e-5);
      check(r, DType.F32, "contiguous", 1, 1, 1, 1, 1, 1, AttentionMask.NONE, 1e-5);
    }
  }

  @Test
  void halfInputsAreComputedInF32() {
    try (var s = Scope.open()) {
      Random r = new Random(3);
      // The forward's output is rounded to the input dtype, so D = rowsum(dO * O) carries its
      // rounding: the usual half tolerances.
      check(r, DType.BF16, "contiguous", 1, 2, 70, 80, 24, 24, AttentionMask.CAUSAL, 1e-2);
      check(r, DType.F16, "bshd", 1, 2, 30, 30, 8, 8, AttentionMask.blockCausal(4), 1e-3);
    }
  }

  @Test
  void broadcastLeadingDimsAndEmptySizes() {
    try (var s = Scope.open()) {
      Random r = new Random(4);
      // Rank-2 q against k/v with a batch dim: gradients come back in the broadcast shape.
      Tensor q = Tensor.of(randn(r, 6 * 4), 6, 4), k = Tensor.of(randn(r, 2 * 5 * 4), 2, 5, 4);
      Tensor v = Tensor.of(randn(r, 2 * 5 * 3), 2, 5, 3);
      Attention.Forward f = Attention.forward(q, k, v, AttentionMask.CAUSAL, 0.5);
      Tensor go = Tensor.of(randn(r, 2 * 6 * 3), 2, 6, 3);
      Attention.Grads g =
          Attention.backward(q, k, v, f.out(), f.lse(), go, AttentionMask.CAUSAL, 0.5);
      assertArrayEquals(new long[] {2, 6, 4}, g.q().shape());
      double[] qq = new double[2 * 6 * 4];
      System.arraycopy(q.toDoubleArray(), 0, qq, 0, 24);
      System.arraycopy(q.toDoubleArray(), 0, qq, 24, 24);
      double[][] want =
          reference(
              qq,
              k.toDoubleArray(),
              v.toDoubleArray(),
              go.toDoubleArray(),
              2,
              6,
              5,
              4,
              3,
              0.5,
              allowed(AttentionMask.CAUSAL, 6, 5, null));
      assertClose("broadcast dq", want[0], g.q(), 1e-12);
      assertClose("broadcast dk", want[1], g.k(), 1e-12);
      assertClose("broadcast dv", want[2], g.v(), 1e-12);
      // Sk = 0: every row sees nothing; dq is 0, dk/dv are empty.
      Tensor k0 = Tensor.zeros(DType.F32, 1, 0, 4), v0 = Tensor.zeros(DType.F32, 1, 0, 3);
      Tensor q1 = Tensor.of(randn(r, 12), 1, 3, 4).to(DType.F32);
      Attention.Forward f0 = Attention.forward(q1, k0, v0, AttentionMask.NONE, 1);
      Tensor go0 = Tensor.of(randn(r, 9), 1, 3, 3).to(DType.F32);
      Attention.Grads g0 =
          Attention.backward(q1, k0, v0, f0.out(), f0.lse(), go0, AttentionMask.NONE, 1);
      assertArrayEquals(new double[12], g0.q().toDoubleArray());
      assertEquals(0, g0.k().numel());
    }
  }

  @Test
  void deterministicAndChecked() {
    try (var s = Scope.open()) {
      Random r = new Random(5);
      Tensor q = Tensor.of(randn(r, 2 * 300 * 32), 1, 2, 300, 32).to(DType.F32);
      Tensor k = Tensor.of(randn(r, 2 * 300 * 32), 1, 2, 300, 32).to(DType.F32);
      Tensor go = Tensor.of(randn(r, 2 * 300 * 32), 1, 2, 300, 32).to(DType.F32);
      Attention.Forward f = Attention.forward(q, k, k, AttentionMask.CAUSAL, 0.2);
      double[] a =
          Attention.backward(q, k, k, f.out(), f.lse(), go, AttentionMask.CAUSAL, 0.2)
              .q()
              .toDoubleArray();
      double[] b =
          Attention.backward(q, k, k, f.out(), f.lse(), go, AttentionMask.CAUSAL, 0.2)
              .q()
              .toDoubleArray();
      assertArrayEquals(a, b);

      var e =
          assertThrows(
              IllegalArgumentException.class,
              () -> Attention.backward(q, k, k, f.out(), go, go, AttentionMask.CAUSAL, 0.2));
      assertTrue(
          e.getMessage().contains("scaledDotProductAttention backward: lse must be F32[1, 2, 300]"),
          e.getMessage());
      e =
          assertThrows(
              IllegalArgumentException.class,
              () ->
                  Attention.backward(
                      q, k, k, f.out(), f.lse(), f.lse(), AttentionMask.CAUSAL, 0.2));
      assertTrue(
          e.getMessage().contains("out and gradOut must be F32[1, 2, 300, 32]"), e.getMessage());
    }
  }

  @Test
  void neverMaterializesTheScores() {
    int sq = 4096, d = 64;
    try (var s = Scope.open()) {
      Random r = new Random(6);
      float[] x = new float[sq * d];
      for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
      Tensor q = Tensor.of(x, 1, 1, sq, d);
      for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
      Tensor k = Tensor.of(x, 1, 1, sq, d);
      for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
      Tensor v = Tensor.of(x, 1, 1, sq, d);
      Tensor go = Tensor.of(x, 1, 1, sq, d);
      Attention.Forward f = Attention.forward(q, k, v, AttentionMask.NONE, 0.125);
      CpuAllocator alloc = CpuAllocator.get();
      long before = alloc.stats().allocated();
      alloc.resetPeak();
      Attention.Grads g =
          Attention.backward(q, k, v, f.out(), f.lse(), go, AttentionMask.NONE, 0.125);
      long grown = alloc.stats().peakAllocated() - before;
      // The three gradients (3 MiB) and nothing of the 64 MiB score matrix.
      assertTrue(grown < 4L << 20, "backward allocated " + grown + " bytes at its peak");
      assertTrue(Double.isFinite(g.k().toDoubleArray()[12345]));
    }
  }
}
