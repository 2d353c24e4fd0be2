package io.kinema.nn;

import io.kinema.tensor.Tensor;

/**
 * A named slot of a {@link Module} holding a tensor (PyTorch's {@code nn.Parameter}, and buffers
 * too). The slot stays the same object when the module is converted to another dtype or device, so
 * optimizers and adapters that hold the slot keep working; {@link #data()} is the current tensor.
 * Trainable parameters require grad; buffers never do.
 */
public final class Parameter implements AutoCloseable {
  private Tensor data;
  private final boolean buffer;

  Parameter(Tensor data, boolean buffer) {
    this.buffer = buffer;
    set(data);
  }

  /** The current tensor. */
  public Tensor data() {
    return data;
  }

  /** The gradient of the current tensor (null before backward). */
  public Tensor grad() {
    return data.grad();
  }

  /** True for buffers (state that is saved but never trained, e.g. rotary tables). */
  public boolean isBuffer() {
    return buffer;
  }

  /** True when this parameter takes part in training. */
  public boolean requiresGrad() {
    return data.requiresGrad();
  }

  /** Freezes or unfreezes it (buffers cannot be unfrozen). */
  public void requiresGrad(boolean on) {
    if (on && buffer) throw new IllegalStateException("requiresGrad: buffers are not trainable");
    data.requiresGrad(on);
  }

  /**
   * Puts {@code t} in the slot, taking ownership: {@code t} is closed and the slot keeps its own
   * handle on the data, which belongs to no {@link io.kinema.tensor.Scope} (a module built inside a
   * scope keeps its weights) and has no history. The previous tensor is closed. Floating tensors
   * keep the slot's trainability.
   */
  public void set(Tensor t) {
    if (t == null) throw new IllegalArgumentException("Parameter.set: null tensor");
    boolean train = data == null ? !buffer : data.requiresGrad();
    Tensor owned = t.share();
    t.close();
    if (data != null) data.close();
    data = owned;
    if (data.dtype().isFloatingPoint()) data.requiresGrad(train && !buffer);
  }

  @Override
  public void close() {
    if (data != null) data.close();
  }

  @Override
  public String toString() {
    return (buffer ? "Buffer(" : "Parameter(") + data.describe() + ")";
  }
}
