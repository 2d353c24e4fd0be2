package io.kinema.ffi.openblas;

import static java.lang.foreign.ValueLayout.JAVA_DOUBLE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** cblas GEMMs through FFM against a double-precision reference; skipped without OpenBLAS. */
class OpenBlasTest {
  /** (m, n, k): 1s, odd sizes, non-square, larger than OpenBLAS's blocking. */
  private static final int[][] SHAPES = {
    {1, 1, 1},
    {1, 7, 3},
    {5, 1, 9},
    {3, 17, 33},
    {17, 3, 1},
    {64, 48, 100},
    {129, 65, 257},
    {300, 200, 50}
  };

  private final Random rnd = new Random(42);

  @BeforeEach
  void requireOpenBlas() {
    assumeTrue(OpenBlas.isAvailable(), OpenBlas.unavailableReason());
  }

  /** A row-major matrix stored as rows x cols with leading dimension ld (>= cols). */
  private record Mat(int rows, int cols, int ld, double[] v) {
    double at(int r, int c) {
      return v[r * ld + c];
    }
  }

  private Mat random(int rows, int cols, int pad) {
    int ld = Math.max(1, cols) + pad;
    double[] v = new double[Math.max(0, (rows - 1) * ld + cols)];
    for (int i = 0; i < v.length; i++) v[i] = rnd.nextDouble() * 2 - 1;
    return new Mat(rows, cols, ld, v);
  }

  /**
   * C = alpha op(A) op(B) + beta C0 in double, and the bound on |error| per element: the sum of
   * |terms| (what rounding errors scale with).
   */
  private static double[][] reference(
      boolean ta, boolean tb, int m, int n, int k, double alpha, Mat a, Mat b, double beta, Mat c) {
    double[] out = new double[m * n];
    double[] mag = new double[m * n];
    for (int i = 0; i < m; i++) {
      for (int j = 0; j < n; j++) {
        double s = 0, abs = 0;
        for (int p = 0; p < k; p++) {
          double x = ta ? a.at(p, i) : a.at(i, p);
          double y = tb ? b.at(j, p) : b.at(p, j);
          s += x * y;
          abs += Math.abs(x * y);
        }
        double c0 = c.at(i, j);
        out[i * n + j] = alpha * s + beta * c0;
        mag[i * n + j] = Math.abs(alpha) * abs + Math.abs(beta * c0);
      }
    }
    return new double[][] {out, mag};
  }

  private static MemorySegment f32(Arena arena, double[] v) {
    MemorySegment s = arena.allocate(Math.max(4L, 4L * v.length), 64);
    for (int i = 0; i < v.length; i++) s.setAtIndex(JAVA_FLOAT, i, (float) v[i]);
    return s;
  }

  private static MemorySegment f64(Arena arena, double[] v) {
    MemorySegment s = arena.allocate(Math.max(8L, 8L * v.length), 64);
    for (int i = 0; i < v.length; i++) s.setAtIndex(JAVA_DOUBLE, i, v[i]);
    return s;
  }

  /** Rounds to bf16 (nearest even) so inputs are exactly representable for the reference. */
  private static short bf16(float f) {
    int bits = Float.floatToRawIntBits(f);
    return (short) ((bits + 0x7FFF + ((bits >>> 16) & 1)) >>> 16);
  }

  private static float bf16ToFloat(short h) {
    return Float.intBitsToFloat(h << 16);
  }

  private static Mat toBf16Values(Mat m) {
    double[] v = m.v.clone();
    for (int i = 0; i < v.length; i++) v[i] = bf16ToFloat(bf16((float) v[i]));
    return new Mat(m.rows, m.cols, m.ld, v);
  }

  private static MemorySegment bf16Seg(Arena arena, double[] v) {
    MemorySegment s = arena.allocate(Math.max(2L, 2L * v.length), 64);
    for (int i = 0; i < v.length; i++) s.setAtIndex(JAVA_SHORT, i, bf16((float) v[i]));
    return s;
  }

  private enum Kind {
    F32,
    F64,
    BF16
  }

  private void checkGemm(Kind kind, double tol) {
    for (int[] shape : SHAPES) {
      for (int t = 0; t < 4; t++) {
        boolean ta = (t & 1) != 0, tb = (t & 2) != 0;
        int m = shape[0], n = shape[1], k = shape[2];
        int pad = rnd.nextInt(3) * 5; // also leading dims larger than the row
        Mat a = ta ? random(k, m, pad) : random(m, k, pad);
        Mat b = tb ? random(n, k, pad) : random(k, n, pad);
        Mat c = random(m, n, pad);
        if (kind == Kind.BF16) {
          a = toBf16Values(a);
          b = toBf16Values(b);
        }
        double alpha = 0.75, beta = t == 3 ? 0.0 : -0.5;
        double[][] ref = reference(ta, tb, m, n, k, alpha, a, b, beta, c);
        try (Arena arena = Arena.ofConfined()) {
          double[] got = new double[m * n];
          switch (kind) {
            case F32 -> {
              MemorySegment cs = f32(arena, c.v);
              OpenBlas.sgemm(
                  ta,
                  tb,
                  m,
                  n,
                  k,
                  (float) alpha,
                  f32(arena, a.v),
                  a.ld,
                  f32(arena, b.v),
                  b.ld,
                  (float) beta,
                  cs,
                  c.ld);
              for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++)
                  got[i * n + j] = cs.getAtIndex(JAVA_FLOAT, i * c.ld + j);
            }
            case F64 -> {
              MemorySegment cs = f64(arena, c.v);
              OpenBlas.dgemm(
                  ta,
                  tb,
                  m,
                  n,
                  k,
                  alpha,
                  f64(arena, a.v),
                  a.ld,
                  f64(arena, b.v),
                  b.ld,
                  beta,
                  cs,
                  c.ld);
              for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++)
                  got[i * n + j] = cs.getAtIndex(JAVA_DOUBLE, i * c.ld + j);
            }
            case BF16 -> {
              MemorySegment cs = f32(arena, c.v);
              OpenBlas.sbgemm(
                  ta,
                  tb,
                  m,
                  n,
                  k,
                  (float) alpha,
                  bf16Seg(arena, a.v),
                  a.ld,
                  bf16Seg(arena, b.v),
                  b.ld,
                  (float) beta,
                  cs,
                  c.ld);
              for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++)
                  got[i * n + j] = cs.getAtIndex(JAVA_FLOAT, i * c.ld + j);
            }
          }
          for (int i = 0; i < m * n; i++) {
            // C0 itself was rounded to the working precision before the call.
            double bound =
                tol * (ref[1][i] + 1e-30) + (kind == Kind.F64 ? 0 : 1e-7 * Math.abs(beta));
            if (Math.abs(got[i] - ref[0][i]) > bound) {
              fail(
                  kind
                      + " gemm transA="
                      + ta
                      + " transB="
                      + tb
                      + " m="
                      + m
                      + " n="
                      + n
                      + " k="
                      + k
                      + " element "
                      + i
                      + ": got "
                      + got[i]
                      + ", expected "
                      + ref[0][i]);
            }
          }
        }
      }
    }
  }

  @Test
  void sgemmMatchesReference() {
    checkGemm(Kind.F32, 1e-5);
  }

  @Test
  void dgemmMatchesReference() {
    checkGemm(Kind.F64, 1e-12);
  }

  @Test
  void sbgemmMatchesReference() {
    assumeTrue(OpenBlas.hasSbgemm(), OpenBlas.sbgemmUnavailableReason());
    checkGemm(Kind.BF16, 1e-5);
  }

  @Test
  void sbgemmMissingThrowsNamingTheSymbol() {
    assumeTrue(!OpenBlas.hasSbgemm(), "this OpenBLAS exports cblas_sbgemm");
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment s = arena.allocate(64);
      var e =
          assertThrows(
              UnsupportedOperationException.class,
              () -> OpenBlas.sbgemm(false, false, 1, 1, 1, 1f, s, 1, s, 1, 0f, s, 1));
      assertTrue(e.getMessage().contains("cblas_sbgemm"), e.getMessage());
      assertTrue(e.getMessage().contains("not exported"), e.getMessage());
    }
  }

  @Test
  void emptyInnerDimensionScalesC() {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment a = arena.allocate(64), b = arena.allocate(64);
      MemorySegment c = f32(arena, new double[] {1, 2, 3, 4, 5, 6});
      OpenBlas.sgemm(false, false, 2, 3, 0, 1f, a, 1, b, 3, 0.5f, c, 3);
      for (int i = 0; i < 6; i++) assertEquals(0.5 * (i + 1), c.getAtIndex(JAVA_FLOAT, i), 0);
      MemorySegment d = f64(arena, new double[] {1, 2, 3, 4, 5, 6});
      OpenBlas.dgemm(false, false, 2, 3, 0, 1, a, 1, b, 3, 0, d, 3);
      for (int i = 0; i < 6; i++) assertEquals(0, d.getAtIndex(JAVA_DOUBLE, i), 0);
      // m = 0 or n = 0: nothing to write, nothing read.
      OpenBlas.sgemm(false, false, 0, 3, 4, 1f, a, 4, b, 3, 0f, c, 3);
      OpenBlas.sgemm(false, false, 2, 0, 4, 1f, a, 4, b, 1, 0f, c, 1);
      assertEquals(0.5f, c.getAtIndex(JAVA_FLOAT, 0));
    }
  }

  @Test
  void badArgumentsThrowInsteadOfCrashing() {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment a = arena.allocate(4L * 6 * 4, 64);
      MemorySegment b = arena.allocate(4L * 4 * 5, 64);
      MemorySegment c = arena.allocate(4L * 6 * 5, 64);
      var e =
          assertThrows(
              IllegalArgumentException.class,
              () -> OpenBlas.sgemm(false, false, 6, 5, 4, 1f, a, 3, b, 5, 0f, c, 5));
      assertTrue(e.getMessage().contains("sgemm(m=6, n=5, k=4): A"), e.getMessage());
      assertTrue(e.getMessage().contains("leading dimension must be >= 4, got 3"), e.getMessage());
      e =
          assertThrows(
              IllegalArgumentException.class,
              () -> OpenBlas.sgemm(false, true, 6, 5, 4, 1f, a, 4, b, 5, 0f, c, 5));
      assertTrue(e.getMessage().contains("B (transposed) needs 96 bytes"), e.getMessage());
      e =
          assertThrows(
              IllegalArgumentException.class,
              () -> OpenBlas.dgemm(false, false, 6, 5, 4, 1, a, 4, b, 5, 0, c, 5));
      assertTrue(
          e.getMessage().contains("dgemm(m=6, n=5, k=4): A needs 192 bytes"), e.getMessage());
      MemorySegment heap = MemorySegment.ofArray(new float[30]);
      e =
          assertThrows(
              IllegalArgumentException.class,
              () -> OpenBlas.sgemm(false, false, 6, 5, 4, 1f, a, 4, b, 5, 0f, heap, 5));
      assertTrue(e.getMessage().contains("C is not a native segment"), e.getMessage());
      e =
          assertThrows(
              IllegalArgumentException.class,
              () -> OpenBlas.sgemm(false, false, 6, -1, 4, 1f, a, 4, b, 5, 0f, c, 5));
      assertTrue(e.getMessage().contains("negative size"), e.getMessage());
      assertThrows(
          IllegalArgumentException.class,
          () -> OpenBlas.sgemm(false, false, 6, 5, 4, 1f, a, 4, b, 5, 0f, c.asReadOnly(), 5));
    }
  }

  @Test
  void queriesAndThreads() {
    String core = OpenBlas.corename();
    assertFalse(core.isBlank());
    assertTrue(OpenBlas.config().startsWith("OpenBLAS "), OpenBlas.config());
    assertTrue(OpenBlas.library().location().isPresent());
    int before = OpenBlas.numThreads();
    assertTrue(before >= 1);
    try {
      OpenBlas.setNumThreads(1);
      assertEquals(1, OpenBlas.numThreads());
    } finally {
      OpenBlas.setNumThreads(before);
    }
    assertEquals(before, OpenBlas.numThreads());
    assertThrows(IllegalArgumentException.class, () -> OpenBlas.setNumThreads(0));
  }
}
