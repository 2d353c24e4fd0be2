package io.kinema.tensor.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.kinema.ffi.openblas.OpenBlas;
import io.kinema.tensor.DType;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The GEMM selection and the OpenBLAS matmul path against a double-precision reference. */
class BlasProviderTest {
  private final Random rnd = new Random(7);

  @Test
  void selectionParsing() {
    assertEquals(BlasProvider.Kind.JAVA, BlasProvider.parse(null, null));
    assertEquals(BlasProvider.Kind.JAVA, BlasProvider.parse(" ", ""));
    assertEquals(BlasProvider.Kind.OPENBLAS, BlasProvider.parse("OpenBLAS", null));
    assertEquals(BlasProvider.Kind.OPENBLAS, BlasProvider.parse(null, "openblas"));
    assertEquals(BlasProvider.Kind.JAVA, BlasProvider.parse("java", "openblas")); // property wins
    var e = assertThrows(IllegalArgumentException.class, () -> BlasProvider.parse("mkl", null));
    assertEquals(
        "-Dkinema.blas=mkl is not a GEMM provider: expected 'java' (default) or 'openblas'",
        e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> BlasProvider.parse(null, "cublas"));
    assertTrue(e.getMessage().startsWith("KINEMA_BLAS=cublas is not a GEMM provider"));
  }

  @Test
  void defaultIsOurOwnGemm() {
    assumeTrue(
        System.getProperty(BlasProvider.PROPERTY) == null
            && System.getenv(BlasProvider.ENV) == null,
        "kinema.blas / KINEMA_BLAS is set for this run");
    assertEquals(BlasProvider.Kind.JAVA, BlasProvider.selected());
    assertFalse(BlasProvider.useOpenBlas());
  }

  private Tensor random(DType dtype, long... shape) {
    int n = 1;
    for (long d : shape) n *= (int) d;
    double[] v = new double[n];
    for (int i = 0; i < n; i++) v[i] = rnd.nextDouble() * 2 - 1;
    Tensor t = Tensor.of(v, shape);
    return dtype == DType.F64 ? t : t.to(dtype);
  }

  /** a[..., M, K] @ b[..., K, N] in double, batch dims equal (as the backend receives them). */
  private static double[] reference(Tensor a, Tensor b) {
    int r = a.dim();
    int m = (int) a.size(r - 2), k = (int) a.size(r - 1), n = (int) b.size(r - 1);
    double[] x = a.toDoubleArray(), y = b.toDoubleArray();
    int batches = 1;
    for (int d = 0; d < r - 2; d++) batches *= (int) a.size(d);
    double[] out = new double[batches * m * n];
    for (int bi = 0; bi < batches; bi++)
      for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
          double s = 0;
          for (int p = 0; p < k; p++) s += x[bi * m * k + i * k + p] * y[bi * k * n + p * n + j];
          out[bi * m * n + i * n + j] = s;
        }
    return out;
  }

  private static void assertClose(double[] expected, double[] got, double tol, String what) {
    assertEquals(expected.length, got.length, what);
    for (int i = 0; i < got.length; i++) {
      if (Math.abs(got[i] - expected[i]) > tol * Math.max(1, Math.abs(expected[i]))) {
        fail(what + ": element " + i + " is " + got[i] + ", expected " + expected[i]);
      }
    }
  }

  /** Runs BlasProvider.matmul into a fresh out and checks it against the reference. */
  private static void check(Tensor a, Tensor b, double tol) {
    int r = a.dim();
    long[] outShape = a.shape().clone();
    outShape[r - 1] = b.size(r - 1);
    Tensor out = Tensor.empty(a.dtype(), outShape).fill(Double.NaN);
    String what =
        "matmul "
            + a.describe()
            + " strides "
            + java.util.Arrays.toString(a.strides())
            + " @ "
            + b.describe()
            + " strides "
            + java.util.Arrays.toString(b.strides());
    assertTrue(BlasProvider.matmul(a, b, out), what + " was not taken by BLAS");
    assertClose(reference(a, b), out.toDoubleArray(), tol, what);
  }

  @Test
  void matmulMatchesReferenceOnAllLayouts() {
    assumeTrue(OpenBlas.isAvailable(), OpenBlas.unavailableReason());
    int[][] shapes = {{1, 1, 1}, {1, 17, 3}, {33, 1, 5}, {17, 33, 1}, {64, 40, 100}, {3, 1000, 17}};
    for (DType dt : new DType[] {DType.F32, DType.F64}) {
      double tol = dt == DType.F32 ? 1e-5 : 1e-12;
      try (var s = Scope.open()) {
        for (int[] sh : shapes) {
          int m = sh[0], n = sh[1], k = sh[2];
          Tensor a = random(dt, m, k), b = random(dt, k, n);
          Tensor aT = random(dt, k, m).mT(), bT = random(dt, n, k).mT(); // column-major views
          check(a, b, tol);
          check(aT, b, tol);
          check(a, bT, tol);
          check(aT, bT, tol);
          // Every other row: a leading dimension larger than the row.
          Tensor aGaps = random(dt, 2 * m, k).slice(0, 0, 2 * m, 2);
          check(aGaps, b, tol);
        }
      }
    }
  }

  @Test
  void batchedAndBroadcastOperands() {
    assumeTrue(OpenBlas.isAvailable(), OpenBlas.unavailableReason());
    for (DType dt : new DType[] {DType.F32, DType.F64}) {
      double tol = dt == DType.F32 ? 1e-5 : 1e-12;
      try (var s = Scope.open()) {
        Tensor a = random(dt, 2, 3, 5, 7);
        Tensor b = random(dt, 7, 4).expand(2, 3, 7, 4); // stride-0 batch dims
        check(a, b, tol);
        Tensor bPerBatch = random(dt, 3, 4, 7).mT().unsqueeze(0).expand(2, 3, 7, 4);
        check(a, bPerBatch, tol);
        Tensor aPermuted = random(dt, 5, 3, 2, 7).permute(2, 1, 0, 3); // batch strides not nested
        check(aPermuted, b, tol);
      }
    }
  }

  @Test
  void emptyDims() {
    assumeTrue(OpenBlas.isAvailable(), OpenBlas.unavailableReason());
    try (var s = Scope.open()) {
      // k = 0: out is all zeros.
      check(random(DType.F32, 4, 0), random(DType.F32, 0, 3), 0);
      check(random(DType.F64, 2, 4, 0), random(DType.F64, 2, 0, 3), 0);
      // m = 0, n = 0, batch = 0: nothing to do.
      check(random(DType.F32, 0, 5), random(DType.F32, 5, 3), 0);
      check(random(DType.F32, 4, 5), random(DType.F32, 5, 0), 0);
      check(random(DType.F32, 0, 4, 5), random(DType.F32, 0, 5, 3), 0);
    }
  }

  @Test
  void declinesWhatBlasCannotReadInPlace() {
    assumeTrue(OpenBlas.isAvailable(), OpenBlas.unavailableReason());
    try (var s = Scope.open()) {
      Tensor b = random(DType.F32, 5, 3);
      Tensor out = Tensor.empty(DType.F32, 4, 3).fill(7);
      // Strided both ways: every other column of every row.
      Tensor aStrided = random(DType.F32, 4, 10).slice(1, 0, 10, 2);
      assertFalse(BlasProvider.matmul(aStrided, b, out));
      // Half precision and integers are not BLAS's.
      assertFalse(
          BlasProvider.matmul(
              random(DType.BF16, 4, 5), b.to(DType.BF16), Tensor.empty(DType.BF16, 4, 3)));
      assertFalse(
          BlasProvider.matmul(
              Tensor.of(new int[20], 4, 5),
              Tensor.of(new int[15], 5, 3),
              Tensor.empty(DType.I32, 4, 3)));
      // A column-major out.
      Tensor outT = Tensor.empty(DType.F32, 3, 4).mT();
      assertFalse(BlasProvider.matmul(random(DType.F32, 4, 5), b, outT));
      // Nothing was written.
      double[] sevens = new double[12];
      java.util.Arrays.fill(sevens, 7);
      assertArrayEquals(sevens, out.toDoubleArray());
    }
  }

  @Test
  void gemmWithElementOffsets() {
    assumeTrue(OpenBlas.isAvailable(), OpenBlas.unavailableReason());
    try (var s = Scope.open()) {
      // A = rows 1..3 of a 4 x 6 buffer (offset 6), B^T stored with leading dimension 8.
      Tensor aBuf = random(DType.F32, 4, 6), bBuf = random(DType.F32, 5, 8);
      Tensor c = Tensor.empty(DType.F32, 10 + 3 * 5).fill(Double.NaN);
      BlasProvider.sgemm(
          false,
          true,
          3,
          5,
          6,
          aBuf.storage().segment(),
          6,
          6,
          bBuf.storage().segment(),
          0,
          8,
          c.storage().segment(),
          10,
          5);
      Tensor a = aBuf.slice(0, 1, 4, 1), b = bBuf.slice(1, 0, 6, 1).mT();
      assertClose(
          reference(a, b), c.slice(0, 10, 25, 1).toDoubleArray(), 1e-5, "sgemm with offsets");
      assertTrue(Double.isNaN(c.get(9)), "wrote before its offset");

      Tensor a64 = aBuf.to(DType.F64), b64 = bBuf.to(DType.F64);
      Tensor c64 = Tensor.empty(DType.F64, 3 * 5 + 1);
      BlasProvider.dgemm(
          false,
          true,
          3,
          5,
          6,
          a64.storage().segment(),
          6,
          6,
          b64.storage().segment(),
          0,
          8,
          c64.storage().segment(),
          1,
          5);
      assertClose(
          reference(a64.slice(0, 1, 4, 1), b64.slice(1, 0, 6, 1).mT()),
          c64.slice(0, 1, 16, 1).toDoubleArray(),
          1e-12,
          "dgemm with offsets");
    }
  }
}
