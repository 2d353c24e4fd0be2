package io.kinema.train;

import io.kinema.nn.Linear;
import io.kinema.nn.Module;
import io.kinema.nn.optim.Adam;
import io.kinema.tensor.DType;
import io.kinema.tensor.Device;
import io.kinema.tensor.Generator;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import java.io.PrintStream;

/**
 * The engine demo: fits {@code y = sin(3 x0) cos(2 x1)} on [-1, 1]^2 with an MLP 2 -> 64 -> 64 -> 1
 * (tanh), full-batch, mean squared error, with the library's own pieces: {@code nn.Linear} layers,
 * autograd's {@code backward()} and the {@code Adam} optimizer. Every step's temporaries and graph
 * live in a {@link Scope}; parameters are updated in place, so memory stays flat however many steps
 * run.
 */
final class MlpDemo {
  static final int POINTS = 512, HIDDEN = 64;
  static final double LR = 1e-2;

  /** The loss before the first and after the last step. */
  record Result(double firstLoss, double lastLoss, int steps, long millis) {}

  /** The model: three Linear layers with tanh between them. */
  static final class Mlp extends Module {
    private final Linear l1, l2, l3;

    Mlp(Generator gen) {
      l1 = registerModule("l1", new Linear(2, HIDDEN, gen));
      l2 = registerModule("l2", new Linear(HIDDEN, HIDDEN, gen));
      l3 = registerModule("l3", new Linear(HIDDEN, 1, gen));
    }

    Tensor forward(Tensor x) {
      return l3.forward(l2.forward(l1.forward(x).tanh()).tanh());
    }
  }

  private MlpDemo() {}

  static Result run(Options options, PrintStream out) {
    Generator gen = new Generator(options.seed());
    out.printf(
        "kinema demo: MLP 2-%d-%d-1 (tanh), %d points, Adam lr %.0e, %d steps, seed %d%n",
        HIDDEN, HIDDEN, POINTS, LR, options.steps(), options.seed());
    try (var run = Scope.open();
        Mlp model = new Mlp(gen);
        Adam adam = new Adam(model.trainableParameters(), Adam.config().lr(LR))) {
      // Data: x uniform on [-1, 1]^2, y = sin(3 x0) cos(2 x1).
      Tensor x = Tensor.rand(gen, DType.F32, Device.CPU, POINTS, 2).mul(2).sub(1);
      Tensor y = x.narrow(1, 0, 1).mul(3).sin().mul(x.narrow(1, 1, 1).mul(2).cos());

      long t0 = System.nanoTime();
      double first = Double.NaN, loss = Double.NaN;
      for (int step = 1; step <= options.steps(); step++) {
        try (var s = Scope.open()) {
          Tensor mse = model.forward(x).sub(y).square().mean();
          mse.backward();
          adam.step();
          adam.zeroGrad();
          loss = mse.item();
          if (step == 1) first = loss;
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
      return new Result(first, loss, options.steps(), millis);
    }
  }
}
