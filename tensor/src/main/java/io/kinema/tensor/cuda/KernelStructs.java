package io.kinema.tensor.cuda;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * The structs the kernels take by value, as the bytes a launcher hands to {@code cuLaunchKernel}
 * (one kernel parameter each): C layout, little-endian like every CUDA device.
 *
 * <ul>
 *   <li>{@code kinema_shape} ({@link #SHAPE_BYTES}): {@code long size[8]}, then {@code long rank};
 *   <li>{@code kinema_strides} ({@link #STRIDES_BYTES}): {@code long stride[8]}, in elements;
 *   <li>{@code kinema_attention_args} ({@link #ATTENTION_ARGS_BYTES}): see {@link AttentionArgs}.
 * </ul>
 *
 * Entries past the rank are written as 0 and never read.
 */
public final class KernelStructs {
  /** The most dims a strided kernel takes (the Java side merges contiguous dims first). */
  public static final int MAX_RANK = 8;

  public static final int SHAPE_BYTES = 72;
  public static final int STRIDES_BYTES = 64;
  public static final int ATTENTION_ARGS_BYTES = 224;

  private KernelStructs() {}

  /** {@code kinema_shape} of {@code sizes} (rank = its length, at most {@link #MAX_RANK}). */
  public static byte[] shape(long... sizes) {
    checkRank("shape", sizes);
    ByteBuffer b = buffer(SHAPE_BYTES);
    for (int d = 0; d < MAX_RANK; d++) b.putLong(d < sizes.length ? sizes[d] : 0);
    b.putLong(sizes.length);
    return b.array();
  }

  /** {@code kinema_strides} of {@code strides} (elements; 0 for broadcast dims). */
  public static byte[] strides(long... strides) {
    checkRank("strides", strides);
    ByteBuffer b = buffer(STRIDES_BYTES);
    for (int d = 0; d < MAX_RANK; d++) b.putLong(d < strides.length ? strides[d] : 0);
    return b.array();
  }

  /**
   * {@code kinema_attention_args}: sizes {@code q [B, H, Sq, D]}, {@code k/v [B, H, Sk, D]};
   * element strides over (batch, head, sequence) of q, k, v, out, gradOut (backward only; zeros
   * otherwise) and lse; the explicit mask's strides over (batch, head, query, key) (zeros without
   * one); the block-causal block size (0 otherwise); the softmax scale and the mask kind.
   */
  public record AttentionArgs(
      long batch,
      long heads,
      long sq,
      long sk,
      long[] qStride,
      long[] kStride,
      long[] vStride,
      long[] outStride,
      long[] gradOutStride,
      long[] lseStride,
      long[] maskStride,
      long blockSize,
      float scale,
      MaskKind mask) {
    public AttentionArgs {
      qStride = checked("qStride", qStride, 3);
      kStride = checked("kStride", kStride, 3);
      vStride = checked("vStride", vStride, 3);
      outStride = checked("outStride", outStride, 3);
      gradOutStride = checked("gradOutStride", gradOutStride, 3);
      lseStride = checked("lseStride", lseStride, 3);
      maskStride = checked("maskStride", maskStride, 4);
      if (mask == MaskKind.BLOCK_CAUSAL && blockSize <= 0) {
        throw new IllegalArgumentException(
            "block-causal attention needs blockSize > 0: " + blockSize);
      }
    }

    /** The struct's bytes: 27 longs in declaration order, then scale (f32) and the mask code. */
    public byte[] encode() {
      ByteBuffer b = buffer(ATTENTION_ARGS_BYTES);
      b.putLong(batch).putLong(heads).putLong(sq).putLong(sk);
      for (long[] s :
          new long[][] {
            qStride, kStride, vStride, outStride, gradOutStride, lseStride, maskStride
          }) {
        for (long v : s) b.putLong(v);
      }
      b.putLong(blockSize).putFloat(scale).putInt(mask.code());
      return b.array();
    }

    private static long[] checked(String name, long[] s, int n) {
      if (s == null || s.length != n) {
        throw new IllegalArgumentException(
            "attention args: " + name + " needs " + n + " strides, got " + Arrays.toString(s));
      }
      return s.clone();
    }
  }

  private static void checkRank(String what, long[] v) {
    if (v.length > MAX_RANK) {
      throw new IllegalArgumentException(
          what
              + " of rank "
              + v.length
              + " exceeds the kernels' "
              + MAX_RANK
              + " dims (merge contiguous dims first): "
              + Arrays.toString(v));
    }
  }

  private static ByteBuffer buffer(int bytes) {
    return ByteBuffer.allocate(bytes).order(ByteOrder.LITTLE_ENDIAN);
  }
}
