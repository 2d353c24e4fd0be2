package io.kinema.autograd;

import io.kinema.tensor.Tensor;
import io.kinema.tensor.grad.GradMode;
import io.kinema.tensor.grad.OpCall;
import java.util.List;
import java.util.Random;
import java.util.function.Function;

/** Inputs and shorthands shared by the gradient-check tests. */
final class GradTesting {
  private GradTesting() {}

  /** An F64 leaf requiring grad, uniform in [lo, hi). */
  static Tensor uniform(Random r, double lo, double hi, long... shape) {
    double[] v = new double[Math.toIntExact(numel(shape))];
    for (int i = 0; i < v.length; i++) v[i] = lo + (hi - lo) * r.nextDouble();
    return Tensor.of(v, shape).requiresGrad(true);
  }

  /** An F64 leaf requiring grad, standard normal. */
  static Tensor normal(Random r, long... shape) {
    double[] v = new double[Math.toIntExact(numel(shape))];
    for (int i = 0; i < v.length; i++) v[i] = r.nextGaussian();
    return Tensor.of(v, shape).requiresGrad(true);
  }

  /**
   * An F64 leaf requiring grad with |x| in [minAbs, maxAbs] and a random sign: keeps inputs away
   * from the kinks of abs, relu, sign and the poles of 1/x.
   */
  static Tensor awayFromZero(Random r, double minAbs, double maxAbs, long... shape) {
    double[] v = new double[Math.toIntExact(numel(shape))];
    for (int i = 0; i < v.length; i++) {
      double m = minAbs + (maxAbs - minAbs) * r.nextDouble();
      v[i] = r.nextBoolean() ? m : -m;
    }
    return Tensor.of(v, shape).requiresGrad(true);
  }

  /** Distinct values (a shuffled grid with jitter): no ties for max/min/sort-like reductions. */
  static Tensor distinct(Random r, long... shape) {
    int n = Math.toIntExact(numel(shape));
    double[] v = new double[n];
    for (int i = 0; i < n; i++) v[i] = (i - n / 2.0) * 0.1 + 0.03 * r.nextDouble();
    for (int i = n - 1; i > 0; i--) {
      int j = r.nextInt(i + 1);
      double t = v[i];
      v[i] = v[j];
      v[j] = t;
    }
    return Tensor.of(v, shape).requiresGrad(true);
  }

  static long numel(long[] shape) {
    long n = 1;
    for (long s : shape) n *= s;
    return n;
  }

  /** GradCheck with the default tolerances. */
  static void check(Function<List<Tensor>, Tensor> f, Tensor... inputs) {
    GradCheck.check(f, List.of(inputs));
  }

  /** GradCheck with other tolerances (each caller says why). */
  static void check(
      double eps, double atol, double rtol, Function<List<Tensor>, Tensor> f, Tensor... inputs) {
    GradCheck.check(f, List.of(inputs), new GradCheck.Options(eps, atol, rtol, 1234));
  }

  /**
   * Records {@code call} as the origin of {@code forward}'s result computed without recording:
   * tests rules of variants the public API never records (e.g. pow with a Java scalar exponent).
   */
  static Tensor recordAs(OpCall call, Function<Tensor[], Tensor> forward) {
    Tensor out;
    try (var ng = GradMode.noGrad()) {
      out = forward.apply(call.inputs().toArray(Tensor[]::new));
    }
    new Engine().record(call, out);
    return out;
  }
}
