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

  /**
   * Each query row sees up to two intervals of keys: {@code ranges} is an I32 tensor {@code [Sq,
   * 4]} of {@code (lo1, hi1, lo2, hi2)} per row, and key j is allowed iff {@code lo1 <= j < hi1} or
   * {@code lo2 <= j < hi2} (an interval with {@code lo >= hi} is empty). Bounds are absolute key
   * indices; a bound outside {@code [0, Sk]} simply reaches past the keys there are (an interval is
   * its part within {@code [0, Sk)}), so the table is never read back to be checked and may live on
   * the device. The same rows serve every batch and head. Memory is O(Sq), and the fused kernels
   * skip the key blocks no row of a query tile can see. This covers masks an {@link Explicit}
   * matrix would otherwise spell out: teacher forcing's {@code [clean | noisy]} mask, local
   * windows, prefix-LM.
   */
  record KeyRanges(Tensor ranges) implements AttentionMask {
    public KeyRanges {
      if (ranges == null) throw new IllegalArgumentException("KeyRanges: ranges must not be null");
      if (ranges.dtype() != DType.I32 || ranges.dim() != 2 || ranges.size(1) != 4) {
        throw new IllegalArgumentException(
            "KeyRanges: ranges must be I32 [Sq, 4] (lo1, hi1, lo2, hi2 per query row), got "
                + ranges.describe());
      }
    }

    /**
     * Ranges from a host array of {@code 4 * Sq} ints, {@code (lo1, hi1, lo2, hi2)} per row, on the
     * CPU (move the tensor with {@link Tensor#to} for another device).
     */
    public static KeyRanges of(int[] ranges) {
      if (ranges.length % 4 != 0) {
        throw new IllegalArgumentException(
            "KeyRanges: need 4 ints (lo1, hi1, lo2, hi2) per query row, got " + ranges.length);
      }
      return new KeyRanges(Tensor.of(ranges, ranges.length / 4, 4));
    }

    /** The ranges on {@code device} (this one when already there). */
    public KeyRanges to(Device device) {
      return ranges.device().equals(device) ? this : new KeyRanges(ranges.to(device));
    }
  }

  AttentionMask NONE = new None();
  AttentionMask CAUSAL = new Causal();

  static AttentionMask blockCausal(long blockSize) {
    return new BlockCausal(blockSize);
  }
}
