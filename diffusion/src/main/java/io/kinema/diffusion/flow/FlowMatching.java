package io.kinema.diffusion.flow;

import io.kinema.tensor.DType;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;

/**
 * The rectified-flow forward process and the conversions between its quantities, as Wan, diffusers
 * and FastVideo use them (spec: flow-matching.md §1–§2).
 *
 * <pre>
 * x_σ = (1 − σ)·x0 + σ·ε          v* = ε − x0 (the training target, "velocity")
 * x0  = x_σ − σ·v                 ε  = (x_σ − (1 − σ)·x0) / σ
 * </pre>
 *
 * σ ∈ [0, 1] is the noise level; the network sees the timestep {@code t = 1000·σ}. Per-sample σ is
 * a 1-d tensor {@code [B]} that is broadcast over the trailing dims of the latents (see {@link
 * #perSample}); a Java {@code double} applies one σ to every sample.
 *
 * <p>The shift maps move probability mass to high noise: the static shift {@code s_k(σ) = k·σ / (1
 * + (k − 1)·σ)} (Wan 480p k = 3, 720p k = 5) and diffusers' resolution-dependent variant, where
 * {@code k = e^μ} with μ linear in the token count ({@link #dynamicShiftMu}).
 */
public final class FlowMatching {
  private FlowMatching() {}

  /** FastVideo's lower bound on σ when dividing by it ({@code pred_video → noise}). */
  public static final double SIGMA_EPS = 1e-8;

  // ---------------------------------------------------------------- shifts

  /** The static shift {@code s_k(σ) = k·σ / (1 + (k − 1)·σ)} in double precision. */
  public static double shift(double sigma, double k) {
    return k * sigma / (1 + (k - 1) * sigma);
  }

  /**
   * The static shift with PyTorch's float32 rounding, as diffusers computes it on a float32 tensor:
   * {@code shift * σ} and {@code (shift − 1) * σ} with the Python scalars converted to float32,
   * each operation rounded to float32.
   */
  public static float shiftF32(float sigma, double k) {
    float num = (float) k * sigma;
    float den = 1f + (float) (k - 1) * sigma;
    return num / den;
  }

  /**
   * FastVideo's {@code shift_timestep}: {@code t' = N·s_k(t/N)} with {@code N} the number of
   * training timesteps (1000); the identity when {@code k == 1}.
   */
  public static double shiftTimestep(double t, double k, int numTrainTimesteps) {
    if (k == 1) return t;
    double s = t / numTrainTimesteps;
    return numTrainTimesteps * (k * s / (1 + (k - 1) * s));
  }

  /**
   * The methods' {@code shift_and_clamp}: {@link #shiftTimestep} then clamped to {@code [0, N]}
   * (used for DMD score timesteps, spec methods.md §0).
   */
  public static double shiftAndClamp(double t, double k, int numTrainTimesteps) {
    return Math.min(Math.max(shiftTimestep(t, k, numTrainTimesteps), 0), numTrainTimesteps);
  }

  /**
   * diffusers' {@code calculate_shift}: μ linear in the image/video token count, through ({@code
   * baseSeqLen}, {@code baseShift}) and ({@code maxSeqLen}, {@code maxShift}).
   */
  public static double dynamicShiftMu(
      double seqLen, double baseSeqLen, double maxSeqLen, double baseShift, double maxShift) {
    double m = (maxShift - baseShift) / (maxSeqLen - baseSeqLen);
    double b = baseShift - m * baseSeqLen;
    return seqLen * m + b;
  }

  /** {@link #dynamicShiftMu} with diffusers' defaults (256, 4096, 0.5, 1.15). */
  public static double dynamicShiftMu(double seqLen) {
    return dynamicShiftMu(seqLen, 256, 4096, 0.5, 1.15);
  }

  /** How a resolution-dependent μ shifts σ (diffusers' {@code time_shift_type}). */
  public enum TimeShiftType {
    /** {@code σ' = e^μ / (e^μ + (1/σ − 1))}: the static shift with {@code k = e^μ}. */
    EXPONENTIAL,
    /** {@code σ' = μ / (μ + (1/σ − 1))}. */
    LINEAR;

    /** Parses diffusers' config value ({@code "exponential"}, {@code "linear"}). */
    public static TimeShiftType of(String name) {
      return switch (name) {
        case "exponential" -> EXPONENTIAL;
        case "linear" -> LINEAR;
        default ->
            throw new IllegalArgumentException(
                "time_shift_type must be 'exponential' or 'linear', got '" + name + "'");
      };
    }

    /** Applies the shift with parameter μ to σ in double precision (σ = 0 gives 0). */
    public double apply(double mu, double sigma) {
      double tail = 1 / sigma - 1; // (1/σ − 1)^1: diffusers' exponent is fixed at 1.0
      return switch (this) {
        case EXPONENTIAL -> Math.exp(mu) / (Math.exp(mu) + tail);
        case LINEAR -> mu / (mu + tail);
      };
    }

    /** {@link #apply} with float32 rounding of every operation (a float32 array in NumPy). */
    public float applyF32(double mu, float sigma) {
      float tail = 1f / sigma - 1f;
      return switch (this) {
        case EXPONENTIAL -> (float) Math.exp(mu) / ((float) Math.exp(mu) + tail);
        case LINEAR -> (float) mu / ((float) mu + tail);
      };
    }
  }

  /**
   * diffusers' {@code stretch_shift_to_terminal}: rescales {@code 1 − σ} so the last σ becomes
   * {@code terminal} (in place, double precision).
   */
  public static void stretchToTerminal(double[] sigmas, double terminal) {
    double scale = (1 - sigmas[sigmas.length - 1]) / (1 - terminal);
    for (int i = 0; i < sigmas.length; i++) sigmas[i] = 1 - (1 - sigmas[i]) / scale;
  }

  /** {@link #stretchToTerminal} with float32 rounding (a float32 array in NumPy). */
  public static void stretchToTerminal(float[] sigmas, double terminal) {
    float scale = (1f - sigmas[sigmas.length - 1]) / (float) (1 - terminal);
    for (int i = 0; i < sigmas.length; i++) sigmas[i] = 1f - (1f - sigmas[i]) / scale;
  }

  // ---------------------------------------------------------------- forward process

  /**
   * Reshapes per-sample values {@code [B]} to {@code [B, 1, ..., 1]} with {@code ndim} dims, so
   * they broadcast against latents of that rank (a view).
   */
  public static Tensor perSample(Tensor values, int ndim) {
    if (values.dim() != 1) {
      throw new IllegalArgumentException(
          "perSample: expected per-sample values of shape [B], got " + values.describe());
    }
    if (ndim < 1) throw new IllegalArgumentException("perSample: ndim must be >= 1, got " + ndim);
    long[] shape = new long[ndim];
    java.util.Arrays.fill(shape, 1);
    shape[0] = values.size(0);
    return values.reshape(shape);
  }

  /**
   * The noisy latent {@code x_σ = (1 − σ)·x0 + σ·ε} with one σ per sample ({@code sigma} of shape
   * {@code [B]}, B = the first dim of x0). Computed as FastVideo does: σ is converted to x0's dtype
   * first, the result has x0's dtype.
   */
  public static Tensor addNoise(Tensor x0, Tensor noise, Tensor sigma) {
    checkSameShape("addNoise", x0, noise);
    checkPerSample("addNoise", x0, sigma);
    try (var s = Scope.open()) {
      Tensor sg = perSample(sigma.to(x0.dtype()), x0.dim());
      Tensor out = sg.neg().add(1.0).mul(x0).add(sg.mul(noise));
      return s.keep(out.dtype() == x0.dtype() ? out : out.to(x0.dtype()));
    }
  }

  /** {@code x_σ = (1 − σ)·x0 + σ·ε} with one σ for every sample. */
  public static Tensor addNoise(Tensor x0, Tensor noise, double sigma) {
    checkSameShape("addNoise", x0, noise);
    try (var s = Scope.open()) {
      return s.keep(x0.mul(1 - sigma).add(noise.mul(sigma)));
    }
  }

  /** The flow-matching training target {@code v* = ε − x0}. */
  public static Tensor velocityTarget(Tensor x0, Tensor noise) {
    checkSameShape("velocityTarget", x0, noise);
    return noise.sub(x0);
  }

  /**
   * The clean-latent prediction {@code x0 = x_σ − σ·v} from a velocity prediction, one σ per sample
   * ({@code [B]}). The arithmetic runs in {@code computeType} (FastVideo's x0 conversion uses F64)
   * and the result is returned in v's dtype.
   */
  public static Tensor x0FromVelocity(Tensor xt, Tensor v, Tensor sigma, DType computeType) {
    checkSameShape("x0FromVelocity", xt, v);
    checkPerSample("x0FromVelocity", xt, sigma);
    try (var s = Scope.open()) {
      Tensor sg = perSample(sigma.to(computeType), xt.dim());
      Tensor x0 = xt.to(computeType).sub(sg.mul(v.to(computeType)));
      return s.keep(x0.dtype() == v.dtype() ? x0 : x0.to(v.dtype()));
    }
  }

  /** {@code x0 = x_σ − σ·v} with one σ for every sample, in the promoted dtype of the inputs. */
  public static Tensor x0FromVelocity(Tensor xt, Tensor v, double sigma) {
    checkSameShape("x0FromVelocity", xt, v);
    try (var s = Scope.open()) {
      return s.keep(xt.sub(v.mul(sigma)));
    }
  }

  /**
   * The noise implied by a clean prediction, {@code ε = (x_σ − (1 − σ)·x0) / max(σ, 1e-8)}, one σ
   * per sample (FastVideo's {@code pred_video → noise}; used by ODE re-noising).
   */
  public static Tensor noiseFromX0(Tensor xt, Tensor x0, Tensor sigma) {
    checkSameShape("noiseFromX0", xt, x0);
    checkPerSample("noiseFromX0", xt, sigma);
    try (var s = Scope.open()) {
      Tensor sg = perSample(sigma.to(xt.dtype()), xt.dim());
      Tensor eps = xt.sub(sg.neg().add(1.0).mul(x0)).div(sg.clampMin(SIGMA_EPS));
      return s.keep(eps);
    }
  }

  /** The velocity implied by a clean prediction, {@code v = (x_σ − x0) / σ}, one σ per sample. */
  public static Tensor velocityFromX0(Tensor xt, Tensor x0, Tensor sigma) {
    checkSameShape("velocityFromX0", xt, x0);
    checkPerSample("velocityFromX0", xt, sigma);
    try (var s = Scope.open()) {
      Tensor sg = perSample(sigma.to(xt.dtype()), xt.dim());
      return s.keep(xt.sub(x0).div(sg));
    }
  }

  private static void checkSameShape(String op, Tensor a, Tensor b) {
    if (!java.util.Arrays.equals(a.shape(), b.shape())) {
      throw new IllegalArgumentException(
          op
              + ": expected tensors of the same shape, got "
              + a.describe()
              + " and "
              + b.describe());
    }
  }

  private static void checkPerSample(String op, Tensor x, Tensor sigma) {
    if (sigma.dim() != 1 || x.dim() < 1 || sigma.size(0) != x.size(0)) {
      throw new IllegalArgumentException(
          op
              + ": expected one sigma per sample, shape ["
              + (x.dim() < 1 ? "B" : x.size(0))
              + "], for latents "
              + x.describe()
              + ", got "
              + sigma.describe());
    }
  }
}
