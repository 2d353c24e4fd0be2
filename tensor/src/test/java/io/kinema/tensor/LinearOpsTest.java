package io.kinema.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.kinema.tensor.backend.Epilogue;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * {@code linear} on the CPU: against a double-precision reference on random shapes (batch dims,
 * strided and transposed views, no bias, every float dtype, both epilogues), bit for bit against
 * {@code matmul} + {@code add} (+ {@code geluTanh}) in F32, one rounding in BF16/F16, and PyTorch's
 * shape checks.
 */
class LinearOpsTest {
  private static final DType[] FLOATS = {DType.F64, DType.F32, DType.BF16, DType.F16};

  private static Tensor rand(Random r, DType dtype, long... shape) {
    return LinalgOpsTest.rand(r, dtype, shape);
  }

  private static double geluTanh(double v) {
    return 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v)));
  }

  /** Asserts {@code y == epilogue(x @ w^T + b)} within the tolerance of y's dtype. */
  static void check(Tensor y, Tensor x, Tensor w, Tensor b, Epilogue epilogue) {
    long k = w.size(1), n = w.size(0);
    long[] want = x.shape();
    want[want.length - 1] = n;
    assertArrayEquals(want, y.shape(), "shape of linear(" + x.describe() + ")");
    assertEquals(x.dtype(), y.dtype());
    double[] xs = x.contiguous().toDoubleArray(), ws = w.contiguous().toDoubleArray();
    double[] bs = b == null ? null : b.contiguous().toDoubleArray();
    double[] got = y.toDoubleArray();
    long rows = got.length / Math.max(1, n);
    double accum = y.dtype() == DType.F64 ? 1e-12 : 2e-5;
    double round =
        switch (y.dtype()) {
          case BF16 -> 0x1p-8;
          case F16 -> 0x1p-11;
          default -> 0;
        };
    for (int i = 0; i < rows; i++) {
      for (int j = 0; j < n; j++) {
        double s = bs == null ? 0 : bs[j], mag = bs == null ? 0 : Math.abs(bs[j]);
        for (int p = 0; p < k; p++) {
          double t = xs[(int) (i * k + p)] * ws[(int) (j * k + p)];
          s += t;
          mag += Math.abs(t);
        }
        double v = epilogue == Epilogue.GELU_TANH ? geluTanh(s) : s;
        // GELU's slope is below 1.13 and VectorMath's tanh is within ~1 ulp.
        double tol = 1.2 * accum * mag + round * Math.abs(v) + 1e-6 * Math.abs(v) + 1e-300;
        double g = got[(int) (i * n + j)];
        if (!(Math.abs(g - v) <= tol)) {
          throw new AssertionError(
              String.format(
                  "linear(%s, %s, %s, %s) [%d, %d]: got %s, want %s (tolerance %s)",
                  x.describe(),
                  w.describe(),
                  b == null ? "null" : b.describe(),
                  epilogue,
                  i,
                  j,
                  g,
                  v,
                  tol));
        }
      }
    }
  }

  private static void checkLinear(Tensor x, Tensor w, Tensor b, Epilogue e) {
    check(x.linear(w, b, e), x, w, b, e);
  }

  @Test
  void randomShapesEveryDtypeAndEpilogue() {
    Random r = new Random(1);
    try (var s = Scope.open()) {
      for (int trial = 0; trial < 24; trial++) {
        DType t = FLOATS[trial % FLOATS.length];
        Epilogue e = Epilogue.values()[(trial / 4) % 2];
        int rank = 1 + r.nextInt(3);
        long[] xs = new long[rank];
        for (int d = 0; d < rank - 1; d++) xs[d] = 1 + r.nextInt(rank == 2 ? 40 : 4);
        long k = 1 + r.nextInt(70), n = 1 + r.nextInt(50);
        xs[rank - 1] = k;
        Tensor x = rand(r, t, xs), w = rand(r, t, n, k);
        Tensor b = trial % 3 == 2 ? null : rand(r, t, n);
        checkLinear(x, w, b, e);
      }
    }
  }

  @Test
  void stridedAndTransposedViews() {
    Random r = new Random(2);
    try (var s = Scope.open()) {
      for (DType t : new DType[] {DType.F32, DType.BF16, DType.F64}) {
        // x transposed in its last two dims, W stored transposed, bias every other element.
        Tensor x = rand(r, t, 3, 37, 29).mT();
        Tensor w = rand(r, t, 37, 45).mT();
        Tensor b = rand(r, t, 90).slice(0, 0, 90, 2);
        checkLinear(x, w, b, Epilogue.NONE);
        checkLinear(x, w, b, Epilogue.GELU_TANH);
        // Sliced rows with a step and a batch dim that does not continue the rows.
        Tensor x2 = rand(r, t, 4, 50, 40).slice(1, 3, 20, 2).slice(0, 0, 4, 2);
        Tensor w2 = rand(r, t, 33, 80).slice(1, 1, 80, 2);
        checkLinear(x2, w2, rand(r, t, 33), Epilogue.NONE);
      }
    }
  }

  @Test
  void manyKBlocksAndColumnPanels() {
    // K above the GEMM's KC (1024): the bias must be added once, after the last k block.
    Random r = new Random(3);
    try (var s = Scope.open()) {
      checkLinear(
          rand(r, DType.F32, 2, 9, 1500),
          rand(r, DType.F32, 70, 1500),
          rand(r, DType.F32, 70),
          Epilogue.NONE);
      checkLinear(
          rand(r, DType.BF16, 5, 1100),
          rand(r, DType.BF16, 40, 1100),
          rand(r, DType.BF16, 40),
          Epilogue.GELU_TANH);
      // N above NC (2048), so the bias index runs over several column panels.
      checkLinear(
          rand(r, DType.F32, 3, 20),
          rand(r, DType.F32, 2100, 20),
          rand(r, DType.F32, 2100),
          Epilogue.NONE);
    }
  }

  @Test
  void f32IsBitIdenticalToMatmulAddGelu() {
    Random r = new Random(4);
    try (var s = Scope.open()) {
      long[][] xShapes = {{7, 33}, {2, 3, 64}, {130, 300}, {2, 9, 1500}, {300, 200}};
      long[] ns = {19, 48, 260, 33, 600};
      for (int i = 0; i < xShapes.length; i++) {
        long k = xShapes[i][xShapes[i].length - 1];
        Tensor x = rand(r, DType.F32, xShapes[i]);
        Tensor w = rand(r, DType.F32, ns[i], k), b = rand(r, DType.F32, ns[i]);
        Tensor composed = x.matmul(w.mT()).add(b);
        assertArrayEquals(composed.toFloatArray(), x.linear(w, b).toFloatArray(), x.describe());
        assertArrayEquals(
            composed.geluTanh().toFloatArray(),
            x.linear(w, b, Epilogue.GELU_TANH).toFloatArray(),
            x.describe() + " gelu");
        assertArrayEquals(
            x.matmul(w.mT()).toFloatArray(), x.linear(w, null).toFloatArray(), "no bias");
      }
      // Non-contiguous x, whose batch is not folded into rows.
      Tensor x = rand(r, DType.F32, 3, 40, 25).mT();
      Tensor w = rand(r, DType.F32, 17, 40), b = rand(r, DType.F32, 17);
      assertArrayEquals(
          x.matmul(w.mT()).add(b).toFloatArray(), x.linear(w, b).toFloatArray(), "strided x");
    }
  }

  @Test
  void halfTypesRoundOnceFromF32() {
    Random r = new Random(5);
    try (var s = Scope.open()) {
      // The second product is large enough to be split over threads (parts from column n0 > 0).
      long[][] xShapes = {{2, 21, 70}, {200, 300}};
      long[] ns = {35, 260};
      for (DType t : new DType[] {DType.BF16, DType.F16}) {
        for (int i = 0; i < ns.length; i++) {
          for (Epilogue e : Epilogue.values()) {
            long k = xShapes[i][xShapes[i].length - 1];
            Tensor x = rand(r, t, xShapes[i]), w = rand(r, t, ns[i], k), b = rand(r, t, ns[i]);
            Tensor once = x.to(DType.F32).linear(w.to(DType.F32), b.to(DType.F32), e).to(t);
            assertArrayEquals(
                once.toFloatArray(), x.linear(w, b, e).toFloatArray(), x.describe() + " " + e);
          }
        }
      }
    }
  }

  @Test
  void vectorInputEmptyAndZeroK() {
    Random r = new Random(6);
    try (var s = Scope.open()) {
      Tensor w = rand(r, DType.F32, 5, 4), b = rand(r, DType.F32, 5);
      Tensor v = rand(r, DType.F32, 4);
      Tensor y = v.linear(w, b);
      assertArrayEquals(new long[] {5}, y.shape());
      check(y, v, w, b, Epilogue.NONE);
      assertArrayEquals(
          new long[] {0, 3, 5}, Tensor.zeros(DType.F32, 0, 3, 4).linear(w, b).shape());
      // K = 0: the product is zero, the result the bias (then the activation).
      Tensor w0 = Tensor.zeros(DType.F32, 5, 0);
      Tensor y0 = Tensor.zeros(DType.F32, 2, 0).linear(w0, b, Epilogue.GELU_TANH);
      float[] want = b.geluTanh().toFloatArray();
      float[] got = y0.toFloatArray();
      for (int i = 0; i < 2; i++) {
        assertArrayEquals(want, java.util.Arrays.copyOfRange(got, 5 * i, 5 * i + 5));
      }
    }
  }

  @Test
  void badInputsNameTheTensors() {
    try (var s = Scope.open()) {
      Tensor x = Tensor.zeros(DType.F32, 2, 3), w = Tensor.zeros(DType.F32, 4, 5);
      var e = assertThrows(IllegalArgumentException.class, () -> x.linear(w, null));
      assertEquals(
          "linear: input F32[2, 3] and weight F32[4, 5] cannot be multiplied (input's last dim 3"
              + " vs in_features 5)",
          e.getMessage());
      Tensor w2 = Tensor.zeros(DType.F32, 4, 3);
      e =
          assertThrows(
              IllegalArgumentException.class, () -> x.linear(w2, Tensor.zeros(DType.F32, 3)));
      assertEquals(
          "linear: bias must be 1-d [out_features] = [4] for weight F32[4, 3], got F32[3]",
          e.getMessage());
      e =
          assertThrows(
              IllegalArgumentException.class, () -> x.linear(Tensor.zeros(DType.F32, 3), null));
      assertEquals(
          "linear: weight must be 2-d [out_features, in_features], got F32[3]", e.getMessage());
      e = assertThrows(IllegalArgumentException.class, () -> x.linear(w2.to(DType.BF16), null));
      assertEquals(
          "linear: expected input, weight and bias of one floating dtype, got input F32[2, 3],"
              + " weight BF16[4, 3]",
          e.getMessage());
      e =
          assertThrows(
              IllegalArgumentException.class, () -> Tensor.scalar(1, DType.F32).linear(w2, null));
      assertEquals(
          "linear: input needs at least 1 dim [..., in_features], got F32[]", e.getMessage());
    }
  }
}
