package io.kinema.diffusion.wan;

import io.kinema.diffusion.flow.ClassifierFreeGuidance;
import io.kinema.diffusion.flow.FlowModel;
import io.kinema.diffusion.flow.SigmaTable;
import io.kinema.tensor.DType;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.grad.GradMode;
import java.util.List;

/**
 * Self-Forcing's streaming rollout ({@code CausalInferencePipeline.inference}, spec {@code
 * causal-wan.md} §4.3): chunk by chunk, a few denoising steps each (x0 prediction, then "SDE"
 * re-noising to the next step with fresh Gaussian noise), then a clean-context pass at timestep
 * {@code contextNoise} that leaves the chunk's clean keys/values in the cache. {@link
 * #sampleBlockwise} runs the same block-by-block scheme with any sampler per block (a multistep
 * scheduler, classifier-free guidance), which is how a causal model trained with diffusion forcing
 * (not yet distilled to a few steps) generates.
 */
public final class WanCausalInference {
  private WanCausalInference() {}

  /** Fresh standard Gaussian noise of a shape (the re-noising draws). */
  @FunctionalInterface
  public interface NoiseSource {
    Tensor next(long... shape);
  }

  /** Sees every model call (a debugging aid; tensors are valid only during the call). */
  @FunctionalInterface
  public interface CallListener {
    /**
     * @param x the call's input {@code [B, K, C, H, W]}
     * @param t its per-frame timesteps {@code [B, K]}
     * @param flow the model output {@code [B, K, C, H, W]}
     * @param x0 {@code x − σ(t)·flow} (the context pass: ignored)
     */
    void onCall(
        int call,
        long currentStart,
        Tensor x,
        Tensor t,
        Tensor flow,
        Tensor x0,
        WanCausalTransformer3D.KvCache cache);
  }

  /** Denoises one block. */
  @FunctionalInterface
  public interface BlockSampler {
    /**
     * Returns the clean block for {@code noise} {@code [B, C, k, H, W]}. {@code model} already sees
     * the earlier blocks and applies guidance: call it with timesteps {@code [B]} and any context
     * (it is ignored), as {@code SamplingLoop.run(scheduler, model, noise, null, null, 1, null)}
     * does.
     */
    Tensor sample(FlowModel model, Tensor noise);
  }

  /**
   * Autoregressive sampling of latents {@code [B, C, F, H, W]} (the model's layout) from {@code
   * noise} of that shape: block by block ({@code framesPerBlock} frames), {@code sampler} denoises
   * the block with the model attending to the clean earlier blocks through the KV cache, then a
   * context pass at timestep {@code contextNoise} writes the clean block's keys/values into the
   * cache. With guidance on, the unconditional branch keeps its own cache (its text and hence its
   * keys/values differ). Runs without gradients; the result has {@code noise}'s dtype.
   *
   * @param negativeContext the unconditional context; may be null when {@code guidanceScale ≤ 1}
   */
  public static Tensor sampleBlockwise(
      WanCausalTransformer3D model,
      Tensor noise,
      Tensor context,
      Tensor negativeContext,
      double guidanceScale,
      double contextNoise,
      BlockSampler sampler) {
    int k = model.framesPerBlock();
    WanConfig c = model.model().config();
    if (noise.dim() != 5 || noise.size(1) != c.inChannels() || noise.size(2) % k != 0) {
      throw new IllegalArgumentException(
          "WanCausalInference.sampleBlockwise: expected noise [B, "
              + c.inChannels()
              + ", F, H, W] with F a multiple of "
              + k
              + " frames per block, got "
              + noise.describe());
    }
    boolean guided = ClassifierFreeGuidance.enabled(guidanceScale);
    if (guided && negativeContext == null) {
      throw new IllegalArgumentException(
          "WanCausalInference.sampleBlockwise: guidance scale "
              + guidanceScale
              + " needs a negative context");
    }
    long b = noise.size(0), frames = noise.size(2);
    long frameTokens = (noise.size(3) / c.patchSize().h()) * (noise.size(4) / c.patchSize().w());
    DType act = model.model().dtype(), out = noise.dtype();
    try (var ng = GradMode.noGrad();
        var outer = Scope.open();
        var cond = model.newCache(b, frames * frameTokens);
        var uncond = guided ? model.newCache(b, frames * frameTokens) : null) {
      Tensor text = context.to(act), negativeText = guided ? negativeContext.to(act) : null;
      List<Tensor> blocks = new java.util.ArrayList<>();
      for (long s0 = 0; s0 < frames; s0 += k) {
        long start = s0 * frameTokens;
        FlowModel blockModel =
            (x, t, ignored) -> {
              try (var s = Scope.open()) {
                Tensor xa = x.to(act);
                Tensor v = model.forwardCached(xa, t, text, cond, start).to(out);
                if (guided) {
                  Tensor vu = model.forwardCached(xa, t, negativeText, uncond, start).to(out);
                  v = ClassifierFreeGuidance.combine(v, vu, guidanceScale);
                }
                return s.keep(v);
              }
            };
        Tensor x0 = sampler.sample(blockModel, noise.narrow(2, s0, k).contiguous());
        blocks.add(x0);
        try (var s = Scope.open()) {
          Tensor xa = x0.to(act);
          Tensor t = Tensor.full(contextNoise, DType.F32, noise.device(), b);
          model.forwardCached(xa, t, text, cond, start);
          if (guided) model.forwardCached(xa, t, negativeText, uncond, start);
        }
      }
      return outer.keep(Tensor.cat(blocks, 2));
    }
  }

  /**
   * Generates latents {@code [B, F, C, H, W]} (the pipeline's layout) from {@code noise} of that
   * shape. Runs without gradients.
   *
   * @param steps the denoising timesteps, descending (already warped, e.g. {@code [1000, 937.5,
   *     833.33, 625]}); fed to the model as float32, as the pipeline builds them
   * @param table σ lookup (nearest timestep), e.g. {@link SigmaTable#selfForcing(double)}
   * @param contextNoise timestep of the context pass (the latents are fed clean)
   * @param cache a cache of the model (reset here)
   * @param listener null for none
   */
  public static Tensor rollout(
      WanCausalTransformer3D model,
      Tensor noise,
      Tensor context,
      double[] steps,
      SigmaTable table,
      double contextNoise,
      NoiseSource noiseSource,
      WanCausalTransformer3D.KvCache cache,
      CallListener listener) {
    int k = model.framesPerBlock();
    WanConfig c = model.model().config();
    if (noise.dim() != 5 || noise.size(2) != c.inChannels() || noise.size(1) % k != 0) {
      throw new IllegalArgumentException(
          "WanCausalInference.rollout: expected noise [B, F, "
              + c.inChannels()
              + ", H, W] with F a multiple of "
              + k
              + " frames per block, got "
              + noise.describe());
    }
    if (steps.length == 0) {
      throw new IllegalArgumentException("WanCausalInference.rollout: no denoising steps");
    }
    long b = noise.size(0), frames = noise.size(1);
    long frameTokens = (noise.size(3) / c.patchSize().h()) * (noise.size(4) / c.patchSize().w());
    DType act = model.model().dtype();
    cache.reset();
    int call = 0;
    try (var ng = GradMode.noGrad();
        var outer = Scope.open()) {
      List<Tensor> blocks = new java.util.ArrayList<>();
      for (long s0 = 0; s0 < frames; s0 += k) {
        long start = s0 * frameTokens;
        Tensor x = noise.narrow(1, s0, k).to(act);
        Tensor x0 = null;
        for (int i = 0; i < steps.length; i++) {
          try (var s = Scope.open()) {
            Tensor t = timesteps(b, k, steps[i]);
            Tensor flow = call(model, x, t, context, cache, start);
            double sigma = table.sigmaNearest((float) steps[i]);
            // the wrapper converts in float64
            Tensor pred = x.to(DType.F64).sub(flow.to(DType.F64).mul(sigma)).to(act);
            if (listener != null) listener.onCall(call, start, x, t, flow, pred, cache);
            call++;
            if (i < steps.length - 1) {
              float next = table.sigma(table.nearestIndex((float) steps[i + 1]));
              // add_noise: (1 − σ) in float32 (σ comes from the float32 table), then promoted
              Tensor eps = noiseSource.next(b, k, noise.size(2), noise.size(3), noise.size(4));
              x =
                  pred.to(DType.F64)
                      .mul((double) (1f - next))
                      .add(eps.to(DType.F64).mul((double) next))
                      .to(act);
              x = s.keep(x);
            } else {
              x0 = s.keep(pred);
            }
          }
        }
        blocks.add(x0);
        try (var s = Scope.open()) {
          Tensor t = timesteps(b, k, contextNoise);
          Tensor flow = call(model, x0, t, context, cache, start);
          if (listener != null) listener.onCall(call, start, x0, t, flow, null, cache);
          call++;
        }
      }
      return outer.keep(Tensor.cat(blocks, 1));
    }
  }

  /** {@code [B, K]} float32 timesteps of value {@code t}. */
  private static Tensor timesteps(long b, int k, double t) {
    float[] v = new float[Math.toIntExact(b * k)];
    java.util.Arrays.fill(v, (float) t);
    return Tensor.of(v, b, k);
  }

  /** A model call on pipeline-layout latents {@code [B, K, C, H, W]}. */
  private static Tensor call(
      WanCausalTransformer3D model,
      Tensor x,
      Tensor t,
      Tensor context,
      WanCausalTransformer3D.KvCache cache,
      long start) {
    Tensor out = model.forwardCached(x.permute(0, 2, 1, 3, 4), t, context, cache, start);
    return out.permute(0, 2, 1, 3, 4);
  }
}
