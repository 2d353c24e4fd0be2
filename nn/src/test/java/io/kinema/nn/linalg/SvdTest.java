package io.kinema.nn.linalg;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kinema.tensor.DType;
import io.kinema.tensor.Generator;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;

class SvdTest {

  /** A = U diag(s) V^T with U [m, k], V [n, k] random orthonormal columns; row-major. */
  private record Known(double[] a, int m, int n, double[] s) {}

  private static Known known(Random rnd, int m, int n, double[] sUnsorted) {
    int k = sUnsorted.length;
    double[][] u = Qr.orthonormalize(gaussianColumns(rnd, m, k), m);
    double[][] v = Qr.orthonormalize(gaussianColumns(rnd, n, k), n);
    double[] a = new double[m * n];
    for (int p = 0; p < k; p++)
      for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) a[i * n + j] += u[p][i] * sUnsorted[p] * v[p][j];
    double[] sorted = sUnsorted.clone();
    Arrays.sort(sorted);
    for (int i = 0; i < k / 2; i++) {
      double t = sorted[i];
      sorted[i] = sorted[k - 1 - i];
      sorted[k - 1 - i] = t;
    }
    return new Known(a, m, n, sorted);
  }

  private static double[][] gaussianColumns(Random rnd, int len, int count) {
    double[][] c = new double[count][len];
    for (double[] col : c) for (int i = 0; i < len; i++) col[i] = rnd.nextGaussian();
    return c;
  }

  private static double[] gaussian(Random rnd, int size) {
    double[] d = new double[size];
    for (int i = 0; i < size; i++) d[i] = rnd.nextGaussian();
    return d;
  }

  /** Checks shapes, descending S, orthonormal U columns and Vh rows, and returns U S Vh. */
  private static double[] checkFactors(Svd.Result r, int m, int n, int k, double tol) {
    assertEquals(DType.F64, r.u().dtype());
    assertEquals(m, r.u().size(0));
    assertEquals(k, r.u().size(1));
    assertEquals(k, r.s().numel());
    assertEquals(k, r.vh().size(0));
    assertEquals(n, r.vh().size(1));
    double[] u = r.u().toDoubleArray(), s = r.s().toDoubleArray(), vh = r.vh().toDoubleArray();
    for (int i = 0; i < k; i++) {
      assertTrue(s[i] >= 0, "S must be non-negative: " + Arrays.toString(s));
      if (i > 0) assertTrue(s[i] <= s[i - 1], "S must be descending: " + Arrays.toString(s));
    }
    for (int p = 0; p < k; p++) {
      for (int q = 0; q < k; q++) {
        double du = 0, dv = 0;
        for (int i = 0; i < m; i++) du += u[i * k + p] * u[i * k + q];
        for (int j = 0; j < n; j++) dv += vh[p * n + j] * vh[q * n + j];
        double want = p == q ? 1 : 0;
        assertEquals(want, du, tol, "U^T U at (" + p + "," + q + ")");
        assertEquals(want, dv, tol, "Vh Vh^T at (" + p + "," + q + ")");
      }
    }
    double[] rec = new double[m * n];
    for (int i = 0; i < m; i++)
      for (int j = 0; j < n; j++) {
        double sum = 0;
        for (int p = 0; p < k; p++) sum += u[i * k + p] * s[p] * vh[p * n + j];
        rec[i * n + j] = sum;
      }
    return rec;
  }

  private static double frobeniusDiff(double[] a, double[] b) {
    double sum = 0;
    for (int i = 0; i < a.length; i++) sum += (a[i] - b[i]) * (a[i] - b[i]);
    return Math.sqrt(sum);
  }

  private static double frobenius(double[] a) {
    return frobeniusDiff(a, new double[a.length]);
  }

  @Test
  void exactRecoversAKnownConstructionForSquareTallAndWideShapes() {
    Random rnd = new Random(1);
    int[][] shapes = {{1, 1}, {1, 7}, {7, 1}, {5, 5}, {40, 12}, {12, 40}, {60, 60}, {100, 37}};
    for (int[] sh : shapes) {
      int m = sh[0], n = sh[1], k = Math.min(m, n);
      double[] s = new double[k];
      for (int i = 0; i < k; i++) s[i] = 0.1 + 10 * rnd.nextDouble(); // unsorted, distinct
      Known kn = known(rnd, m, n, s);
      try (var scope = Scope.open()) {
        Svd.Result r = Svd.exact(Tensor.of(kn.a, m, n));
        double[] rec = checkFactors(r, m, n, k, 1e-12);
        double[] got = r.s().toDoubleArray();
        for (int i = 0; i < k; i++)
          assertEquals(kn.s[i], got[i], 1e-12 * kn.s[0], "S[" + i + "] of " + m + "x" + n);
        assertTrue(
            frobeniusDiff(rec, kn.a) <= 1e-12 * frobenius(kn.a),
            "reconstruction of " + m + "x" + n);
      }
    }
  }

  @Test
  void exactHandlesRankDeficientAndZeroMatrices() {
    Random rnd = new Random(2);
    int[][] cases = {{30, 20, 3}, {20, 30, 1}, {25, 25, 10}, {8, 3, 0}};
    for (int[] c : cases) {
      int m = c[0], n = c[1], r = c[2], k = Math.min(m, n);
      double[] s = new double[r];
      for (int i = 0; i < r; i++) s[i] = 1 + rnd.nextDouble();
      double[] a = r == 0 ? new double[m * n] : known(rnd, m, n, s).a;
      try (var scope = Scope.open()) {
        Svd.Result res = Svd.exact(Tensor.of(a, m, n));
        double[] rec = checkFactors(res, m, n, k, 1e-12);
        double[] got = res.s().toDoubleArray();
        for (int i = r; i < k; i++) assertTrue(got[i] <= 1e-13, "null S " + Arrays.toString(got));
        for (int i = 0; i < r; i++) assertTrue(got[i] >= 1, "S " + Arrays.toString(got));
        assertTrue(frobeniusDiff(rec, a) <= 1e-12 * Math.max(1, frobenius(a)));
      }
    }
    // Repeated columns: rank 2 out of 6 columns, with exactly equal singular directions.
    double[] base = gaussian(rnd, 10 * 2);
    double[] a = new double[10 * 6];
    for (int i = 0; i < 10; i++) for (int j = 0; j < 6; j++) a[i * 6 + j] = base[i * 2 + j % 2];
    try (var scope = Scope.open()) {
      Svd.Result res = Svd.exact(Tensor.of(a, 10, 6));
      double[] rec = checkFactors(res, 10, 6, 6, 1e-12);
      assertTrue(frobeniusDiff(rec, a) <= 1e-12 * frobenius(a));
      assertTrue(res.s().toDoubleArray()[2] <= 1e-13 * res.s().toDoubleArray()[0]);
    }
  }

  @Test
  void exactOfARandomMatrixMatchesTheEigenvaluesOfTheGramMatrix() {
    // Independent check of S: trace(A^T A) = sum S^2 and trace((A^T A)^2) = sum S^4.
    Random rnd = new Random(3);
    int m = 23, n = 17;
    double[] a = gaussian(rnd, m * n);
    double[] g = new double[n * n];
    for (int i = 0; i < n; i++)
      for (int j = 0; j < n; j++)
        for (int r = 0; r < m; r++) g[i * n + j] += a[r * n + i] * a[r * n + j];
    double tr = 0, tr2 = 0;
    for (int i = 0; i < n; i++) {
      tr += g[i * n + i];
      for (int j = 0; j < n; j++) tr2 += g[i * n + j] * g[j * n + i];
    }
    try (var scope = Scope.open()) {
      Svd.Result res = Svd.exact(Tensor.of(a, m, n));
      double[] rec = checkFactors(res, m, n, n, 1e-12);
      assertTrue(frobeniusDiff(rec, a) <= 1e-12 * frobenius(a));
      double s2 = 0, s4 = 0;
      for (double s : res.s().toDoubleArray()) {
        s2 += s * s;
        s4 += s * s * s * s;
      }
      assertEquals(tr, s2, 1e-12 * tr);
      assertEquals(tr2, s4, 1e-12 * tr2);
    }
  }

  @Test
  void exactAcceptsNonContiguousAndLowerPrecisionInputs() {
    Random rnd = new Random(4);
    double[] a = gaussian(rnd, 9 * 14);
    try (var scope = Scope.open()) {
      Tensor t = Tensor.of(a, 9, 14);
      Tensor tt = t.t(); // [14, 9], strided
      Svd.Result r1 = Svd.exact(tt);
      double[] rec = checkFactors(r1, 14, 9, 9, 1e-12);
      double[] want = tt.contiguous().toDoubleArray();
      assertTrue(frobeniusDiff(rec, want) <= 1e-12 * frobenius(want));
      Tensor f32 = t.to(DType.F32);
      Svd.Result r2 = Svd.exact(f32);
      double[] rec2 = checkFactors(r2, 9, 14, 9, 1e-12);
      double[] want2 = f32.toDoubleArray();
      assertTrue(frobeniusDiff(rec2, want2) <= 1e-12 * frobenius(want2));
    }
  }

  @Test
  void truncationErrorIsTheTailOfTheSpectrum() {
    // Eckart-Young: the best rank-r approximation misses exactly sqrt(sum_{i>r} s_i^2).
    Random rnd = new Random(5);
    int m = 45, n = 30;
    double[] s = new double[n];
    for (int i = 0; i < n; i++) s[i] = Math.pow(0.8, i) * (1 + 0.01 * rnd.nextDouble());
    Known kn = known(rnd, m, n, s);
    for (int r : new int[] {1, 5, 17, 29}) {
      try (var scope = Scope.open()) {
        Svd.Result res = Svd.truncated(Tensor.of(kn.a, m, n), r, new Generator(7));
        double[] rec = checkFactors(res, m, n, r, 1e-12);
        double tail = 0;
        for (int i = r; i < n; i++) tail += kn.s[i] * kn.s[i];
        assertEquals(Math.sqrt(tail), frobeniusDiff(rec, kn.a), 1e-12, "rank " + r);
      }
    }
  }

  @Test
  void randomizedIsExactForLowRankMatrices() {
    Random rnd = new Random(6);
    int m = 300, n = 180, trueRank = 6;
    double[] s = {5, 4, 3, 2, 1, 0.5};
    Known kn = known(rnd, m, n, s);
    for (int[] mn : new int[][] {{m, n}, {n, m}}) {
      double[] a = mn[0] == m ? kn.a : transpose(kn.a, m, n);
      try (var scope = Scope.open()) {
        Svd.Result res =
            Svd.randomized(Tensor.of(a, mn[0], mn[1]), trueRank, 4, 1, new Generator(1));
        double[] rec = checkFactors(res, mn[0], mn[1], trueRank, 1e-12);
        assertTrue(frobeniusDiff(rec, a) <= 1e-12 * frobenius(a));
        double[] got = res.s().toDoubleArray();
        for (int i = 0; i < trueRank; i++) assertEquals(kn.s[i], got[i], 1e-12 * kn.s[0]);
      }
    }
  }

  @Test
  void randomizedIsNearOptimalForDecayingSpectra() {
    Random rnd = new Random(7);
    int m = 400, n = 240, rank = 12;
    double[] s = new double[n];
    for (int i = 0; i < n; i++) s[i] = Math.pow(0.9, i) + 1e-3 * rnd.nextDouble();
    Known kn = known(rnd, m, n, s);
    double tail = 0;
    for (int i = rank; i < n; i++) tail += kn.s[i] * kn.s[i];
    tail = Math.sqrt(tail);
    try (var scope = Scope.open()) {
      Svd.Result res = Svd.truncated(Tensor.of(kn.a, m, n), rank, new Generator(2));
      double[] rec = checkFactors(res, m, n, rank, 1e-12);
      double err = frobeniusDiff(rec, kn.a);
      assertTrue(err >= tail * (1 - 1e-12), "cannot beat Eckart-Young: " + err + " vs " + tail);
      assertTrue(err <= tail * 1.001, "randomized error " + err + " vs optimal " + tail);
      double[] got = res.s().toDoubleArray();
      for (int i = 0; i < rank; i++) assertEquals(kn.s[i], got[i], 1e-6 * kn.s[0], "S[" + i + "]");
    }
  }

  private static double[] transpose(double[] a, int m, int n) {
    double[] t = new double[m * n];
    for (int i = 0; i < m; i++) for (int j = 0; j < n; j++) t[j * m + i] = a[i * n + j];
    return t;
  }

  @Test
  void qrFactorsWithOrthonormalQAndTriangularR() {
    Random rnd = new Random(8);
    int m = 31, n = 9;
    double[][] a = gaussianColumns(rnd, m, n);
    a[3] = new double[m]; // a zero column
    a[5] = a[1].clone(); // a repeated column
    Qr.Result qr = Qr.factor(a, m);
    double[][] q = qr.q();
    double[] r = qr.r();
    for (int p = 0; p < n; p++) {
      for (int c = 0; c < p; c++) assertEquals(0, r[p * n + c], 0, "R below the diagonal");
      for (int c = 0; c < n; c++) {
        double d = 0;
        for (int i = 0; i < m; i++) d += q[p][i] * q[c][i];
        assertEquals(p == c ? 1 : 0, d, 1e-13);
      }
    }
    for (int j = 0; j < n; j++)
      for (int i = 0; i < m; i++) {
        double sum = 0;
        for (int p = 0; p <= j; p++) sum += q[p][i] * r[p * n + j];
        assertEquals(a[j][i], sum, 1e-13);
      }
  }

  @Test
  void badInputsAreRejectedWithTheShape() {
    try (var scope = Scope.open()) {
      var e1 = assertThrows(IllegalArgumentException.class, () -> Svd.exact(Tensor.zeros(3)));
      assertTrue(
          e1.getMessage().contains("svd") && e1.getMessage().contains("[3]"), e1.getMessage());
      var e2 =
          assertThrows(
              IllegalArgumentException.class, () -> Svd.exact(Tensor.zeros(DType.F64, 0, 4)));
      assertTrue(e2.getMessage().contains("non-empty"), e2.getMessage());
      var e3 =
          assertThrows(
              IllegalArgumentException.class,
              () -> Svd.truncated(Tensor.zeros(DType.F64, 5, 4), 5, new Generator(1)));
      assertTrue(
          e3.getMessage().contains("rank 5") && e3.getMessage().contains("[5, 4]"),
          e3.getMessage());
      var e4 =
          assertThrows(
              IllegalArgumentException.class, () -> Svd.exact(Tensor.zeros(DType.I64, 2, 2)));
      assertTrue(e4.getMessage().contains("floating"), e4.getMessage());
    }
  }
}
