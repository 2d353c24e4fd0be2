package io.kinema.autograd;

import static io.kinema.autograd.GradTesting.awayFromZero;
import static io.kinema.autograd.GradTesting.check;
import static io.kinema.autograd.GradTesting.normal;
import static io.kinema.autograd.GradTesting.recordAs;
import static io.kinema.autograd.GradTesting.uniform;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import io.kinema.tensor.DType;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.backend.BinaryOp;
import io.kinema.tensor.grad.OpCall;
import java.util.Random;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;

/** Finite-difference checks of every elementwise rule: unary, binary, scalar, where. */
class ElementwiseGradTest {
  /** Checks {@code f} on x as given and on a transposed (non-contiguous) view of a [4, 3] leaf. */
  private static void unary(Tensor x34, UnaryOperator<Tensor> f) {
    check(in -> f.apply(in.get(0)), x34);
    check(in -> f.apply(in.get(0).transpose(0, 1)), x34);
  }

  @Test
  void smoothUnaryOpsOnAnyInput() {
    try (var s = Scope.open()) {
      Random r = new Random(1);
      Tensor x = normal(r, 4, 3);
      unary(x, Tensor::neg);
      unary(x, Tensor::exp);
      unary(x, Tensor::sin);
      unary(x, Tensor::cos);
      unary(x, Tensor::tanh);
      unary(x, Tensor::sigmoid);
      unary(x, Tensor::gelu);
      unary(x, Tensor::geluTanh);
      unary(x, Tensor::silu);
      unary(x, Tensor::square);
      unary(x, Tensor::erf);
      unary(x, t -> t.pow(0));
      unary(x, t -> t.pow(1));
      unary(x, t -> t.pow(2));
      unary(x, t -> t.pow(3));
    }
  }

  @Test
  void unaryOpsWithKinksOrPolesAwayFromThem() {
    try (var s = Scope.open()) {
      Random r = new Random(2);
      Tensor x = awayFromZero(r, 0.1, 2, 4, 3);
      unary(x, Tensor::abs);
      unary(x, Tensor::relu);
      unary(x, Tensor::sign);
      unary(x, Tensor::reciprocal);
      unary(x, t -> t.pow(-1));
      unary(x, t -> t.pow(-2));
    }
  }

  @Test
  void unaryOpsOnPositiveInputs() {
    try (var s = Scope.open()) {
      Random r = new Random(3);
      Tensor x = uniform(r, 0.2, 3, 4, 3);
      unary(x, Tensor::log);
      unary(x, Tensor::sqrt);
      unary(x, Tensor::rsqrt);
      unary(x, t -> t.pow(2.5));
      unary(x, t -> t.pow(0.5));
      unary(x, t -> t.pow(-1.5));
    }
  }

  @Test
  void clampWithBothOneOrNoBound() {
    try (var s = Scope.open()) {
      // Values on a grid 0.1 + 0.2 k: none within eps of the bounds -0.5, 0.4.
      double[] v = new double[12];
      Random r = new Random(4);
      for (int i = 0; i < v.length; i++) v[i] = -1.1 + 0.2 * i + 0.01 * r.nextDouble();
      Tensor x = Tensor.of(v, 4, 3).requiresGrad(true);
      unary(x, t -> t.clamp(-0.5, 0.4));
      unary(x, t -> t.clampMin(-0.5));
      unary(x, t -> t.clampMax(0.4));
      unary(x, t -> t.clamp(Double.NaN, Double.NaN));
      unary(x, t -> t.clamp(-0.5, Double.NaN));
    }
  }

  @Test
  void clampPassesTheGradientAtItsBoundsAsPyTorch() {
    try (var s = Scope.open()) {
      Tensor x = Tensor.of(new double[] {-1, -0.5, 0, 0.4, 1}, 5).requiresGrad(true);
      x.clamp(-0.5, 0.4).sum().backward();
      assertArrayEquals(new double[] {0, 1, 1, 1, 0}, x.grad().toDoubleArray());
    }
  }

  /** Each binary op with both operands requiring grad, on several broadcast pairings. */
  private static void binary(Random r, BinaryOp op) {
    long[][][] pairs = {
      {{3, 4}, {3, 4}},
      {{3, 1, 4}, {2, 4}},
      {{2, 4}, {3, 1, 4}},
      {{}, {2, 3}},
      {{2, 3}, {}},
      {{2, 1}, {1, 3}},
      {{1}, {4}},
    };
    for (long[][] p : pairs) {
      Tensor a, b;
      switch (op) {
        case DIV -> {
          a = normal(r, p[0]);
          b = awayFromZero(r, 0.5, 2, p[1]);
        }
        case POW -> {
          a = uniform(r, 0.3, 2, p[0]);
          b = normal(r, p[1]);
        }
        case MAXIMUM, MINIMUM -> {
          // a on the grid 0.1 + 0.2 k, b on 0.2 k: every pair differs by at least 0.1.
          a = grid(r, 0.1, p[0]);
          b = grid(r, 0, p[1]);
        }
        default -> {
          a = normal(r, p[0]);
          b = normal(r, p[1]);
        }
      }
      check(in -> binaryOp(op, in.get(0), in.get(1)), a, b);
    }
  }

  private static Tensor grid(Random r, double shift, long... shape) {
    double[] v = new double[Math.toIntExact(GradTesting.numel(shape))];
    for (int i = 0; i < v.length; i++) v[i] = shift + 0.2 * (r.nextInt(21) - 10);
    return Tensor.of(v, shape).requiresGrad(true);
  }

  private static Tensor binaryOp(BinaryOp op, Tensor a, Tensor b) {
    return switch (op) {
      case ADD -> a.add(b);
      case SUB -> a.sub(b);
      case MUL -> a.mul(b);
      case DIV -> a.div(b);
      case POW -> a.pow(b);
      case MAXIMUM -> a.maximum(b);
      case MINIMUM -> a.minimum(b);
      default -> throw new IllegalArgumentException(op.name());
    };
  }

  @Test
  void binaryOpsWithBroadcasting() {
    try (var s = Scope.open()) {
      Random r = new Random(5);
      for (BinaryOp op :
          new BinaryOp[] {
            BinaryOp.ADD,
            BinaryOp.SUB,
            BinaryOp.MUL,
            BinaryOp.DIV,
            BinaryOp.POW,
            BinaryOp.MAXIMUM,
            BinaryOp.MINIMUM
          }) {
        binary(r, op);
      }
    }
  }

  @Test
  void binaryOpsWithOneOperandConstantOrNonContiguous() {
    try (var s = Scope.open()) {
      Random r = new Random(6);
      Tensor a = normal(r, 4, 3);
      Tensor c = Tensor.of(new double[] {0.5, -1.5, 2}, 3); // constant, broadcast along rows
      Tensor pos = uniform(r, 0.5, 2, 3, 4);
      check(in -> in.get(0).mul(c), a);
      check(in -> c.div(in.get(0).transpose(0, 1).add(3)), pos);
      check(in -> c.sub(in.get(0)), a);
      check(in -> in.get(0).transpose(0, 1).pow(in.get(1)), pos, a);
      check(
          in -> in.get(0).slice(0, 0, 4, 2).mul(in.get(1).transpose(0, 1).slice(0, 1, 4, 2)),
          a,
          pos);
    }
  }

  @Test
  void powOfZeroBaseFollowsPyTorch() {
    try (var s = Scope.open()) {
      // d/db 0^b = 0 (not NaN) for b > 0; d/da a^b at a = 0 is b 0^(b-1) = 0 for b > 1.
      Tensor a = Tensor.of(new double[] {0, 0, 2}, 3).requiresGrad(true);
      Tensor b = Tensor.of(new double[] {2, 3, 0.5}, 3).requiresGrad(true);
      a.pow(b).sum().backward();
      double[] ga = a.grad().toDoubleArray(), gb = b.grad().toDoubleArray();
      assertArrayEquals(new double[] {0, 0, 0.5 / Math.sqrt(2)}, ga, 1e-15);
      assertArrayEquals(new double[] {0, 0, Math.sqrt(2) * Math.log(2)}, gb, 1e-15);
      // 0^0 = 1 with both gradients 0, as PyTorch (not NaN from 0 * 0^-1 or 1 * log 0).
      Tensor z = Tensor.of(new double[] {0, 3}, 2).requiresGrad(true);
      Tensor e = Tensor.of(new double[] {0, 0}, 2).requiresGrad(true);
      z.pow(e).sum().backward();
      assertArrayEquals(new double[] {0, 0}, z.grad().toDoubleArray());
      assertArrayEquals(new double[] {0, Math.log(3)}, e.grad().toDoubleArray(), 1e-15);
    }
  }

  @Test
  void maximumAndMinimumSplitTiesEvenly() {
    try (var s = Scope.open()) {
      Tensor a = Tensor.of(new double[] {1, 2, 3}, 3).requiresGrad(true);
      Tensor b = Tensor.of(new double[] {2, 2, 1}, 3).requiresGrad(true);
      a.maximum(b).sum().backward();
      assertArrayEquals(new double[] {0, 0.5, 1}, a.grad().toDoubleArray());
      assertArrayEquals(new double[] {1, 0.5, 0}, b.grad().toDoubleArray());
      a.zeroGrad();
      b.zeroGrad();
      a.minimum(b).sum().backward();
      assertArrayEquals(new double[] {1, 0.5, 0}, a.grad().toDoubleArray());
      assertArrayEquals(new double[] {0, 0.5, 1}, b.grad().toDoubleArray());
    }
  }

  @Test
  void scalarOperandVariants() {
    try (var s = Scope.open()) {
      Random r = new Random(7);
      Tensor x = normal(r, 4, 3);
      unary(x, t -> t.add(1.5));
      unary(x, t -> t.sub(-0.25));
      unary(x, t -> t.mul(-3));
      unary(x, t -> t.div(0.7));
      // Variants the public API does not record today (pow/maximum/minimum by a Java scalar).
      Tensor p = uniform(r, 0.3, 2, 4, 3);
      for (double e : new double[] {0, 1, 2.5, -1}) {
        check(
            in -> recordAs(new OpCall.BinaryScalar(BinaryOp.POW, in.get(0), e), t -> t[0].pow(e)),
            p);
      }
      Tensor g = Tensor.of(new double[] {-1.1, -0.7, -0.3, 0.1, 0.5, 0.9}, 2, 3).requiresGrad(true);
      for (BinaryOp op : new BinaryOp[] {BinaryOp.MAXIMUM, BinaryOp.MINIMUM}) {
        check(
            in ->
                recordAs(
                    new OpCall.BinaryScalar(op, in.get(0), 0.2),
                    t -> binaryOp(op, t[0], Tensor.scalar(0.2, DType.F64))),
            g);
      }
    }
  }

  @Test
  void whereRoutesTheGradientByTheCondition() {
    try (var s = Scope.open()) {
      Random r = new Random(8);
      boolean[] m = new boolean[12];
      for (int i = 0; i < m.length; i++) m[i] = r.nextBoolean();
      Tensor cond = Tensor.of(m, 3, 4);
      Tensor condRow = Tensor.of(new boolean[] {true, false, true, false}, 4);
      Tensor a = normal(r, 3, 4), b = normal(r, 3, 4);
      check(in -> Tensor.where(cond, in.get(0), in.get(1)), a, b);
      Tensor a1 = normal(r, 3, 1), b0 = normal(r);
      check(in -> Tensor.where(cond, in.get(0), in.get(1)), a1, b0);
      check(in -> Tensor.where(condRow, in.get(0), in.get(1)), a1, b);
      Tensor aT = normal(r, 4, 3);
      check(in -> Tensor.where(cond, in.get(0).transpose(0, 1), b), aT);
      Tensor wide = normal(r, 2, 3, 4);
      check(in -> Tensor.where(condRow, a, in.get(0)), wide);
    }
  }
}
