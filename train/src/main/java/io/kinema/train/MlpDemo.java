package io.kinema.train;

import io.kinema.tensor.DType;
import io.kinema.tensor.Device;
import io.kinema.tensor.Generator;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import java.io.PrintStream;
import java.util.List;

/**
 * The engine demo: fits {@code y = sin(3 x0) cos(2 x1)} on [-1, 1]^2 with an MLP 2 -> 64 -> 64 -> 1
 * (tanh), full-batch, mean squared error, backpropagation written out by hand with tensor ops, and
 * Adam. Every step's temporaries live in a {@link Scope}; parameters and optimizer state are
 * updated in place and closed at the end, so memory stays flat however many steps run.
 */
final class MlpDemo {
  static final int POINTS = 512, HIDDEN = 64;
  static final double LR = 1e-2, BETA1 = 0.9, BETA2 = 0.999, EPS = 1e-8;

  /** The loss before the first and after the last step. */
  record Result(double firstLoss, double lastLoss, int steps, long millis) {}

  /** A parameter with its Adam moments. */
  private record Param(Tensor value, Tensor m, Tensor v) implements AutoCloseable {
    static Param of(Tensor value) {
      return new Param(value, Tensor.zerosLike(value), Tensor.zerosLike(value));
    }

    /** One Adam step (PyTorch's formulation, no weight decay) at step {@code t >= 1}. */
    void adam(Tensor grad, int t) {
      try (var s = Scope.open()) {
        m.mulInPlace(BETA1).addInPlace(grad.mul(1 - BETA1));
        v.mulInPlace(BETA2).addInPlace(grad.square().mul(1 - BETA2));
        double bc1 = 1 - Math.pow(BETA1, t), bc2 = 1 - Math.pow(BETA2, t);
        Tensor denom = v.sqrt().mul(1 / Math.sqrt(bc2)).add(EPS);
        value.subInPlace(m.div(denom).mul(LR / bc1));
      }
    }

    @Override
    public void close() {
      value.close();
      m.close();
      v.close();
    }
  }

  private MlpDemo() {}

  static Result run(Options options, PrintStream out) {
    DType f32 = DType.F32;
    Device cpu = Device.CPU;
    Generator gen = new Generator(options.seed());
    out.printf(
        "kinema demo: MLP 2-%d-%d-1 (tanh), %d points, Adam lr %.0e, %d steps, seed %d%n",
        HIDDEN, HIDDEN, POINTS, LR, options.steps(), options.seed());
    try (var run = Scope.open()) {
      // Data: x uniform on [-1, 1]^2, y = sin(3 x0) cos(2 x1).
      Tensor x, y;
      try (var s = Scope.open()) {
        Tensor u = Tensor.rand(gen, f32, cpu, POINTS, 2);
        x = s.keep(u.mul(2).sub(1));
        Tensor x0 = x.narrow(1, 0, 1), x1 = x.narrow(1, 1, 1);
        y = s.keep(x0.mul(3).sin().mul(x1.mul(2).cos()));
      }
      Param w1 = init(gen, 2, HIDDEN), b1 = Param.of(Tensor.zeros(f32, HIDDEN));
      Param w2 = init(gen, HIDDEN, HIDDEN), b2 = Param.of(Tensor.zeros(f32, HIDDEN));
      Param w3 = init(gen, HIDDEN, 1), b3 = Param.of(Tensor.zeros(f32, 1));
      List<Param> params = List.of(w1, b1, w2, b2, w3, b3);

      long t0 = System.nanoTime();
      double first = Double.NaN, loss = Double.NaN;
      for (int step = 1; step <= options.steps(); step++) {
        try (var s = Scope.open()) {
          // Forward.
          Tensor h1 = x.matmul(w1.value).add(b1.value).tanh(); // [N, H]
          Tensor h2 = h1.matmul(w2.value).add(b2.value).tanh(); // [N, H]
          Tensor pred = h2.matmul(w3.value).add(b3.value); // [N, 1]
          Tensor diff = pred.sub(y);
          loss = diff.square().mean().item();
          if (step == 1) first = loss;

          // Backward: d(mean(diff^2))/d pred = 2 diff / N; tanh' = 1 - tanh^2.
          Tensor dPred = diff.mul(2.0 / POINTS);
          Tensor gW3 = h2.t().matmul(dPred), gB3 = dPred.sum(0);
          Tensor dH2 = dPred.matmul(w3.value.t()).mul(tanhGrad(h2));
          Tensor gW2 = h1.t().matmul(dH2), gB2 = dH2.sum(0);
          Tensor dH1 = dH2.matmul(w2.value.t()).mul(tanhGrad(h1));
          Tensor gW1 = x.t().matmul(dH1), gB1 = dH1.sum(0);

          // Adam.
          Tensor[] grads = {gW1, gB1, gW2, gB2, gW3, gB3};
          for (int i = 0; i < grads.length; i++) params.get(i).adam(grads[i], step);
        }
        if (step % options.logEvery() == 0 || step == options.steps()) {
          out.printf("step %5d  loss %.6f%n", step, loss);
        }
      }
      long millis = (System.nanoTime() - t0) / 1_000_000;
      if (options.steps() > 0) {
        out.printf(
            "loss %.6f -> %.6f in %d steps, %d ms (%.0f steps/s)%n",
            first, loss, options.steps(), millis, options.steps() * 1000.0 / Math.max(millis, 1));
      }
      for (Param p : params) p.close();
      return new Result(first, loss, options.steps(), millis);
    }
  }

  /** A weight [fanIn, fanOut] drawn from N(0, 1/fanIn), which keeps tanh out of saturation. */
  private static Param init(Generator gen, long fanIn, long fanOut) {
    Tensor w;
    try (var s = Scope.open()) {
      w = s.keep(Tensor.randn(gen, DType.F32, Device.CPU, fanIn, fanOut).mul(1 / Math.sqrt(fanIn)));
    }
    return Param.of(w); // the moments belong to the caller's scope too
  }

  /** {@code 1 - h^2}, the derivative of tanh given its output h. */
  private static Tensor tanhGrad(Tensor h) {
    return h.square().neg().add(1);
  }
}
