package io.kinema.diffusion.schedulers;

import io.kinema.diffusion.flow.ClassifierFreeGuidance;
import io.kinema.diffusion.flow.FlowModel;
import io.kinema.diffusion.flow.SigmaTable;
import io.kinema.tensor.DType;
import io.kinema.tensor.Generator;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import java.util.Arrays;

/**
 * The sampler of few-step students (DMD2, Self-Forcing; spec flow-matching.md §5 "DMD few-step
 * sampler", causal-wan.md §4.3, methods.md §3.2/§4.1): an explicit list of timesteps {@code t_0 >
 * ... > t_{S−1}} (e.g. [1000, 750, 500, 250], or those warped through the table with {@link
 * SigmaTable#warp}), σ by nearest lookup in a training table, and at each step
 *
 * <pre>
 * x̂0 = x − σ(t_k)·v(x, t_k)
 * SDE: x ← (1 − σ(t_{k+1}))·x̂0 + σ(t_{k+1})·ε_new        (fresh Gaussian noise; DMD, SF default)
 * ODE: ε̂ = (x − (1 − σ(t_k))·x̂0) / max(σ(t_k), 1e-8);  x ← (1 − σ(t_{k+1}))·x̂0 + σ(t_{k+1})·ε̂
 * </pre>
 *
 * and the result is the last x̂0. Precision as FastVideo: x̂0 in float64 (then cast back to v's
 * dtype); re-noising in float32 (float64 for F64 latents), cast to the latents' dtype.
 */
public final class FewStepSampler {
  /** How the x0 prediction is taken to the next noise level. */
  public enum Renoise {
    /** Fresh noise at each step (stochastic; FastVideo's DMD stage, Self-Forcing's {@code sde}). */
    SDE,
    /** The noise implied by the current sample and prediction (Self-Forcing's {@code ode}). */
    ODE
  }

  private final SigmaTable table;
  private final double[] timesteps;
  private final double[] sigmas;
  private final Renoise renoise;

  /**
   * @param timesteps the model timesteps, in order (strictly decreasing)
   */
  public FewStepSampler(SigmaTable table, double[] timesteps, Renoise renoise) {
    if (timesteps.length == 0) throw new IllegalArgumentException("FewStepSampler: no timesteps");
    for (int i = 1; i < timesteps.length; i++) {
      if (!(timesteps[i] < timesteps[i - 1])) {
        throw new IllegalArgumentException(
            "FewStepSampler: timesteps must decrease, got " + Arrays.toString(timesteps));
      }
    }
    this.table = table;
    this.timesteps = timesteps.clone();
    this.renoise = renoise;
    this.sigmas = new double[timesteps.length];
    for (int i = 0; i < timesteps.length; i++) sigmas[i] = table.sigmaNearest(timesteps[i]);
  }

  public double[] timesteps() {
    return timesteps.clone();
  }

  /** σ(t_k) for each step (nearest table entry). */
  public double[] sigmas() {
    return sigmas.clone();
  }

  public Renoise renoise() {
    return renoise;
  }

  public SigmaTable table() {
    return table;
  }

  /** {@code x̂0 = x − σ(t_k)·v}, computed in F64 and returned in v's dtype. */
  public Tensor predictX0(Tensor x, Tensor v, int k) {
    Coefficients.requireSameShape("FewStepSampler.predictX0", v, x);
    try (var s = Scope.open()) {
      Tensor x0 = x.to(DType.F64).sub(v.to(DType.F64).mul(sigmas[k]));
      return s.keep(x0.dtype() == v.dtype() ? x0 : x0.to(v.dtype()));
    }
  }

  /**
   * The input of step {@code k + 1} from step k's sample {@code x} and prediction {@code x0} (SDE
   * draws ε from {@code gen}, in x0's dtype, like {@code torch.randn(dtype=pred_video.dtype)}).
   */
  public Tensor renoise(Tensor x0, Tensor x, int k, Generator gen) {
    if (k + 1 >= timesteps.length) {
      throw new IllegalArgumentException(
          "FewStepSampler.renoise: step " + k + " is the last of " + timesteps.length);
    }
    Coefficients.requireSameShape("FewStepSampler.renoise", x0, x);
    double next = sigmas[k + 1];
    DType ct = x0.dtype() == DType.F64 ? DType.F64 : DType.F32;
    try (var s = Scope.open()) {
      Tensor c0 = x0.to(ct);
      Tensor eps;
      if (renoise == Renoise.SDE) {
        if (gen == null)
          throw new IllegalArgumentException("FewStepSampler: SDE needs a generator");
        eps = Tensor.randn(gen, x0.dtype(), x0.device(), x0.shape()).to(ct);
      } else {
        double cur = sigmas[k];
        eps = x.to(ct).sub(c0.mul(1 - cur)).div(Math.max(cur, 1e-8));
      }
      Tensor out = c0.mul(1 - next).add(eps.mul(next));
      return s.keep(out.dtype() == x.dtype() ? out : out.to(x.dtype()));
    }
  }

  /**
   * Runs every step from {@code noise} (the sample at σ(t_0)) and returns the final x̂0. The model
   * gets {@code t_k} as an F32 tensor {@code [B]}; with {@code guidanceScale > 1} its output is
   * guided by {@code negativeContext}. No gradients are recorded.
   */
  public Tensor sample(
      FlowModel model,
      Tensor noise,
      Tensor context,
      Tensor negativeContext,
      double guidanceScale,
      Generator gen) {
    if (noise.dim() < 1) {
      throw new IllegalArgumentException(
          "FewStepSampler.sample: latents need a batch dim, got " + noise.describe());
    }
    long batch = noise.size(0);
    Tensor x = noise.alias();
    try (var ng = io.kinema.tensor.grad.GradMode.noGrad()) {
      for (int k = 0; ; k++) {
        Tensor next;
        try (var s = Scope.open()) {
          Tensor t = Tensor.full(timesteps[k], DType.F32, noise.device(), batch);
          Tensor v =
              ClassifierFreeGuidance.predict(
                  model, x, t, context, negativeContext, guidanceScale, false);
          Tensor x0 = predictX0(x, v, k);
          next = k + 1 == timesteps.length ? x0 : renoise(x0, x, k, gen);
          s.keep(next);
        }
        x.close();
        x = next;
        if (k + 1 == timesteps.length) return x;
      }
    } catch (RuntimeException | Error e) {
      x.close();
      throw e;
    }
  }

  /** {@link #sample} without guidance. */
  public Tensor sample(FlowModel model, Tensor noise, Tensor context, Generator gen) {
    return sample(model, noise, context, null, 1.0, gen);
  }
}
