package io.kinema.train.method;

import io.kinema.diffusion.flow.SigmaTable;
import io.kinema.tensor.DType;
import io.kinema.tensor.Tensor;
import io.kinema.train.model.RoleModel;
import java.util.Map;

/**
 * Diffusion-forcing SFT (FastVideo's {@code DiffusionForcingSFTMethod}, methods.md §2): every
 * temporal chunk of {@code chunkSize} latent frames gets its own noise level, drawn uniformly from
 * the table indices {@code [lo, hi]}; the causal student denoises the whole clip in one
 * block-causal forward, and each frame's error is weighted by a Gaussian over the table index (mean
 * weight 1), which emphasizes mid-range noise. {@link TeacherForcingSftMethod} differs only in the
 * forward it calls.
 */
public sealed class DiffusionForcingSftMethod extends StudentMethod
    permits TeacherForcingSftMethod {
  private final int chunkSize;
  private final int lo;
  private final int hi;
  private final boolean preconditionOutputs;
  private final double[] indexWeights;

  /**
   * @param student a causal, trainable role
   * @param chunkSize frames per noise chunk (the causal model's frames per block)
   * @param minTimestepRatio lower end of the index range, as a fraction of 1000
   * @param maxTimestepRatio upper end of the index range, as a fraction of 1000
   */
  public DiffusionForcingSftMethod(
      RoleModel student,
      int chunkSize,
      double minTimestepRatio,
      double maxTimestepRatio,
      boolean preconditionOutputs,
      OptimizerSpec optim,
      long seed) {
    if (!student.isCausal()) {
      throw new IllegalArgumentException(
          "DiffusionForcingSftMethod: the student must be a causal model (WanCausalTransformer3D)");
    }
    super(student, optim, seed);
    if (chunkSize < 1) {
      throw new IllegalArgumentException(
          "DiffusionForcingSftMethod: chunk_size must be >= 1, got " + chunkSize);
    }
    this.chunkSize = chunkSize;
    int n = student.table().size();
    int l = clamp((int) (minTimestepRatio * n), 0, n - 1);
    int h = clamp((int) (maxTimestepRatio * n), 0, n - 1);
    if (h <= l) h = Math.min(n - 1, l + 1);
    this.lo = l;
    this.hi = h;
    this.preconditionOutputs = preconditionOutputs;
    this.indexWeights = indexWeights(n);
  }

  private static int clamp(int v, int min, int max) {
    return Math.max(min, Math.min(max, v));
  }

  /**
   * {@code W[i] = (y_i − min y)·n / Σ(y − min y)} with {@code y_i = exp(−2·((i − n/2)/n)²)}: a
   * Gaussian bump over the table index with mean 1, 0 at index 0.
   */
  static double[] indexWeights(int n) {
    double[] y = new double[n];
    double min = Double.POSITIVE_INFINITY, sum = 0;
    for (int i = 0; i < n; i++) {
      double z = (i - n / 2.0) / n;
      y[i] = Math.exp(-2 * z * z);
      min = Math.min(min, y[i]);
    }
    for (int i = 0; i < n; i++) sum += y[i] - min;
    for (int i = 0; i < n; i++) y[i] = (y[i] - min) * n / sum;
    return y;
  }

  @Override
  public StepLosses singleTrainStep(TrainBatch batch, long step) {
    Tensor x0 = batch.latents(); // [B, C, T, h, w]
    int b = Math.toIntExact(batch.batchSize());
    int frames = Math.toIntExact(x0.size(2));
    int chunks = (frames + chunkSize - 1) / chunkSize;
    // Drawn for the global batch (every replica draws the same); this batch keeps its rows.
    TrainBatch.Shard shard = batch.shard();
    Tensor noise =
        shard.of(Tensor.randn(gen, DType.F32, x0.device(), batch.globalShape(x0.shape())));
    long[] chunkIdx =
        shard.of(
            Tensor.randint(gen, lo, hi + 1L, DType.I64, x0.device(), shard.globalSize(), chunks)
                .toLongArray(),
            chunks);

    SigmaTable table = student.table();
    float[] t = new float[b * frames], sigma = new float[b * frames], w = new float[b * frames];
    double meanT = 0;
    for (int i = 0; i < b; i++) {
      for (int f = 0; f < frames; f++) {
        int idx = (int) chunkIdx[i * chunks + f / chunkSize];
        t[i * frames + f] = table.timestep(idx);
        sigma[i * frames + f] = table.sigma(idx);
        w[i * frames + f] = (float) indexWeights[idx];
        meanT += table.timestep(idx);
      }
    }
    Tensor sigmas = Tensor.of(sigma, b, 1, frames, 1, 1).to(x0.device());
    Tensor noisy = x0.mul(sigmas.neg().add(1.0)).add(noise.mul(sigmas));
    DType dt = student.model().dtype();
    Tensor tt = Tensor.of(t, b, frames).to(x0.device());
    Tensor v = predict(noisy.to(dt), tt, x0.to(dt), batch.context().to(dt)).to(DType.F32);
    Tensor perFrame =
        FlowLosses.mse(v, noisy, noise, x0, sigmas, preconditionOutputs)
            .mean(new int[] {1, 3, 4}, false); // [B, T]
    Tensor loss = perFrame.mul(Tensor.of(w, b, frames).to(x0.device())).mean();
    return new StepLosses(loss, Map.of("timestep_mean", meanT / (b * frames)));
  }

  /**
   * The student's velocity for the noisy clip (block-causal: each chunk sees noisy earlier ones).
   */
  Tensor predict(Tensor noisy, Tensor t, Tensor clean, Tensor context) {
    return student.predict(noisy, t, context);
  }
}
