package io.kinema.nn;

import io.kinema.tensor.DType;
import io.kinema.tensor.Generator;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;

/**
 * Inverted dropout (PyTorch's {@code nn.Dropout}): in training mode each element is zeroed with
 * probability {@code p} and the survivors are scaled by {@code 1 / (1 - p)}; in eval mode (or with
 * p = 0) the input passes unchanged. The mask is {@code rand < 1 - p} drawn from the counter-based
 * {@link Generator}, so a run is reproducible from its seed and a checkpointed block that rewinds
 * the generator (see {@link Module#checkpoint}) draws the same mask again.
 */
public final class Dropout extends Module implements Layer {
  private final double p;
  private final Generator generator;

  /**
   * @param generator the stream masks are drawn from; may be null only when {@code p == 0}
   */
  public Dropout(double p, Generator generator) {
    if (!(p >= 0 && p <= 1)) {
      throw new IllegalArgumentException(
          "Dropout: probability has to be between 0 and 1, but got " + p);
    }
    if (generator == null && p > 0) {
      throw new IllegalArgumentException("Dropout: p=" + p + " needs a generator");
    }
    this.p = p;
    this.generator = generator;
  }

  public double p() {
    return p;
  }

  /** The generator masks come from (null when p = 0). */
  public Generator generator() {
    return generator;
  }

  @Override
  public Tensor forward(Tensor x) {
    if (!isTraining() || p == 0) return x.alias();
    if (p == 1) return x.mul(0.0);
    try (var s = Scope.open()) {
      double keep = 1 - p;
      // Drawn in F32 whatever x's dtype: a BF16 uniform is too coarse for an exact keep rate.
      Tensor u = Tensor.rand(generator, DType.F32, x.device(), x.shape());
      Tensor scale = u.lt(keep).to(x.dtype()).mul(1 / keep);
      return s.keep(x.mul(scale));
    }
  }

  @Override
  public String toString() {
    return "Dropout(p=" + p + ")";
  }
}
