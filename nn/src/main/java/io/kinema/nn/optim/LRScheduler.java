package io.kinema.nn.optim;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.LongToDoubleFunction;

/**
 * A learning-rate schedule with PyTorch's {@code LambdaLR} semantics: each group's lr is its
 * initial lr times {@code factor(step)}. Building one records every group's lr as {@code
 * initial_lr} (unless already set, as when resuming) and applies {@code factor(0)}; each {@link
 * #step()} (once per optimizer step, after it) advances the step and applies the new factor.
 *
 * <p>The factories are diffusers' {@code get_scheduler} schedules ({@code
 * diffusers/optimization.py}), with the same formulas and defaults; {@link #get} dispatches on
 * diffusers' names.
 */
public final class LRScheduler {
  private final Optimizer optimizer;
  private final String name;
  private final LongToDoubleFunction factor;
  private final double[] baseLrs;
  private long lastStep = -1;
  private double[] lastLrs;

  /** A {@code LambdaLR} over {@code optimizer} with the given factor; {@code name} is for state. */
  public LRScheduler(Optimizer optimizer, String name, LongToDoubleFunction factor) {
    this.optimizer = optimizer;
    this.name = name;
    this.factor = factor;
    List<ParamGroup> groups = optimizer.paramGroups();
    baseLrs = new double[groups.size()];
    for (int i = 0; i < baseLrs.length; i++) {
      ParamGroup g = groups.get(i);
      if (!g.has(Optimizer.INITIAL_LR)) g.set(Optimizer.INITIAL_LR, g.lr());
      baseLrs[i] = g.getDouble(Optimizer.INITIAL_LR);
    }
    step();
  }

  /** The schedule's name ("cosine", ...; "lambda" for a custom one). */
  public String name() {
    return name;
  }

  /** The multiplier of the initial lr at {@code step}. */
  public double factor(long step) {
    return factor.applyAsDouble(step);
  }

  /** Advances one step and sets every group's lr. */
  public void step() {
    lastStep++;
    apply();
  }

  private void apply() {
    List<ParamGroup> groups = optimizer.paramGroups();
    double f = factor(lastStep);
    lastLrs = new double[groups.size()];
    for (int i = 0; i < lastLrs.length; i++) {
      lastLrs[i] = baseLrs[i] * f;
      groups.get(i).lr(lastLrs[i]);
    }
  }

  /** The lr of each group as last set ({@code get_last_lr()}). */
  public double[] lastLr() {
    return lastLrs.clone();
  }

  /** How many times {@link #step()} has run after construction ({@code last_epoch}). */
  public long lastStep() {
    return lastStep;
  }

  /** Scalars {@code scheduler}, {@code last_epoch}, {@code base_lrs} (comma-separated). */
  public StateDict stateDict() {
    Map<String, String> s = new LinkedHashMap<>();
    s.put("scheduler", name);
    s.put("last_epoch", Long.toString(lastStep));
    StringBuilder b = new StringBuilder();
    for (double lr : baseLrs) b.append(b.isEmpty() ? "" : ",").append(lr);
    s.put("base_lrs", b.toString());
    return new StateDict(Map.of(), s);
  }

  /** Restores the step and base lrs saved by {@link #stateDict()} and sets the groups' lrs. */
  public void loadStateDict(StateDict sd) {
    String kind = sd.scalar("scheduler");
    if (!kind.equals(name))
      throw new IllegalArgumentException(
          "LRScheduler.loadStateDict: the state dict is of a '" + kind + "' schedule, not " + name);
    String[] parts = sd.scalar("base_lrs").split(",");
    if (parts.length != baseLrs.length)
      throw new IllegalArgumentException(
          "LRScheduler.loadStateDict: "
              + parts.length
              + " base lrs in the state dict for "
              + baseLrs.length
              + " groups");
    double[] base = new double[parts.length];
    for (int i = 0; i < parts.length; i++) base[i] = Double.parseDouble(parts[i]);
    long step = sd.scalarLong("last_epoch");
    System.arraycopy(base, 0, baseLrs, 0, base.length);
    lastStep = step;
    apply();
  }

  // ---------------------------------------------------------------- diffusers' schedules

  /** The linear warmup factor shared by the schedules: {@code step / max(1, warmup)}. */
  private static double warmup(long step, long warmupSteps) {
    return (double) step / Math.max(1, warmupSteps);
  }

  /** Factor 1. */
  public static LRScheduler constant(Optimizer opt) {
    return new LRScheduler(opt, "constant", s -> 1.0);
  }

  /** Linear warmup from 0 over {@code warmupSteps}, then 1. */
  public static LRScheduler constantWithWarmup(Optimizer opt, long warmupSteps) {
    requireNonNegative("constant_with_warmup", warmupSteps);
    return new LRScheduler(
        opt, "constant_with_warmup", s -> s < warmupSteps ? warmup(s, warmupSteps) : 1.0);
  }

  /** Linear warmup, then linear decay to 0 at {@code trainingSteps} (and 0 after). */
  public static LRScheduler linear(Optimizer opt, long warmupSteps, long trainingSteps) {
    requireNonNegative("linear", warmupSteps);
    return new LRScheduler(
        opt,
        "linear",
        s ->
            s < warmupSteps
                ? warmup(s, warmupSteps)
                : Math.max(
                    0.0, (double) (trainingSteps - s) / Math.max(1, trainingSteps - warmupSteps)));
  }

  /**
   * Linear warmup, then {@code 0.5 * (1 + cos(pi * 2 * numCycles * progress))} clamped at 0, where
   * progress goes from 0 at the end of warmup to 1 at {@code trainingSteps}. The default {@code
   * numCycles} 0.5 is a half cosine from 1 down to 0.
   */
  public static LRScheduler cosine(
      Optimizer opt, long warmupSteps, long trainingSteps, double numCycles) {
    requireNonNegative("cosine", warmupSteps);
    return new LRScheduler(
        opt,
        "cosine",
        s -> {
          if (s < warmupSteps) return warmup(s, warmupSteps);
          double progress = (double) (s - warmupSteps) / Math.max(1, trainingSteps - warmupSteps);
          return Math.max(0.0, 0.5 * (1.0 + Math.cos(Math.PI * numCycles * 2.0 * progress)));
        });
  }

  /** {@link #cosine} with diffusers' default of half a cycle. */
  public static LRScheduler cosine(Optimizer opt, long warmupSteps, long trainingSteps) {
    return cosine(opt, warmupSteps, trainingSteps, 0.5);
  }

  /**
   * Linear warmup, then {@code numCycles} half cosines from 1 to 0, each restarting at 1 (hard
   * restarts); 0 from {@code trainingSteps} on.
   */
  public static LRScheduler cosineWithRestarts(
      Optimizer opt, long warmupSteps, long trainingSteps, long numCycles) {
    requireNonNegative("cosine_with_restarts", warmupSteps);
    return new LRScheduler(
        opt,
        "cosine_with_restarts",
        s -> {
          if (s < warmupSteps) return warmup(s, warmupSteps);
          double progress = (double) (s - warmupSteps) / Math.max(1, trainingSteps - warmupSteps);
          if (progress >= 1.0) return 0.0;
          double phase = ((double) numCycles * progress) % 1.0;
          return Math.max(0.0, 0.5 * (1.0 + Math.cos(Math.PI * phase)));
        });
  }

  /**
   * Linear warmup, then a polynomial decay of power {@code power} from the optimizer's default lr
   * to {@code lrEnd} at {@code trainingSteps}, and {@code lrEnd} after. As in diffusers, the decay
   * is computed from the optimizer's <em>default</em> lr and applied as a factor of each group's
   * initial lr; {@code lrEnd} must be smaller than that default.
   */
  public static LRScheduler polynomial(
      Optimizer opt, long warmupSteps, long trainingSteps, double lrEnd, double power) {
    requireNonNegative("polynomial", warmupSteps);
    double lrInit = (Double) opt.defaults().get("lr");
    if (!(lrInit > lrEnd))
      throw new IllegalArgumentException(
          "polynomial: lr_end ("
              + lrEnd
              + ") must be smaller than the initial lr ("
              + lrInit
              + ")");
    return new LRScheduler(
        opt,
        "polynomial",
        s -> {
          if (s < warmupSteps) return warmup(s, warmupSteps);
          if (s > trainingSteps) return lrEnd / lrInit;
          double range = lrInit - lrEnd;
          long decaySteps = trainingSteps - warmupSteps;
          double remaining = 1 - (double) (s - warmupSteps) / decaySteps;
          return (range * Math.pow(remaining, power) + lrEnd) / lrInit;
        });
  }

  /**
   * diffusers' piecewise constant schedule, from rules like {@code "1:10,0.1:20,0.01:30,0.005"}:
   * factor 1 for steps below 10, 0.1 below 20, 0.01 below 30, then 0.005.
   */
  public static LRScheduler piecewiseConstant(Optimizer opt, String stepRules) {
    TreeMap<Long, Double> rules = new TreeMap<>();
    String[] parts = stepRules.split(",");
    double last;
    try {
      for (int i = 0; i < parts.length - 1; i++) {
        String[] vs = parts[i].split(":");
        if (vs.length != 2) throw new NumberFormatException("'" + parts[i] + "' is not value:step");
        rules.put(Long.parseLong(vs[1].trim()), Double.parseDouble(vs[0].trim()));
      }
      last = Double.parseDouble(parts[parts.length - 1].trim());
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(
          "piecewise_constant: bad step rules '" + stepRules + "': " + e.getMessage(), e);
    }
    return new LRScheduler(
        opt,
        "piecewise_constant",
        s -> {
          var e = rules.higherEntry(s);
          return e == null ? last : e.getValue();
        });
  }

  /**
   * diffusers' {@code get_scheduler}: {@code name} is one of {@code linear}, {@code cosine}, {@code
   * cosine_with_restarts}, {@code polynomial}, {@code constant}, {@code constant_with_warmup},
   * {@code piecewise_constant}. As there, {@code numCycles} (default 1) is used only by {@code
   * cosine_with_restarts} ({@code cosine} keeps its half cycle), {@code power} (default 1) only by
   * {@code polynomial} (whose lr_end is 1e-7), {@code stepRules} only by {@code
   * piecewise_constant}; warmup and training steps are required by the schedules that use them.
   */
  public static LRScheduler get(
      String name,
      Optimizer opt,
      String stepRules,
      Long warmupSteps,
      Long trainingSteps,
      long numCycles,
      double power) {
    String key = name.toLowerCase(Locale.ROOT);
    switch (key) {
      case "constant":
        return constant(opt);
      case "piecewise_constant":
        if (stepRules == null)
          throw new IllegalArgumentException("piecewise_constant requires step rules");
        return piecewiseConstant(opt, stepRules);
      case "constant_with_warmup", "linear", "cosine", "cosine_with_restarts", "polynomial":
        break;
      default:
        throw new IllegalArgumentException(
            "get_scheduler: unknown schedule '"
                + name
                + "'; expected one of "
                + Arrays.toString(NAMES));
    }
    if (warmupSteps == null) throw new IllegalArgumentException(key + " requires num_warmup_steps");
    if (key.equals("constant_with_warmup")) return constantWithWarmup(opt, warmupSteps);
    if (trainingSteps == null)
      throw new IllegalArgumentException(key + " requires num_training_steps");
    return switch (key) {
      case "linear" -> linear(opt, warmupSteps, trainingSteps);
      case "cosine" -> cosine(opt, warmupSteps, trainingSteps);
      case "cosine_with_restarts" -> cosineWithRestarts(opt, warmupSteps, trainingSteps, numCycles);
      default -> polynomial(opt, warmupSteps, trainingSteps, 1e-7, power);
    };
  }

  /** {@link #get} with diffusers' defaults (numCycles 1, power 1, no step rules). */
  public static LRScheduler get(String name, Optimizer opt, Long warmupSteps, Long trainingSteps) {
    return get(name, opt, null, warmupSteps, trainingSteps, 1, 1.0);
  }

  private static final String[] NAMES = {
    "linear",
    "cosine",
    "cosine_with_restarts",
    "polynomial",
    "constant",
    "constant_with_warmup",
    "piecewise_constant"
  };

  private static void requireNonNegative(String name, long warmupSteps) {
    if (warmupSteps < 0)
      throw new IllegalArgumentException(
          name + ": num_warmup_steps must be >= 0, got " + warmupSteps);
  }

  /** The lrs {@link #step()} would set at each of steps {@code 0..n-1} (for plots and checks). */
  public List<double[]> preview(long n) {
    List<double[]> out = new ArrayList<>();
    for (long s = 0; s < n; s++) {
      double f = factor(s);
      double[] lrs = new double[baseLrs.length];
      for (int i = 0; i < lrs.length; i++) lrs[i] = baseLrs[i] * f;
      out.add(lrs);
    }
    return out;
  }
}
