package io.kinema.nn.lora;

import io.kinema.nn.LinearLike;
import io.kinema.nn.Module;
import io.kinema.nn.Parameter;
import io.kinema.tensor.DType;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import java.util.Random;

/** Test-only layers: a PyTorch-style Linear and containers shaped like a small Wan DiT. */
final class TestModels {
  private TestModels() {}

  /** nn.Linear: weight [out, in], optional bias [out], forward x W^T + b. */
  static final class TestLinear extends Module implements LinearLike {
    private final Parameter weight;
    private final Parameter bias;
    private final long in, out;

    TestLinear(long in, long out, boolean bias, DType dtype, Random rnd) {
      this.in = in;
      this.out = out;
      try (var s = Scope.open()) {
        this.weight = registerParameter("weight", random(rnd, dtype, out, in));
        this.bias = bias ? registerParameter("bias", random(rnd, dtype, out)) : null;
      }
    }

    @Override
    public Parameter weight() {
      return weight;
    }

    @Override
    public Parameter bias() {
      return bias;
    }

    @Override
    public Tensor forward(Tensor x) {
      try (var s = Scope.open()) {
        Tensor y = x.matmul(weight.data().t());
        if (bias != null) y = y.add(bias.data());
        return s.keep(y);
      }
    }

    @Override
    public long inFeatures() {
      return in;
    }

    @Override
    public long outFeatures() {
      return out;
    }
  }

  /** A module that only holds children (ModuleList / plain container). */
  static final class Container extends Module {
    Container add(String name, Module m) {
      registerModule(name, m);
      return this;
    }

    Module child(String name) {
      return namedChildren().get(name);
    }
  }

  /**
   * A non-linear module with a parameter (like a norm's weight): never adapted, must stay frozen.
   */
  static final class Scale extends Module {
    final Parameter weight;

    Scale(long dim, DType dtype, Random rnd) {
      try (var s = Scope.open()) {
        weight = registerParameter("weight", random(rnd, dtype, dim));
      }
    }

    Tensor forward(Tensor x) {
      return x.mul(weight.data());
    }
  }

  /**
   * blocks.{i}.attn1.{to_q,to_k,to_v,to_out.0}, blocks.{i}.ffn.net.{0.proj,2}, blocks.{i}.norm2:
   * the diffusers names of a Wan block's linear layers. forward is a residual MLP-ish composition
   * (not attention) that touches every layer.
   */
  static final class TinyWan extends Module {
    final Container blocks = new Container();
    final int dim, ffn, nBlocks;

    TinyWan(int nBlocks, int dim, int ffn, DType dtype, long seed) {
      this.dim = dim;
      this.ffn = ffn;
      this.nBlocks = nBlocks;
      Random rnd = new Random(seed);
      registerModule("blocks", blocks);
      for (int i = 0; i < nBlocks; i++) {
        Container attn = new Container();
        attn.add("to_q", new TestLinear(dim, dim, true, dtype, rnd));
        attn.add("to_k", new TestLinear(dim, dim, true, dtype, rnd));
        attn.add("to_v", new TestLinear(dim, dim, true, dtype, rnd));
        attn.add("to_out", new Container().add("0", new TestLinear(dim, dim, true, dtype, rnd)));
        Container net = new Container();
        net.add("0", new Container().add("proj", new TestLinear(dim, ffn, true, dtype, rnd)));
        net.add("2", new TestLinear(ffn, dim, true, dtype, rnd));
        Container block = new Container();
        block.add("attn1", attn);
        block.add("ffn", new Container().add("net", net));
        block.add("norm2", new Scale(dim, dtype, rnd));
        blocks.add(Integer.toString(i), block);
      }
    }

    private LinearLike lin(Module m, String... path) {
      for (String p : path) m = m.namedChildren().get(p);
      return (LinearLike) m;
    }

    Tensor forward(Tensor x) {
      try (var s = Scope.open()) {
        for (int i = 0; i < nBlocks; i++) {
          Module b = blocks.child(Integer.toString(i));
          Tensor q = lin(b, "attn1", "to_q").forward(x);
          Tensor k = lin(b, "attn1", "to_k").forward(x);
          Tensor v = lin(b, "attn1", "to_v").forward(x);
          Tensor mix = q.mul(k).tanh().add(v);
          x = x.add(lin(b, "attn1", "to_out", "0").forward(mix));
          Tensor h = ((Scale) b.namedChildren().get("norm2")).forward(x);
          h = lin(b, "ffn", "net", "0", "proj").forward(h).tanh();
          x = x.add(lin(b, "ffn", "net", "2").forward(h));
        }
        return s.keep(x);
      }
    }
  }

  static Tensor random(Random rnd, DType dtype, long... shape) {
    long n = 1;
    for (long d : shape) n *= d;
    double[] v = new double[(int) n];
    for (int i = 0; i < v.length; i++) v[i] = rnd.nextGaussian() * 0.3;
    Tensor t = Tensor.of(v, shape);
    if (dtype == DType.F64) return t;
    try (t) {
      return t.to(dtype);
    }
  }
}
