package io.kinema.nn;

import io.kinema.tensor.Tensor;

/**
 * A module with one tensor in and one tensor out (PyTorch's {@code forward(x)}): what {@link
 * Sequential} chains and what a layer that holds a replaceable child (e.g. {@code to_q}, which a
 * LoRA adapter may wrap) calls. The result is a new tensor handle, never {@code input} itself.
 */
@FunctionalInterface
public interface Layer {
  Tensor forward(Tensor input);
}
