package io.kinema.nn;

import io.kinema.tensor.DType;
import io.kinema.tensor.Generator;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.grad.GradMode;

/**
 * Parameter initializers, as PyTorch's {@code torch.nn.init}: same names (camel-cased), defaults,
 * fan computation and gains. Each fills its tensor in place (gradient recording off, so parameters
 * that require grad can be filled) and returns it. Random values come from the given counter-based
 * {@link Generator}: the same seed gives the same weights on every run and backend (not PyTorch's
 * bits, whose generator differs). Values are drawn in F32 (F64 for F64 tensors) and rounded once
 * into the tensor's dtype.
 */
public final class Init {
  private Init() {}

  /** {@code fan_in} and {@code fan_out} of a weight. */
  public record Fans(long fanIn, long fanOut) {}

  // ---------------------------------------------------------------- fans and gains

  /**
   * PyTorch's {@code _calculate_fan_in_and_fan_out}: for a weight {@code [out, in, *kernel]}
   * (Linear {@code [out, in]}, Conv3d {@code [out, in, kd, kh, kw]}), {@code fan_in = in *
   * prod(kernel)} and {@code fan_out = out * prod(kernel)}.
   */
  public static Fans calculateFanInAndFanOut(Tensor t) {
    if (t.dim() < 2) {
      throw new IllegalArgumentException(
          "init: fan in and fan out can not be computed for tensor with fewer than 2 dimensions,"
              + " got "
              + t.describe());
    }
    long receptive = 1;
    for (int d = 2; d < t.dim(); d++) receptive *= t.size(d);
    return new Fans(t.size(1) * receptive, t.size(0) * receptive);
  }

  /** {@code fan_in} for mode "fan_in", {@code fan_out} for "fan_out". */
  private static long correctFan(String op, Tensor t, String mode) {
    Fans f = calculateFanInAndFanOut(t);
    return switch (mode) {
      case "fan_in" -> f.fanIn();
      case "fan_out" -> f.fanOut();
      default ->
          throw new IllegalArgumentException(
              op + ": mode " + mode + " not supported, please use one of fan_in, fan_out");
    };
  }

  /**
   * {@link #calculateGain(String, double)} with PyTorch's default param (leaky_relu slope 0.01).
   */
  public static double calculateGain(String nonlinearity) {
    return calculateGain(nonlinearity, 0.01);
  }

  /**
   * The recommended gain for a nonlinearity (PyTorch's {@code calculate_gain}): 1 for linear, conv*
   * and sigmoid; 5/3 for tanh; sqrt(2) for relu; sqrt(2 / (1 + slope^2)) for leaky_relu with slope
   * {@code param}; 3/4 for selu.
   */
  public static double calculateGain(String nonlinearity, double param) {
    return switch (nonlinearity) {
      case "linear",
          "conv1d",
          "conv2d",
          "conv3d",
          "conv_transpose1d",
          "conv_transpose2d",
          "conv_transpose3d",
          "sigmoid" ->
          1.0;
      case "tanh" -> 5.0 / 3;
      case "relu" -> Math.sqrt(2.0);
      case "leaky_relu" -> Math.sqrt(2.0 / (1 + param * param));
      case "selu" -> 3.0 / 4;
      default ->
          throw new IllegalArgumentException(
              "calculateGain: unsupported nonlinearity "
                  + nonlinearity
                  + " (expected linear, conv1d..3d, conv_transpose1d..3d, sigmoid, tanh, relu,"
                  + " leaky_relu or selu)");
    };
  }

  // ---------------------------------------------------------------- plain distributions

  /** Fills with U(a, b). */
  public static Tensor uniform(Tensor t, double a, double b, Generator gen) {
    requireFloating("uniform", t);
    if (!(a <= b))
      throw new IllegalArgumentException("uniform: expected a <= b, got a=" + a + ", b=" + b);
    try (var ng = GradMode.noGrad();
        Tensor r = Tensor.rand(gen, drawType(t), t.device(), t.shape())) {
      r.mulInPlace(b - a).addInPlace(a);
      t.copyFrom(r);
    }
    return t;
  }

  /** Fills with N(mean, std^2). */
  public static Tensor normal(Tensor t, double mean, double std, Generator gen) {
    requireFloating("normal", t);
    if (!(std >= 0)) throw new IllegalArgumentException("normal: expected std >= 0, got " + std);
    try (var ng = GradMode.noGrad();
        Tensor r = Tensor.randn(gen, drawType(t), t.device(), t.shape())) {
      r.mulInPlace(std).addInPlace(mean);
      t.copyFrom(r);
    }
    return t;
  }

  /** {@link #truncNormal(Tensor, double, double, double, double, Generator)} on [-2, 2]. */
  public static Tensor truncNormal(Tensor t, double mean, double std, Generator gen) {
    return truncNormal(t, mean, std, -2, 2, gen);
  }

  /**
   * Fills with N(mean, std^2) truncated to [a, b] (absolute bounds, as PyTorch's {@code
   * trunc_normal_}), by inverting the normal CDF on uniform draws between CDF(a) and CDF(b). The
   * inversion runs on the host in double precision: meant for initialization, not for hot loops.
   */
  public static Tensor truncNormal(
      Tensor t, double mean, double std, double a, double b, Generator gen) {
    requireFloating("truncNormal", t);
    if (!(std > 0) || !(a < b)) {
      throw new IllegalArgumentException(
          "truncNormal: expected std > 0 and a < b, got std=" + std + ", a=" + a + ", b=" + b);
    }
    double lo = normalCdf((a - mean) / std), hi = normalCdf((b - mean) / std);
    try (var ng = GradMode.noGrad();
        Tensor r = Tensor.rand(gen, DType.F64, t.device(), t.shape())) {
      double[] u = r.toDoubleArray();
      for (int i = 0; i < u.length; i++) {
        double p = lo + u[i] * (hi - lo);
        u[i] = Math.clamp(mean + std * inverseNormalCdf(p), a, b);
      }
      try (Tensor host = Tensor.of(u, t.shape());
          Tensor moved = host.to(t.device())) {
        t.copyFrom(moved);
      }
    }
    return t;
  }

  /** Fills with {@code value}. */
  public static Tensor constant(Tensor t, double value) {
    try (var ng = GradMode.noGrad()) {
      t.fill(value);
    }
    return t;
  }

  public static Tensor zeros(Tensor t) {
    return constant(t, 0);
  }

  public static Tensor ones(Tensor t) {
    return constant(t, 1);
  }

  // ---------------------------------------------------------------- scaled by fan

  /** Xavier/Glorot uniform with gain 1. */
  public static Tensor xavierUniform(Tensor t, Generator gen) {
    return xavierUniform(t, 1.0, gen);
  }

  /** U(-bound, bound) with {@code bound = gain * sqrt(6 / (fan_in + fan_out))}. */
  public static Tensor xavierUniform(Tensor t, double gain, Generator gen) {
    Fans f = calculateFanInAndFanOut(t);
    double bound = gain * Math.sqrt(6.0 / (f.fanIn() + f.fanOut()));
    return uniform(t, -bound, bound, gen);
  }

  /** Xavier/Glorot normal with gain 1. */
  public static Tensor xavierNormal(Tensor t, Generator gen) {
    return xavierNormal(t, 1.0, gen);
  }

  /** N(0, std^2) with {@code std = gain * sqrt(2 / (fan_in + fan_out))}. */
  public static Tensor xavierNormal(Tensor t, double gain, Generator gen) {
    Fans f = calculateFanInAndFanOut(t);
    return normal(t, 0, gain * Math.sqrt(2.0 / (f.fanIn() + f.fanOut())), gen);
  }

  /** Kaiming/He uniform with PyTorch's defaults: a = 0, "fan_in", "leaky_relu". */
  public static Tensor kaimingUniform(Tensor t, Generator gen) {
    return kaimingUniform(t, 0, "fan_in", "leaky_relu", gen);
  }

  /**
   * U(-bound, bound) with {@code bound = gain * sqrt(3 / fan)}, {@code gain =
   * calculateGain(nonlinearity, a)}, {@code fan} by {@code mode} ("fan_in" or "fan_out"). A tensor
   * with a zero-size dim is left as it is (PyTorch warns and returns).
   */
  public static Tensor kaimingUniform(
      Tensor t, double a, String mode, String nonlinearity, Generator gen) {
    if (t.numel() == 0) return t;
    double std = calculateGain(nonlinearity, a) / Math.sqrt(correctFan("kaimingUniform", t, mode));
    double bound = Math.sqrt(3.0) * std;
    return uniform(t, -bound, bound, gen);
  }

  /** Kaiming/He normal with PyTorch's defaults: a = 0, "fan_in", "leaky_relu". */
  public static Tensor kaimingNormal(Tensor t, Generator gen) {
    return kaimingNormal(t, 0, "fan_in", "leaky_relu", gen);
  }

  /** N(0, std^2) with {@code std = gain / sqrt(fan)}; see {@link #kaimingUniform}. */
  public static Tensor kaimingNormal(
      Tensor t, double a, String mode, String nonlinearity, Generator gen) {
    if (t.numel() == 0) return t;
    double std = calculateGain(nonlinearity, a) / Math.sqrt(correctFan("kaimingNormal", t, mode));
    return normal(t, 0, std, gen);
  }

  // ---------------------------------------------------------------- helpers

  private static void requireFloating(String op, Tensor t) {
    if (!t.dtype().isFloatingPoint()) {
      throw new IllegalArgumentException(op + ": expected a floating tensor, got " + t.describe());
    }
  }

  /** Draw at least in F32, so half-precision weights are rounded once, not twice. */
  private static DType drawType(Tensor t) {
    return t.dtype() == DType.F64 ? DType.F64 : DType.F32;
  }

  /** Standard normal CDF. */
  static double normalCdf(double x) {
    return 0.5 * erfc(-x / Math.sqrt(2));
  }

  /**
   * Complementary error function (Numerical Recipes' Chebyshev fit, relative error below 1.2e-7):
   * ample for the truncation bounds of an initializer.
   */
  private static double erfc(double x) {
    double z = Math.abs(x);
    double t = 1 / (1 + 0.5 * z);
    double poly = 0;
    for (int i = ERFC_COEF.length - 1; i >= 0; i--) poly = poly * t + ERFC_COEF[i];
    double r = t * Math.exp(-z * z + poly);
    return x >= 0 ? r : 2 - r;
  }

  private static final double[] ERFC_COEF = {
    -1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806,
    0.27886807, -1.13520398, 1.48851587, -0.82215223, 0.17087277
  };

  /**
   * Inverse of the standard normal CDF (Acklam's rational approximation, relative error below
   * 1.2e-9), for p in (0, 1); the ends map to -inf and +inf.
   */
  static double inverseNormalCdf(double p) {
    if (p <= 0) return Double.NEGATIVE_INFINITY;
    if (p >= 1) return Double.POSITIVE_INFINITY;
    final double[] a = {
      -3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
      1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00
    };
    final double[] b = {
      -5.447609879822406e+01,
      1.615858368580409e+02,
      -1.556989798598866e+02,
      6.680131188771972e+01,
      -1.328068155288572e+01
    };
    final double[] c = {
      -7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
      -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00
    };
    final double[] d = {
      7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00
    };
    double pLow = 0.02425;
    if (p < pLow) {
      double q = Math.sqrt(-2 * Math.log(p));
      return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5])
          / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    }
    if (p > 1 - pLow) {
      double q = Math.sqrt(-2 * Math.log1p(-p));
      return -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5])
          / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    }
    double q = p - 0.5, r = q * q;
    return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5])
        * q
        / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
  }
}
