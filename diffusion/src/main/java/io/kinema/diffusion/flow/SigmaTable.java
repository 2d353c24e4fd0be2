package io.kinema.diffusion.flow;

import io.kinema.tensor.DType;
import io.kinema.tensor.Tensor;
import java.util.Arrays;

/**
 * A training-time table of noise levels {@code σ_i} and their timesteps {@code t_i = 1000·σ_i}
 * (float32, descending), and the two ways methods look σ up from a timestep (spec: flow-matching.md
 * §3):
 *
 * <ul>
 *   <li>{@link #exactIndex}: t must be a table entry (FastVideo {@code get_sigmas}, SFT);
 *   <li>{@link #nearestIndex}: {@code argmin_i |t_i − t|}, ties to the lowest index (FastVideo
 *       {@code add_noise}, {@code pred_noise_to_pred_video}, the Self-Forcing scheduler), so an
 *       integer DMD timestep t gets σ ≈ t/1000 without a second shift.
 * </ul>
 *
 * Two tables exist: {@link #flowMatchEuler} (diffusers'/FastVideo's {@code
 * FlowMatchEulerDiscreteScheduler(num_train_timesteps, shift)} at construction) and {@link
 * #selfForcing} ({@code SelfForcingFlowMatchScheduler(1000, shift, sigma_min=0,
 * extra_one_step=True)}).
 */
public final class SigmaTable {
  private final float[] sigmas;
  private final float[] timesteps;
  private final int numTrainTimesteps;

  private SigmaTable(float[] sigmas, float[] timesteps, int numTrainTimesteps) {
    this.sigmas = sigmas;
    this.timesteps = timesteps;
    this.numTrainTimesteps = numTrainTimesteps;
  }

  /**
   * The table of diffusers' {@code FlowMatchEulerDiscreteScheduler.__init__}: {@code u_i = (N −
   * i)/N} for i = 0..N−1 (float32), {@code σ_i = s_k(u_i)} in float32, {@code t_i = N·σ_i}.
   */
  public static SigmaTable flowMatchEuler(int numTrainTimesteps, double shift) {
    checkArgs("flowMatchEuler", numTrainTimesteps, shift);
    int n = numTrainTimesteps;
    float[] sg = new float[n], ts = new float[n];
    for (int i = 0; i < n; i++) {
      float u = (float) (n - i) / (float) n; // timesteps N..1 (exact in float32) / N
      sg[i] = FlowMatching.shiftF32(u, shift);
      ts[i] = sg[i] * (float) n;
    }
    return new SigmaTable(sg, ts, n);
  }

  /** {@link #flowMatchEuler} with Wan's 1000 training timesteps. */
  public static SigmaTable flowMatchEuler(double shift) {
    return flowMatchEuler(1000, shift);
  }

  /**
   * The Self-Forcing table: {@code σ_i = s_k(linspace(1, 0, N+1)[i])} for i = 0..N−1 (float32,
   * {@code torch.linspace} rounding), {@code t_i = 1000·σ_i}.
   */
  public static SigmaTable selfForcing(int numSteps, double shift) {
    checkArgs("selfForcing", numSteps, shift);
    float[] base = Linspace.torchF32(1.0, 0.0, numSteps + 1);
    float[] sg = new float[numSteps], ts = new float[numSteps];
    for (int i = 0; i < numSteps; i++) {
      sg[i] = FlowMatching.shiftF32(base[i], shift);
      ts[i] = sg[i] * 1000f;
    }
    return new SigmaTable(sg, ts, 1000);
  }

  /** {@link #selfForcing} with 1000 entries. */
  public static SigmaTable selfForcing(double shift) {
    return selfForcing(1000, shift);
  }

  private static void checkArgs(String what, int n, double shift) {
    if (n < 1) throw new IllegalArgumentException(what + ": need at least one entry, got " + n);
    if (!(shift > 0) || Double.isInfinite(shift)) {
      throw new IllegalArgumentException(
          what + ": shift must be positive and finite, got " + shift);
    }
  }

  public int size() {
    return sigmas.length;
  }

  /** The number of training timesteps t is scaled to (1000). */
  public int numTrainTimesteps() {
    return numTrainTimesteps;
  }

  public float sigma(int i) {
    return sigmas[i];
  }

  public float timestep(int i) {
    return timesteps[i];
  }

  /** A copy of all σ_i. */
  public float[] sigmas() {
    return sigmas.clone();
  }

  /** A copy of all t_i. */
  public float[] timesteps() {
    return timesteps.clone();
  }

  /** The index whose timestep equals {@code t} (compared in float32); throws if there is none. */
  public int exactIndex(double t) {
    float f = (float) t;
    for (int i = 0; i < timesteps.length; i++) if (timesteps[i] == f) return i;
    throw new IllegalArgumentException(
        "SigmaTable.exactIndex: timestep " + t + " is not an entry of the table " + this);
  }

  /** {@code argmin_i |t_i − t|} (in double precision), ties to the lowest index. */
  public int nearestIndex(double t) {
    if (Double.isNaN(t)) throw new IllegalArgumentException("SigmaTable.nearestIndex: t is NaN");
    int best = 0;
    double bestDist = Double.POSITIVE_INFINITY;
    for (int i = 0; i < timesteps.length; i++) {
      double d = Math.abs(timesteps[i] - t);
      if (d < bestDist) {
        bestDist = d;
        best = i;
      }
    }
    return best;
  }

  /** σ of the entry nearest to {@code t}. */
  public double sigmaNearest(double t) {
    return sigmas[nearestIndex(t)];
  }

  /** σ of the entry whose timestep is exactly {@code t}. */
  public double sigmaExact(double t) {
    return sigmas[exactIndex(t)];
  }

  /**
   * Per-sample σ for per-sample timesteps {@code t} (any shape, read as a flat list), as an F64
   * tensor of t's shape: by nearest lookup, or by exact lookup when {@code exact}.
   */
  public Tensor sigmasFor(Tensor t, boolean exact) {
    double[] ts = t.toDoubleArray();
    double[] out = new double[ts.length];
    for (int i = 0; i < ts.length; i++) out[i] = exact ? sigmaExact(ts[i]) : sigmaNearest(ts[i]);
    return Tensor.of(out, t.shape());
  }

  /**
   * Warps integer denoising steps through the table, as FastVideo's {@code warp_denoising_step}
   * does: {@code concat(t, [0])[N − step]} (spec methods.md §3). With k = 3, [1000, 750, 500, 250]
   * becomes [1000, 900, 750, 500].
   */
  public double[] warp(long... steps) {
    double[] out = new double[steps.length];
    for (int i = 0; i < steps.length; i++) {
      long idx = numTrainTimesteps - steps[i];
      if (idx < 0 || idx > timesteps.length) {
        throw new IllegalArgumentException(
            "SigmaTable.warp: step "
                + steps[i]
                + " is outside ["
                + (numTrainTimesteps - timesteps.length)
                + ", "
                + numTrainTimesteps
                + "] for "
                + this);
      }
      out[i] = idx == timesteps.length ? 0.0 : timesteps[(int) idx];
    }
    return out;
  }

  /** The σ table as a 1-d tensor of {@code dtype}. */
  public Tensor sigmaTensor(DType dtype) {
    try (Tensor t = Tensor.of(sigmas)) {
      return t.to(dtype);
    }
  }

  @Override
  public String toString() {
    return "SigmaTable(size="
        + sigmas.length
        + ", sigma "
        + sigmas[0]
        + " .. "
        + sigmas[sigmas.length - 1]
        + ", t "
        + Arrays.toString(new float[] {timesteps[0], timesteps[timesteps.length - 1]})
        + ")";
  }
}
