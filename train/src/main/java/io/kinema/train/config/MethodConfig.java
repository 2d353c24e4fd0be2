package io.kinema.train.config;

/**
 * The training method ({@code method}; spec methods.md), one record per {@code _target_}. The
 * trainer switches over the permitted records.
 */
public sealed interface MethodConfig {
  /** The canonical {@code _target_}. */
  String target();

  /** Supervised fine-tuning with the flow-matching loss (methods.md §1). No keys of its own. */
  record FineTune() implements MethodConfig {
    @Override
    public String target() {
      return Targets.FINE_TUNE_METHOD;
    }
  }

  /**
   * Diffusion-forcing SFT of the causal student (methods.md §2): one noise level per chunk of
   * frames; with {@code teacherForcing} FastVideo's teacher-forcing SFT, which also feeds the clean
   * clip as the context every chunk is denoised from (same keys).
   *
   * @param chunkSize {@code chunk_size} (3, >= 1): frames sharing a timestep; equals the student's
   *     {@code num_frames_per_block}
   * @param minTimestepRatio {@code min_timestep_ratio} (0.0, in [0, 1])
   * @param maxTimestepRatio {@code max_timestep_ratio} (1.0, in [0, 1])
   */
  record DiffusionForcingSft(
      int chunkSize, double minTimestepRatio, double maxTimestepRatio, boolean teacherForcing)
      implements MethodConfig {
    @Override
    public String target() {
      return teacherForcing ? Targets.TFSFT_METHOD : Targets.DFSFT_METHOD;
    }
  }
}
