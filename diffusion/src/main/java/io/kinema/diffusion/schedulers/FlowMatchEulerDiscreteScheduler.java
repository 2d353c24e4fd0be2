package io.kinema.diffusion.schedulers;

import io.kinema.diffusion.flow.FlowMatching;
import io.kinema.diffusion.flow.FlowMatching.TimeShiftType;
import io.kinema.diffusion.flow.Linspace;
import io.kinema.diffusion.flow.SigmaTable;
import io.kinema.tensor.DType;
import io.kinema.tensor.Generator;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Path;

/**
 * diffusers' {@code FlowMatchEulerDiscreteScheduler} (commit 58eb52c; spec flow-matching.md §5):
 * the Euler step {@code x ← x + (σ_{j+1} − σ_j)·v} of the flow ODE, with diffusers' schedule and
 * rounding.
 *
 * <p>Schedule ({@link #setTimesteps(int)}): {@code τ = linspace(1000·σ_max, 1000·σ_min, N)} in
 * float64 with σ_max, σ_min the first and last entries of the construction-time table ({@link
 * SigmaTable#flowMatchEuler}), {@code σ = s_k(τ/1000)}, rounded to float32, timesteps {@code
 * 1000·σ} in float32, and a final σ = 0 appended. σ_min was already shifted at construction, so the
 * last σ is shifted twice ({@code s_k(s_k(0.001))}, 0.008929 for k = 3): diffusers' quirk,
 * reproduced on purpose. Custom timesteps or sigmas ({@link #setCustomTimesteps}, {@link
 * #setCustomSigmas}) replace the linspace, are shifted too, and that computation runs in float32
 * (NumPy keeps a float32 array float32).
 *
 * <p>Step: the sample is upcast to F32, {@code dt = σ_{j+1} − σ_j} is a float32 scalar, and the
 * result is cast back to the model output's dtype. With {@code stochastic_sampling} the step
 * instead re-noises the x0 prediction: {@code x ← (1 − σ_{j+1})·(x − σ_j·v) + σ_{j+1}·ε}, ε fresh
 * from the {@link #setGenerator generator}.
 *
 * <p>Not implemented: karras/exponential/beta sigma conversions, {@code invert_sigmas} (Mochi) and
 * per-token timesteps (Wan 2.2 TI2V); configs asking for them are rejected.
 */
public final class FlowMatchEulerDiscreteScheduler implements FlowScheduler {
  /** The scheduler's diffusers config (the keys Kinema supports). */
  public record Config(
      int numTrainTimesteps,
      double shift,
      boolean useDynamicShifting,
      double baseShift,
      double maxShift,
      int baseImageSeqLen,
      int maxImageSeqLen,
      double shiftTerminal,
      TimeShiftType timeShiftType,
      boolean stochasticSampling) {
    public Config {
      if (numTrainTimesteps < 1) {
        throw new IllegalArgumentException(
            "FlowMatchEulerDiscreteScheduler: num_train_timesteps must be >= 1, got "
                + numTrainTimesteps);
      }
      if (!(shift > 0) || Double.isInfinite(shift)) {
        throw new IllegalArgumentException(
            "FlowMatchEulerDiscreteScheduler: shift must be positive and finite, got " + shift);
      }
      if (!(shiftTerminal >= 0 && shiftTerminal < 1)) {
        throw new IllegalArgumentException(
            "FlowMatchEulerDiscreteScheduler: shift_terminal must be in [0, 1) (0 = off), got "
                + shiftTerminal);
      }
      if (timeShiftType == null) timeShiftType = TimeShiftType.EXPONENTIAL;
    }

    /** diffusers' defaults with {@code shift} (Wan: 3.0 at 480p, 5.0 at 720p). */
    public static Config of(double shift) {
      return new Config(1000, shift, false, 0.5, 1.15, 256, 4096, 0, null, false);
    }

    public Config withStochasticSampling(boolean on) {
      return new Config(
          numTrainTimesteps,
          shift,
          useDynamicShifting,
          baseShift,
          maxShift,
          baseImageSeqLen,
          maxImageSeqLen,
          shiftTerminal,
          timeShiftType,
          on);
    }

    /** Reads a diffusers {@code scheduler_config.json} text. */
    public static Config fromJson(String json) {
      String owner = "FlowMatchEulerDiscreteScheduler";
      ConfigJson c = ConfigJson.parse(json, owner);
      c.requireClass(owner);
      c.requireFalse("use_karras_sigmas");
      c.requireFalse("use_exponential_sigmas");
      c.requireFalse("use_beta_sigmas");
      c.requireFalse("invert_sigmas");
      return new Config(
          c.integer("num_train_timesteps", 1000),
          c.number("shift", 1.0),
          c.bool("use_dynamic_shifting", false),
          c.number("base_shift", 0.5),
          c.number("max_shift", 1.15),
          c.integer("base_image_seq_len", 256),
          c.integer("max_image_seq_len", 4096),
          c.number("shift_terminal", 0),
          TimeShiftType.of(c.string("time_shift_type", "exponential")),
          c.bool("stochastic_sampling", false));
    }

    public static Config fromJson(Path path) throws IOException {
      return fromJson(java.nio.file.Files.readString(path));
    }
  }

  private final Config config;
  private double shift;

  /** The construction-time table's first and last σ (Python floats of float32 values). */
  private final double sigmaMax, sigmaMin;

  private float[] sigmas; // N + 1, the last is 0
  private float[] timesteps; // N
  private int stepIndex = -1;
  private int beginIndex = -1;
  private Generator generator;

  public FlowMatchEulerDiscreteScheduler(Config config) {
    this.config = config;
    this.shift = config.shift();
    int n = config.numTrainTimesteps();
    if (config.useDynamicShifting()) { // the table stays unshifted; μ shifts at set_timesteps
      sigmaMax = (float) n / (float) n;
      sigmaMin = 1f / (float) n;
    } else {
      SigmaTable table = SigmaTable.flowMatchEuler(n, config.shift());
      sigmaMax = table.sigma(0);
      sigmaMin = table.sigma(n - 1);
    }
  }

  /** {@code FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=shift)}. */
  public FlowMatchEulerDiscreteScheduler(double shift) {
    this(Config.of(shift));
  }

  public Config config() {
    return config;
  }

  /** The static shift used by the next {@code setTimesteps} (diffusers' {@code set_shift}). */
  public void setShift(double shift) {
    if (!(shift > 0) || Double.isInfinite(shift)) {
      throw new IllegalArgumentException(
          "setShift: shift must be positive and finite, got " + shift);
    }
    this.shift = shift;
  }

  public double shift() {
    return shift;
  }

  /** The generator stochastic sampling draws its noise from. */
  public void setGenerator(Generator generator) {
    this.generator = generator;
  }

  @Override
  public void setTimesteps(int numInferenceSteps) {
    requireStatic();
    configure(numInferenceSteps, null, null, Double.NaN);
  }

  /** {@code set_timesteps(N, mu=μ)} for {@code use_dynamic_shifting} configs. */
  public void setTimesteps(int numInferenceSteps, double mu) {
    requireDynamic(mu);
    configure(numInferenceSteps, null, null, mu);
  }

  /** {@code set_timesteps(timesteps=[...])}: the given timesteps, divided by N and shifted. */
  public void setCustomTimesteps(double[] timesteps) {
    requireStatic();
    configure(timesteps.length, timesteps, null, Double.NaN);
  }

  /** {@code set_timesteps(sigmas=[...])}: the given σ, shifted. */
  public void setCustomSigmas(double[] sigmas) {
    requireStatic();
    configure(sigmas.length, null, sigmas, Double.NaN);
  }

  /** {@code set_timesteps(sigmas=[...], mu=μ)} for {@code use_dynamic_shifting} configs. */
  public void setCustomSigmas(double[] sigmas, double mu) {
    requireDynamic(mu);
    configure(sigmas.length, null, sigmas, mu);
  }

  private void requireStatic() {
    if (config.useDynamicShifting()) {
      throw new IllegalStateException(
          "FlowMatchEulerDiscreteScheduler: use_dynamic_shifting needs mu: call the overload with"
              + " mu");
    }
  }

  private void requireDynamic(double mu) {
    if (!config.useDynamicShifting()) {
      throw new IllegalStateException(
          "FlowMatchEulerDiscreteScheduler: mu is only used with use_dynamic_shifting=true");
    }
    if (!Double.isFinite(mu)) {
      throw new IllegalArgumentException("FlowMatchEulerDiscreteScheduler: mu must be finite");
    }
  }

  private void configure(int n, double[] customTimesteps, double[] customSigmas, double mu) {
    if (n < 1) {
      throw new IllegalArgumentException(
          "FlowMatchEulerDiscreteScheduler.setTimesteps: need at least one step, got " + n);
    }
    int nt = config.numTrainTimesteps();
    float[] sg = new float[n];
    if (customTimesteps == null && customSigmas == null) {
      // float64 throughout, as NumPy computes it, then rounded once to float32.
      double[] tau = Linspace.numpy(sigmaMax * nt, sigmaMin * nt, n);
      double[] s = new double[n];
      for (int i = 0; i < n; i++) {
        double x = tau[i] / nt;
        s[i] =
            config.useDynamicShifting()
                ? config.timeShiftType().apply(mu, x)
                : FlowMatching.shift(x, shift);
      }
      if (config.shiftTerminal() != 0) FlowMatching.stretchToTerminal(s, config.shiftTerminal());
      for (int i = 0; i < n; i++) sg[i] = (float) s[i];
    } else {
      // Custom values become a float32 array, and NumPy keeps the arithmetic in float32.
      for (int i = 0; i < n; i++) {
        float x =
            customSigmas != null
                ? (float) customSigmas[i]
                : (float) customTimesteps[i] / (float) nt;
        sg[i] =
            config.useDynamicShifting()
                ? config.timeShiftType().applyF32(mu, x)
                : FlowMatching.shiftF32(x, shift);
      }
      if (config.shiftTerminal() != 0) FlowMatching.stretchToTerminal(sg, config.shiftTerminal());
    }
    float[] ts = new float[n];
    for (int i = 0; i < n; i++) ts[i] = sg[i] * (float) nt;
    float[] full = new float[n + 1];
    System.arraycopy(sg, 0, full, 0, n);
    this.sigmas = full;
    this.timesteps = ts;
    this.stepIndex = -1;
    this.beginIndex = -1;
  }

  @Override
  public double[] timesteps() {
    requireTimesteps();
    double[] out = new double[timesteps.length];
    for (int i = 0; i < out.length; i++) out[i] = timesteps[i];
    return out;
  }

  @Override
  public double[] sigmas() {
    requireTimesteps();
    double[] out = new double[sigmas.length];
    for (int i = 0; i < out.length; i++) out[i] = sigmas[i];
    return out;
  }

  @Override
  public DType timestepDType() {
    return DType.F32;
  }

  @Override
  public void setBeginIndex(int index) {
    if (index < 0) throw new IllegalArgumentException("setBeginIndex: negative index " + index);
    this.beginIndex = index;
  }

  @Override
  public int stepIndex() {
    return stepIndex;
  }

  /**
   * diffusers' {@code index_for_timestep}: the position of {@code timestep} in the schedule (the
   * second one if it occurs twice, so a restart in the middle does not skip a σ).
   */
  public int indexForTimestep(double timestep) {
    requireTimesteps();
    float t = (float) timestep;
    int first = -1;
    for (int i = 0; i < timesteps.length; i++) {
      if (timesteps[i] == t) {
        if (first >= 0) return i;
        first = i;
      }
    }
    if (first < 0) {
      throw new IllegalArgumentException(
          "FlowMatchEulerDiscreteScheduler: timestep " + timestep + " is not in the schedule");
    }
    return first;
  }

  @Override
  public Tensor step(Tensor modelOutput, double timestep, Tensor sample) {
    String op = "FlowMatchEulerDiscreteScheduler.step";
    requireTimesteps();
    Coefficients.requireFloating(op, "model output", modelOutput);
    Coefficients.requireFloating(op, "sample", sample);
    Coefficients.requireSameShape(op, modelOutput, sample);
    if (stepIndex < 0) stepIndex = beginIndex >= 0 ? beginIndex : indexForTimestep(timestep);
    if (stepIndex >= timesteps.length) {
      throw new IllegalStateException(
          op + ": all " + timesteps.length + " steps are done; call setTimesteps again");
    }
    float sigma = sigmas[stepIndex], sigmaNext = sigmas[stepIndex + 1];
    try (var s = Scope.open()) {
      Tensor x = sample.to(DType.F32); // upcast against precision loss, as diffusers does
      Tensor prev;
      if (config.stochasticSampling()) {
        if (generator == null) {
          throw new IllegalStateException(op + ": stochastic sampling needs setGenerator(...)");
        }
        Tensor x0 = x.sub(Coefficients.mul(modelOutput, sigma));
        Tensor noise = Tensor.randn(generator, DType.F32, x.device(), x.shape());
        prev = x0.mul(1f - sigmaNext).add(noise.mul(sigmaNext));
      } else {
        float dt = sigmaNext - sigma;
        prev = x.add(Coefficients.mul(modelOutput, dt));
      }
      stepIndex++;
      return s.keep(prev.dtype() == modelOutput.dtype() ? prev : prev.to(modelOutput.dtype()));
    }
  }

  private void requireTimesteps() {
    if (timesteps == null) {
      throw new IllegalStateException(
          "FlowMatchEulerDiscreteScheduler: call setTimesteps before using the schedule");
    }
  }

  /** Holds no tensors; nothing to release. */
  @Override
  public void close() {}

  @Override
  public String toString() {
    return "FlowMatchEulerDiscreteScheduler(shift="
        + shift
        + ", steps="
        + (timesteps == null ? "unset" : timesteps.length)
        + ")";
  }
}
