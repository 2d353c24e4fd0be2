package io.kinema.train.validation;

import io.kinema.diffusion.flow.FlowModel;
import io.kinema.diffusion.flow.SigmaTable;
import io.kinema.diffusion.schedulers.FewStepSampler;
import io.kinema.diffusion.schedulers.FlowMatchEulerDiscreteScheduler;
import io.kinema.diffusion.schedulers.FlowScheduler;
import io.kinema.diffusion.schedulers.SamplingLoop;
import io.kinema.diffusion.schedulers.UniPCMultistepScheduler;
import io.kinema.diffusion.wan.WanCausalInference;
import io.kinema.tensor.DType;
import io.kinema.tensor.Device;
import io.kinema.tensor.Generator;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import io.kinema.train.callbacks.EmaCallback;
import io.kinema.train.config.CallbackConfig;
import io.kinema.train.media.ContactSheet;
import io.kinema.train.media.GifWriter;
import io.kinema.train.media.Mp4Writer;
import io.kinema.train.media.Video;
import io.kinema.train.model.RoleModel;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

/**
 * Samples the validation prompts with the student (its EMA weights when EMA has started) and writes
 * each sample as an animated GIF and an MP4, plus one PNG contact sheet of every prompt's frames,
 * under {@code <output_dir>/validation/step-<N>/} (training-infra.md §2.4).
 *
 * <p>A causal student is sampled block by block through its KV cache ({@code causal_sampling:
 * blockwise}, the default), each block denoised by the configured sampler from the clean blocks
 * before it, as the model streams; {@code joint} denoises all frames together instead.
 *
 * <p>The starting noise comes from a fresh generator of the validation seed every time, so the
 * samples of different steps differ only by what the model learned. Unconditional guidance uses
 * all-zero text, the same null condition CFG dropout trains.
 */
public final class ValidationCallback {
  /** Wan's default guidance for text-to-video, used when {@code guidance_scale} is not set. */
  public static final double DEFAULT_GUIDANCE = 5.0;

  private final CallbackConfig.Validation config;
  private final Path outputDir;
  private final List<String> captions;
  private final TextEncoder textEncoder;
  private final LatentDecoder decoder;
  private final long[] latentShape;
  private final int textLen;
  private final double flowShift;
  private final Device device;
  private final VideoCheck check;

  /** Judges a validation pass's videos against their captions (e.g. the demo's motion check). */
  @FunctionalInterface
  public interface VideoCheck {
    /** A one-line verdict, or empty when it has nothing to say about these captions. */
    Optional<String> check(List<String> captions, List<Video> videos);
  }

  /** What a validation wrote, and the {@link VideoCheck}'s verdict of each pass (may be empty). */
  public record Report(List<Path> files, List<String> checks) {
    public Report {
      files = List.copyOf(files);
      checks = List.copyOf(checks);
    }
  }

  /**
   * @param outputDir where the {@code step-<N>} folders go
   * @param latentShape one sample's latent shape {@code [C, T, h, w]}
   * @param textLen text tokens the context is padded to
   * @param flowShift the sampler's shift ({@code pipeline.flow_shift})
   * @param check judges each pass's videos; null for none
   */
  public ValidationCallback(
      CallbackConfig.Validation config,
      Path outputDir,
      List<String> captions,
      TextEncoder textEncoder,
      LatentDecoder decoder,
      long[] latentShape,
      int textLen,
      double flowShift,
      Device device,
      VideoCheck check) {
    if (latentShape.length != 4) {
      throw new IllegalArgumentException("validation: latent shape must be [C, T, h, w]");
    }
    this.config = config;
    this.outputDir = outputDir;
    this.captions = List.copyOf(captions);
    this.textEncoder = textEncoder;
    this.decoder = decoder;
    this.latentShape = latentShape.clone();
    this.textLen = textLen;
    this.flowShift = flowShift;
    this.device = device;
    this.check = check;
  }

  public CallbackConfig.Validation config() {
    return config;
  }

  /** True when validation runs after optimizer step {@code step} (0 = before training). */
  public boolean due(long step, long maxSteps) {
    if (step == 0) return config.runAtStart();
    return step % config.everySteps() == 0 || step == maxSteps;
  }

  /** Samples every prompt at {@code step}; returns the files written and the checks' verdicts. */
  public Report run(RoleModel student, EmaCallback ema, long step) throws IOException {
    if (ema != null) ema.swapIn();
    try {
      return sample(student, step);
    } finally {
      if (ema != null) ema.swapOut();
    }
  }

  private Report sample(RoleModel student, long step) throws IOException {
    Path dir = outputDir.resolve("step-" + step);
    Files.createDirectories(dir);
    List<Path> written = new ArrayList<>();
    List<String> checks = new ArrayList<>();
    boolean wasTraining = student.model().isTraining();
    student.model().eval();
    try (var s = Scope.open()) {
      int perPrompt = config.numVideosPerPrompt();
      int b = captions.size() * perPrompt;
      Tensor context = contexts(perPrompt);
      Tensor uncond = Tensor.zeros(DType.F32, device, context.shape());
      DType dt = student.model().dtype();
      FlowModel model = (x, t, c) -> student.predict(x.to(dt), t, c.to(dt)).to(DType.F32);
      double guidance = config.guidanceScale() != null ? config.guidanceScale() : DEFAULT_GUIDANCE;
      List<Integer> stepCounts =
          config.samplingTimesteps() != null
              ? List.of(config.samplingTimesteps().size())
              : config.samplingSteps();
      boolean blockwise =
          student.isCausal()
              && config.causalSampling() == CallbackConfig.Validation.CausalSampling.BLOCKWISE;
      for (int n : stepCounts) {
        long[] shape = {b, latentShape[0], frames(), latentShape[2], latentShape[3]};
        Generator gen = new Generator(config.seed());
        Tensor noise = Tensor.randn(gen, DType.F32, device, shape);
        Tensor out =
            blockwise
                ? WanCausalInference.sampleBlockwise(
                    student.causal(),
                    noise,
                    context,
                    uncond,
                    guidance,
                    0,
                    (blockModel, blockNoise) ->
                        sample(n, blockModel, blockNoise, null, null, 1, gen))
                : sample(n, model, noise, context, uncond, guidance, gen);
        String suffix = stepCounts.size() > 1 ? "-" + n + "steps" : "";
        List<Video> videos = decode(out);
        written.addAll(writeMedia(dir, videos, perPrompt, suffix));
        if (check != null) {
          List<String> perVideo = new ArrayList<>();
          for (int i = 0; i < videos.size(); i++) perVideo.add(captions.get(i / perPrompt));
          check
              .check(perVideo, videos)
              .ifPresent(c -> checks.add(stepCounts.size() > 1 ? n + " steps: " + c : c));
        }
      }
    } finally {
      student.model().train(wasTraining);
    }
    return new Report(written, checks);
  }

  private List<Video> decode(Tensor latents) {
    List<Video> videos = new ArrayList<>();
    for (int i = 0; i < latents.size(0); i++) {
      try (var s = Scope.open()) {
        videos.add(Video.fromTensor(decoder.decode(latents.select(0, i)), config.fps()));
      }
    }
    return videos;
  }

  private int frames() {
    return config.numFrames() != null ? config.numFrames() : (int) latentShape[1];
  }

  /** The prompts' embeddings zero-padded (or cropped) to {@code [B, textLen, D]}. */
  private Tensor contexts(int perPrompt) {
    List<TextEncoder.Embedding> embeddings = captions.stream().map(textEncoder::encode).toList();
    int dim = embeddings.getFirst().dim();
    int b = captions.size() * perPrompt;
    float[] padded = new float[b * textLen * dim];
    for (int i = 0; i < b; i++) {
      TextEncoder.Embedding e = embeddings.get(i / perPrompt);
      if (e.dim() != dim) {
        throw new IllegalArgumentException(
            "validation: caption '"
                + captions.get(i / perPrompt)
                + "' embeds to width "
                + e.dim()
                + ", the others to "
                + dim);
      }
      int rows = Math.min(e.tokens(), textLen);
      System.arraycopy(e.values(), 0, padded, i * textLen * dim, rows * dim);
    }
    return Tensor.of(padded, b, textLen, dim).to(device);
  }

  /** One sampler run: the explicit timesteps (few-step) when configured, else the scheduler. */
  private Tensor sample(
      int steps,
      FlowModel model,
      Tensor noise,
      Tensor context,
      Tensor uncond,
      double guidance,
      Generator gen) {
    if (config.samplingTimesteps() != null) {
      double[] ts = config.samplingTimesteps().stream().mapToDouble(Double::doubleValue).toArray();
      FewStepSampler sampler =
          new FewStepSampler(SigmaTable.flowMatchEuler(flowShift), ts, FewStepSampler.Renoise.SDE);
      return sampler.sample(model, noise, context, uncond, guidance, gen);
    }
    FlowScheduler scheduler =
        config.sampler() == CallbackConfig.Validation.Sampler.EULER
            ? new FlowMatchEulerDiscreteScheduler(flowShift)
            : new UniPCMultistepScheduler(flowShift);
    try (scheduler) {
      scheduler.setTimesteps(steps);
      return SamplingLoop.run(scheduler, model, noise, context, uncond, guidance, null);
    }
  }

  private List<Path> writeMedia(Path dir, List<Video> videos, int perPrompt, String suffix)
      throws IOException {
    List<Path> written = new ArrayList<>();
    List<ContactSheet.Row> rows = new ArrayList<>();
    for (int i = 0; i < videos.size(); i++) {
      String caption = captions.get(i / perPrompt);
      Video video = videos.get(i);
      String name = String.format(Locale.ROOT, "%02d-%s%s", i, slug(caption), suffix);
      for (var format : config.formats()) {
        switch (format) {
          case GIF -> {
            Path p = dir.resolve(name + ".gif");
            GifWriter.write(video, p);
            written.add(p);
          }
          case MP4 -> {
            Path p = dir.resolve(name + ".mp4");
            Mp4Writer.write(video, p);
            written.add(p);
          }
          case PNG -> rows.add(new ContactSheet.Row(video, caption));
        }
      }
    }
    if (!rows.isEmpty()) {
      Path sheet = dir.resolve("contact_sheet" + suffix + ".png");
      ContactSheet.write(rows, sheet);
      written.add(sheet);
    }
    return written;
  }

  /** A file-name-safe short form of a caption. */
  static String slug(String caption) {
    String s = caption.toLowerCase(Locale.ROOT).replaceAll("[^a-z0-9]+", "_");
    s = s.replaceAll("^_+|_+$", "");
    return s.length() > 60 ? s.substring(0, 60) : s;
  }
}
