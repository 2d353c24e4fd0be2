package io.kinema.tensor;

import io.kinema.tensor.backend.Epilogue;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.Supplier;

/**
 * A fixed set of CPU ops on fixed random inputs, each reduced to a hash of its output's bits: the
 * fingerprint that {@link JitDeterminismTest} compares across execution modes (interpreter, C1, C2)
 * and thread counts. Inputs have odd sizes (vector tails), strided and offset views, rows short and
 * long, a reduction split into parts, in F32 and a little BF16 and F64. {@link #main} prints one
 * {@code name hash} line per op.
 */
public final class DeterminismProbe {
  private DeterminismProbe() {}

  /**
   * Prints {@link #run()}'s lines; with an argument N, first runs every op N times on small inputs
   * so that the JIT compiles the kernels before the fingerprint is taken.
   */
  public static void main(String[] args) {
    if (args.length > 0) warmUp(Integer.parseInt(args[0]));
    for (String line : run()) System.out.println(line);
  }

  /** One {@code name hash} line per op. */
  public static List<String> run() {
    List<String> out = new ArrayList<>();
    try (var s = Scope.open()) {
      for (Op op : ops(new Random(42), false)) out.add(op.name + " " + hash(op.run.get()));
    }
    return out;
  }

  /** Runs every op {@code times} times on small inputs (kernels are shared across sizes). */
  public static void warmUp(int times) {
    try (var s = Scope.open()) {
      List<Op> ops = ops(new Random(7), true);
      for (int i = 0; i < times; i++) {
        for (Op op : ops) {
          try (var inner = Scope.open()) {
            op.run.get();
          }
        }
      }
    }
  }

  private record Op(String name, Supplier<Tensor> run) {}

  /** The ops on inputs drawn from r; {@code small} shrinks the long rows (for warming up). */
  private static List<Op> ops(Random r, boolean small) {
    List<Op> out = new ArrayList<>();
    Tensor a = uniform(r, -3, 3, 7, 37); // rows shorter than a few vectors, with tails
    Tensor t = uniform(r, -3, 3, 37, 7).mT(); // the same shape with strided rows
    Tensor o = uniform(r, -3, 3, 9, 41).narrow(0, 1, 7).narrow(1, 2, 37); // offset, padded rows
    Tensor flat = uniform(r, -4, 4, 1003);
    Tensor big = uniform(r, -2, 2, 3, small ? 1001 : 9001); // rows of several f32 blocks
    Tensor all = uniform(r, -2, 2, small ? 1001 : 70_001); // a reduction split in two
    Tensor wide = uniform(r, -2, 2, small ? 30 : 300, 37); // reduced over dim 0: column plan
    Tensor pos = flat.abs().add(1e-3);
    Tensor w = uniform(r, 0.5, 1.5, 37), b = uniform(r, -0.5, 0.5, 37);
    Tensor g = uniform(r, -1, 1, 7, 37);
    Tensor q = uniform(r, -1, 1, 1, 2, 19, 16), k = uniform(r, -1, 1, 1, 2, 23, 16);
    Tensor v = uniform(r, -1, 1, 1, 2, 23, 16);
    long[] norm = {37};
    Tensor[] inputs = {a, t, o};
    String[] names = {"contiguous", "strided", "offset"};
    for (int i = 0; i < inputs.length; i++) {
      Tensor x = inputs[i];
      String n = " " + names[i];
      out.add(new Op("sum(-1)" + n, () -> x.sum(-1)));
      out.add(new Op("sum(0)" + n, () -> x.sum(0)));
      out.add(new Op("mean(-1)" + n, () -> x.mean(-1)));
      out.add(new Op("var(-1)" + n, () -> x.var(new int[] {-1}, 1, false)));
      out.add(new Op("std(0)" + n, () -> x.std(new int[] {0}, 0, false)));
      out.add(new Op("softmax(-1)" + n, () -> x.softmax(-1)));
      out.add(new Op("softmax(0)" + n, () -> x.softmax(0)));
      out.add(new Op("log_softmax(-1)" + n, () -> x.logSoftmax(-1)));
      out.add(new Op("softmax backward" + n, () -> softmaxBackward(x.softmax(-1), g)));
      out.add(new Op("layer_norm" + n, () -> x.layerNorm(norm, w, b, 1e-5)));
      out.add(new Op("layer_norm backward" + n, () -> layerNormBackward(x, w, g, 1e-5)));
      out.add(new Op("rms_norm" + n, () -> x.rmsNorm(norm, w, 1e-5)));
      out.add(new Op("rms_norm backward" + n, () -> rmsNormBackward(x, w, g, 1e-5)));
      out.add(new Op("exp" + n, x::exp));
      out.add(new Op("log" + n, () -> x.abs().log()));
      out.add(new Op("tanh" + n, x::tanh));
      out.add(new Op("sin" + n, x::sin));
      out.add(new Op("cos" + n, x::cos));
      out.add(new Op("sigmoid" + n, x::sigmoid));
      out.add(new Op("silu" + n, x::silu));
      out.add(new Op("gelu" + n, x::gelu));
      out.add(new Op("gelu_tanh" + n, x::geluTanh));
      out.add(new Op("erf" + n, x::erf));
      out.add(new Op("pow(|x|, 1.7)" + n, () -> x.abs().pow(1.7)));
      out.add(new Op("pow(|x|, x)" + n, () -> x.abs().pow(x)));
    }
    out.add(new Op("exp flat", flat::exp));
    out.add(new Op("tanh flat", flat::tanh));
    out.add(new Op("log flat", pos::log));
    out.add(new Op("pow flat", () -> pos.pow(flat.mul(0.5))));
    out.add(new Op("sum all", all::sum));
    out.add(new Op("sum(-1) long rows", () -> big.sum(-1)));
    out.add(new Op("var(-1) long rows", () -> big.var(new int[] {-1}, 1, false)));
    out.add(new Op("softmax long rows", () -> big.softmax(-1)));
    out.add(new Op("sum(0) columns", () -> wide.sum(0)));
    out.add(new Op("var(0) columns", () -> wide.var(new int[] {0}, 1, false)));
    out.add(new Op("norm(0) columns", () -> wide.square().sum(0).sqrt()));
    out.add(new Op("bf16 softmax", () -> a.to(DType.BF16).softmax(-1)));
    out.add(new Op("bf16 silu", () -> t.to(DType.BF16).silu()));
    out.add(new Op("bf16 rms_norm", () -> o.to(DType.BF16).rmsNorm(norm, null, 1e-6)));
    out.add(
        new Op("attention", () -> Tensor.scaledDotProductAttention(q, k, v, AttentionMask.CAUSAL)));
    Tensor lb = uniform(r, -0.5, 0.5, wide.size(0));
    out.add(new Op("linear gelu_tanh", () -> a.linear(wide, lb, Epilogue.GELU_TANH)));
    Tensor d = a.to(DType.F64);
    out.add(new Op("f64 softmax", () -> d.softmax(-1)));
    out.add(new Op("f64 tanh", d::tanh));
    out.add(new Op("f64 pow", () -> d.abs().pow(d)));
    out.add(new Op("f64 sum", d::sum));
    return out;
  }

  /** {@code dx = y * (g - sum(g * y))}: the composition autograd uses. */
  private static Tensor softmaxBackward(Tensor y, Tensor g) {
    return y.mul(g.sub(g.mul(y).sum(new int[] {-1}, true)));
  }

  /** The input gradient of layer_norm over the last dim, composed as autograd does. */
  private static Tensor layerNormBackward(Tensor x, Tensor w, Tensor g, double eps) {
    int[] nd = {-1};
    Tensor xc = x.sub(x.mean(nd, true));
    Tensor rstd = xc.square().mean(nd, true).add(eps).rsqrt();
    Tensor xhat = xc.mul(rstd);
    Tensor dxhat = g.mul(w);
    return dxhat.sub(dxhat.mean(nd, true)).sub(xhat.mul(dxhat.mul(xhat).mean(nd, true))).mul(rstd);
  }

  /** The input gradient of rms_norm over the last dim, composed as autograd does. */
  private static Tensor rmsNormBackward(Tensor x, Tensor w, Tensor g, double eps) {
    int[] nd = {-1};
    Tensor rs = x.square().mean(nd, true).add(eps).rsqrt();
    Tensor gw = g.mul(w);
    return gw.sub(x.mul(rs.square()).mul(gw.mul(x).mean(nd, true))).mul(rs);
  }

  private static Tensor uniform(Random r, double lo, double hi, long... shape) {
    long n = 1;
    for (long d : shape) n *= d;
    float[] v = new float[(int) n];
    for (int i = 0; i < v.length; i++) v[i] = (float) (lo + (hi - lo) * r.nextDouble());
    return Tensor.of(v, shape);
  }

  /** A hash of the output's elements' bits in row-major order. */
  private static String hash(Tensor y) {
    long h = 1125899906842597L;
    if (y.dtype() == DType.F64) {
      for (double v : y.toDoubleArray()) h = 31 * h + Double.doubleToRawLongBits(v);
    } else {
      for (float v : y.toFloatArray()) h = 31 * h + Float.floatToRawIntBits(v);
    }
    return Long.toHexString(h);
  }
}
