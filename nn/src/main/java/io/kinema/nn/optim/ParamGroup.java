package io.kinema.nn.optim;

import io.kinema.nn.Parameter;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A set of parameters trained with the same hyper-parameters (PyTorch's {@code param_group}): the
 * options are named as in {@code torch.optim} ({@code lr}, {@code weight_decay}, {@code eps},
 * {@code momentum}, ...; Adam's {@code betas} pair is {@code beta1}, {@code beta2}). Options a
 * group leaves unset take the optimizer's defaults when the optimizer is built; an optimizer
 * rejects options it does not know. Values are doubles or booleans. Schedulers change {@code lr}
 * between steps and record the starting value as {@code initial_lr}.
 */
public final class ParamGroup {
  private final List<Parameter> params;
  private final Map<String, Object> options = new LinkedHashMap<>();

  private ParamGroup(List<Parameter> params) {
    this.params = params;
  }

  /** A group of {@code params} (in this order; a parameter may appear only once). */
  public static ParamGroup of(Collection<Parameter> params) {
    if (params == null) throw new IllegalArgumentException("ParamGroup: null parameter list");
    List<Parameter> list = new ArrayList<>(params.size());
    for (Parameter p : params) {
      if (p == null) throw new IllegalArgumentException("ParamGroup: null parameter in the list");
      list.add(p);
    }
    return new ParamGroup(list);
  }

  public static ParamGroup of(Parameter... params) {
    return of(List.of(params));
  }

  /** The parameters, in order. */
  public List<Parameter> params() {
    return Collections.unmodifiableList(params);
  }

  /** Sets a numeric option; returns this. */
  public ParamGroup set(String option, double value) {
    options.put(option, value);
    return this;
  }

  /** Sets a boolean option; returns this. */
  public ParamGroup set(String option, boolean value) {
    options.put(option, value);
    return this;
  }

  /** True when the option is set. */
  public boolean has(String option) {
    return options.containsKey(option);
  }

  /** A numeric option. */
  public double getDouble(String option) {
    if (options.get(option) instanceof Double d) return d;
    throw missing(option, "numeric");
  }

  /** A boolean option. */
  public boolean getBoolean(String option) {
    if (options.get(option) instanceof Boolean b) return b;
    throw missing(option, "boolean");
  }

  private IllegalArgumentException missing(String option, String kind) {
    Object v = options.get(option);
    return new IllegalArgumentException(
        "ParamGroup: option '"
            + option
            + "' "
            + (v == null ? "is not set" : "is " + v + ", not " + kind)
            + " (options "
            + options
            + ")");
  }

  /** The learning rate ({@code lr}). */
  public double lr() {
    return getDouble("lr");
  }

  /** Sets the learning rate; returns this. */
  public ParamGroup lr(double lr) {
    return set("lr", lr);
  }

  /** Sets {@code weight_decay}; returns this. */
  public ParamGroup weightDecay(double wd) {
    return set("weight_decay", wd);
  }

  /** Sets Adam's/Lion's {@code betas} ({@code beta1}, {@code beta2}); returns this. */
  public ParamGroup betas(double beta1, double beta2) {
    return set("beta1", beta1).set("beta2", beta2);
  }

  /** Every option, by name (a read-only view). */
  public Map<String, Object> options() {
    return Collections.unmodifiableMap(options);
  }

  /** Sets {@code option} to {@code value} unless the group has it. */
  void setDefault(String option, Object value) {
    options.putIfAbsent(option, value);
  }

  /** Replaces the value of {@code option} (for state-dict loading), keeping its type. */
  void put(String option, Object value) {
    options.put(option, value);
  }

  @Override
  public String toString() {
    return "ParamGroup(" + params.size() + " params, " + options + ")";
  }
}
