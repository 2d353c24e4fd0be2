package io.kinema.nn.linalg;

/**
 * Householder QR of a tall matrix held as columns ({@code cols[j]} is column j, length m >= n):
 * {@code A = Q R} with Q [m, n] orthonormal columns and R [n, n] upper triangular. Used by {@link
 * Svd} to shrink tall matrices before Jacobi and to orthonormalize the randomized range finder's
 * sample matrices. Householder reflections keep Q orthonormal to working precision even when A is
 * (numerically) rank deficient, unlike Gram-Schmidt.
 */
final class Qr {
  private Qr() {}

  /** Q (as columns) and R (row-major n x n). */
  record Result(double[][] q, double[] r) {}

  /** Factors {@code a} (columns, not modified). */
  static Result factor(double[][] a, int m) {
    int n = a.length;
    if (n > m) throw new IllegalArgumentException("qr: expected m >= n, got " + m + " x " + n);
    double[][] w = new double[n][];
    for (int j = 0; j < n; j++) w[j] = a[j].clone();
    // Reflection k is I - 2 v v^T with v zero above row k, unit norm (or v == null: identity).
    double[][] vs = new double[n][];
    double[] r = new double[n * n];
    for (int k = 0; k < n; k++) {
      double[] x = w[k];
      double norm = 0;
      for (int i = k; i < m; i++) norm += x[i] * x[i];
      norm = Math.sqrt(norm);
      if (norm == 0) {
        // Column already zero below the diagonal: R[k][k] = 0, no reflection.
        for (int j = k; j < n; j++) r[k * n + j] = w[j][k];
        continue;
      }
      // alpha takes the sign opposite to x[k] so v = x - alpha e_k does not cancel.
      double alpha = x[k] > 0 ? -norm : norm;
      double[] v = new double[m];
      for (int i = k; i < m; i++) v[i] = x[i];
      v[k] -= alpha;
      double vn = 0;
      for (int i = k; i < m; i++) vn += v[i] * v[i];
      vn = Math.sqrt(vn);
      for (int i = k; i < m; i++) v[i] /= vn;
      vs[k] = v;
      for (int j = k; j < n; j++) reflect(v, w[j], k, m);
      for (int j = k; j < n; j++) r[k * n + j] = w[j][k];
    }
    // Q = H_0 H_1 ... H_{n-1} applied to the first n columns of the identity.
    double[][] q = new double[n][m];
    for (int j = 0; j < n; j++) {
      q[j][j] = 1;
      for (int k = Math.min(j, n - 1); k >= 0; k--) if (vs[k] != null) reflect(vs[k], q[j], k, m);
    }
    return new Result(q, r);
  }

  /** Orthonormal basis of the column space of {@code a} (m >= n), as columns. */
  static double[][] orthonormalize(double[][] a, int m) {
    return factor(a, m).q();
  }

  /** x -= 2 v (v . x), over rows [k, m). */
  private static void reflect(double[] v, double[] x, int k, int m) {
    double d = 0;
    for (int i = k; i < m; i++) d += v[i] * x[i];
    d *= 2;
    for (int i = k; i < m; i++) x[i] -= d * v[i];
  }
}
