package io.kinema.nn;

import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;

/**
 * Layers applied in order (PyTorch's {@code nn.Sequential}), registered as children "0", "1", ...
 * so parameter names match PyTorch's ({@code net.2.weight}). Every element must be a {@link Module}
 * that is a {@link Layer}. A child replaced through {@link #replaceModule} is used from then on.
 */
public final class Sequential extends Module implements Layer {
  private int size;

  public Sequential(Layer... layers) {
    for (Layer l : layers) add(l);
  }

  /** Appends {@code layer} under the next index; returns this. */
  public Sequential add(Layer layer) {
    if (!(layer instanceof Module m)) {
      throw new IllegalArgumentException(
          "Sequential: element " + size + " (" + layer + ") is a Layer but not a Module");
    }
    registerModule(Integer.toString(size++), m);
    return this;
  }

  public int size() {
    return size;
  }

  /** The element at {@code index} (after any replacement). */
  public Module get(int index) {
    if (index < 0 || index >= size) {
      throw new IndexOutOfBoundsException(
          "Sequential: index " + index + " out of range for " + size + " elements");
    }
    return getSubmodule(Integer.toString(index));
  }

  @Override
  public Tensor forward(Tensor x) {
    if (size == 0) return x.alias();
    try (var s = Scope.open()) {
      Tensor y = x;
      for (int i = 0; i < size; i++) {
        Module m = get(i);
        if (!(m instanceof Layer l)) {
          throw new IllegalStateException(
              "Sequential: element " + i + " (" + m.getClass().getSimpleName() + ") is no Layer");
        }
        y = l.forward(y);
      }
      return s.keep(y);
    }
  }

  @Override
  public String toString() {
    StringBuilder b = new StringBuilder("Sequential(");
    for (int i = 0; i < size; i++) b.append(i == 0 ? "" : ", ").append(get(i));
    return b.append(")").toString();
  }
}
