package io.kinema.nn;

import io.kinema.tensor.Tensor;

/** {@code x * sigmoid(x)} (PyTorch's {@code nn.SiLU}). */
public final class SiLU extends Module implements Layer {
  @Override
  public Tensor forward(Tensor x) {
    return x.silu();
  }

  @Override
  public String toString() {
    return "SiLU()";
  }
}
