package io.kinema.nn;

import io.kinema.autograd.Checkpoint;
import io.kinema.tensor.DType;
import io.kinema.tensor.Device;
import io.kinema.tensor.Generator;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.grad.GradMode;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.function.Predicate;
import java.util.regex.Pattern;

/**
 * A building block of a model, as in PyTorch: it owns named {@link Parameter}s (trainable) and
 * buffers (saved, not trained) and named child modules, so every parameter has a dotted name
 * ({@code blocks.0.attn1.to_q.weight}) that is its key in {@link #stateDict()}. Subclasses register
 * what they own in their constructor and define their own {@code forward} methods. Closing a module
 * closes everything it owns.
 */
public abstract class Module implements AutoCloseable {
  private final Map<String, Parameter> params = new LinkedHashMap<>();
  private final Map<String, Module> children = new LinkedHashMap<>();
  private boolean training = true;
  private boolean gradientCheckpointing;

  /** Registers a trainable parameter (it will require grad if floating); returns its slot. */
  protected Parameter registerParameter(String name, Tensor value) {
    return register(name, new Parameter(value, false));
  }

  /** Registers a buffer: saved in the state dict, converted with the module, never trained. */
  protected Parameter registerBuffer(String name, Tensor value) {
    return register(name, new Parameter(value, true));
  }

  private Parameter register(String name, Parameter p) {
    checkName(name);
    params.put(name, p);
    return p;
  }

  /** Registers a child module under {@code name}; returns it. */
  protected <M extends Module> M registerModule(String name, M module) {
    checkName(name);
    children.put(name, module);
    return module;
  }

  /** Replaces a registered child (e.g. wrapping a Linear with a LoRA adapter); returns the old. */
  public Module replaceModule(String name, Module module) {
    Module old = children.get(name);
    if (old == null)
      throw new IllegalArgumentException(
          "replaceModule: no child named '" + name + "' in " + getClass().getSimpleName());
    children.put(name, module);
    return old;
  }

  /**
   * The descendant at dotted path {@code target} (PyTorch's {@code get_submodule}), e.g. {@code
   * "blocks.0.attn1"}. Forward methods fetch their children through this (rather than keeping them
   * in fields) so that a child swapped by {@link #replaceModule} takes effect.
   */
  public Module getSubmodule(String target) {
    Module m = this;
    int start = 0;
    while (true) {
      int dot = target.indexOf('.', start);
      String name = dot < 0 ? target.substring(start) : target.substring(start, dot);
      Module next = m.children.get(name);
      if (next == null) {
        throw new IllegalArgumentException(
            "getSubmodule: "
                + m.getClass().getSimpleName()
                + " has no child '"
                + name
                + "' (looking up '"
                + target
                + "' in "
                + getClass().getSimpleName()
                + "; children "
                + m.children.keySet()
                + ")");
      }
      if (dot < 0) return next;
      m = next;
      start = dot + 1;
    }
  }

  private void checkName(String name) {
    if (name.isEmpty() || name.contains(".")) {
      throw new IllegalArgumentException(
          "invalid name '" + name + "': must be non-empty without dots");
    }
    if (params.containsKey(name) || children.containsKey(name)) {
      throw new IllegalArgumentException(
          "'" + name + "' is already registered in " + getClass().getSimpleName());
    }
  }

  // ---------------------------------------------------------------- traversal

  /** Direct children in registration order. */
  public Map<String, Module> namedChildren() {
    return new LinkedHashMap<>(children);
  }

  /** This module ("") and every descendant, by dotted name, depth first. */
  public Map<String, Module> namedModules() {
    Map<String, Module> out = new LinkedHashMap<>();
    collectModules("", this, out);
    return out;
  }

  private static void collectModules(String prefix, Module m, Map<String, Module> out) {
    out.put(prefix, m);
    for (var e : m.children.entrySet()) collectModules(join(prefix, e.getKey()), e.getValue(), out);
  }

  /** Every parameter and buffer slot by dotted name. */
  public Map<String, Parameter> namedSlots() {
    Map<String, Parameter> out = new LinkedHashMap<>();
    for (var e : namedModules().entrySet()) {
      for (var p : e.getValue().params.entrySet())
        out.put(join(e.getKey(), p.getKey()), p.getValue());
    }
    return out;
  }

  /** Trainable parameters (not buffers) by dotted name, frozen ones included. */
  public Map<String, Parameter> namedParameters() {
    Map<String, Parameter> out = new LinkedHashMap<>();
    for (var e : namedSlots().entrySet())
      if (!e.getValue().isBuffer()) out.put(e.getKey(), e.getValue());
    return out;
  }

  /** Parameters (not buffers) in {@link #namedParameters()} order. */
  public List<Parameter> parameters() {
    return new ArrayList<>(namedParameters().values());
  }

  /** Parameters that currently require grad: what an optimizer should update. */
  public List<Parameter> trainableParameters() {
    List<Parameter> out = new ArrayList<>();
    for (Parameter p : parameters()) if (p.requiresGrad()) out.add(p);
    return out;
  }

  /** Number of elements in all parameters (or only the trainable ones). */
  public long parameterCount(boolean trainableOnly) {
    long n = 0;
    for (Parameter p : parameters()) if (!trainableOnly || p.requiresGrad()) n += p.data().numel();
    return n;
  }

  private static String join(String prefix, String name) {
    return prefix.isEmpty() ? name : prefix + "." + name;
  }

  // ---------------------------------------------------------------- modes

  /** Training mode (dropout active); returns this. */
  public Module train() {
    return train(true);
  }

  public Module train(boolean on) {
    for (Module m : namedModules().values()) m.training = on;
    return this;
  }

  /** Evaluation mode; returns this. */
  public Module eval() {
    return train(false);
  }

  public boolean isTraining() {
    return training;
  }

  /**
   * Recompute this module's activations in backward instead of keeping them (for modules whose
   * forward honours it, such as transformer blocks).
   */
  public void gradientCheckpointing(boolean on) {
    gradientCheckpointing = on;
  }

  public boolean gradientCheckpointing() {
    return gradientCheckpointing;
  }

  /**
   * Runs {@code block(inputs)}: through {@link Checkpoint#apply} (activations recomputed in
   * backward) when {@link #gradientCheckpointing()} is on, the module is training and gradients are
   * being recorded; directly otherwise. Pass every generator the block draws from (dropout) so the
   * recomputation replays the same numbers.
   */
  protected Tensor checkpoint(
      Function<List<Tensor>, Tensor> block, List<Tensor> inputs, Generator... generators) {
    if (gradientCheckpointing && training && GradMode.isEnabled()) {
      return Checkpoint.apply(block, inputs, generators);
    }
    return block.apply(inputs);
  }

  // ---------------------------------------------------------------- freezing

  /** Sets requiresGrad on every parameter. */
  public void requiresGrad(boolean on) {
    for (Parameter p : parameters()) p.requiresGrad(on);
  }

  /**
   * Sets requiresGrad on the parameters whose dotted name matches {@code regex} (a full match, e.g.
   * {@code "blocks\\.\\d+\\.attn1\\..*"}); returns how many matched.
   */
  public int requiresGrad(String regex, boolean on) {
    Predicate<String> match = Pattern.compile(regex).asMatchPredicate();
    int n = 0;
    for (var e : namedParameters().entrySet()) {
      if (match.test(e.getKey())) {
        e.getValue().requiresGrad(on);
        n++;
      }
    }
    return n;
  }

  /** Drops every parameter's gradient. */
  public void zeroGrad() {
    for (Parameter p : parameters()) p.data().zeroGrad();
  }

  // ---------------------------------------------------------------- state dict

  /**
   * Parameters and buffers by dotted name (the tensors themselves, not copies): the keys of the
   * diffusers/PyTorch checkpoint of the same model.
   */
  public Map<String, Tensor> stateDict() {
    Map<String, Tensor> out = new LinkedHashMap<>();
    for (var e : namedSlots().entrySet()) out.put(e.getKey(), e.getValue().data());
    return out;
  }

  /** What {@link #loadStateDict} found: keys missing from the source, extra keys, bad shapes. */
  public record LoadResult(List<String> missing, List<String> unexpected, List<String> mismatched) {
    public boolean isClean() {
      return missing.isEmpty() && unexpected.isEmpty() && mismatched.isEmpty();
    }

    @Override
    public String toString() {
      return "missing keys "
          + missing
          + ", unexpected keys "
          + unexpected
          + ", shape mismatches "
          + mismatched;
    }
  }

  /**
   * Copies values from {@code source} into this module's slots (converting dtype, keeping each
   * slot's dtype and device). With {@code strict}, any missing or unexpected key or shape mismatch
   * is an error listing all of them, and nothing is copied.
   */
  public LoadResult loadStateDict(Map<String, Tensor> source, boolean strict) {
    Map<String, Parameter> slots = namedSlots();
    List<String> missing = new ArrayList<>(),
        unexpected = new ArrayList<>(),
        mismatched = new ArrayList<>();
    for (String k : slots.keySet()) if (!source.containsKey(k)) missing.add(k);
    for (String k : source.keySet()) if (!slots.containsKey(k)) unexpected.add(k);
    for (var e : slots.entrySet()) {
      Tensor src = source.get(e.getKey());
      if (src != null && !Arrays.equals(src.shape(), e.getValue().data().shape())) {
        mismatched.add(
            e.getKey()
                + ": checkpoint "
                + Arrays.toString(src.shape())
                + " vs model "
                + Arrays.toString(e.getValue().data().shape()));
      }
    }
    LoadResult r = new LoadResult(missing, unexpected, mismatched);
    if (strict && !r.isClean()) {
      throw new IllegalArgumentException(
          "loadStateDict (strict) into " + getClass().getSimpleName() + ": " + r);
    }
    try (var ng = GradMode.noGrad()) {
      for (var e : slots.entrySet()) {
        Tensor src = source.get(e.getKey());
        if (src == null || mismatched.stream().anyMatch(m -> m.startsWith(e.getKey() + ":")))
          continue;
        Tensor dst = e.getValue().data();
        try (Tensor moved = src.to(dst.device())) {
          dst.copyFrom(moved);
        }
      }
    }
    return r;
  }

  // ---------------------------------------------------------------- conversion

  /** Converts every floating parameter and buffer to {@code dtype}; returns this. */
  public Module to(DType dtype) {
    if (!dtype.isFloatingPoint())
      throw new IllegalArgumentException("Module.to: expected a floating dtype, got " + dtype);
    try (var ng = GradMode.noGrad()) {
      for (Parameter p : namedSlots().values()) {
        Tensor t = p.data();
        if (t.dtype().isFloatingPoint() && t.dtype() != dtype) p.set(t.to(dtype));
      }
    }
    return this;
  }

  /** Moves every parameter and buffer to {@code device}; returns this. */
  public Module to(Device device) {
    try (var ng = GradMode.noGrad()) {
      for (Parameter p : namedSlots().values()) {
        Tensor t = p.data();
        if (!t.device().equals(device)) p.set(t.to(device));
      }
    }
    return this;
  }

  /** Closes every parameter, buffer and child. */
  @Override
  public void close() {
    for (Parameter p : params.values()) p.close();
    for (Module m : children.values()) m.close();
  }
}
