package io.kinema.diffusion.wan;

import io.kinema.tensor.DType;
import io.kinema.tensor.Device;
import io.kinema.tensor.Tensor;

/**
 * Wan's 3-d rotary position embedding (diffusers' {@code WanRotaryPosEmbed}): the head dim {@code
 * d} is split into a frame part {@code d_t = d - 2 d_h} and height/width parts {@code d_h = d_w = 2
 * floor(d / 6)} (44/42/42 for d = 128); an axis of width {@code d_a} rotates its pairs {@code j} by
 * {@code pos * theta^(-2j / d_a)}, theta = 10000, pos being the token's 0-based frame, row or
 * column on the post-patch grid. Pairs are interleaved ({@code (x[2k], x[2k+1])}).
 *
 * <p>The angles are computed in double precision (as diffusers does, in float64) and the tables are
 * rounded once to their dtype (F32 for every model dtype except F64, as diffusers keeps its tables
 * in float32).
 *
 * <p>diffusers builds the full-width table (each pair's value repeated twice) from the per-axis
 * widths above, but cuts it per token with the sizes {@code [d - 2 floor(d/3), floor(d/3),
 * floor(d/3)]}, and reads cos from the even columns and sin from the odd ones. The two splits agree
 * for every head dim Wan uses (they differ only when {@code floor(d/3) != 2 floor(d/6)}, e.g. d =
 * 34); {@link #tables} reproduces diffusers' arithmetic exactly in either case.
 */
public final class WanRope {
  private WanRope() {}

  /** RoPE theta of every Wan model. */
  public static final double THETA = 10000.0;

  /**
   * The {@code cos} and {@code sin} tables {@code [F*H*W, 1, d/2]} for a post-patch grid of {@code
   * frames x height x width} tokens (token order frames slowest, width fastest), broadcasting over
   * batch and heads of q/k laid out {@code [B, L, heads, d]}.
   *
   * @param maxSeqLen positions per axis of diffusers' table ({@code rope_max_seq_len}); a grid
   *     larger than that is an error
   * @return {cos, sin}, new tensors the caller owns
   */
  public static Tensor[] tables(
      int headDim, long frames, long height, long width, int maxSeqLen, DType dtype) {
    return tables(headDim, 0, frames, height, width, maxSeqLen, dtype);
  }

  /**
   * The tables for frames {@code startFrame ... startFrame + frames - 1} (rows and columns from 0):
   * a chunk of a longer video, as the causal model's streaming calls rope it (absolute positions).
   */
  public static Tensor[] tables(
      int headDim,
      long startFrame,
      long frames,
      long height,
      long width,
      int maxSeqLen,
      DType dtype) {
    return tables(headDim, startFrame, frames, height, width, maxSeqLen, dtype, Device.CPU);
  }

  /** The tables of {@link #tables(int, long, long, long, long, int, DType)} on {@code device}. */
  public static Tensor[] tables(
      int headDim,
      long startFrame,
      long frames,
      long height,
      long width,
      int maxSeqLen,
      DType dtype,
      Device device) {
    if (startFrame < 0) {
      throw new IllegalArgumentException("WanRope: negative start frame " + startFrame);
    }
    if (startFrame + frames > maxSeqLen || height > maxSeqLen || width > maxSeqLen) {
      throw new IllegalArgumentException(
          "WanRope: post-patch grid "
              + frames
              + (startFrame == 0 ? "" : " (from frame " + startFrame + ")")
              + "x"
              + height
              + "x"
              + width
              + " exceeds rope_max_seq_len "
              + maxSeqLen
              + " on an axis");
    }
    int d = headDim;
    // construction: per-axis widths, concatenated t | h | w, each pair value repeated twice
    int dh = 2 * (d / 6), dt = d - 2 * dh;
    double[] omega = new double[d];
    for (int c = 0; c < d; c++) {
      int a = c < dt ? 0 : c < dt + dh ? 1 : 2;
      int start = a == 0 ? 0 : a == 1 ? dt : dt + dh;
      int widthA = a == 0 ? dt : dh;
      int j = (c - start) / 2;
      omega[c] = 1.0 / Math.pow(THETA, (2.0 * j) / widthA);
    }
    // lookup: the column ranges diffusers takes from the frame / row / column position tables
    int s1 = d / 3, s0 = d - 2 * s1;
    int[] posAxis = new int[d];
    for (int c = 0; c < d; c++) posAxis[c] = c < s0 ? 0 : c < s0 + s1 ? 1 : 2;
    long tokens = frames * height * width;
    int half = d / 2;
    double[] cos = new double[Math.toIntExact(tokens * half)];
    double[] sin = new double[cos.length];
    long[] pos = new long[3];
    int n = 0;
    for (long f = 0; f < frames; f++) {
      for (long h = 0; h < height; h++) {
        for (long w = 0; w < width; w++) {
          pos[0] = startFrame + f;
          pos[1] = h;
          pos[2] = w;
          for (int k = 0; k < half; k++, n++) {
            int ce = 2 * k, co = 2 * k + 1; // cos from the even column, sin from the odd one
            cos[n] = Math.cos(pos[posAxis[ce]] * omega[ce]);
            sin[n] = Math.sin(pos[posAxis[co]] * omega[co]);
          }
        }
      }
    }
    return new Tensor[] {
      table(cos, tokens, half, dtype, device), table(sin, tokens, half, dtype, device)
    };
  }

  private static Tensor table(double[] v, long tokens, int half, DType dtype, Device device) {
    try (Tensor t = Tensor.of(v, tokens, 1, half);
        Tensor typed = t.to(dtype)) {
      return typed.to(device); // views share the storage; closing t and typed leaves it
    }
  }
}
