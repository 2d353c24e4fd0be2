package io.kinema.tensor.grad;

import io.kinema.tensor.Tensor;

/**
 * The autograd engine, as the tensor module sees it. The {@code autograd} module provides the
 * implementation through {@link java.util.ServiceLoader}; without it, tensors cannot require
 * gradients.
 */
public interface GradEngine {
  /**
   * Records that {@code out} was computed by {@code call}; called only when some input needs grad.
   */
  void record(OpCall call, Tensor out);

  /** Back-propagates from {@code root}, seeded with {@code gradOutput}. */
  void backward(Tensor root, Tensor gradOutput, boolean retainGraph);

  /** Releases a graph node's saved tensors when the last tensor referring to it is closed. */
  void release(GradNode node);
}
