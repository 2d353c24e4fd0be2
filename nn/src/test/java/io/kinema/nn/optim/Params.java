package io.kinema.nn.optim;

import io.kinema.nn.Module;
import io.kinema.nn.Parameter;
import io.kinema.tensor.Tensor;

/** A module that only holds the parameters a test registers (layers are not needed here). */
final class Params extends Module {
  /** Registers a trainable parameter holding a copy of {@code value}. */
  Parameter add(String name, Tensor value) {
    return registerParameter(name, value.copy());
  }

  /** A trainable F64 parameter. */
  Parameter add(String name, double... values) {
    return registerParameter(name, Tensor.of(values, values.length));
  }

  /** Sets {@code p}'s gradient to a copy of {@code values} (in {@code p}'s dtype). */
  static void grad(Parameter p, double... values) {
    try (Tensor g = Tensor.of(values, p.data().shape())) {
      grad(p, g);
    }
  }

  /** Sets {@code p}'s gradient to a copy of {@code g} converted to {@code p}'s dtype. */
  static void grad(Parameter p, Tensor g) {
    Tensor c = Tensor.empty(p.data().dtype(), p.data().shape());
    c.copyFrom(g);
    p.data().setGrad(Optimizer.owned(c));
  }
}
