package io.kinema.tensor;

/**
 * Which keys each query may attend to in {@link Tensor#scaledDotProductAttention}. Structured masks
 * are evaluated inside the fused kernel, so no seq x seq matrix is ever built.
 */
public sealed interface AttentionMask {
  /** Every query sees every key. */
  record None() implements AttentionMask {}

  /**
   * Query {@code i} sees keys {@code j <= i + (Sk - Sq)}: the diagonal aligned to the END of the
   * key sequence, so the last query sees every key — what a KV cache needs (new queries after
   * cached keys). Equal to PyTorch's {@code is_causal} when Sq == Sk; PyTorch aligns to the start
   * when they differ.
   */
  record Causal() implements AttentionMask {}

  /**
   * Block-causal: positions are grouped in blocks of {@code blockSize} tokens; a query in block
   * {@code b} sees every key in blocks {@code <= b} (keys offset as in {@link Causal}). This is the
   * chunk-causal mask of the causal Wan model.
   */
  record BlockCausal(long blockSize) implements AttentionMask {
    public BlockCausal {
      if (blockSize <= 0) throw new IllegalArgumentException("blockSize must be > 0: " + blockSize);
    }
  }

  /**
   * An explicit BOOL mask broadcastable to {@code [B, H, Sq, Sk]}: true means "may attend". This
   * one does materialise a matrix — the caller's.
   */
  record Explicit(Tensor allowed) implements AttentionMask {}

  AttentionMask NONE = new None();
  AttentionMask CAUSAL = new Causal();

  static AttentionMask blockCausal(long blockSize) {
    return new BlockCausal(blockSize);
  }
}
