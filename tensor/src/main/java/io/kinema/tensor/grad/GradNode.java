package io.kinema.tensor.grad;

/**
 * A node of the recorded graph: the op that produced a tensor. Opaque to the tensor module; the
 * engine owns its contents.
 */
public interface GradNode {
  /** The op's name, for error messages and debugging (e.g. "mul", "matmul"). */
  String name();

  /** One more tensor refers to this node. */
  void retain();
}
