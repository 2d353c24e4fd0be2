package io.kinema.nn.linalg;

import io.kinema.tensor.DType;
import io.kinema.tensor.Device;
import io.kinema.tensor.Generator;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import java.util.Arrays;

/**
 * Singular value decomposition of a matrix {@code A [m, n] = U diag(S) Vh}, in F64, in the layout
 * of {@code torch.linalg.svd(A, full_matrices=False)}: U [m, k] and Vh [k, n] with orthonormal
 * columns/rows, S [k] non-negative and descending.
 *
 * <ul>
 *   <li>{@link #exact}: k = min(m, n), one-sided Jacobi (Hestenes) after a Householder QR that
 *       reduces the matrix to its square triangular factor. Accurate to working precision (small
 *       singular values to high relative accuracy) but O(min(m,n)^2 max(m,n)) per sweep: for
 *       matrices up to a few hundred per side.
 *   <li>{@link #randomized}: the leading k triplets by the randomized range finder of Halko,
 *       Martinsson and Tropp (SIAM Review 2011, algorithms 4.4 and 5.1): sample the range with a
 *       Gaussian test matrix of k + oversample columns, sharpen it with power iterations
 *       (re-orthonormalized each time), then take the exact SVD of the small projected matrix. Its
 *       cost is a few matrix products (run by the engine's GEMM) plus O((m + n) l^2): the practical
 *       choice for LoRA extraction from 1536 x 8960 weights.
 *   <li>{@link #truncated}: picks between them.
 * </ul>
 *
 * Inputs may have any floating dtype and any strides; they are read as F64. Results are new CPU
 * tensors owned by the caller (or by the caller's {@link Scope}).
 */
public final class Svd {
  private Svd() {}

  /** Oversampling of the randomized method in {@link #truncated}. */
  public static final int DEFAULT_OVERSAMPLE = 10;

  /** Power iterations of the randomized method in {@link #truncated}. */
  public static final int DEFAULT_POWER_ITERATIONS = 4;

  private static final double EPS = 0x1p-52;
  private static final int MAX_SWEEPS = 80;

  /** U [m, k], S [k] (descending), Vh [k, n], all F64 on the CPU. Closing closes all three. */
  public record Result(Tensor u, Tensor s, Tensor vh) implements AutoCloseable {
    /** Number of singular triplets k. */
    public int k() {
      return (int) s.numel();
    }

    @Override
    public void close() {
      u.close();
      s.close();
      vh.close();
    }
  }

  /** The thin SVD of {@code a} [m, n] (k = min(m, n)). */
  public static Result exact(Tensor a) {
    checkMatrix("svd", a);
    int m = (int) a.size(0), n = (int) a.size(1);
    Host h = exact(columns(a), m);
    return h.toResult(h.s.length);
  }

  /**
   * The leading {@code rank} singular triplets of {@code a} by randomized range finding with {@code
   * oversample} extra samples and {@code powerIterations} power iterations, drawing the test matrix
   * from {@code gen}. Exact (to rounding) when the rank of {@code a} is at most {@code rank +
   * oversample}; otherwise the error is within a small factor of the optimal {@code sqrt(sum of the
   * tail S^2)}, approaching it as the power iterations grow (each one raises the spectrum's decay
   * to a higher power). Falls back to {@link #exact} when {@code rank + oversample >= min(m, n)}.
   */
  public static Result randomized(
      Tensor a, int rank, int oversample, int powerIterations, Generator gen) {
    checkMatrix("svd_lowrank", a);
    int m = (int) a.size(0), n = (int) a.size(1), kmax = Math.min(m, n);
    if (rank < 1 || rank > kmax || oversample < 0 || powerIterations < 0) {
      throw new IllegalArgumentException(
          "svd_lowrank: need 1 <= rank <= min(m, n) and oversample, powerIterations >= 0; got rank "
              + rank
              + ", oversample "
              + oversample
              + ", powerIterations "
              + powerIterations
              + " for "
              + a.describe());
    }
    int l = rank + oversample;
    if (l >= kmax) {
      Host h = exact(columns(a), m);
      return h.toResult(rank);
    }
    try (var scope = Scope.open()) {
      Tensor a64 = a.to(DType.F64).to(Device.CPU);
      Tensor at = a64.t();
      // Range finder: Q spans A Omega; each power iteration replaces it by the range of (A A^T) Q.
      Tensor omega = Tensor.randn(gen, DType.F64, Device.CPU, n, l);
      Tensor q = orthonormal(a64.matmul(omega));
      for (int i = 0; i < powerIterations; i++) {
        Tensor z = orthonormal(at.matmul(q));
        q = orthonormal(a64.matmul(z));
      }
      // A ~ Q B with B = Q^T A [l, n]; factor B^T = Ub Sb Vb^T (tall), so A ~ (Q Vb) Sb Ub^T.
      Tensor bt = at.matmul(q);
      Host small = exact(columns(bt), n);
      Tensor vb = toTensor(Arrays.copyOf(small.v, rank), l);
      Tensor u = q.matmul(vb).contiguous();
      Tensor s = Tensor.of(Arrays.copyOf(small.s, rank), rank);
      Tensor vh = vhTensor(Arrays.copyOf(small.u, rank), n);
      scope.keep(u);
      scope.keep(s);
      scope.keep(vh);
      return new Result(u, s, vh);
    }
  }

  /**
   * The leading {@code rank} singular triplets: {@link #exact} (then cut) when the matrix is small
   * (min(m, n) <= 2 (rank + oversample) or <= 64), else {@link #randomized} with {@link
   * #DEFAULT_OVERSAMPLE} and {@link #DEFAULT_POWER_ITERATIONS}.
   */
  public static Result truncated(Tensor a, int rank, Generator gen) {
    checkMatrix("svd_lowrank", a);
    int kmax = (int) Math.min(a.size(0), a.size(1));
    if (rank < 1 || rank > kmax) {
      throw new IllegalArgumentException(
          "svd_lowrank: need 1 <= rank <= min(m, n), got rank " + rank + " for " + a.describe());
    }
    if (kmax <= 64 || kmax <= 2 * (rank + DEFAULT_OVERSAMPLE)) {
      Host h = exact(columns(a), (int) a.size(0));
      return h.toResult(rank);
    }
    return randomized(a, rank, DEFAULT_OVERSAMPLE, DEFAULT_POWER_ITERATIONS, gen);
  }

  // ---------------------------------------------------------------- host algorithm

  /** A host SVD: U and V as columns (u[j] has length m, v[j] length n), s descending. */
  static final class Host {
    final double[][] u;
    final double[] s;
    final double[][] v;
    final int m, n;

    Host(double[][] u, double[] s, double[][] v, int m, int n) {
      this.u = u;
      this.s = s;
      this.v = v;
      this.m = m;
      this.n = n;
    }

    Result toResult(int k) {
      Tensor uu = toTensor(Arrays.copyOf(u, k), m);
      Tensor ss = Tensor.of(Arrays.copyOf(s, k), k);
      Tensor vh = vhTensor(Arrays.copyOf(v, k), n);
      return new Result(uu, ss, vh);
    }
  }

  /** SVD of the matrix whose columns are {@code cols} (each of length m; not modified). */
  static Host exact(double[][] cols, int m) {
    int n = cols.length;
    if (m < n) {
      // A^T = V S U^T: factor the transpose (its columns are A's rows) and swap the roles.
      double[][] rows = new double[m][n];
      for (int j = 0; j < n; j++) for (int i = 0; i < m; i++) rows[i][j] = cols[j][i];
      Host t = exact(rows, n);
      return new Host(t.v, t.s, t.u, m, n);
    }
    if (m == n) {
      double[][] w = new double[n][];
      for (int j = 0; j < n; j++) w[j] = cols[j].clone();
      return jacobi(w, m);
    }
    // Tall: A = Q R, R = Ur S V^T, so U = Q Ur. Jacobi then works on n x n instead of m x n.
    Qr.Result qr = Qr.factor(cols, m);
    double[][] rcols = new double[n][n];
    for (int i = 0; i < n; i++) for (int j = i; j < n; j++) rcols[j][i] = qr.r()[i * n + j];
    Host hr = jacobi(rcols, n);
    double[][] u = new double[n][m];
    for (int j = 0; j < n; j++) {
      double[] ur = hr.u[j], uj = u[j];
      for (int k = 0; k < n; k++) {
        double c = ur[k];
        if (c == 0) continue;
        double[] qk = qr.q()[k];
        for (int i = 0; i < m; i++) uj[i] += c * qk[i];
      }
    }
    return new Host(u, hr.s, hr.v, m, n);
  }

  /**
   * One-sided Jacobi on the columns {@code w} (n columns of length m >= n, overwritten): rotates
   * column pairs until every pair is orthogonal relative to its norms ({@code |w_i . w_j| <= tol
   * |w_i| |w_j|}); the rotations accumulate into V, the final column norms are S and the normalized
   * columns U. Each rotation zeroes one pair's inner product exactly (in exact arithmetic); sweeps
   * over all pairs converge quadratically.
   */
  private static Host jacobi(double[][] w, int m) {
    int n = w.length;
    double[][] v = new double[n][n];
    for (int j = 0; j < n; j++) v[j][j] = 1;
    double tol = Math.sqrt(m) * EPS;
    boolean converged = n < 2;
    for (int sweep = 0; sweep < MAX_SWEEPS && !converged; sweep++) {
      converged = true;
      for (int i = 0; i < n - 1; i++) {
        double[] wi = w[i];
        for (int j = i + 1; j < n; j++) {
          double[] wj = w[j];
          double alpha = 0, beta = 0, gamma = 0;
          for (int r = 0; r < m; r++) {
            double x = wi[r], y = wj[r];
            alpha += x * x;
            beta += y * y;
            gamma += x * y;
          }
          if (gamma == 0 || Math.abs(gamma) <= tol * Math.sqrt(alpha) * Math.sqrt(beta)) continue;
          converged = false;
          // The rotation [c s; -s c] that makes the pair orthogonal: t = tan(theta) is the smaller
          // root of t^2 + 2 zeta t - 1 = 0 (angle at most pi/4, the stable choice).
          double zeta = (beta - alpha) / (2 * gamma);
          double t = Math.copySign(1.0, zeta) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
          double c = 1 / Math.sqrt(1 + t * t), s = c * t;
          rotate(wi, wj, c, s, m);
          rotate(v[i], v[j], c, s, n);
        }
      }
    }
    if (!converged) {
      throw new ArithmeticException(
          "svd: one-sided Jacobi did not converge in "
              + MAX_SWEEPS
              + " sweeps (non-finite input?)");
    }
    double[] s = new double[n];
    for (int j = 0; j < n; j++) {
      double sum = 0;
      for (int r = 0; r < m; r++) sum += w[j][r] * w[j][r];
      s[j] = Math.sqrt(sum);
    }
    // Descending order of S.
    Integer[] order = new Integer[n];
    for (int j = 0; j < n; j++) order[j] = j;
    Arrays.sort(order, (x, y) -> Double.compare(s[y], s[x]));
    double[][] u = new double[n][];
    double[][] vs = new double[n][];
    double[] ss = new double[n];
    for (int j = 0; j < n; j++) {
      int o = order[j];
      ss[j] = s[o];
      vs[j] = v[o];
      u[j] = w[o];
      if (ss[j] > 0) for (int r = 0; r < m; r++) u[j][r] /= ss[j];
    }
    completeNullColumns(u, ss, m);
    return new Host(u, ss, vs, m, n);
  }

  /** (x, y) <- (c x - s y, s x + c y). */
  private static void rotate(double[] x, double[] y, double c, double s, int len) {
    for (int r = 0; r < len; r++) {
      double a = x[r], b = y[r];
      x[r] = c * a - s * b;
      y[r] = s * a + c * b;
    }
  }

  /**
   * Columns of U whose singular value is exactly zero carry no direction; replaces them by unit
   * vectors orthogonal to all the others (Gram-Schmidt of the standard basis, applied twice), so U
   * has orthonormal columns for rank-deficient inputs too.
   */
  private static void completeNullColumns(double[][] u, double[] s, int m) {
    int n = u.length;
    int candidate = 0;
    for (int j = 0; j < n; j++) {
      if (s[j] > 0) continue;
      while (true) {
        if (candidate >= m) throw new IllegalStateException("svd: cannot complete the basis of U");
        double[] e = new double[m];
        e[candidate++] = 1;
        for (int pass = 0; pass < 2; pass++) {
          for (int k = 0; k < n; k++) {
            if (k == j || (s[k] <= 0 && k > j)) continue;
            double d = 0;
            for (int r = 0; r < m; r++) d += u[k][r] * e[r];
            for (int r = 0; r < m; r++) e[r] -= d * u[k][r];
          }
        }
        double norm = 0;
        for (int r = 0; r < m; r++) norm += e[r] * e[r];
        norm = Math.sqrt(norm);
        if (norm > 0.5) {
          for (int r = 0; r < m; r++) e[r] /= norm;
          u[j] = e;
          break;
        }
      }
    }
  }

  // ---------------------------------------------------------------- tensor <-> columns

  private static void checkMatrix(String op, Tensor a) {
    if (a.dim() != 2 || !a.dtype().isFloatingPoint()) {
      throw new IllegalArgumentException(
          op + ": expected a floating-point matrix [m, n], got " + a.describe());
    }
    if (a.size(0) == 0 || a.size(1) == 0) {
      throw new IllegalArgumentException(op + ": expected a non-empty matrix, got " + a.describe());
    }
    if (a.size(0) * a.size(1) > Integer.MAX_VALUE - 8) {
      throw new IllegalArgumentException(op + ": matrix too large for host SVD: " + a.describe());
    }
  }

  /** Columns of a matrix tensor [m, n] as F64 arrays. */
  static double[][] columns(Tensor a) {
    int m = (int) a.size(0), n = (int) a.size(1);
    double[] d = a.toDoubleArray();
    double[][] cols = new double[n][m];
    for (int i = 0; i < m; i++) for (int j = 0; j < n; j++) cols[j][i] = d[i * n + j];
    return cols;
  }

  /** The matrix [rows, cols.length] whose columns are {@code cols}. */
  static Tensor toTensor(double[][] cols, int rows) {
    int n = cols.length;
    double[] d = new double[rows * n];
    for (int j = 0; j < n; j++) for (int i = 0; i < rows; i++) d[i * n + j] = cols[j][i];
    return Tensor.of(d, rows, n);
  }

  /** The matrix [cols.length, len] whose rows are {@code cols}. */
  private static Tensor vhTensor(double[][] cols, int len) {
    int k = cols.length;
    double[] d = new double[k * len];
    for (int j = 0; j < k; j++) System.arraycopy(cols[j], 0, d, j * len, len);
    return Tensor.of(d, k, len);
  }

  /** An orthonormal basis of the columns of {@code y} [m, l] (m >= l), as a tensor [m, l]. */
  private static Tensor orthonormal(Tensor y) {
    return toTensor(Qr.orthonormalize(columns(y), (int) y.size(0)), (int) y.size(0));
  }
}
