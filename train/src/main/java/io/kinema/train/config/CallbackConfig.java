package io.kinema.train.config;

import java.nio.file.Path;
import java.util.List;

/**
 * One entry of {@code callbacks} (spec training-infra §2.4); the YAML key names the kind. The
 * trainer runs them in YAML order.
 */
public sealed interface CallbackConfig {
  /** The YAML key: {@code grad_clip}, {@code ema} or {@code validation}. */
  String name();

  /**
   * {@code grad_clip} (methods.md §6): rescale the gradients to a total L2 norm of at most {@code
   * maxGradNorm}.
   *
   * @param maxGradNorm {@code max_grad_norm} (1.0; <= 0 disables clipping)
   * @param logGradNorms {@code log_grad_norms} (true)
   */
  record GradClip(double maxGradNorm, boolean logGradNorms) implements CallbackConfig {
    public static final String NAME = "grad_clip";

    @Override
    public String name() {
      return NAME;
    }
  }

  /**
   * {@code ema} (methods.md §5): an exponential moving average of the student's trainable weights.
   *
   * @param decay {@code decay} (0.9999, in (0, 1))
   * @param startIter {@code start_iter} (0, >= 0): the first step that updates the average
   */
  record Ema(double decay, int startIter) implements CallbackConfig {
    public static final String NAME = "ema";

    @Override
    public String name() {
      return NAME;
    }
  }

  /**
   * {@code validation}: sample videos for fixed prompts every {@code everySteps} steps.
   *
   * @param pipelineTarget {@code pipeline_target} (required), canonical: {@link
   *     Targets#SAMPLING_LOOP} (FastVideo's {@code WanPipeline} maps to it)
   * @param datasetFile {@code dataset_file} (required): the prompts, a {@code .json} file
   * @param everySteps {@code every_steps} (100, > 0)
   * @param runAtStart {@code run_at_start} (true): also validate before the first step
   * @param samplingSteps {@code sampling_steps} ([40]): one validation pass per entry
   * @param guidanceScale {@code guidance_scale}: null = the model's default
   * @param numFrames {@code num_frames}: null = from {@code training.data}
   * @param numVideosPerPrompt {@code num_videos_per_prompt} (1)
   * @param outputDir {@code output_dir}: null = {@code training.checkpoint.output_dir}
   * @param samplingTimesteps {@code sampling_timesteps}: an explicit timestep list, or null
   * @param sampler {@code sampler} (ours): {@code unipc} (default) or {@code euler}
   * @param causalSampling {@code causal_sampling} (ours): how a causal student is sampled, {@code
   *     blockwise} (default: block by block with the KV cache, as it streams) or {@code joint} (all
   *     frames denoised together under the block-causal mask); no effect on a bidirectional one
   * @param seed {@code seed} (ours): default {@code training.data.seed}
   * @param fps {@code fps} (ours; 8): frame rate of the written videos
   * @param formats {@code formats} (ours; [gif, mp4, png]): what to write per sample
   */
  record Validation(
      String pipelineTarget,
      Path datasetFile,
      int everySteps,
      boolean runAtStart,
      List<Integer> samplingSteps,
      Double guidanceScale,
      Integer numFrames,
      int numVideosPerPrompt,
      Path outputDir,
      List<Double> samplingTimesteps,
      Sampler sampler,
      CausalSampling causalSampling,
      long seed,
      int fps,
      List<Format> formats)
      implements CallbackConfig {
    public static final String NAME = "validation";

    public Validation {
      samplingSteps = List.copyOf(samplingSteps);
      samplingTimesteps = samplingTimesteps == null ? null : List.copyOf(samplingTimesteps);
      formats = List.copyOf(formats);
    }

    @Override
    public String name() {
      return NAME;
    }

    /** The sampler of validation videos. */
    public enum Sampler {
      UNIPC,
      EULER
    }

    /** How a causal student's validation videos are generated. */
    public enum CausalSampling {
      /** Block by block: each block denoised against the clean earlier blocks (KV cache). */
      BLOCKWISE,
      /** Every frame denoised together, as in training with one timestep for all frames. */
      JOINT
    }

    /** A file written per validation sample. */
    public enum Format {
      GIF,
      MP4,
      PNG
    }
  }
}
