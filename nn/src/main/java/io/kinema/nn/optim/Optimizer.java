package io.kinema.nn.optim;

import io.kinema.nn.Parameter;
import io.kinema.tensor.DType;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.grad.GradMode;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Base of the optimizers, with {@code torch.optim.Optimizer}'s model: a list of {@link ParamGroup}s
 * (each with its own hyper-parameters, unset ones taken from the optimizer's defaults),
 * per-parameter state created on the parameter's first update, {@link #step()}, {@link #zeroGrad()}
 * and a state dict that resumes training exactly.
 *
 * <p>The optimizer holds {@link Parameter} slots, not tensors, so it keeps working when a module is
 * converted to another dtype. Each step updates {@code p.data()} in place under {@link
 * GradMode#noGrad()}; parameters without a gradient are skipped (their step count does not move).
 *
 * <p><b>Mixed precision.</b> For BF16/F16 parameters the update is computed in F32: with the {@code
 * master_weights} option (on by default) the optimizer keeps an F32 master copy of the parameter in
 * its state ({@code master}), updates it and writes the rounded value back to the parameter, so
 * updates smaller than a 16-bit ulp accumulate instead of being lost; without it, each step updates
 * an F32 copy of the 16-bit value. Moment buffers of 16-bit parameters are F32 in both cases; those
 * of F32/F64 parameters have the parameter's dtype.
 */
public abstract class Optimizer implements AutoCloseable {
  /** The option that turns F32 master weights for 16-bit parameters on or off. */
  public static final String MASTER_WEIGHTS = "master_weights";

  /** Set by schedulers: the learning rate a group started with. */
  public static final String INITIAL_LR = "initial_lr";

  private final Map<String, Object> defaults;
  private final List<ParamGroup> groups = new ArrayList<>();
  private final Map<Parameter, ParamState> state = new IdentityHashMap<>();

  /**
   * Builds the optimizer over {@code groups} (filled in with {@code config}'s values where unset).
   */
  protected Optimizer(List<ParamGroup> groups, Config<?> config) {
    this.defaults = Collections.unmodifiableMap(new LinkedHashMap<>(config.values));
    if (groups == null || groups.isEmpty())
      throw new IllegalArgumentException(name() + ": optimizer got an empty list of groups");
    for (ParamGroup g : groups) addParamGroup(g);
    long n = 0;
    for (ParamGroup g : this.groups) n += g.params().size();
    if (n == 0)
      throw new IllegalArgumentException(name() + ": optimizer got an empty parameter list");
  }

  /** One group holding {@code params}. */
  protected static List<ParamGroup> single(Collection<Parameter> params) {
    return List.of(ParamGroup.of(params));
  }

  /** The optimizer's name in state dicts and messages (its class name, e.g. "AdamW"). */
  public String name() {
    return getClass().getSimpleName();
  }

  /** The default hyper-parameters (read-only). */
  public Map<String, Object> defaults() {
    return defaults;
  }

  /** The groups, in order (read-only list; the groups' options may be changed between steps). */
  public List<ParamGroup> paramGroups() {
    return Collections.unmodifiableList(groups);
  }

  /**
   * Adds a group (PyTorch's {@code add_param_group}): unset options take the defaults; unknown
   * options, options of the wrong type, bad values and parameters already in another group are
   * errors.
   */
  public void addParamGroup(ParamGroup g) {
    for (var e : g.options().entrySet()) {
      String k = e.getKey();
      Object def = k.equals(INITIAL_LR) ? Double.valueOf(0) : defaults.get(k);
      if (def == null) {
        throw new IllegalArgumentException(
            name() + ": unknown option '" + k + "' in " + g + "; known options " + optionNames());
      }
      if (def.getClass() != e.getValue().getClass()) {
        throw new IllegalArgumentException(
            name()
                + ": option '"
                + k
                + "' must be "
                + (def instanceof Boolean ? "a boolean" : "a number")
                + ", got "
                + e.getValue());
      }
    }
    Set<Parameter> seen = Collections.newSetFromMap(new IdentityHashMap<>());
    for (ParamGroup other : groups) seen.addAll(other.params());
    for (Parameter p : g.params()) {
      if (!seen.add(p)) {
        throw new IllegalArgumentException(
            name() + ": parameter " + p + " appears more than once in the parameter groups");
      }
    }
    for (var e : defaults.entrySet()) g.setDefault(e.getKey(), e.getValue());
    validate(g);
    groups.add(g);
  }

  private Set<String> optionNames() {
    return defaults.keySet();
  }

  /** Checks a group's values (after defaults are filled in); throws naming the option. */
  protected void validate(ParamGroup g) {
    requireAtLeast(g, "lr", 0);
  }

  /** Throws unless option {@code key} of {@code g} is {@code >= min}. */
  protected final void requireAtLeast(ParamGroup g, String key, double min) {
    double v = g.getDouble(key);
    if (!(v >= min))
      throw new IllegalArgumentException(
          name() + ": invalid " + key + " " + v + " (expected >= " + min + ") in " + g);
  }

  /** Throws unless option {@code key} of {@code g} is in [0, 1). */
  protected final void requireBeta(ParamGroup g, String key) {
    double v = g.getDouble(key);
    if (!(v >= 0 && v < 1))
      throw new IllegalArgumentException(
          name() + ": invalid " + key + " " + v + " (expected 0 <= " + key + " < 1) in " + g);
  }

  /** The state of {@code p}, or null before its first update. */
  public ParamState state(Parameter p) {
    return state.get(p);
  }

  // ---------------------------------------------------------------- step

  /** Updates every parameter that has a gradient, group by group. */
  public void step() {
    try (var ng = GradMode.noGrad()) {
      for (ParamGroup g : groups) {
        for (Parameter p : g.params()) {
          Tensor grad = p.grad();
          if (grad == null) continue;
          try (var scope = Scope.open()) {
            stepParam(g, p, grad);
          }
        }
      }
    }
  }

  private void stepParam(ParamGroup g, Parameter p, Tensor grad) {
    Tensor w = p.data();
    ParamState st = state.computeIfAbsent(p, k -> new ParamState());
    Tensor work = w;
    if (w.dtype().isHalf()) {
      if (g.getBoolean(MASTER_WEIGHTS)) {
        Tensor master = st.get("master");
        if (master == null || !Arrays.equals(master.shape(), w.shape()))
          master = st.put("master", w.to(DType.F32));
        work = master;
      } else {
        st.remove("master");
        work = w.to(DType.F32);
      }
    } else {
      // The parameter is the reference again (e.g. the module went back to F32).
      st.remove("master");
    }
    Tensor gw = grad.dtype() == work.dtype() ? grad : grad.to(work.dtype());
    st.step(st.step() + 1);
    update(g, st, work, gw);
    if (work != w) w.copyFrom(work);
  }

  /**
   * Applies one update to {@code param} in place (gradient recording is off; {@code state.step()}
   * already counts this update). {@code param} is the parameter itself, or for a 16-bit parameter
   * its F32 master (or F32 copy); {@code grad} has {@code param}'s dtype. Temporaries may be left
   * to the enclosing {@link Scope}; state tensors must be stored with {@link ParamState#put} or
   * {@link ParamState#zerosIfAbsent}.
   */
  protected abstract void update(ParamGroup group, ParamState state, Tensor param, Tensor grad);

  /** Drops every parameter's gradient (PyTorch's {@code zero_grad(set_to_none=True)}). */
  public void zeroGrad() {
    for (ParamGroup g : groups) for (Parameter p : g.params()) p.data().zeroGrad();
  }

  // ---------------------------------------------------------------- state dict

  /**
   * Everything needed to resume: scalars {@code optimizer} (the name), {@code param_groups} (the
   * count), {@code param_groups.G.params} (comma-separated indices of the group's parameters,
   * numbered across groups in order, as PyTorch numbers them), {@code param_groups.G.<option>},
   * {@code state.I.step}, and tensors {@code state.I.<name>} ({@code exp_avg}, {@code exp_avg_sq},
   * {@code max_exp_avg_sq}, {@code momentum_buffer}, {@code master}). The tensors are handles on
   * the live state: save them before the next step.
   */
  public StateDict stateDict() {
    Map<String, Tensor> tensors = new LinkedHashMap<>();
    Map<String, String> scalars = new LinkedHashMap<>();
    scalars.put("optimizer", name());
    scalars.put("param_groups", Integer.toString(groups.size()));
    int index = 0;
    for (int gi = 0; gi < groups.size(); gi++) {
      ParamGroup g = groups.get(gi);
      StringBuilder ids = new StringBuilder();
      for (Parameter p : g.params()) {
        if (!ids.isEmpty()) ids.append(',');
        ids.append(index);
        ParamState st = state.get(p);
        if (st != null) {
          scalars.put("state." + index + ".step", Long.toString(st.step()));
          for (var e : st.tensors().entrySet())
            tensors.put("state." + index + "." + e.getKey(), e.getValue().share());
        }
        index++;
      }
      scalars.put("param_groups." + gi + ".params", ids.toString());
      for (var e : g.options().entrySet())
        scalars.put("param_groups." + gi + "." + e.getKey(), e.getValue().toString());
    }
    return new StateDict(tensors, scalars);
  }

  /**
   * Restores a state saved by {@link #stateDict()} of an optimizer of the same kind over parameters
   * of the same shapes in the same group layout: every group's options and every parameter's state
   * (copied; {@code sd} stays the caller's). Everything is checked before anything changes.
   */
  public void loadStateDict(StateDict sd) {
    String where = name() + ".loadStateDict";
    String kind = sd.scalar("optimizer");
    if (!kind.equals(name()))
      throw new IllegalArgumentException(where + ": the state dict is of a " + kind + " optimizer");
    long ng = sd.scalarLong("param_groups");
    if (ng != groups.size())
      throw new IllegalArgumentException(
          where
              + ": the state dict has "
              + ng
              + " parameter groups, the optimizer "
              + groups.size());
    List<Parameter> all = new ArrayList<>();
    List<Map<String, Object>> newOptions = new ArrayList<>();
    for (int gi = 0; gi < groups.size(); gi++) {
      ParamGroup g = groups.get(gi);
      String ids = sd.scalar("param_groups." + gi + ".params");
      int count = ids.isEmpty() ? 0 : ids.split(",").length;
      if (count != g.params().size())
        throw new IllegalArgumentException(
            where
                + ": group "
                + gi
                + " has "
                + count
                + " parameters in the state dict, "
                + g.params().size()
                + " in the optimizer");
      all.addAll(g.params());
      newOptions.add(new LinkedHashMap<>());
    }
    Map<Integer, Long> steps = new LinkedHashMap<>();
    for (var e : sd.scalars().entrySet()) {
      String k = e.getKey();
      if (k.equals("optimizer") || k.equals("param_groups")) continue;
      String[] parts = k.split("\\.", 3);
      if (parts.length == 3 && parts[0].equals("param_groups")) {
        int gi = index(parts[1], groups.size(), k, where);
        String opt = parts[2];
        if (opt.equals("params")) continue;
        Object def = opt.equals(INITIAL_LR) ? Double.valueOf(0) : defaults.get(opt);
        if (def == null)
          throw new IllegalArgumentException(
              where + ": unknown option '" + opt + "' (key " + k + ")");
        newOptions.get(gi).put(opt, parseLike(def, e.getValue(), k, where));
      } else if (parts.length == 3 && parts[0].equals("state") && parts[2].equals("step")) {
        steps.put(index(parts[1], all.size(), k, where), sd.scalarLong(k));
      } else {
        throw new IllegalArgumentException(where + ": unexpected scalar '" + k + "'");
      }
    }
    Map<Integer, Map<String, Tensor>> tensors = new LinkedHashMap<>();
    for (var e : sd.tensors().entrySet()) {
      String k = e.getKey();
      String[] parts = k.split("\\.", 3);
      if (parts.length != 3 || !parts[0].equals("state"))
        throw new IllegalArgumentException(where + ": unexpected tensor '" + k + "'");
      int i = index(parts[1], all.size(), k, where);
      if (!steps.containsKey(i))
        throw new IllegalArgumentException(
            where + ": tensor '" + k + "' has no state." + i + ".step");
      Tensor t = e.getValue();
      Tensor w = all.get(i).data();
      if (!Arrays.equals(t.shape(), w.shape()))
        throw new IllegalArgumentException(
            where + ": '" + k + "' is " + t.describe() + ", the parameter " + w.describe());
      tensors.computeIfAbsent(i, x -> new LinkedHashMap<>()).put(parts[2], t);
    }
    // Validate the new options on copies before touching anything.
    for (int gi = 0; gi < groups.size(); gi++) {
      ParamGroup copy = ParamGroup.of(List.of());
      for (var e : groups.get(gi).options().entrySet()) copy.put(e.getKey(), e.getValue());
      for (var e : newOptions.get(gi).entrySet()) copy.put(e.getKey(), e.getValue());
      validate(copy);
    }
    for (int gi = 0; gi < groups.size(); gi++)
      for (var e : newOptions.get(gi).entrySet()) groups.get(gi).put(e.getKey(), e.getValue());
    for (ParamState st : state.values()) st.close();
    state.clear();
    try (var ng2 = GradMode.noGrad();
        var scope = Scope.open()) {
      for (var e : steps.entrySet()) {
        Parameter p = all.get(e.getKey());
        Tensor w = p.data();
        ParamState st = new ParamState();
        st.step(e.getValue());
        for (var te : tensors.getOrDefault(e.getKey(), Map.of()).entrySet()) {
          DType dt = te.getKey().equals("master") || w.dtype().isHalf() ? DType.F32 : w.dtype();
          Tensor copy = Tensor.empty(dt, w.device(), w.shape());
          copy.copyFrom(te.getValue().to(w.device()));
          st.put(te.getKey(), copy);
        }
        state.put(p, st);
      }
    }
  }

  private static int index(String s, int bound, String key, String where) {
    int i;
    try {
      i = Integer.parseInt(s);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(where + ": bad index in key '" + key + "'", e);
    }
    if (i < 0 || i >= bound)
      throw new IllegalArgumentException(
          where + ": index " + i + " in key '" + key + "' is out of range [0, " + bound + ")");
    return i;
  }

  private static Object parseLike(Object def, String v, String key, String where) {
    if (def instanceof Boolean) {
      if (v.equals("true")) return true;
      if (v.equals("false")) return false;
    } else {
      try {
        return Double.parseDouble(v);
      } catch (NumberFormatException e) {
        // reported below
      }
    }
    throw new IllegalArgumentException(
        where
            + ": '"
            + key
            + "' is '"
            + v
            + "', expected "
            + (def instanceof Boolean ? "true/false" : "a number"));
  }

  /** Releases every state tensor (the parameters are the caller's). */
  @Override
  public void close() {
    for (ParamState st : state.values()) st.close();
    state.clear();
  }

  /** Moves {@code t} out of any scope: a new unscoped handle; {@code t} itself is closed. */
  static Tensor owned(Tensor t) {
    Tensor o = t.share();
    t.close();
    return o;
  }

  // ---------------------------------------------------------------- config

  /**
   * Default hyper-parameters of an optimizer: every option it knows, with its default value. Each
   * optimizer has a subclass with its own setters; the values here are common to all.
   */
  public abstract static class Config<C extends Config<C>> {
    final Map<String, Object> values = new LinkedHashMap<>();

    protected Config(double lr, double weightDecay) {
      values.put("lr", lr);
      values.put("weight_decay", weightDecay);
      values.put("maximize", false);
      values.put(MASTER_WEIGHTS, true);
    }

    @SuppressWarnings("unchecked")
    protected final C put(String key, Object value) {
      values.put(key, value);
      return (C) this;
    }

    /** Learning rate. */
    public C lr(double lr) {
      return put("lr", lr);
    }

    /** Weight decay (L2 for Adam and SGD, decoupled for AdamW and Lion). */
    public C weightDecay(double wd) {
      return put("weight_decay", wd);
    }

    /** Maximize the objective instead of minimizing it (the gradient is negated). */
    public C maximize(boolean on) {
      return put("maximize", on);
    }

    /** F32 master weights for BF16/F16 parameters (on by default). */
    public C masterWeights(boolean on) {
      return put(MASTER_WEIGHTS, on);
    }

    /** The values by option name. */
    public Map<String, Object> values() {
      return Collections.unmodifiableMap(values);
    }
  }
}
