package io.kinema.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.kinema.tensor.backend.BinaryOp;
import io.kinema.tensor.backend.UnaryOp;
import java.math.BigDecimal;
import java.math.MathContext;
import java.util.Arrays;
import java.util.Random;
import java.util.function.DoubleBinaryOperator;
import java.util.function.DoubleUnaryOperator;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/**
 * Unary, binary, comparison, in-place and where ops against double-precision references written
 * here, on every dtype, odd sizes, non-contiguous and broadcast operands.
 */
class ElementwiseOpsTest {
  private static final DType[] FLOATS = {DType.F64, DType.F32, DType.BF16, DType.F16};
  private static final DType[] INTS = {DType.I64, DType.I32, DType.U8};
  private static final long[] SIZES = {1, 3, 17, 33, 1000};

  // ---------------------------------------------------------------- helpers

  /** Relative (and equal absolute) tolerance of results stored in dtype t. */
  static double tol(DType t) {
    return switch (t) {
      case F64 -> 1e-12;
      case F32 -> 1e-5;
      case F16 -> 1e-3;
      case BF16 -> 1e-2;
      default -> 0;
    };
  }

  static void assertClose(double[] want, Tensor got, DType t, String ctx) {
    double[] g = got.toDoubleArray();
    assertEquals(want.length, g.length, ctx + ": length");
    double tol = tol(t);
    for (int i = 0; i < want.length; i++) {
      double w = want[i];
      if (Double.isNaN(w)) {
        if (!Double.isNaN(g[i])) fail(ctx + " at " + i + ": expected NaN, got " + g[i]);
        continue;
      }
      if (Double.isInfinite(w)) {
        if (w != g[i]) fail(ctx + " at " + i + ": expected " + w + ", got " + g[i]);
        continue;
      }
      if (!(Math.abs(g[i] - w) <= tol * (1 + Math.abs(w)))) {
        fail(ctx + " at " + i + ": expected " + w + ", got " + g[i] + " (tol " + tol + ")");
      }
    }
  }

  /** Random values in [lo, hi), rounded to integers for integer dtypes, stored as dtype t. */
  static Tensor rand(Random r, DType t, double lo, double hi, long... shape) {
    double[] v = new double[(int) Shapes.numel(shape)];
    for (int i = 0; i < v.length; i++) {
      double x = lo + (hi - lo) * r.nextDouble();
      v[i] = t == DType.BOOL ? r.nextInt(2) : t.isFloatingPoint() ? x : Math.floor(x);
    }
    return Tensor.of(v, shape).to(t);
  }

  /**
   * An [m, n] tensor in one of several layouts: 0 contiguous, 1 transposed, 2 every other column, 3
   * a broadcast row, 4 a broadcast column (stride 0 along the rows).
   */
  static Tensor layout(int kind, Random r, DType t, double lo, double hi, long m, long n) {
    return switch (kind) {
      case 0 -> rand(r, t, lo, hi, m, n);
      case 1 -> rand(r, t, lo, hi, n, m).transpose(0, 1);
      case 2 -> rand(r, t, lo, hi, m, 2 * n + 1).slice(1, 1, 2 * n + 1, 2);
      case 3 -> rand(r, t, lo, hi, 1, n).expand(m, n);
      default -> rand(r, t, lo, hi, m, 1).expand(m, n);
    };
  }

  static double[] map(double[] x, DoubleUnaryOperator f) {
    double[] y = new double[x.length];
    for (int i = 0; i < x.length; i++) y[i] = f.applyAsDouble(x[i]);
    return y;
  }

  // ---------------------------------------------------------------- erf reference

  private static final MathContext MC = new MathContext(110);
  private static final BigDecimal SQRT_PI =
      new BigDecimal(
              "3.14159265358979323846264338327950288419716939937510582097494459230781640628620899862803482534211706798")
          .sqrt(MC);

  /** 1 + erf(x) from the Taylor series in 110-digit arithmetic (|x| <= 9). */
  static BigDecimal onePlusErf(double x) {
    BigDecimal bx = new BigDecimal(x), x2 = bx.multiply(bx, MC);
    BigDecimal term = bx, sum = bx; // term_n = (-1)^n x^(2n+1) / n!
    for (int n = 1; n < 2000; n++) {
      term = term.multiply(x2, MC).divide(BigDecimal.valueOf(-n), MC);
      BigDecimal t = term.divide(BigDecimal.valueOf(2L * n + 1), MC);
      sum = sum.add(t, MC);
      if (t.abs().compareTo(new BigDecimal("1e-60")) < 0 && n > x * x) break;
    }
    BigDecimal erf = sum.multiply(BigDecimal.valueOf(2), MC).divide(SQRT_PI, MC);
    return erf.add(BigDecimal.ONE, MC);
  }

  static double erfRef(double x) {
    return onePlusErf(x).subtract(BigDecimal.ONE).doubleValue();
  }

  /** x Phi(x) with Phi(x) = (1 + erf(x / sqrt 2)) / 2, exact to double precision. */
  static double geluRef(double x) {
    BigDecimal z = new BigDecimal(x).divide(new BigDecimal(2).sqrt(MC), MC);
    BigDecimal phi = onePlusErf(z.doubleValue()).divide(BigDecimal.valueOf(2), MC);
    // z was rounded to double: correct Phi to first order, dPhi = pdf(z) * (zExact - zRounded).
    double dz = z.subtract(new BigDecimal(z.doubleValue()), MC).doubleValue();
    double pdf = Math.exp(-z.doubleValue() * z.doubleValue()) / Math.sqrt(Math.PI);
    return x * (phi.doubleValue() + pdf * dz);
  }

  // ---------------------------------------------------------------- unary

  record Case(UnaryOp op, double lo, double hi, double p1, double p2, DoubleUnaryOperator ref) {}

  static final Case[] UNARY = {
    new Case(UnaryOp.NEG, -5, 5, 0, 0, x -> -x),
    new Case(UnaryOp.ABS, -5, 5, 0, 0, Math::abs),
    new Case(UnaryOp.EXP, -5, 5, 0, 0, Math::exp),
    new Case(UnaryOp.LOG, 0.01, 10, 0, 0, Math::log),
    new Case(UnaryOp.SQRT, 0, 10, 0, 0, Math::sqrt),
    new Case(UnaryOp.RSQRT, 0.01, 10, 0, 0, x -> 1 / Math.sqrt(x)),
    new Case(UnaryOp.SIN, -6, 6, 0, 0, Math::sin),
    new Case(UnaryOp.COS, -6, 6, 0, 0, Math::cos),
    new Case(UnaryOp.TANH, -6, 6, 0, 0, Math::tanh),
    new Case(UnaryOp.SIGMOID, -10, 10, 0, 0, x -> 1 / (1 + Math.exp(-x))),
    new Case(UnaryOp.RELU, -5, 5, 0, 0, x -> Math.max(x, 0)),
    new Case(UnaryOp.GELU, -6, 6, 0, 0, ElementwiseOpsTest::geluRef),
    new Case(
        UnaryOp.GELU_TANH,
        -6,
        6,
        0,
        0,
        x -> 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)))),
    new Case(UnaryOp.SILU, -10, 10, 0, 0, x -> x / (1 + Math.exp(-x))),
    new Case(UnaryOp.SQUARE, -5, 5, 0, 0, x -> x * x),
    new Case(UnaryOp.RECIPROCAL, 0.1, 5, 0, 0, x -> 1 / x),
    new Case(UnaryOp.ERF, -5, 5, 0, 0, ElementwiseOpsTest::erfRef),
    new Case(UnaryOp.SIGN, -2, 2, 0, 0, Math::signum),
    new Case(UnaryOp.POW, 0, 4, 1.7, 0, x -> Math.pow(x, 1.7)),
    new Case(UnaryOp.POW, -3, 3, 2, 0, x -> x * x),
    new Case(UnaryOp.POW, -3, 3, 3, 0, x -> x * x * x),
    new Case(UnaryOp.POW, 0.1, 3, 0.5, 0, Math::sqrt),
    new Case(UnaryOp.POW, 0.1, 3, -1, 0, x -> 1 / x),
    new Case(UnaryOp.POW, 0.1, 3, -0.5, 0, x -> 1 / Math.sqrt(x)),
    new Case(UnaryOp.POW, -3, 3, 0, 0, x -> 1),
    new Case(UnaryOp.POW, -3, 3, 1, 0, x -> x),
    new Case(UnaryOp.CLAMP, -2, 2, -0.5, 0.7, x -> Math.min(Math.max(x, -0.5), 0.7)),
    new Case(UnaryOp.CLAMP, -2, 2, Double.NaN, 0.7, x -> Math.min(x, 0.7)),
    new Case(UnaryOp.CLAMP, -2, 2, -0.5, Double.NaN, x -> Math.max(x, -0.5)),
    new Case(UnaryOp.CLAMP, -2, 2, 1, -1, x -> -1), // min > max: all max, as PyTorch
  };

  @Test
  void unaryOpsOnFloatDtypes() {
    Random r = new Random(1);
    try (var s = Scope.open()) {
      for (Case c : UNARY) {
        for (DType t : FLOATS) {
          for (int kind = 0; kind < 5; kind++) {
            long m = 3, n = SIZES[r.nextInt(SIZES.length)];
            if (c.op == UnaryOp.GELU || c.op == UnaryOp.ERF) n = Math.min(n, 33); // slow reference
            Tensor x = layout(kind, r, t, c.lo, c.hi, m, n);
            if (c.op == UnaryOp.SIGN) x.select(0, 0).narrow(0, 0, 1).fill(0); // sign(0) = 0
            Tensor y = ElementwiseOps.unary(c.op, x, c.p1, c.p2);
            String ctx = c.op + "(" + c.p1 + ", " + c.p2 + ") " + t + " layout " + kind + " n=" + n;
            assertEquals(t, y.dtype(), ctx);
            assertArrayEquals(new long[] {m, n}, y.shape(), ctx);
            assertTrue(y.isContiguous(), ctx);
            assertClose(map(x.toDoubleArray(), c.ref), y, t, ctx);
          }
        }
      }
    }
  }

  @Test
  void unaryOnScalarsEmptyAndHighRank() {
    Random r = new Random(2);
    try (var s = Scope.open()) {
      for (DType t : FLOATS) {
        Tensor sc = Tensor.scalar(0.75, t);
        Tensor e = sc.exp();
        assertEquals(0, e.dim());
        assertEquals(Math.exp(0.75), e.item(), tol(t) * 3);
        Tensor empty = Tensor.zeros(t, 4, 0, 3).sigmoid();
        assertArrayEquals(new long[] {4, 0, 3}, empty.shape());
        // A permuted rank-4 tensor whose innermost dim is not contiguous.
        Tensor x = rand(r, t, -3, 3, 2, 3, 5, 7).permute(3, 1, 0, 2);
        assertClose(map(x.toDoubleArray(), Math::tanh), x.tanh(), t, "tanh permuted " + t);
        // A run long enough to be split across threads, with a tail.
        Tensor big = rand(r, t, -3, 3, 100_003);
        assertClose(
            map(big.toDoubleArray(), v -> v / (1 + Math.exp(-v))), big.silu(), t, "silu big " + t);
      }
    }
  }

  @Test
  void specialValues() {
    float inf = Float.POSITIVE_INFINITY, nan = Float.NaN;
    try (var s = Scope.open()) {
      for (DType t : FLOATS) {
        Tensor x = Tensor.of(new float[] {nan, inf, -inf, 0f, -0f, 1f}).to(t);
        double[] relu = x.relu().toDoubleArray();
        assertTrue(Double.isNaN(relu[0]));
        assertEquals(inf, relu[1]);
        assertEquals(0, relu[2]);
        double[] sign = x.sign().toDoubleArray();
        assertTrue(Double.isNaN(sign[0]), "sign(NaN) is NaN (as NumPy)");
        assertArrayEquals(new double[] {1, -1, 0, -0.0, 1}, Arrays.copyOfRange(sign, 1, 6));
        double[] gelu = x.gelu().toDoubleArray();
        assertTrue(Double.isNaN(gelu[0]));
        assertEquals(inf, gelu[1]);
        assertEquals(0, gelu[2], 0, "gelu(-inf) = 0");
        double[] erf = x.erf().toDoubleArray();
        assertTrue(Double.isNaN(erf[0]));
        assertEquals(1, erf[1]);
        assertEquals(-1, erf[2]);
        double[] clamp = x.clamp(-2, 2).toDoubleArray();
        assertTrue(Double.isNaN(clamp[0]), "clamp keeps NaN");
        assertArrayEquals(new double[] {2, -2, 0, -0.0, 1}, Arrays.copyOfRange(clamp, 1, 6));
        double[] sig = x.sigmoid().toDoubleArray();
        assertEquals(1, sig[1]);
        assertEquals(0, sig[2]);
        assertTrue(Double.isNaN(x.log().toDoubleArray()[0]));
        assertEquals(Double.NEGATIVE_INFINITY, x.log().toDoubleArray()[3]);
      }
    }
  }

  @Test
  void erfAndGeluAccuracy() {
    Random r = new Random(3);
    try (var s = Scope.open()) {
      int n = 300;
      double[] xs = new double[n];
      for (int i = 0; i < n; i++) xs[i] = -6 + 12 * r.nextDouble();
      xs[0] = 0.99999;
      xs[1] = 1.0;
      xs[2] = -1.0000001;
      // erf: F64 to 1e-15 relative, F32 to 1.5e-7 absolute.
      Tensor x64 = Tensor.of(xs);
      double[] e64 = x64.erf().toDoubleArray();
      Tensor x32 = x64.to(DType.F32);
      double[] in32 = x32.toDoubleArray();
      double[] e32 = x32.erf().toDoubleArray();
      for (int i = 0; i < n; i++) {
        double want = erfRef(xs[i]);
        assertEquals(want, e64[i], 1e-15 * Math.abs(want), "f64 erf(" + xs[i] + ")");
        assertEquals(erfRef(in32[i]), e32[i], 1.5e-7, "f32 erf(" + in32[i] + ")");
      }
      // GELU relative accuracy, negative tail included (x Phi(x) with Phi from erfc).
      double[] gx = new double[120];
      for (int i = 0; i < gx.length; i++) gx[i] = -12 + 15 * r.nextDouble();
      Tensor g64 = Tensor.of(gx);
      double[] y64 = g64.gelu().toDoubleArray();
      Tensor g32 = g64.to(DType.F32);
      double[] gin32 = g32.toDoubleArray();
      double[] y32 = g32.gelu().toDoubleArray();
      for (int i = 0; i < gx.length; i++) {
        double want = geluRef(gx[i]);
        assertEquals(want, y64[i], 1e-13 * Math.abs(want), "f64 gelu(" + gx[i] + ")");
        double want32 = geluRef(gin32[i]);
        assertEquals(want32, y32[i], 2e-6 * Math.abs(want32), "f32 gelu(" + gin32[i] + ")");
      }
    }
  }

  @Test
  void unaryIntegerDtypes() {
    try (var s = Scope.open()) {
      Tensor i32 = Tensor.of(new int[] {-3, 0, 2, 7, -8});
      assertSame(DType.I32, i32.abs().dtype());
      assertArrayEquals(new long[] {3, 0, 2, 7, 8}, i32.abs().toLongArray());
      assertArrayEquals(new long[] {3, 0, -2, -7, 8}, i32.neg().toLongArray());
      assertArrayEquals(new long[] {9, 0, 4, 49, 64}, i32.square().toLongArray());
      assertArrayEquals(new long[] {-1, 0, 1, 1, -1}, i32.sign().toLongArray());
      assertArrayEquals(new long[] {0, 0, 2, 7, 0}, i32.relu().toLongArray());
      assertArrayEquals(new long[] {-1, 0, 2, 3, -1}, i32.clamp(-1, 3).toLongArray());
      assertSame(DType.I32, i32.clamp(-1, Double.NaN).dtype());
      assertArrayEquals(new long[] {-27, 0, 8, 343, -512}, i32.pow(3).toLongArray());
      assertArrayEquals(new long[] {1, 1, 1, 1, 1}, i32.pow(0).toLongArray());
      // Ops without an integer meaning compute in F32.
      Tensor e = i32.exp();
      assertSame(DType.F32, e.dtype());
      assertClose(
          new double[] {Math.exp(-3), 1, Math.exp(2), Math.exp(7), Math.exp(-8)},
          e,
          DType.F32,
          "exp int");
      assertSame(DType.F32, i32.pow(0.5).dtype());
      assertSame(DType.F32, i32.clamp(0.5, Double.NaN).dtype());
      assertArrayEquals(
          new double[] {0.5, 0.5, 2, 7, 0.5}, i32.clamp(0.5, Double.NaN).toDoubleArray());
      // Wrapping in the dtype's width.
      Tensor big = Tensor.of(new int[] {1 << 20, Integer.MIN_VALUE});
      assertArrayEquals(new long[] {0, 0}, big.square().toLongArray());
      assertArrayEquals(new long[] {-(1 << 20), Integer.MIN_VALUE}, big.neg().toLongArray());
      Tensor u8 = Tensor.of(new int[] {0, 3, 200}).to(DType.U8);
      assertArrayEquals(new long[] {0, 253, 56}, u8.neg().toLongArray());
      assertArrayEquals(new long[] {0, 9, 64}, u8.square().toLongArray());
      Tensor i64 = Tensor.of(new long[] {-5, 1L << 40});
      assertArrayEquals(new long[] {5, 1L << 40}, i64.abs().toLongArray());
      assertArrayEquals(new long[] {25, 0}, i64.square().toLongArray());
      // BOOL: sign/abs/relu stay BOOL, square/pow/clamp become I64, neg is an error.
      Tensor b = Tensor.of(new boolean[] {true, false, true});
      assertSame(DType.BOOL, b.abs().dtype());
      assertSame(DType.BOOL, b.sign().dtype());
      assertSame(DType.I64, b.square().dtype());
      assertArrayEquals(new long[] {1, 0, 1}, b.square().toLongArray());
      assertSame(DType.I64, b.clamp(0, 5).dtype());
      assertSame(DType.F32, b.sigmoid().dtype());
      var ex = assertThrows(IllegalArgumentException.class, b::neg);
      assertTrue(
          ex.getMessage().contains("neg") && ex.getMessage().contains("BOOL[3]"), ex.getMessage());
      var pe = assertThrows(IllegalArgumentException.class, () -> i32.pow(-1));
      assertTrue(pe.getMessage().startsWith("pow: integers to negative"), pe.getMessage());
      assertTrue(pe.getMessage().contains("I32[5]"), pe.getMessage());
      // Non-contiguous integer input.
      Tensor m = Tensor.of(new long[] {1, -2, 3, -4, 5, -6}, 2, 3).t();
      assertArrayEquals(new long[] {1, 4, 2, 5, 3, 6}, m.abs().toLongArray());
    }
  }

  @Test
  void logicalNot() {
    try (var s = Scope.open()) {
      Tensor f = Tensor.of(new float[] {0f, -0f, 1.5f, Float.NaN});
      assertSame(DType.BOOL, f.logicalNot().dtype());
      assertArrayEquals(new boolean[] {true, true, false, false}, f.logicalNot().toBooleanArray());
      for (DType t : DType.values()) {
        Tensor x = Tensor.of(new double[] {0, 1, 2, 0, 3}).to(t);
        assertArrayEquals(
            new boolean[] {true, false, false, true, false},
            x.logicalNot().toBooleanArray(),
            t.toString());
        Tensor strided = Tensor.of(new double[] {0, 9, 1, 9, 0}).to(t).slice(0, 0, 5, 2);
        assertArrayEquals(new boolean[] {true, false, true}, strided.logicalNot().toBooleanArray());
      }
    }
  }

  // ---------------------------------------------------------------- binary

  record BCase(
      BinaryOp op, double lo, double hi, double blo, double bhi, DoubleBinaryOperator ref) {}

  static final BCase[] ARITH = {
    new BCase(BinaryOp.ADD, -5, 5, -5, 5, Double::sum),
    new BCase(BinaryOp.SUB, -5, 5, -5, 5, (a, b) -> a - b),
    new BCase(BinaryOp.MUL, -5, 5, -5, 5, (a, b) -> a * b),
    new BCase(BinaryOp.DIV, -5, 5, 0.5, 4, (a, b) -> a / b),
    new BCase(BinaryOp.POW, 0.1, 3, -2, 2, Math::pow),
    new BCase(BinaryOp.MAXIMUM, -5, 5, -5, 5, Math::max),
    new BCase(BinaryOp.MINIMUM, -5, 5, -5, 5, Math::min),
  };

  @Test
  void binaryOpsOnFloatDtypes() {
    Random r = new Random(4);
    try (var s = Scope.open()) {
      for (BCase c : ARITH) {
        for (DType t : FLOATS) {
          for (int ka = 0; ka < 5; ka++) {
            for (int kb = 0; kb < 5; kb++) {
              long m = 2, n = SIZES[r.nextInt(SIZES.length)];
              Tensor a = layout(ka, r, t, c.lo, c.hi, m, n);
              Tensor b = layout(kb, r, t, c.blo, c.bhi, m, n);
              Tensor y = ElementwiseOps.binary(c.op, a, b);
              String ctx = c.op + " " + t + " layouts " + ka + "," + kb + " n=" + n;
              assertEquals(t, y.dtype(), ctx);
              assertClose(zip(a.toDoubleArray(), b.toDoubleArray(), c.ref), y, t, ctx);
            }
          }
        }
      }
    }
  }

  static double[] zip(double[] a, double[] b, DoubleBinaryOperator f) {
    double[] y = new double[a.length];
    for (int i = 0; i < a.length; i++) y[i] = f.applyAsDouble(a[i], b[i]);
    return y;
  }

  /** a op b for shapes that broadcast, computed element by element on the broadcast indices. */
  static double[] broadcastRef(Tensor a, Tensor b, long[] shape, DoubleBinaryOperator f) {
    try (Tensor ae = a.expand(shape);
        Tensor be = b.expand(shape)) {
      return zip(ae.toDoubleArray(), be.toDoubleArray(), f);
    }
  }

  @Test
  void broadcastingBothWays() {
    Random r = new Random(5);
    try (var s = Scope.open()) {
      for (DType t : FLOATS) {
        Tensor a = rand(r, t, -3, 3, 3, 1, 5);
        Tensor b = rand(r, t, -3, 3, 4, 1);
        Tensor y = a.mul(b);
        assertArrayEquals(new long[] {3, 4, 5}, y.shape());
        assertClose(broadcastRef(a, b, y.shape(), (u, v) -> u * v), y, t, "mul bcast " + t);
        Tensor y2 = b.sub(a);
        assertClose(broadcastRef(b, a, y2.shape(), (u, v) -> u - v), y2, t, "sub bcast " + t);
        // A 0-dim operand on either side.
        Tensor sc = Tensor.scalar(1.5, t);
        assertClose(map(a.toDoubleArray(), v -> v + 1.5), a.add(sc), t, "add 0-d " + t);
        assertClose(map(a.toDoubleArray(), v -> 1.5 / v), sc.div(a), t, "div 0-d " + t);
        assertArrayEquals(new long[] {3, 1, 5}, sc.div(a).shape());
        // Empty dims broadcast to empty results.
        Tensor e = Tensor.zeros(t, 0, 5).add(rand(r, t, 0, 1, 5));
        assertArrayEquals(new long[] {0, 5}, e.shape());
        // Rows shorter than a vector with a broadcast row operand: runs of 3.
        Tensor rows = rand(r, t, -1, 1, 1001, 3);
        Tensor row = rand(r, t, -1, 1, 3);
        assertClose(
            broadcastRef(rows, row, rows.shape(), Math::max),
            rows.maximum(row),
            t,
            "max rows " + t);
      }
      // Mixed dtypes promote.
      Tensor f = Tensor.of(new float[] {1.5f, 2.5f});
      Tensor i = Tensor.of(new int[] {2, 3});
      Tensor d = Tensor.of(new double[] {0.25, 0.5});
      assertSame(DType.F32, f.add(i).dtype());
      assertArrayEquals(new double[] {3.5, 5.5}, f.add(i).toDoubleArray());
      assertSame(DType.F64, f.mul(d).dtype());
      assertSame(DType.F32, rand(r, DType.BF16, 0, 1, 2).add(rand(r, DType.F16, 0, 1, 2)).dtype());
      assertSame(DType.I64, i.add(Tensor.of(new long[] {1, 1})).dtype());
    }
  }

  @Test
  void binaryIntegerDtypes() {
    Random r = new Random(6);
    try (var s = Scope.open()) {
      for (DType t : INTS) {
        double lo = t == DType.U8 ? 0 : -100, hi = t == DType.U8 ? 256 : 100;
        for (int ka = 0; ka < 5; ka++) {
          long n = SIZES[r.nextInt(SIZES.length)];
          Tensor a = layout(ka, r, t, lo, hi, 2, n);
          Tensor b = layout(4 - ka, r, t, lo, hi, 2, n);
          double[] x = a.toDoubleArray(), y = b.toDoubleArray();
          Function<Long, Double> wrap =
              v -> (double) (t == DType.I32 ? (int) (long) v : t == DType.U8 ? v & 0xff : v);
          String ctx = t + " layout " + ka;
          assertSame(t, a.add(b).dtype());
          assertArrayEquals(lmap(x, y, (p, q) -> wrap.apply(p + q)), a.add(b).toDoubleArray(), ctx);
          assertArrayEquals(lmap(x, y, (p, q) -> wrap.apply(p - q)), a.sub(b).toDoubleArray(), ctx);
          assertArrayEquals(lmap(x, y, (p, q) -> wrap.apply(p * q)), a.mul(b).toDoubleArray(), ctx);
          assertArrayEquals(
              lmap(x, y, (p, q) -> (double) Math.max(p, q)), a.maximum(b).toDoubleArray(), ctx);
          assertArrayEquals(
              lmap(x, y, (p, q) -> (double) Math.min(p, q)), a.minimum(b).toDoubleArray(), ctx);
          // True division: F32.
          Tensor q = a.div(b);
          assertSame(DType.F32, q.dtype());
          assertClose(zip(x, y, (u, v) -> u / v), q, DType.F32, ctx + " div");
        }
      }
      // Integer pow, with PyTorch's negative exponents: 0 unless the base is 1 or -1.
      Tensor base = Tensor.of(new long[] {2, -3, 1, -1, -1, 5, 0});
      Tensor exp = Tensor.of(new long[] {10, 3, -4, -3, -2, -1, 0});
      assertArrayEquals(new long[] {1024, -27, 1, -1, 1, 0, 1}, base.pow(exp).toLongArray());
      Tensor i32 = Tensor.of(new int[] {46341, 3});
      assertArrayEquals(
          new long[] {46341L * 46341L - (1L << 32), 9},
          i32.pow(Tensor.of(new int[] {2, 2})).toLongArray());
      // U8 compares as unsigned.
      Tensor u = Tensor.of(new int[] {200, 10}).to(DType.U8);
      Tensor v = Tensor.of(new int[] {100, 20}).to(DType.U8);
      assertArrayEquals(new boolean[] {true, false}, u.gt(v).toBooleanArray());
      assertArrayEquals(new long[] {44, 30}, u.add(v).toLongArray());
      // BOOL arithmetic: add is or, mul is and, maximum is or.
      Tensor p = Tensor.of(new boolean[] {true, true, false, false});
      Tensor pq = Tensor.of(new boolean[] {true, false, true, false});
      assertSame(DType.BOOL, p.add(pq).dtype());
      assertArrayEquals(new boolean[] {true, true, true, false}, p.add(pq).toBooleanArray());
      assertArrayEquals(new boolean[] {true, false, false, false}, p.mul(pq).toBooleanArray());
      assertArrayEquals(new boolean[] {true, true, true, false}, p.maximum(pq).toBooleanArray());
      var ex = assertThrows(IllegalArgumentException.class, () -> p.sub(pq));
      assertTrue(
          ex.getMessage().startsWith("sub: not supported on two BOOL tensors"), ex.getMessage());
      assertTrue(ex.getMessage().contains("BOOL[4]"), ex.getMessage());
      // Division by zero on integers: inf and NaN as in PyTorch.
      Tensor z = Tensor.of(new int[] {1, -1, 0}).div(Tensor.of(new int[] {0, 0, 0}));
      assertArrayEquals(
          new double[] {Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY, Double.NaN},
          z.toDoubleArray());
    }
  }

  interface LongOp {
    double apply(long a, long b);
  }

  static double[] lmap(double[] a, double[] b, LongOp f) {
    double[] y = new double[a.length];
    for (int i = 0; i < a.length; i++) y[i] = f.apply((long) a[i], (long) b[i]);
    return y;
  }

  @Test
  void comparisons() {
    Random r = new Random(7);
    BinaryOp[] ops = {BinaryOp.EQ, BinaryOp.NE, BinaryOp.LT, BinaryOp.LE, BinaryOp.GT, BinaryOp.GE};
    try (var s = Scope.open()) {
      for (DType t : DType.values()) {
        for (int ka = 0; ka < 5; ka++) {
          long n = SIZES[r.nextInt(SIZES.length)];
          // Few distinct values so that equality happens often.
          double lo = t == DType.U8 || t == DType.BOOL ? 0 : -3, hi = t == DType.BOOL ? 2 : 3;
          // Floats: halves in [-3, 3), exact in every dtype.
          double scale = t.isFloatingPoint() ? 0.5 : 1;
          Tensor a = layout(ka, r, t, lo / scale, hi / scale, 2, n);
          Tensor b = layout((ka + 1) % 5, r, t, lo / scale, hi / scale, 2, n);
          if (t.isFloatingPoint()) {
            a = a.to(DType.I32).to(t).mul(scale);
            b = b.to(DType.I32).to(t).mul(scale).t().contiguous().t();
          }
          double[] x = a.toDoubleArray(), y = b.toDoubleArray();
          for (BinaryOp op : ops) {
            Tensor c = ElementwiseOps.binary(op, a, b);
            assertSame(DType.BOOL, c.dtype());
            boolean[] got = c.toBooleanArray();
            for (int i = 0; i < x.length; i++) {
              boolean want =
                  switch (op) {
                    case EQ -> x[i] == y[i];
                    case NE -> x[i] != y[i];
                    case LT -> x[i] < y[i];
                    case LE -> x[i] <= y[i];
                    case GT -> x[i] > y[i];
                    default -> x[i] >= y[i];
                  };
              assertEquals(want, got[i], op + " " + t + " layout " + ka + " at " + i);
            }
          }
        }
      }
      // NaN: only NE is true.
      Tensor nan = Tensor.of(new float[] {Float.NaN, 1f});
      Tensor one = Tensor.of(new float[] {Float.NaN, 1f});
      assertArrayEquals(new boolean[] {false, true}, nan.eq(one).toBooleanArray());
      assertArrayEquals(new boolean[] {true, false}, nan.ne(one).toBooleanArray());
      assertArrayEquals(new boolean[] {false, true}, nan.le(one).toBooleanArray());
      // Mixed dtypes compare in the promoted dtype; scalars too.
      Tensor i = Tensor.of(new int[] {1, 2, 3});
      assertArrayEquals(
          new boolean[] {false, true, true}, i.gt(Tensor.of(new float[] {1.5f})).toBooleanArray());
      assertArrayEquals(new boolean[] {false, true, true}, i.gt(1.5).toBooleanArray());
      assertArrayEquals(new boolean[] {false, true, false}, i.eq(2).toBooleanArray());
      assertArrayEquals(
          new boolean[] {true, false},
          Tensor.of(new float[] {0.1f, 0.2f}).eq(0.1).toBooleanArray());
    }
  }

  @Test
  void logicalAndOr() {
    try (var s = Scope.open()) {
      Tensor a = Tensor.of(new boolean[] {true, true, false, false});
      Tensor b = Tensor.of(new boolean[] {true, false, true, false});
      assertArrayEquals(
          new boolean[] {true, false, false, false}, a.logicalAnd(b).toBooleanArray());
      assertArrayEquals(new boolean[] {true, true, true, false}, a.logicalOr(b).toBooleanArray());
      Tensor f = Tensor.of(new float[] {2f, 0f, Float.NaN, 0f});
      Tensor i = Tensor.of(new int[] {0, 3, 1, 0});
      assertSame(DType.BOOL, f.logicalAnd(i).dtype());
      assertArrayEquals(
          new boolean[] {false, false, true, false}, f.logicalAnd(i).toBooleanArray());
      assertArrayEquals(new boolean[] {true, true, true, false}, f.logicalOr(i).toBooleanArray());
      // Broadcast and strided.
      Tensor m = Tensor.of(new boolean[] {true, false, true, true, false, false}, 2, 3).t();
      Tensor col = Tensor.of(new boolean[] {true, false}, 1, 2);
      assertArrayEquals(
          new boolean[] {true, false, false, false, true, false},
          m.logicalAnd(col).toBooleanArray());
    }
  }

  // ---------------------------------------------------------------- scalars

  @Test
  void scalarOperandsAreWeak() {
    Random r = new Random(8);
    try (var s = Scope.open()) {
      for (DType t : FLOATS) {
        Tensor x = rand(r, t, -4, 4, 3, 33);
        assertSame(t, x.add(2.5).dtype(), "float scalar keeps " + t);
        assertClose(map(x.toDoubleArray(), v -> v * 2.5), x.mul(2.5), t, "mul scalar " + t);
        assertClose(map(x.toDoubleArray(), v -> v - 0.5), x.sub(0.5), t, "sub scalar " + t);
        assertClose(map(x.toDoubleArray(), v -> v / 3), x.div(3), t, "div scalar " + t);
        assertSame(DType.BOOL, x.lt(0.5).dtype());
      }
      // BF16 * 0.1: computed in f32 with 0.1f (not 0.1 rounded to bf16), then rounded once.
      Tensor b = rand(r, DType.BF16, -4, 4, 100);
      double[] bx = b.toDoubleArray();
      double[] got = b.mul(0.1).toDoubleArray();
      for (int i = 0; i < bx.length; i++) {
        float want = CastTest.bf16Value((float) bx[i] * 0.1f);
        assertEquals(want, got[i], 0, "bf16 * 0.1 at " + i);
      }
      // Integer tensors: an integer scalar keeps the dtype, a fractional one gives F32.
      Tensor i = Tensor.of(new int[] {1, 2, 3});
      assertSame(DType.I32, i.add(2).dtype());
      assertArrayEquals(new long[] {3, 4, 5}, i.add(2).toLongArray());
      assertSame(DType.F32, i.add(2.5).dtype());
      assertArrayEquals(new double[] {3.5, 4.5, 5.5}, i.add(2.5).toDoubleArray());
      assertSame(DType.F32, i.div(2).dtype());
      assertArrayEquals(new double[] {0.5, 1, 1.5}, i.div(2).toDoubleArray());
      Tensor bool = Tensor.of(new boolean[] {true, false});
      assertSame(DType.I64, bool.add(1).dtype());
      assertArrayEquals(new long[] {2, 1}, bool.add(1).toLongArray());
      assertSame(DType.I64, Tensor.of(new long[] {4}).mul(3.0).dtype());
    }
  }

  // ---------------------------------------------------------------- in place

  @Test
  void inPlaceOps() {
    Random r = new Random(9);
    try (var s = Scope.open()) {
      for (DType t : FLOATS) {
        Tensor self = rand(r, t, -3, 3, 3, 17);
        double[] before = self.toDoubleArray();
        Tensor other = rand(r, t, 0.5, 3, 17);
        double[] o = other.expand(3, 17).toDoubleArray();
        assertSame(self, self.addInPlace(other));
        assertClose(zip(before, o, Double::sum), self, t, "addInPlace " + t);
        before = self.toDoubleArray();
        self.divInPlace(other);
        assertClose(zip(before, o, (u, v) -> u / v), self, t, "divInPlace " + t);
        before = self.toDoubleArray();
        self.mulInPlace(2.5).addInPlace(-1);
        assertClose(map(before, v -> v * 2.5 - 1), self, t, "scalar in place " + t);
        // A non-contiguous self: only its elements change.
        Tensor base = rand(r, t, -3, 3, 6, 10);
        double[] all = base.toDoubleArray();
        Tensor view = base.slice(1, 0, 10, 3).t();
        double[] vb = view.toDoubleArray();
        Tensor w = rand(r, t, -3, 3, 4, 1);
        double[] wv = w.expand(4, 6).toDoubleArray();
        view.subInPlace(w);
        assertClose(zip(vb, wv, (u, v) -> u - v), view, t, "subInPlace strided " + t);
        double[] after = base.toDoubleArray();
        for (int k = 0; k < all.length; k++) if (k % 10 % 3 != 0) assertEquals(all[k], after[k], 0);
      }
      // F32 self with an F64 other: computed in F64, cast back into F32.
      Tensor f = Tensor.of(new float[] {1f, 2f});
      f.addInPlace(Tensor.of(new double[] {0.1, 0.2}));
      assertSame(DType.F32, f.dtype());
      assertArrayEquals(new float[] {(float) 1.1, (float) 2.2}, f.toFloatArray());
      // BF16 self with a BF16 scalar product: f32 scalar.
      Tensor h = Tensor.of(new float[] {3f, -7f}).to(DType.BF16);
      h.mulInPlace(0.1);
      assertArrayEquals(
          new double[] {CastTest.bf16Value(3f * 0.1f), CastTest.bf16Value(-7f * 0.1f)},
          h.toDoubleArray());
      // Integer self.
      Tensor i = Tensor.of(new int[] {1, 2, 3});
      i.addInPlace(Tensor.of(new int[] {10, 20, 30})).mulInPlace(2);
      assertArrayEquals(new long[] {22, 44, 66}, i.toLongArray());
    }
  }

  @Test
  void inPlaceErrors() {
    try (var s = Scope.open()) {
      Tensor self = Tensor.zeros(DType.F32, 3, 5);
      var e1 =
          assertThrows(IllegalArgumentException.class, () -> self.addInPlace(Tensor.zeros(4, 5)));
      assertTrue(e1.getMessage().startsWith("addInPlace: "), e1.getMessage());
      assertTrue(
          e1.getMessage().contains("[3, 5]") && e1.getMessage().contains("[4, 5]"),
          e1.getMessage());
      var e2 =
          assertThrows(
              IllegalArgumentException.class, () -> self.mulInPlace(Tensor.zeros(2, 3, 5)));
      assertTrue(
          e2.getMessage().contains("does not broadcast to self's shape [3, 5]"), e2.getMessage());
      Tensor ints = Tensor.of(new int[] {1, 2});
      var e3 =
          assertThrows(
              IllegalArgumentException.class,
              () -> ints.addInPlace(Tensor.of(new float[] {1f, 2f})));
      assertTrue(
          e3.getMessage().contains("F32 can't be cast") && e3.getMessage().contains("I32[2]"),
          e3.getMessage());
      var e4 = assertThrows(IllegalArgumentException.class, () -> ints.addInPlace(2.5));
      assertTrue(
          e4.getMessage().startsWith("addInPlace: result dtype F32 can't be cast"),
          e4.getMessage());
      var e5 =
          assertThrows(
              IllegalArgumentException.class, () -> ints.divInPlace(Tensor.of(new int[] {1, 2})));
      assertTrue(
          e5.getMessage().contains("divInPlace") && e5.getMessage().contains("F32"),
          e5.getMessage());
      Tensor expanded = Tensor.zeros(1, 5).expand(3, 5);
      var e6 =
          assertThrows(
              IllegalArgumentException.class, () -> expanded.addInPlace(Tensor.ones(3, 5)));
      assertTrue(e6.getMessage().contains("broadcast dim 0"), e6.getMessage());
      assertArrayEquals(
          new int[] {1, 2}, new int[] {(int) ints.get(0), (int) ints.get(1)}, "unchanged");
    }
  }

  // ---------------------------------------------------------------- where

  @Test
  void whereSelects() {
    Random r = new Random(10);
    try (var s = Scope.open()) {
      for (DType t : DType.values()) {
        for (int kind = 0; kind < 5; kind++) {
          long n = SIZES[r.nextInt(SIZES.length)];
          Tensor cond = layout(kind, r, DType.BOOL, 0, 2, 3, n);
          Tensor a = layout((kind + 1) % 5, r, t, 0, 100, 3, n);
          Tensor b = layout((kind + 2) % 5, r, t, 0, 100, 3, n);
          Tensor y = Tensor.where(cond, a, b);
          assertSame(t, y.dtype());
          boolean[] c = cond.toBooleanArray();
          double[] x = a.toDoubleArray(), z = b.toDoubleArray(), got = y.toDoubleArray();
          for (int i = 0; i < c.length; i++)
            assertEquals(
                c[i] ? x[i] : z[i], got[i], 0, "where " + t + " layout " + kind + " at " + i);
        }
      }
      // Broadcasting all three, with promotion, and a contiguous cond with a scalar branch.
      Tensor cond = Tensor.of(new boolean[] {true, false, true}, 3, 1);
      Tensor a = Tensor.of(new int[] {1, 2}, 1, 2);
      Tensor b = Tensor.scalar(-0.5, DType.F32);
      Tensor y = Tensor.where(cond, a, b);
      assertSame(DType.F32, y.dtype());
      assertArrayEquals(new long[] {3, 2}, y.shape());
      assertArrayEquals(new double[] {1, 2, -0.5, -0.5, 1, 2}, y.toDoubleArray());
      boolean[] cv = new boolean[1000];
      float[] av = new float[1000];
      for (int i = 0; i < cv.length; i++) {
        cv[i] = r.nextBoolean();
        av[i] = i;
      }
      double[] got = Tensor.where(Tensor.of(cv), Tensor.of(av), b).toDoubleArray();
      for (int i = 0; i < cv.length; i++) assertEquals(cv[i] ? i : -0.5, got[i], 0);
      var e =
          assertThrows(IllegalArgumentException.class, () -> Tensor.where(Tensor.ones(3), a, b));
      assertTrue(
          e.getMessage().startsWith("where: condition must be BOOL, got F32[3]"), e.getMessage());
      var e2 =
          assertThrows(
              IllegalArgumentException.class,
              () -> Tensor.where(Tensor.of(new boolean[] {true, false}), Tensor.zeros(3), b));
      assertTrue(
          e2.getMessage().startsWith("where: shapes [2] and [3] cannot be broadcast"),
          e2.getMessage());
    }
  }

  @Test
  void binaryErrors() {
    try (var s = Scope.open()) {
      var e =
          assertThrows(
              IllegalArgumentException.class, () -> Tensor.zeros(2, 3).add(Tensor.zeros(4)));
      assertTrue(
          e.getMessage().startsWith("add: shapes [2, 3] and [4] cannot be broadcast"),
          e.getMessage());
      var e2 =
          assertThrows(
              IllegalArgumentException.class, () -> Tensor.zeros(2).logicalAnd(Tensor.zeros(3)));
      assertTrue(e2.getMessage().startsWith("logicalAnd: "), e2.getMessage());
      Tensor t = Tensor.of(new boolean[] {true});
      var e3 = assertThrows(IllegalArgumentException.class, () -> t.pow(t));
      assertTrue(
          e3.getMessage().startsWith("pow: not supported on two BOOL tensors"), e3.getMessage());
      Tensor closed = Tensor.zeros(2);
      closed.close();
      assertThrows(IllegalStateException.class, () -> closed.exp());
    }
  }
}
