package io.kinema.diffusion.flow;

import io.kinema.tensor.DType;
import io.kinema.tensor.Device;
import io.kinema.tensor.Generator;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;

/**
 * Text-condition dropout for classifier-free-guidance training (FastVideo's {@code
 * training_cfg_rate}; spec flow-matching.md §8): each sample's condition is replaced, with
 * probability {@code rate}, by a null condition (the encoded empty/negative prompt, or zeros).
 *
 * <p>Two ways to decide which samples drop, both reproducible: {@link #draw} takes one uniform per
 * sample from a stream {@link Generator}; {@link #dropsSample} is a pure function of (seed, global
 * sample index), like FastVideo's dataloader rule {@code Random(seed ^ index).random() < p}, so the
 * decision for a sample does not depend on batching or on where a resumed run starts.
 */
public final class CfgDropout {
  private final double rate;

  public CfgDropout(double rate) {
    if (!(rate >= 0 && rate <= 1)) {
      throw new IllegalArgumentException("CfgDropout: rate must be in [0, 1], got " + rate);
    }
    this.rate = rate;
  }

  public double rate() {
    return rate;
  }

  /** One decision per sample: {@code u < rate} with {@code u ~ U[0, 1)} (F64) from {@code gen}. */
  public boolean[] draw(Generator gen, int batch) {
    if (batch < 0) throw new IllegalArgumentException("CfgDropout.draw: batch must be >= 0");
    boolean[] drop = new boolean[batch];
    if (rate == 0 || batch == 0) return drop; // no draw: a run without dropout consumes no counters
    double[] u;
    try (Tensor r = Tensor.rand(gen, DType.F64, Device.CPU, batch)) {
      u = r.toDoubleArray();
    }
    for (int i = 0; i < batch; i++) drop[i] = u[i] < rate;
    return drop;
  }

  /**
   * Whether the sample with global index {@code sampleIndex} drops its condition: the first uniform
   * of the Philox stream keyed by {@code seed ^ sampleIndex}, compared with the rate.
   */
  public boolean dropsSample(long seed, long sampleIndex) {
    if (rate == 0) return false;
    Generator g = new Generator(seed ^ sampleIndex);
    try (Tensor r = Tensor.rand(g, DType.F64, Device.CPU, 1)) {
      return r.toDoubleArray()[0] < rate;
    }
  }

  /** {@link #dropsSample} for samples {@code first, first + 1, ..., first + batch − 1}. */
  public boolean[] dropsSamples(long seed, long first, int batch) {
    boolean[] drop = new boolean[batch];
    for (int i = 0; i < batch; i++) drop[i] = dropsSample(seed, first + i);
    return drop;
  }

  /**
   * The batch condition with the dropped samples replaced: {@code context} is {@code [B, ...]},
   * {@code nullContext} broadcasts to it (e.g. {@code [1, L, D]} for one encoded empty prompt, or
   * the same shape). A copy; the inputs are unchanged.
   */
  public static Tensor apply(Tensor context, Tensor nullContext, boolean[] drop) {
    if (context.dim() < 1 || context.size(0) != drop.length) {
      throw new IllegalArgumentException(
          "CfgDropout.apply: expected a condition with batch "
              + drop.length
              + " in dim 0, got "
              + context.describe());
    }
    try (var s = Scope.open()) {
      Tensor mask = FlowMatching.perSample(Tensor.of(drop).to(context.device()), context.dim());
      Tensor nul;
      try {
        nul =
            nullContext.dtype() == context.dtype() ? nullContext : nullContext.to(context.dtype());
        nul = nul.expand(context.shape());
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException(
            "CfgDropout.apply: null condition "
                + nullContext.describe()
                + " does not broadcast to the condition "
                + context.describe(),
            e);
      }
      return s.keep(Tensor.where(mask, nul, context));
    }
  }

  /** {@link #apply} with an all-zero null condition (FastVideo's dataloader behaviour). */
  public static Tensor applyZeros(Tensor context, boolean[] drop) {
    try (var s = Scope.open()) {
      return s.keep(apply(context, Tensor.zeros(context.dtype(), context.device(), 1), drop));
    }
  }

  @Override
  public String toString() {
    return "CfgDropout(rate=" + rate + ")";
  }
}
