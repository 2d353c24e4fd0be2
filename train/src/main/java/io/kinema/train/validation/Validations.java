package io.kinema.train.validation;

import io.kinema.tensor.Device;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import io.kinema.train.config.CallbackConfig;
import io.kinema.train.config.ConfigException;
import io.kinema.train.config.ModelConfig;
import io.kinema.train.config.PipelineConfig;
import io.kinema.train.config.RunConfig;
import io.kinema.train.data.ParquetLatentDataset;
import io.kinema.train.data.Sample;
import io.kinema.train.data.synthetic.CaptionEmbedder;
import io.kinema.train.data.synthetic.DemoLatentMap;
import io.kinema.train.data.synthetic.MotionCheck;
import io.kinema.train.model.LatentNormalization;
import java.io.IOException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Builds the {@link ValidationCallback} of a run: which text encoder and which latent decoder stand
 * in for UMT5 and the Wan VAE, neither of which Kinema has.
 *
 * <ul>
 *   <li>{@code pipeline.decoder: demo} — the synthetic demo: captions embedded by its fixed word
 *       embedder, latents turned into pixels by its invertible map.
 *   <li>{@code pipeline.decoder: none} — real latents: each validation caption must be a caption of
 *       the training data (its stored embedding is used), and the video shows latent channels 0–2
 *       as colour, scaled per video, as a preview.
 * </ul>
 */
public final class Validations {
  private Validations() {}

  /**
   * @param latentShape one training sample's latent shape {@code [C, T, h, w]} (T cropped to {@code
   *     num_latent_t}): the shape of the samples drawn
   */
  public static ValidationCallback create(
      CallbackConfig.Validation v,
      RunConfig config,
      ParquetLatentDataset dataset,
      long[] latentShape,
      LatentNormalization norm,
      Device device)
      throws IOException {
    checkBlocks(v, config, latentShape);
    List<String> captions = ValidationPrompts.read(v.datasetFile());
    Sample first = dataset.get(0);
    boolean demo = config.pipeline().decoder() == PipelineConfig.Decoder.DEMO;
    TextEncoder encoder =
        demo ? demoEncoder((int) first.textShape()[1]) : lookup(dataset, captions, v);
    LatentDecoder decoder = demo ? Validations::demoDecode : latents -> preview(latents, norm);
    Path out =
        v.outputDir() != null
            ? v.outputDir()
            : config.training().checkpoint().outputDir().resolve("validation");
    return new ValidationCallback(
        v,
        out,
        captions,
        encoder,
        decoder,
        latentShape,
        config.training().data().textLen(),
        config.pipeline().flowShift(),
        device,
        demo ? MotionCheck::summary : null);
  }

  /** Block-by-block sampling of a causal student needs whole blocks of frames. */
  private static void checkBlocks(
      CallbackConfig.Validation v, RunConfig config, long[] latentShape) {
    ModelConfig student = config.student();
    if (student == null
        || !student.causal()
        || v.causalSampling() != CallbackConfig.Validation.CausalSampling.BLOCKWISE) return;
    long frames = v.numFrames() != null ? v.numFrames() : latentShape[1];
    int k = student.numFramesPerBlock();
    if (frames % k != 0) {
      throw new ConfigException(
          config.source(),
          v.numFrames() != null ? "callbacks.validation.num_frames" : "callbacks.validation",
          "blockwise sampling of the causal student needs a multiple of num_frames_per_block ("
              + k
              + ") latent frames, got "
              + frames
              + (v.numFrames() != null ? "" : " (from the training data)")
              + "; set num_frames or causal_sampling: joint");
    }
  }

  private static TextEncoder demoEncoder(int dim) {
    CaptionEmbedder embedder = new CaptionEmbedder(dim);
    return caption -> {
      long[] s = embedder.shape(caption);
      return new TextEncoder.Embedding(embedder.embed(caption), (int) s[0], (int) s[1]);
    };
  }

  private static Tensor demoDecode(Tensor latent) {
    long[] shape = latent.shape();
    float[] pixels = DemoLatentMap.decode(latent.toFloatArray(), shape);
    long frames = shape[1], h = shape[2] * DemoLatentMap.PATCH, w = shape[3] * DemoLatentMap.PATCH;
    return Tensor.of(pixels, 3, frames, h, w).permute(1, 2, 3, 0);
  }

  /** Latent channels 0–2 as RGB, denormalized and min-max scaled over the video. */
  private static Tensor preview(Tensor latent, LatentNormalization norm) {
    try (var s = Scope.open()) {
      Tensor z = norm.denormalize(latent.unsqueeze(0)).squeeze(0).narrow(0, 0, 3);
      double lo = z.min().item(), hi = z.max().item();
      Tensor rgb = z.sub(lo).div(Math.max(hi - lo, 1e-6)).permute(1, 2, 3, 0).contiguous();
      return s.keep(rgb);
    }
  }

  /** Finds each caption's stored embedding in the training data (one pass over the rows). */
  private static TextEncoder lookup(
      ParquetLatentDataset dataset, List<String> captions, CallbackConfig.Validation v) {
    Set<String> wanted = new HashSet<>(captions);
    Map<String, TextEncoder.Embedding> found = new HashMap<>();
    for (long row = 0; row < dataset.size() && found.size() < wanted.size(); row++) {
      var sample = dataset.tryGet(row);
      if (sample.isEmpty() || !wanted.contains(sample.get().caption())) continue;
      Sample s = sample.get();
      found.putIfAbsent(
          s.caption(),
          new TextEncoder.Embedding(
              s.textEmbedding(), (int) s.textShape()[0], (int) s.textShape()[1]));
    }
    for (String c : captions) {
      if (!found.containsKey(c)) {
        throw new IllegalArgumentException(
            v.datasetFile()
                + ": caption '"
                + c
                + "' is not in the training data; without a text encoder (pipeline.decoder: none)"
                + " validation captions must be captions of the data set");
      }
    }
    return found::get;
  }
}
