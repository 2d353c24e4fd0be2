package io.kinema.diffusion.flow;

import io.kinema.tensor.DType;
import io.kinema.tensor.Device;
import io.kinema.tensor.Generator;
import io.kinema.tensor.Tensor;

/**
 * Draws training timesteps (spec flow-matching.md §4, FastVideo's {@code _sample_timesteps}): per
 * sample {@code u} from the {@link WeightingScheme}'s density, {@code idx = floor(u·N)}, and the
 * table entry's timestep and σ. All draws come from a counter-based {@link Generator}, so a run
 * replays exactly from (seed, offset).
 *
 * <p>The density is computed in float32 as PyTorch computes it (its default dtype), including
 * {@code (u * N).long()}. An index of N (u rounded to exactly 1, e.g. {@code mode} at r = 0 or a
 * saturated sigmoid) is clamped to N − 1 where PyTorch would fail on the out-of-range index.
 */
public final class TimestepSampler {
  private final SigmaTable table;
  private final WeightingScheme scheme;

  /** A batch of drawn timesteps: table indices, timesteps and σ (float32 table values). */
  public record Draw(int[] indices, float[] timesteps, float[] sigmas) {
    /** The timesteps as an F32 tensor {@code [B]} (what the DiT receives). */
    public Tensor timestepTensor() {
      return Tensor.of(timesteps);
    }

    /** σ as a tensor {@code [B]} of {@code dtype} (FastVideo casts it to the latents' dtype). */
    public Tensor sigmaTensor(DType dtype) {
      try (Tensor t = Tensor.of(sigmas)) {
        return t.to(dtype);
      }
    }
  }

  public TimestepSampler(SigmaTable table, WeightingScheme scheme) {
    if (table == null || scheme == null) {
      throw new IllegalArgumentException("TimestepSampler: table and scheme are required");
    }
    this.table = table;
    this.scheme = scheme;
  }

  public SigmaTable table() {
    return table;
  }

  public WeightingScheme scheme() {
    return scheme;
  }

  /**
   * {@code compute_density_for_timestep_sampling}: {@code batch} values u ∈ [0, 1] drawn from
   * {@code gen}, float32 arithmetic.
   */
  public static float[] density(WeightingScheme scheme, int batch, Generator gen) {
    if (batch < 0) throw new IllegalArgumentException("density: batch must be >= 0, got " + batch);
    if (gen == null) throw new IllegalArgumentException("density: a generator is required");
    float[] u;
    switch (scheme) {
      case WeightingScheme.LogitNormal(double mean, double std) -> {
        try (Tensor n = Tensor.randn(gen, DType.F32, Device.CPU, batch)) {
          u = n.toFloatArray();
        }
        float m = (float) mean, sd = (float) std;
        // torch.normal(mean, std) then sigmoid; the values are float32 as in the reference.
        for (int i = 0; i < batch; i++) u[i] = sigmoidF32(m + sd * u[i]);
      }
      case WeightingScheme.Mode(double scale) -> {
        try (Tensor r = Tensor.rand(gen, DType.F32, Device.CPU, batch)) {
          u = r.toFloatArray();
        }
        float s = (float) scale, pi = (float) Math.PI;
        for (int i = 0; i < batch; i++) {
          float r = u[i];
          float c = (float) Math.cos(pi * r / 2f);
          u[i] = 1f - r - s * (c * c - 1f + r);
        }
      }
      case WeightingScheme.Uniform un -> {
        try (Tensor r = Tensor.rand(gen, DType.F32, Device.CPU, batch)) {
          u = r.toFloatArray();
        }
      }
    }
    return u;
  }

  private static float sigmoidF32(float x) {
    return 1f / (1f + (float) Math.exp(-x));
  }

  /** Table indices for density values: {@code (long)(u·N)} in float32, clamped to [0, N − 1]. */
  public int[] indices(float[] u) {
    int n = table.size();
    int[] idx = new int[u.length];
    for (int i = 0; i < u.length; i++) {
      long k = (long) (u[i] * (float) table.numTrainTimesteps());
      idx[i] = (int) Math.min(Math.max(k, 0), n - 1);
    }
    return idx;
  }

  /** Draws {@code batch} training timesteps with their σ. */
  public Draw sample(int batch, Generator gen) {
    int[] idx = indices(density(scheme, batch, gen));
    float[] ts = new float[batch], sg = new float[batch];
    for (int i = 0; i < batch; i++) {
      ts[i] = table.timestep(idx[i]);
      sg[i] = table.sigma(idx[i]);
    }
    return new Draw(idx, ts, sg);
  }
}
