package io.kinema.tensor.cuda;

import static io.kinema.tensor.cuda.CudaTesting.GPU;
import static io.kinema.tensor.cuda.CudaTesting.assertClose;
import static io.kinema.tensor.cuda.CudaTesting.assertSame;

import io.kinema.ffi.cuda.junit.RequiresCuda;
import io.kinema.tensor.ActivationGrad;
import io.kinema.tensor.DType;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import java.util.function.BinaryOperator;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;

/**
 * Elementwise ops on the GPU against the CPU backend: every unary and binary op on F32, BF16, F16
 * and F64 (dense, permuted, broadcast, scalar and in-place operands), integer arithmetic,
 * comparisons, logical ops, where, casts between every pair of dtypes, fills, and the tanh GELU's
 * fused backward.
 */
@RequiresCuda
class CudaElementwiseTest {
  private static final DType[] FLOATS = {DType.F32, DType.BF16, DType.F16, DType.F64};
  private static final DType[] INTS = {DType.I64, DType.I32, DType.U8};

  private static Map<String, UnaryOperator<Tensor>> unaryOps() {
    var ops = new LinkedHashMap<String, UnaryOperator<Tensor>>();
    ops.put("neg", Tensor::neg);
    ops.put("abs", Tensor::abs);
    ops.put("exp", Tensor::exp);
    ops.put("log", t -> t.abs().add(0.1).log());
    ops.put("sqrt", t -> t.abs().sqrt());
    ops.put("rsqrt", t -> t.abs().add(0.1).rsqrt());
    ops.put("sin", Tensor::sin);
    ops.put("cos", Tensor::cos);
    ops.put("tanh", Tensor::tanh);
    ops.put("sigmoid", Tensor::sigmoid);
    ops.put("relu", Tensor::relu);
    ops.put("gelu", Tensor::gelu);
    ops.put("geluTanh", Tensor::geluTanh);
    ops.put("silu", Tensor::silu);
    ops.put("square", Tensor::square);
    ops.put("reciprocal", t -> t.abs().add(0.5).reciprocal());
    ops.put("erf", Tensor::erf);
    ops.put("sign", Tensor::sign);
    ops.put("pow2", t -> t.pow(2));
    ops.put("pow1.7", t -> t.abs().pow(1.7));
    ops.put("clamp", t -> t.clamp(-0.5, 0.75));
    ops.put("clampMin", t -> t.clampMin(0.25));
    return ops;
  }

  @Test
  void unaryOpsOnEveryFloatDtypeAndLayout() {
    Random r = new Random(1);
    for (DType dt : FLOATS) {
      try (Scope s = Scope.open()) {
        Tensor dense = CudaTesting.randn(r, dt, 37);
        Tensor permuted = CudaTesting.randn(r, dt, 3, 4, 5).permute(2, 0, 1);
        for (Tensor cpu : new Tensor[] {dense, permuted}) {
          Tensor gpu = cpu.to(GPU);
          for (var e : unaryOps().entrySet()) {
            assertClose(
                e.getValue().apply(cpu),
                e.getValue().apply(gpu),
                e.getKey() + " " + cpu.describe());
          }
          assertSame(cpu.logicalNot(), gpu.logicalNot(), "logicalNot " + dt);
        }
      }
    }
  }

  @Test
  void geluTanhBackwardOnEveryFloatDtypeAndLayout() {
    Random r = new Random(12);
    for (DType dt : FLOATS) {
      try (Scope s = Scope.open()) {
        // Dense (odd size, past one thread's 16 bytes), permuted x, broadcast g.
        Tensor x = CudaTesting.randn(r, dt, 1037).mul(3);
        Tensor g = CudaTesting.randn(r, dt, 1037);
        Tensor xp = CudaTesting.randn(r, dt, 3, 4, 5).mul(3).permute(2, 0, 1);
        Tensor gb = CudaTesting.randn(r, dt, 1, 3, 1).expand(5, 3, 4);
        assertClose(
            ActivationGrad.geluTanh(g, x),
            ActivationGrad.geluTanh(g.to(GPU), x.to(GPU)),
            "geluTanh backward dense " + dt);
        assertClose(
            ActivationGrad.geluTanh(gb, xp),
            ActivationGrad.geluTanh(gb.to(GPU), xp.to(GPU)),
            "geluTanh backward strided " + dt);
      }
    }
  }

  @Test
  void integerUnaryOps() {
    Random r = new Random(2);
    for (DType dt : INTS) {
      try (Scope s = Scope.open()) {
        Tensor cpu = CudaTesting.uniform(r, dt, dt == DType.U8 ? 0 : -50, 50, 4, 6).mT();
        Tensor gpu = cpu.to(GPU);
        assertSame(cpu.abs(), gpu.abs(), "abs " + dt);
        assertSame(cpu.neg(), gpu.neg(), "neg " + dt);
        assertSame(cpu.square(), gpu.square(), "square " + dt);
        assertSame(cpu.sign(), gpu.sign(), "sign " + dt);
        assertSame(cpu.relu(), gpu.relu(), "relu " + dt);
        assertSame(cpu.clamp(3, 20), gpu.clamp(3, 20), "clamp " + dt);
        assertSame(cpu.pow(3), gpu.pow(3), "pow " + dt);
        assertSame(cpu.logicalNot(), gpu.logicalNot(), "not " + dt);
      }
    }
  }

  private static Map<String, BinaryOperator<Tensor>> binaryOps() {
    var ops = new LinkedHashMap<String, BinaryOperator<Tensor>>();
    ops.put("add", Tensor::add);
    ops.put("sub", Tensor::sub);
    ops.put("mul", Tensor::mul);
    ops.put("div", (a, b) -> a.div(b.abs().add(0.5)));
    ops.put("pow", (a, b) -> a.abs().add(0.1).pow(b));
    ops.put("maximum", Tensor::maximum);
    ops.put("minimum", Tensor::minimum);
    ops.put("eq", (a, b) -> a.eq(a.mul(b.gt(0))));
    ops.put("ne", (a, b) -> a.ne(a.mul(b.gt(0))));
    ops.put("lt", Tensor::lt);
    ops.put("le", Tensor::le);
    ops.put("gt", Tensor::gt);
    ops.put("ge", Tensor::ge);
    ops.put("and", (a, b) -> a.gt(0).logicalAnd(b));
    ops.put("or", (a, b) -> a.gt(0).logicalOr(b.gt(0.5)));
    return ops;
  }

  @Test
  void binaryOpsWithBroadcastAndStridedOperands() {
    Random r = new Random(3);
    for (DType dt : FLOATS) {
      try (Scope s = Scope.open()) {
        Tensor[][] pairs = {
          {CudaTesting.randn(r, dt, 41), CudaTesting.randn(r, dt, 41)},
          {CudaTesting.randn(r, dt, 4, 1, 5), CudaTesting.randn(r, dt, 3, 1)},
          {CudaTesting.randn(r, dt, 5, 6).mT(), CudaTesting.randn(r, dt, 6, 5)},
          {CudaTesting.randn(r, dt, 2, 3, 4), CudaTesting.randn(r, dt, 1)},
        };
        for (Tensor[] p : pairs) {
          Tensor ga = p[0].to(GPU), gb = p[1].to(GPU);
          for (var e : binaryOps().entrySet()) {
            assertClose(
                e.getValue().apply(p[0], p[1]),
                e.getValue().apply(ga, gb),
                e.getKey() + " " + p[0].describe() + ", " + p[1].describe());
          }
        }
        Tensor a = CudaTesting.randn(r, dt, 33);
        Tensor ga = a.to(GPU);
        // Java scalars (F32 next to 16-bit tensors), in place, where.
        assertClose(a.add(0.3), ga.add(0.3), "add scalar " + dt);
        assertClose(a.mul(-1.7), ga.mul(-1.7), "mul scalar " + dt);
        assertClose(a.lt(0.1), ga.lt(0.1), "lt scalar " + dt);
        Tensor ac = a.copy(), gc = ga.copy();
        ac.mulInPlace(a);
        gc.mulInPlace(ga);
        ac.addInPlace(2.5);
        gc.addInPlace(2.5);
        assertClose(ac, gc, "in place " + dt);
        Tensor b = CudaTesting.randn(r, dt, 33), gb = b.to(GPU);
        assertSame(Tensor.where(a.gt(b), a, b), Tensor.where(ga.gt(gb), ga, gb), "where " + dt);
      }
    }
  }

  @Test
  void integerBinaryOps() {
    Random r = new Random(4);
    for (DType dt : INTS) {
      try (Scope s = Scope.open()) {
        Tensor a = CudaTesting.uniform(r, dt, 0, 100, 3, 7),
            b = CudaTesting.uniform(r, dt, 1, 9, 7);
        Tensor ga = a.to(GPU), gb = b.to(GPU);
        assertSame(a.add(b), ga.add(gb), "add " + dt);
        assertSame(a.sub(b), ga.sub(gb), "sub " + dt);
        assertSame(a.mul(b), ga.mul(gb), "mul " + dt);
        assertSame(a.maximum(b), ga.maximum(gb), "maximum " + dt);
        assertSame(a.minimum(b), ga.minimum(gb), "minimum " + dt);
        assertSame(a.lt(b), ga.lt(gb), "lt " + dt);
        assertSame(a.eq(b), ga.eq(gb), "eq " + dt);
        assertSame(Tensor.where(a.gt(b), a, b), Tensor.where(ga.gt(gb), ga, gb), "where " + dt);
      }
    }
  }

  @Test
  void castsBetweenEveryPairOfDtypes() {
    Random r = new Random(5);
    for (DType from : DType.values()) {
      try (Scope s = Scope.open()) {
        Tensor cpu = CudaTesting.uniform(r, from, -3, 300, 5, 9).mT();
        Tensor gpu = cpu.to(GPU);
        for (DType to : DType.values()) {
          assertSame(cpu.to(to), gpu.to(to), from + " -> " + to);
          assertSame(
              cpu.contiguous().to(to), gpu.contiguous().to(to), from + " -> " + to + " dense");
        }
      }
    }
  }

  @Test
  void fillsOfEveryDtypeDenseAndStrided() {
    for (DType dt : DType.values()) {
      try (Scope s = Scope.open()) {
        for (double v : new double[] {0, 1, -2.5, 300.25}) {
          assertSame(
              Tensor.full(v, dt, 7, 3), Tensor.full(v, dt, GPU, 7, 3), "full " + v + " " + dt);
          Tensor cpu = Tensor.zeros(dt, 6, 5), gpu = Tensor.zeros(dt, GPU, 6, 5);
          cpu.slice(1, 0, 5, 2).fill(v);
          gpu.slice(1, 0, 5, 2).fill(v);
          assertSame(cpu, gpu, "strided fill " + v + " " + dt);
          Tensor odd = Tensor.zeros(dt, GPU, 7);
          odd.narrow(0, 1, 5).fill(v);
          Tensor oddCpu = Tensor.zeros(dt, 7);
          oddCpu.narrow(0, 1, 5).fill(v);
          assertSame(oddCpu, odd, "offset fill " + v + " " + dt);
        }
      }
    }
  }

  @Test
  void copiesBetweenViews() {
    Random r = new Random(6);
    try (Scope s = Scope.open()) {
      Tensor src = CudaTesting.randn(r, DType.F32, 4, 5, 6);
      Tensor cpu = Tensor.zeros(DType.BF16, 6, 5, 8), gpu = Tensor.zeros(DType.BF16, GPU, 6, 5, 8);
      cpu.narrow(2, 2, 4).copyFrom(src.permute(2, 1, 0));
      gpu.narrow(2, 2, 4).copyFrom(src.to(GPU).permute(2, 1, 0));
      assertSame(cpu, gpu, "copy into a narrowed view");
      Tensor b = CudaTesting.randn(r, DType.F16, 1, 5, 1);
      cpu.narrow(2, 0, 2).copyFrom(b);
      gpu.narrow(2, 0, 2).copyFrom(b.to(GPU));
      assertSame(cpu, gpu, "broadcast copy");
    }
  }

  @Test
  void moreDimsThanTheKernelsTakeRunAsHostLoops() {
    Random r = new Random(20);
    try (Scope s = Scope.open()) {
      long[] shape = new long[10];
      java.util.Arrays.fill(shape, 2);
      int[] reverse = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0};
      Tensor x = CudaTesting.randn(r, DType.F32, shape).permute(reverse);
      Tensor y = CudaTesting.randn(r, DType.F32, shape);
      Tensor gx = x.to(GPU), gy = y.to(GPU);
      assertClose(x.exp(), gx.exp(), "unary of 10 unfused dims");
      assertClose(x.mul(y), gx.mul(gy), "binary of 10 unfused dims");
      assertSame(x.to(DType.BF16), gx.to(DType.BF16), "cast of 10 unfused dims");
      assertSame(x.contiguous(), gx.contiguous(), "copy of 10 unfused dims");
    }
  }

  @Test
  void randomShapesWithBroadcastAndPermutedOperands() {
    Random r = new Random(22);
    for (int trial = 0; trial < 24; trial++) {
      DType dt = FLOATS[trial % FLOATS.length];
      try (Scope s = Scope.open()) {
        int rank = 1 + r.nextInt(4);
        long[] shape = new long[rank];
        for (int d = 0; d < rank; d++) shape[d] = 1 + r.nextInt(6);
        Tensor a = randomView(r, dt, shape), b = randomView(r, dt, shape);
        Tensor ga = a.to(GPU), gb = b.to(GPU);
        String what = "trial " + trial + " " + a.describe() + ", " + b.describe();
        assertClose(a.add(b).mul(a), ga.add(gb).mul(ga), "add, mul " + what);
        assertClose(a.maximum(b).sigmoid(), ga.maximum(gb).sigmoid(), "maximum, sigmoid " + what);
        assertSame(a.ge(b), ga.ge(gb), "ge " + what);
        int dim = r.nextInt(rank);
        assertClose(a.sub(b).sum(dim, false), ga.sub(gb).sum(dim, false), 1e-4, "sum " + what);
      }
    }
  }

  /**
   * A CPU tensor that broadcasts to {@code shape}: size-1 dims at random, built permuted (so its
   * strides are not row major), then expanded.
   */
  private static Tensor randomView(Random r, DType dt, long[] shape) {
    int rank = shape.length;
    long[] own = shape.clone();
    for (int d = 0; d < rank; d++) if (r.nextInt(3) == 0) own[d] = 1;
    int[] order = new int[rank];
    for (int d = 0; d < rank; d++) order[d] = d;
    for (int d = rank - 1; d > 0; d--) {
      int j = r.nextInt(d + 1), t = order[d];
      order[d] = order[j];
      order[j] = t;
    }
    long[] stored = new long[rank];
    for (int d = 0; d < rank; d++) stored[d] = own[order[d]];
    int[] back = new int[rank];
    for (int d = 0; d < rank; d++) back[order[d]] = d;
    return CudaTesting.randn(r, dt, stored).permute(back).expand(shape);
  }
}
