package io.kinema.train.config;

import io.kinema.diffusion.wan.WanConfig;

/**
 * Overrides of a model's architecture ({@code models.<role>.arch}), by diffusers' {@code
 * config.json} names; a null field keeps the base value (from the preset or the checkpoint's {@code
 * config.json}).
 */
public record WanArch(
    Integer numLayers,
    Integer numAttentionHeads,
    Integer attentionHeadDim,
    Integer inChannels,
    Integer outChannels,
    Integer textDim,
    Integer freqDim,
    Integer ffnDim,
    WanConfig.PatchSize patchSize,
    Boolean crossAttnNorm,
    String qkNorm,
    Double eps,
    Integer ropeMaxSeqLen) {

  /** No overrides. */
  public static final WanArch NONE =
      new WanArch(null, null, null, null, null, null, null, null, null, null, null, null, null);

  /** True when nothing is overridden. */
  public boolean isEmpty() {
    return equals(NONE);
  }

  /**
   * {@code base} with the overridden fields replaced.
   *
   * @throws IllegalArgumentException when the result is not a valid {@link WanConfig}
   */
  public WanConfig applyTo(WanConfig base) {
    return new WanConfig(
        patchSize != null ? patchSize : base.patchSize(),
        numAttentionHeads != null ? numAttentionHeads : base.numAttentionHeads(),
        attentionHeadDim != null ? attentionHeadDim : base.attentionHeadDim(),
        inChannels != null ? inChannels : base.inChannels(),
        outChannels != null ? outChannels : base.outChannels(),
        textDim != null ? textDim : base.textDim(),
        freqDim != null ? freqDim : base.freqDim(),
        ffnDim != null ? ffnDim : base.ffnDim(),
        numLayers != null ? numLayers : base.numLayers(),
        crossAttnNorm != null ? crossAttnNorm : base.crossAttnNorm(),
        qkNorm != null ? qkNorm : base.qkNorm(),
        eps != null ? eps : base.eps(),
        base.imageDim(),
        base.addedKvProjDim(),
        ropeMaxSeqLen != null ? ropeMaxSeqLen : base.ropeMaxSeqLen(),
        base.posEmbedSeqLen());
  }
}
