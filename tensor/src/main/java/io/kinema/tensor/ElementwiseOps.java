package io.kinema.tensor;

import io.kinema.tensor.backend.BinaryOp;
import io.kinema.tensor.backend.UnaryOp;
import java.util.Arrays;

/**
 * Front-end of elementwise ops: dtype rules, broadcasting, output allocation. The rules are
 * PyTorch's:
 *
 * <ul>
 *   <li>Unary ops keep a floating dtype. On integer/BOOL input, NEG, ABS, SQUARE, SIGN, RELU, CLAMP
 *       with integer-valued bounds and POW with a non-negative integer exponent stay integral (BOOL
 *       stays BOOL for ABS, SIGN and RELU, and becomes I64 for SQUARE, CLAMP and POW, as a Python
 *       int scalar would make it); every other op (exp, log, sqrt, sigmoid, gelu, ...) computes in
 *       F32. NOT gives BOOL. NEG of a BOOL tensor is an error. SIGN of NaN is NaN (as NumPy;
 *       PyTorch returns 0, an open bug there). GELU of -inf is 0.
 *   <li>Binary ops compute in {@link DType#promote} of the operands and broadcast both. DIV is true
 *       division: integer operands give F32. Comparisons and AND/OR give BOOL (comparisons are made
 *       in the promoted dtype). Integer POW with a negative exponent tensor follows PyTorch (0
 *       unless the base is 1 or -1); SUB and POW of two BOOL tensors are errors.
 *   <li>A Java {@code double} operand is a "weak" scalar: it never widens a floating tensor (F32 +
 *       2.5 is F32, BF16 * 0.1 is BF16, computed in f32 with the scalar at f32 precision and
 *       rounded once); with an integer or BOOL tensor an integer-valued scalar keeps the tensor's
 *       dtype (BOOL becomes I64) and a fractional one gives F32.
 *   <li>In-place ops write into {@code self}: {@code other} must broadcast to self's shape, and the
 *       result dtype must be castable to self's (no float result into an integer tensor, nothing
 *       but BOOL into a BOOL tensor).
 * </ul>
 */
final class ElementwiseOps {
  private ElementwiseOps() {}

  // ---------------------------------------------------------------- unary

  static Tensor unary(UnaryOp op, Tensor x) {
    return unary(op, x, 0, 0);
  }

  static Tensor unary(UnaryOp op, Tensor x, double p1, double p2) {
    String name = name(op);
    DType in = x.dtype();
    DType outType = unaryType(op, name, x, p1, p2);
    // NOT reads any dtype; every other op computes in its output dtype.
    DType computeType = op == UnaryOp.NOT ? in : outType;
    Tensor out = Tensor.empty(outType, x.device(), x.shape());
    Tensor xc = null;
    try {
      xc = in == computeType ? x : x.to(computeType);
      out.backend().unary(op, xc, out, p1, p2);
    } catch (RuntimeException e) {
      out.close();
      throw e;
    } finally {
      if (xc != null && xc != x) xc.close();
    }
    return out;
  }

  private static DType unaryType(UnaryOp op, String name, Tensor x, double p1, double p2) {
    DType in = x.dtype();
    if (op == UnaryOp.NOT) return DType.BOOL;
    if (in.isFloatingPoint()) return in;
    boolean bool = in == DType.BOOL;
    DType widened = bool ? DType.I64 : in;
    return switch (op) {
      case NEG -> {
        if (bool) {
          throw new IllegalArgumentException(
              name
                  + ": negation of a BOOL tensor is not supported ("
                  + x.describe()
                  + "); use logicalNot()");
        }
        yield in;
      }
      case ABS, SIGN, RELU -> in;
      case SQUARE -> widened;
      case CLAMP -> isIntegral(p1) && isIntegral(p2) ? widened : DType.F32;
      case POW -> {
        if (!isInteger(p1)) yield DType.F32;
        if (p1 < 0) {
          throw new IllegalArgumentException(
              name
                  + ": integers to negative integer powers are not allowed ("
                  + x.describe()
                  + " ^ "
                  + p1
                  + ")");
        }
        yield widened;
      }
      default -> DType.F32;
    };
  }

  /** An integer value, or NaN (CLAMP's "no bound"). */
  private static boolean isIntegral(double v) {
    return Double.isNaN(v) || isInteger(v);
  }

  private static boolean isInteger(double v) {
    return !Double.isInfinite(v) && v == Math.rint(v);
  }

  // ---------------------------------------------------------------- binary

  static Tensor binary(BinaryOp op, Tensor a, Tensor b) {
    String name = name(op);
    Ops.sameDevice(name, a, b);
    long[] shape = Shapes.broadcast(name, a.shape(), b.shape());
    DType compute = computeType(op, name, a, b);
    DType outType = op.isComparison() ? DType.BOOL : compute;
    return apply(op, a, compute, b, compute, shape, outType);
  }

  /** See the class comment for how the scalar's dtype is chosen. */
  static Tensor binary(BinaryOp op, Tensor a, double b) {
    String name = name(op);
    checkScalarPow(op, name, a, b);
    if (keepsF32Scalar(op, a)) {
      try (Tensor s = Tensor.scalar(b, DType.F32, a.device())) {
        return apply(op, a, a.dtype(), s, DType.F32, a.shape(), a.dtype());
      }
    }
    try (Tensor s = Tensor.scalar(b, scalarType(a.dtype(), b), a.device())) {
      return binary(op, a, s);
    }
  }

  static Tensor binaryInPlace(BinaryOp op, Tensor self, Tensor other) {
    String name = name(op) + "InPlace";
    Ops.sameDevice(name, self, other);
    long[] shape = Shapes.broadcast(name, self.shape(), other.shape());
    if (!Arrays.equals(shape, self.shape())) {
      throw new IllegalArgumentException(
          name
              + ": other "
              + other.describe()
              + " does not broadcast to self's shape "
              + Shapes.str(self.shape())
              + " (broadcast shape "
              + Shapes.str(shape)
              + ")");
    }
    checkNoInternalOverlap(name, self);
    DType compute = computeType(op, name, self, other);
    DType result = op.isComparison() ? DType.BOOL : compute;
    checkCastable(name, result, self, other.describe());
    if (result == self.dtype() && compute == self.dtype()) {
      Tensor o = operand(other, compute, shape);
      try {
        self.backend().binary(op, self, o, self);
      } finally {
        if (o != other) o.close();
      }
    } else {
      // Compute in the promoted dtype, then cast into self (e.g. F32 += F64, BF16 += F32).
      try (Tensor r = binary(op, self, other)) {
        self.backend().copy(r, self);
      }
    }
    return self;
  }

  static Tensor binaryInPlace(BinaryOp op, Tensor self, double other) {
    String name = name(op) + "InPlace";
    checkScalarPow(op, name, self, other);
    if (keepsF32Scalar(op, self)) {
      checkNoInternalOverlap(name, self);
      try (Tensor s = Tensor.scalar(other, DType.F32, self.device());
          Tensor e = s.expand(self.shape())) {
        self.backend().binary(op, self, e, self);
      }
      return self;
    }
    DType st = scalarType(self.dtype(), other);
    if (!canCast(DType.promote(self.dtype(), st), self.dtype())) {
      throw new IllegalArgumentException(
          name
              + ": result dtype "
              + DType.promote(self.dtype(), st)
              + " can't be cast to "
              + self.describe()
              + " (scalar "
              + other
              + ")");
    }
    try (Tensor s = Tensor.scalar(other, st, self.device())) {
      return binaryInPlace(op, self, s);
    }
  }

  static Tensor where(Tensor cond, Tensor a, Tensor b) {
    Ops.sameDevice("where", cond, a, b);
    if (cond.dtype() != DType.BOOL) {
      throw new IllegalArgumentException(
          "where: condition must be BOOL, got "
              + cond.describe()
              + " (a "
              + a.describe()
              + ", b "
              + b.describe()
              + ")");
    }
    long[] shape =
        Shapes.broadcast("where", Shapes.broadcast("where", cond.shape(), a.shape()), b.shape());
    DType dtype = DType.promote(a.dtype(), b.dtype());
    Tensor out = Tensor.empty(dtype, a.device(), shape);
    Tensor c = null, x = null, y = null;
    try {
      c = operand(cond, DType.BOOL, shape);
      x = operand(a, dtype, shape);
      y = operand(b, dtype, shape);
      out.backend().where(c, x, y, out);
    } catch (RuntimeException e) {
      out.close();
      throw e;
    } finally {
      closeIfNew(c, cond);
      closeIfNew(x, a);
      closeIfNew(y, b);
    }
    return out;
  }

  // ---------------------------------------------------------------- helpers

  /** Converts and broadcasts both operands, allocates out and runs the backend primitive. */
  private static Tensor apply(
      BinaryOp op, Tensor a, DType at, Tensor b, DType bt, long[] shape, DType outType) {
    Tensor out = Tensor.empty(outType, a.device(), shape);
    Tensor x = null, y = null;
    try {
      x = operand(a, at, shape);
      y = operand(b, bt, shape);
      out.backend().binary(op, x, y, out);
    } catch (RuntimeException e) {
      out.close();
      throw e;
    } finally {
      closeIfNew(x, a);
      closeIfNew(y, b);
    }
    return out;
  }

  /**
   * {@code t} converted to {@code dtype} and expanded to {@code shape}: t itself if it already is.
   */
  private static Tensor operand(Tensor t, DType dtype, long[] shape) {
    Tensor c = t.dtype() == dtype ? t : t.to(dtype);
    if (Arrays.equals(c.shape(), shape)) return c;
    try {
      return c.expand(shape);
    } finally {
      if (c != t) c.close();
    }
  }

  private static void closeIfNew(Tensor made, Tensor original) {
    if (made != null && made != original) made.close();
  }

  /** The dtype both operands are converted to (the result dtype, except for comparisons). */
  private static DType computeType(BinaryOp op, String name, Tensor a, Tensor b) {
    DType common = DType.promote(a.dtype(), b.dtype());
    return switch (op) {
      case AND, OR -> DType.BOOL;
      case DIV -> common.isFloatingPoint() ? common : DType.F32;
      case SUB, POW -> {
        if (common == DType.BOOL) {
          throw new IllegalArgumentException(
              name
                  + ": not supported on two BOOL tensors ("
                  + a.describe()
                  + ", "
                  + b.describe()
                  + ")"
                  + (op == BinaryOp.SUB ? "; use ne() for xor" : ""));
        }
        yield common;
      }
      default -> common;
    };
  }

  /** The dtype of a Java scalar next to a tensor of dtype {@code t} (see the class comment). */
  private static DType scalarType(DType t, double v) {
    if (t.isFloatingPoint()) return t;
    if (!isInteger(v)) return DType.F32;
    return t == DType.BOOL ? DType.I64 : t;
  }

  /** BF16/F16 arithmetic with a scalar: the scalar stays f32 (PyTorch's opmath), result 16-bit. */
  private static boolean keepsF32Scalar(BinaryOp op, Tensor a) {
    return a.dtype().isHalf() && !op.isComparison();
  }

  private static void checkScalarPow(BinaryOp op, String name, Tensor a, double b) {
    if (op == BinaryOp.POW && !a.dtype().isFloatingPoint() && isInteger(b) && b < 0) {
      throw new IllegalArgumentException(
          name
              + ": integers to negative integer powers are not allowed ("
              + a.describe()
              + " ^ "
              + b
              + ")");
    }
  }

  /** PyTorch's can_cast: no floating into integral/BOOL, no integral into BOOL. */
  private static boolean canCast(DType from, DType to) {
    if (from.isFloatingPoint() && !to.isFloatingPoint()) return false;
    return !(from != DType.BOOL && to == DType.BOOL);
  }

  private static void checkCastable(String name, DType result, Tensor self, String other) {
    if (!canCast(result, self.dtype())) {
      throw new IllegalArgumentException(
          name
              + ": result dtype "
              + result
              + " can't be cast to self's dtype (self "
              + self.describe()
              + ", other "
              + other
              + ")");
    }
  }

  /** Writing through a broadcast (stride-0) dim would write one element several times. */
  private static void checkNoInternalOverlap(String name, Tensor self) {
    long[] sh = self.shape(), st = self.strides();
    for (int d = 0; d < sh.length; d++) {
      if (sh[d] > 1 && st[d] == 0) {
        throw new IllegalArgumentException(
            name
                + ": self "
                + self.describe()
                + " has a broadcast dim "
                + d
                + " (stride 0): several elements share one memory location; clone() it first");
      }
    }
  }

  static String name(UnaryOp op) {
    return switch (op) {
      case GELU_TANH -> "geluTanh";
      case NOT -> "logicalNot";
      default -> op.name().toLowerCase(java.util.Locale.ROOT);
    };
  }

  static String name(BinaryOp op) {
    return switch (op) {
      case AND -> "logicalAnd";
      case OR -> "logicalOr";
      default -> op.name().toLowerCase(java.util.Locale.ROOT);
    };
  }
}
