package io.kinema.tensor.cuda;

import io.kinema.tensor.AttentionMask;

/**
 * The attention kernels' mask codes ({@code kinema_attention_args.mask_kind}, the {@code
 * KINEMA_MASK_*} constants of {@code kinema_cuda.h}).
 */
public enum MaskKind {
  NONE,
  CAUSAL,
  BLOCK_CAUSAL,
  /** A BOOL tensor read per (batch, head, query, key). */
  EXPLICIT,
  /** An I32 [Sq, 4] table of two key intervals per query row (AttentionMask.KeyRanges). */
  KEY_RANGES;

  /** The kernels' integer code. */
  public int code() {
    return ordinal();
  }

  public static MaskKind of(AttentionMask mask) {
    return switch (mask) {
      case AttentionMask.None n -> NONE;
      case AttentionMask.Causal c -> CAUSAL;
      case AttentionMask.BlockCausal b -> BLOCK_CAUSAL;
      case AttentionMask.Explicit e -> EXPLICIT;
      case AttentionMask.KeyRanges r -> KEY_RANGES;
    };
  }
}
