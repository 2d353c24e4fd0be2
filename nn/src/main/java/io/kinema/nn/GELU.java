package io.kinema.nn;

import io.kinema.tensor.Tensor;

/**
 * GELU activation (PyTorch's {@code nn.GELU}): exact {@code x * Phi(x)} for approximate "none",
 * {@code 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))} for "tanh".
 */
public final class GELU extends Module implements Layer {
  private final boolean tanh;

  /** Exact GELU. */
  public GELU() {
    this("none");
  }

  /**
   * @param approximate "none" or "tanh"
   */
  public GELU(String approximate) {
    this.tanh =
        switch (approximate) {
          case "none" -> false;
          case "tanh" -> true;
          default ->
              throw new IllegalArgumentException(
                  "GELU: approximate must be \"none\" or \"tanh\", got \"" + approximate + "\"");
        };
  }

  @Override
  public Tensor forward(Tensor x) {
    return tanh ? x.geluTanh() : x.gelu();
  }

  @Override
  public String toString() {
    return "GELU(approximate='" + (tanh ? "tanh" : "none") + "')";
  }
}
