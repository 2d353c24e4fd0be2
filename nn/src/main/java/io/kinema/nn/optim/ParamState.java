package io.kinema.nn.optim;

import io.kinema.tensor.Tensor;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What an optimizer keeps for one parameter: the number of updates it has had ({@code step}) and
 * named state tensors ({@code exp_avg}, {@code exp_avg_sq}, {@code momentum_buffer}, the F32 {@code
 * master} copy of a 16-bit parameter...). The tensors belong to no scope; this object owns them.
 */
public final class ParamState implements AutoCloseable {
  private long step;
  private final Map<String, Tensor> tensors = new LinkedHashMap<>();

  /** Updates applied so far (1 during the first update). */
  public long step() {
    return step;
  }

  void step(long s) {
    step = s;
  }

  /** The named tensor, or null. */
  public Tensor get(String name) {
    return tensors.get(name);
  }

  /**
   * The named tensor, created as zeros like {@code like} (its dtype, device and shape) on first
   * use.
   */
  public Tensor zerosIfAbsent(String name, Tensor like) {
    Tensor t = tensors.get(name);
    if (t == null) {
      t = Optimizer.owned(Tensor.zerosLike(like));
      tensors.put(name, t);
    }
    return t;
  }

  /**
   * Stores {@code t} under {@code name}, taking ownership: it is moved out of any scope (the handle
   * passed in is closed) and a previous tensor of that name is closed. Returns the stored handle.
   */
  public Tensor put(String name, Tensor t) {
    Tensor owned = Optimizer.owned(t);
    Tensor old = tensors.put(name, owned);
    if (old != null) old.close();
    return owned;
  }

  /** Drops and closes the named tensor, if any. */
  public void remove(String name) {
    Tensor old = tensors.remove(name);
    if (old != null) old.close();
  }

  /** The tensors by name (a read-only view). */
  public Map<String, Tensor> tensors() {
    return Collections.unmodifiableMap(tensors);
  }

  @Override
  public void close() {
    for (Tensor t : tensors.values()) t.close();
    tensors.clear();
  }
}
