package io.kinema.autograd;

import io.kinema.tensor.DType;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.grad.GradMode;
import java.util.List;
import java.util.Random;
import java.util.function.Function;

/**
 * Finite-difference gradient checks (PyTorch's {@code gradcheck}): compares the gradients that
 * backward computes for {@code f} with central differences, in F64. The output is reduced with
 * random weights, so every output element's gradient is checked, not just their sum.
 */
public final class GradCheck {
  /** Tolerances and step. */
  public record Options(double eps, double atol, double rtol, long seed) {
    public static final Options DEFAULT = new Options(1e-6, 1e-7, 1e-5, 1234);
  }

  private GradCheck() {}

  /** Checks with {@link Options#DEFAULT}; see {@link #check(Function, List, Options)}. */
  public static void check(Function<List<Tensor>, Tensor> f, List<Tensor> inputs) {
    check(f, inputs, Options.DEFAULT);
  }

  /**
   * Throws {@link AssertionError} naming the input, the element, and both values when an analytical
   * gradient differs from the numerical one by more than {@code atol + rtol |num|}. Inputs that
   * require grad must be F64 leaves; others are treated as constants. {@code f} must be
   * deterministic.
   */
  public static void check(Function<List<Tensor>, Tensor> f, List<Tensor> inputs, Options o) {
    for (Tensor t : inputs) {
      if (t.requiresGrad() && t.dtype() != DType.F64) {
        throw new IllegalArgumentException("gradcheck: inputs must be F64, got " + t.describe());
      }
    }
    try (var scope = Scope.open()) {
      Tensor weights;
      double[] analytical;
      // Analytical: backward of sum(f(x) * w) for random w.
      for (Tensor t : inputs) t.zeroGrad();
      Tensor y = f.apply(inputs);
      Random rnd = new Random(o.seed());
      double[] w = new double[(int) y.numel()];
      for (int i = 0; i < w.length; i++) w[i] = rnd.nextGaussian();
      weights = Tensor.of(w, y.shape());
      y.mul(weights).sum().backward();
      for (int i = 0; i < inputs.size(); i++) {
        Tensor x = inputs.get(i);
        if (!x.requiresGrad()) continue;
        Tensor g = x.grad();
        analytical = g == null ? new double[(int) x.numel()] : g.toDoubleArray();
        double[] numerical = numerical(f, inputs, x, weights, o.eps());
        for (int e = 0; e < numerical.length; e++) {
          double a = analytical[e], n = numerical[e];
          if (!(Math.abs(a - n) <= o.atol() + o.rtol() * Math.abs(n))) {
            throw new AssertionError(
                "gradcheck: input "
                    + i
                    + " "
                    + x.describe()
                    + ", element "
                    + e
                    + ": analytical "
                    + a
                    + " vs numerical "
                    + n);
          }
        }
      }
      for (Tensor t : inputs) t.zeroGrad();
    }
  }

  private static double[] numerical(
      Function<List<Tensor>, Tensor> f, List<Tensor> inputs, Tensor x, Tensor weights, double eps) {
    double[] out = new double[(int) x.numel()];
    try (var ng = GradMode.noGrad();
        Tensor flat = x.detach().reshape(-1)) {
      if (flat.storage() != x.storage()) {
        throw new IllegalArgumentException(
            "gradcheck: inputs must be viewable as 1-d: " + x.describe());
      }
      for (int e = 0; e < out.length; e++) {
        double v = flat.get(e);
        try (Tensor cell = flat.narrow(0, e, 1)) {
          cell.fill(v + eps);
          double plus = objective(f, inputs, weights);
          cell.fill(v - eps);
          double minus = objective(f, inputs, weights);
          cell.fill(v);
          out[e] = (plus - minus) / (2 * eps);
        }
      }
    }
    return out;
  }

  private static double objective(Function<List<Tensor>, Tensor> f, List<Tensor> in, Tensor w) {
    try (var scope = Scope.open()) {
      return f.apply(in).mul(w).sum().item();
    }
  }
}
