package io.kinema.train.config;

/**
 * The {@code pipeline} section (spec training-infra §2.5): inference-side settings.
 *
 * @param flowShift {@code flow_shift} (3.0, > 0): the shift of validation sampling
 * @param localAttnSize {@code dit_config.local_attn_size}: causal window override, null if unset
 *     (the resolved value is {@link ModelConfig#localAttnSize()})
 * @param sinkSize {@code dit_config.sink_size}: null if unset (see {@link ModelConfig#sinkSize()})
 * @param isCausal {@code is_causal}: defaults to whether the student is the causal model; must
 *     agree with it
 * @param decoder {@code decoder} (ours): how validation latents become pixels
 */
public record PipelineConfig(
    double flowShift, Integer localAttnSize, Integer sinkSize, boolean isCausal, Decoder decoder) {

  /** How validation latents are turned into frames. */
  public enum Decoder {
    /** No decoding: validation writes latents only. */
    NONE,
    /** The synthetic demo data set's invertible map from pixels to latents, inverted. */
    DEMO
  }
}
