package io.kinema.nn.optim;

import io.kinema.nn.Parameter;
import io.kinema.tensor.DType;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.grad.GradMode;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Exponential moving average of weights, as diffusers' {@code EMAModel}: a shadow copy of each
 * parameter, moved towards the parameter after each optimizer step by
 *
 * <pre>
 * shadow -= (1 - decay) * (shadow - param)
 * </pre>
 *
 * (frozen parameters are copied instead). The decay at optimization step n (counted by {@link
 * #update()}, 1 at the first call) is diffusers' {@code get_decay}: with {@code s = n -
 * updateAfterStep - 1}, it is 0 while {@code s <= 0} (so the shadow copies the weights until
 * averaging starts), else {@code 1 - (1 + s / invGamma)^-power} with {@link Config#emaWarmup} or
 * {@code (1 + s) / (10 + s)} without, capped at {@code decay} and floored at {@code minDecay}.
 *
 * <p>Shadows of BF16/F16 parameters are F32 (at decay 0.9999 a 16-bit shadow would round every
 * update away); others have the parameter's dtype. {@link #swapIn()} puts the averaged weights in
 * the model (e.g. for validation) and {@link #swapOut()} restores the training weights bit for bit.
 * The state dict's tensors are keyed by parameter name, so it loads as the model's weights.
 */
public final class EMA implements AutoCloseable {
  /** EMA settings; the defaults are diffusers' {@code EMAModel}'s. */
  public static final class Config {
    double decay = 0.9999;
    double minDecay = 0.0;
    long updateAfterStep = 0;
    boolean emaWarmup = false;
    double invGamma = 1.0;
    double power = 2.0 / 3.0;

    /** The maximum decay (0.9999). */
    public Config decay(double v) {
      decay = v;
      return this;
    }

    /** The minimum decay once averaging has started (0). */
    public Config minDecay(double v) {
      minDecay = v;
      return this;
    }

    /** Steps during which the shadow only copies the weights (0). */
    public Config updateAfterStep(long v) {
      updateAfterStep = v;
      return this;
    }

    /** Use the {@code 1 - (1 + s / invGamma)^-power} warmup (off). */
    public Config emaWarmup(boolean v) {
      emaWarmup = v;
      return this;
    }

    /** The warmup's inverse multiplicative factor (1). */
    public Config invGamma(double v) {
      invGamma = v;
      return this;
    }

    /** The warmup's exponent (2/3; 3/4 suits models trained for less than ~1M steps). */
    public Config power(double v) {
      power = v;
      return this;
    }
  }

  /** diffusers' defaults. */
  public static Config config() {
    return new Config();
  }

  private final Map<String, Parameter> params;
  private final Map<String, Tensor> shadow = new LinkedHashMap<>();
  private final Config config;
  private Map<String, Tensor> backup;
  private long optimizationStep;
  private double currentDecay = Double.NaN;

  /** Starts the average at the current values of {@code params} (names as in the model). */
  public EMA(Map<String, Parameter> params, Config config) {
    if (!(config.decay >= 0 && config.decay <= 1) || !(config.minDecay >= 0))
      throw new IllegalArgumentException(
          "EMA: decay must be in [0, 1] and minDecay >= 0, got "
              + config.decay
              + ", "
              + config.minDecay);
    this.params = new LinkedHashMap<>(params);
    this.config = copy(config);
    try (var ng = GradMode.noGrad();
        var scope = Scope.open()) {
      for (var e : this.params.entrySet()) {
        Tensor w = e.getValue().data();
        DType dt = w.dtype().isHalf() ? DType.F32 : w.dtype();
        shadow.put(e.getKey(), Optimizer.owned(w.to(dt).copy()));
      }
    }
  }

  private static Config copy(Config c) {
    return new Config()
        .decay(c.decay)
        .minDecay(c.minDecay)
        .updateAfterStep(c.updateAfterStep)
        .emaWarmup(c.emaWarmup)
        .invGamma(c.invGamma)
        .power(c.power);
  }

  /** diffusers' {@code get_decay} at optimization step {@code n}. */
  public double decay(long n) {
    long s = Math.max(0, n - config.updateAfterStep - 1);
    if (s <= 0) return 0.0;
    double d =
        config.emaWarmup
            ? 1 - Math.pow(1 + s / config.invGamma, -config.power)
            : (1.0 + s) / (10.0 + s);
    return Math.max(Math.min(d, config.decay), config.minDecay);
  }

  /** Moves the shadow towards the current weights; call after each optimizer step. */
  public void update() {
    if (backup != null)
      throw new IllegalStateException("EMA.update: the EMA weights are swapped in; swapOut first");
    optimizationStep++;
    double decay = decay(optimizationStep);
    currentDecay = decay;
    try (var ng = GradMode.noGrad()) {
      for (var e : params.entrySet()) {
        Tensor s = shadow.get(e.getKey());
        Tensor w = e.getValue().data();
        checkShape(e.getKey(), s, w);
        if (!w.requiresGrad() || decay == 0) {
          s.copyFrom(w);
          continue;
        }
        try (var scope = Scope.open()) {
          s.subInPlace(s.sub(w).mulInPlace(1 - decay));
        }
      }
    }
  }

  private static void checkShape(String name, Tensor s, Tensor w) {
    if (!Arrays.equals(s.shape(), w.shape()))
      throw new IllegalStateException(
          "EMA: parameter '" + name + "' is now " + w.describe() + ", its shadow " + s.describe());
  }

  /** Updates done so far. */
  public long optimizationStep() {
    return optimizationStep;
  }

  /** The decay used by the last {@link #update()} (NaN before the first). */
  public double currentDecay() {
    return currentDecay;
  }

  /** The averaged weights by name (live handles: do not close). */
  public Map<String, Tensor> shadow() {
    return Collections.unmodifiableMap(shadow);
  }

  /** True between {@link #swapIn()} and {@link #swapOut()}. */
  public boolean isSwappedIn() {
    return backup != null;
  }

  /**
   * Puts the averaged weights into the parameters (rounded to their dtype), keeping a copy of the
   * training weights for {@link #swapOut()}.
   */
  public void swapIn() {
    if (backup != null) throw new IllegalStateException("EMA.swapIn: already swapped in");
    Map<String, Tensor> saved = new LinkedHashMap<>();
    try (var ng = GradMode.noGrad()) {
      for (var e : params.entrySet()) {
        Tensor w = e.getValue().data();
        checkShape(e.getKey(), shadow.get(e.getKey()), w);
        saved.put(e.getKey(), Optimizer.owned(w.copy()));
      }
      for (var e : params.entrySet()) e.getValue().data().copyFrom(shadow.get(e.getKey()));
    }
    backup = saved;
  }

  /** Restores the training weights saved by {@link #swapIn()}, exactly. */
  public void swapOut() {
    if (backup == null) throw new IllegalStateException("EMA.swapOut: not swapped in");
    try (var ng = GradMode.noGrad()) {
      for (var e : params.entrySet()) e.getValue().data().copyFrom(backup.get(e.getKey()));
    }
    for (Tensor t : backup.values()) t.close();
    backup = null;
  }

  /** Copies the averaged weights into {@code target}'s slots of the same names (e.g. to save). */
  public void copyTo(Map<String, Parameter> target) {
    try (var ng = GradMode.noGrad()) {
      for (var e : shadow.entrySet()) {
        Parameter p = target.get(e.getKey());
        if (p == null)
          throw new IllegalArgumentException("EMA.copyTo: the target has no '" + e.getKey() + "'");
        checkShape(e.getKey(), e.getValue(), p.data());
        p.data().copyFrom(e.getValue());
      }
    }
  }

  /**
   * Tensors: the shadow weights by parameter name. Scalars: {@code decay}, {@code min_decay},
   * {@code optimization_step}, {@code update_after_step}, {@code use_ema_warmup}, {@code
   * inv_gamma}, {@code power} (diffusers' names).
   */
  public StateDict stateDict() {
    Map<String, Tensor> t = new LinkedHashMap<>();
    for (var e : shadow.entrySet()) t.put(e.getKey(), e.getValue().share());
    Map<String, String> s = new LinkedHashMap<>();
    s.put("decay", Double.toString(config.decay));
    s.put("min_decay", Double.toString(config.minDecay));
    s.put("optimization_step", Long.toString(optimizationStep));
    s.put("update_after_step", Long.toString(config.updateAfterStep));
    s.put("use_ema_warmup", Boolean.toString(config.emaWarmup));
    s.put("inv_gamma", Double.toString(config.invGamma));
    s.put("power", Double.toString(config.power));
    return new StateDict(t, s);
  }

  /**
   * Restores the settings, the step and the shadow weights (copied) from {@link #stateDict()}; the
   * names and shapes must match. Checked before anything changes.
   */
  public void loadStateDict(StateDict sd) {
    for (var e : shadow.entrySet()) {
      Tensor src = sd.tensors().get(e.getKey());
      if (src == null)
        throw new IllegalArgumentException("EMA.loadStateDict: missing '" + e.getKey() + "'");
      if (!Arrays.equals(src.shape(), e.getValue().shape()))
        throw new IllegalArgumentException(
            "EMA.loadStateDict: '"
                + e.getKey()
                + "' is "
                + src.describe()
                + ", the shadow "
                + e.getValue().describe());
    }
    for (String k : sd.tensors().keySet())
      if (!shadow.containsKey(k))
        throw new IllegalArgumentException("EMA.loadStateDict: unexpected '" + k + "'");
    Config c =
        config()
            .decay(sd.scalarDouble("decay"))
            .minDecay(sd.scalarDouble("min_decay"))
            .updateAfterStep(sd.scalarLong("update_after_step"))
            .emaWarmup(sd.scalarBoolean("use_ema_warmup"))
            .invGamma(sd.scalarDouble("inv_gamma"))
            .power(sd.scalarDouble("power"));
    long step = sd.scalarLong("optimization_step");
    try (var ng = GradMode.noGrad();
        var scope = Scope.open()) {
      for (var e : shadow.entrySet())
        e.getValue().copyFrom(sd.tensors().get(e.getKey()).to(e.getValue().device()));
    }
    config.decay = c.decay;
    config.minDecay = c.minDecay;
    config.updateAfterStep = c.updateAfterStep;
    config.emaWarmup = c.emaWarmup;
    config.invGamma = c.invGamma;
    config.power = c.power;
    optimizationStep = step;
  }

  /** Releases the shadow (and a pending backup: call {@link #swapOut()} first to keep it). */
  @Override
  public void close() {
    for (Tensor t : shadow.values()) t.close();
    shadow.clear();
    if (backup != null) for (Tensor t : backup.values()) t.close();
    backup = null;
  }
}
