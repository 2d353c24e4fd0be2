package io.kinema.tensor.backend;

import io.kinema.tensor.AttentionMask;
import io.kinema.tensor.DType;
import io.kinema.tensor.Device;
import io.kinema.tensor.Tensor;

/**
 * The primitives one device implements. {@link Tensor}'s ops check arguments, broadcast, pick the
 * result dtype and allocate the output on the right device; then they call one of these. So a
 * backend sees only valid, same-device operands whose shapes already agree (broadcast operands
 * arrive as stride-0 views), and writes into {@code out}, which never aliases an input unless a
 * method says so.
 */
public interface Backend {
  Device device();

  /** A new storage of at least {@code bytes} bytes, contents undefined. */
  Storage allocate(long bytes);

  MemoryStats memoryStats();

  /** Frees cached, unused blocks. */
  void emptyCache();

  /** {@code dst[...] = src[...]} elementwise, converting dtypes (round to nearest even). */
  void copy(Tensor src, Tensor dst);

  /**
   * Copies contiguous {@code src} into contiguous {@code dst} of the same dtype and shape, where
   * one of them is on this backend's device and the other on the host.
   */
  void transfer(Tensor src, Tensor dst);

  /** Every element of {@code dst} set to {@code value} (converted to dst's dtype). */
  void fill(Tensor dst, double value);

  /** {@code out = op(x)}; {@code p1}, {@code p2} as {@link UnaryOp} documents. */
  void unary(UnaryOp op, Tensor x, Tensor out, double p1, double p2);

  /**
   * {@code out = op(a, b)}. a and b have out's shape; their dtype is out's dtype, or for
   * comparisons a common dtype while out is BOOL. Exception: when out is BF16/F16, {@code b} may be
   * F32 (a broadcast Java scalar kept at f32 precision, as PyTorch's opmath does). {@code out} may
   * alias {@code a} (in-place ops).
   */
  void binary(BinaryOp op, Tensor a, Tensor b, Tensor out);

  /** {@code out = cond ? a : b}; cond is BOOL, all of out's shape. */
  void where(Tensor cond, Tensor a, Tensor b, Tensor out);

  /**
   * Reduces {@code x} over {@code dims} (sorted, non-negative, distinct) into {@code out}, which
   * has x's rank with those dims of size 1. Accumulates in at least f32 (f64 for F64, I64 for
   * integers). {@code param} is p for {@link ReduceOp#NORM} and the correction for VAR/STD.
   */
  void reduce(ReduceOp op, Tensor x, int[] dims, double param, Tensor out);

  /** Index (I64) of the max (or min) along {@code dim}; out has size 1 there. First one wins. */
  void argReduce(boolean max, Tensor x, int dim, Tensor out);

  /**
   * {@code out[..., M, N] = a[..., M, K] @ b[..., K, N]}, batch dims already broadcast to out's.
   * Either operand may be transposed in its last two dims (read without copying).
   */
  void matmul(Tensor a, Tensor b, Tensor out);

  /**
   * PyTorch's {@code linear} with a fused epilogue: {@code out[..., M, N] = epilogue(x[..., M, K] @
   * weight[N, K]^T + bias[N])}. x has rank >= 2 (any strides), weight is 2-d (any strides), {@code
   * bias} is 1-d or null; all of one floating dtype. The result must equal {@code matmul} followed
   * by the bias {@code add} and the epilogue's unary op up to rounding: F32 bit for bit on the CPU
   * (the bias is added once to the finished sum); BF16/F16 may round once instead of after each
   * step. {@code preActivation} (nullable; only with an activation) receives the activation's input
   * {@code x @ weight^T + bias}, shaped and laid out as {@code out}, for the backward (the
   * auxiliary output of cuBLASLt's {@code GELU_AUX_BIAS}); on the CPU {@code out} is then the
   * activation of exactly those stored values (BF16/F16: of the rounded pre-activation, the bits of
   * the ops run one after the other), cuBLASLt's of the unrounded f32 sum.
   */
  void linear(
      Tensor x, Tensor weight, Tensor bias, Epilogue epilogue, Tensor out, Tensor preActivation);

  /**
   * The weight and bias gradients of {@link #linear}: {@code gradWeight[N, K] = g[M, N]^T @ x[M,
   * K]} and, when {@code gradBias} is not null, {@code gradBias[N] = } g summed over its M rows (on
   * CUDA one cuBLASLt matmul with the {@code BGRADB} epilogue). g and x are 2-d with any strides,
   * gradWeight and gradBias contiguous, all of one floating dtype. Each result equals the {@code
   * matmul} and the {@code sum} it replaces (bit for bit on the CPU).
   */
  void linearBackwardWeight(Tensor g, Tensor x, Tensor gradWeight, Tensor gradBias);

  /** Softmax (or log-softmax) of x along {@code dim}. */
  void softmax(Tensor x, int dim, boolean log, Tensor out);

  /**
   * Layer norm over the trailing {@code normalizedDims} dims; weight/bias (nullable) have those
   * dims' shape. Optionally writes per-row mean and 1/std (F32/F64, shape = x's leading dims) for
   * backward.
   */
  void layerNorm(
      Tensor x,
      int normalizedDims,
      Tensor weight,
      Tensor bias,
      double eps,
      Tensor out,
      Tensor meanOut,
      Tensor rstdOut);

  /** RMS norm over the trailing {@code normalizedDims} dims; weight nullable; rstdOut nullable. */
  void rmsNorm(Tensor x, int normalizedDims, Tensor weight, double eps, Tensor out, Tensor rstdOut);

  /**
   * Gradient of {@link #softmax} (or log-softmax) along {@code dim}: {@code y} is the forward's
   * output, {@code gradOut} its gradient (y's shape and dtype), {@code gradX} (y's shape and dtype,
   * any strides) receives {@code y (gradOut - sum(gradOut y))}, or {@code gradOut - exp(y)
   * sum(gradOut)} for log-softmax, computed in f32 (f64 for F64).
   */
  void softmaxBackward(Tensor y, Tensor gradOut, int dim, boolean log, Tensor gradX);

  /**
   * Gradients of {@link #layerNorm} over the trailing {@code normalizedDims} dims, from the
   * forward's saved {@code mean} and {@code rstd} (x's leading dims, F32, or F64 for F64 x). With
   * {@code xhat = (x - mean) rstd} and {@code g = gradOut weight} (weight nullable): {@code gradX =
   * rstd (g - mean(g) - xhat mean(g xhat))} (x's shape and dtype), {@code gradWeight = sum over
   * rows of gradOut xhat}, {@code gradBias = sum over rows of gradOut} (weight's shape and dtype).
   * Each output is nullable (not wanted); the row sums are deterministic (a fixed partition of the
   * rows, added in a fixed order). gradOut has x's shape and dtype; computed in f32 (f64 for F64).
   */
  void layerNormBackward(
      Tensor gradOut,
      Tensor x,
      int normalizedDims,
      Tensor weight,
      Tensor mean,
      Tensor rstd,
      Tensor gradX,
      Tensor gradWeight,
      Tensor gradBias);

  /**
   * Gradients of {@link #rmsNorm}, as {@link #layerNormBackward} with the mean taken as 0 and no
   * bias: {@code gradX = rstd (g - xhat mean(g xhat))}, {@code gradWeight = sum over rows of
   * gradOut xhat}, {@code xhat = x rstd}.
   */
  void rmsNormBackward(
      Tensor gradOut,
      Tensor x,
      int normalizedDims,
      Tensor weight,
      Tensor rstd,
      Tensor gradX,
      Tensor gradWeight);

  /**
   * Gradient of the tanh GELU ({@link UnaryOp#GELU_TANH}): {@code gradX = gradOut gelu_tanh'(x)}
   * with {@code gelu_tanh'(x) = (1 + t) / 2 + x / 2 (1 - t^2) c (1 + 3 a x^2)}, {@code t = tanh(c
   * (x + a x^3))}, {@code a = 0.044715}, {@code c = sqrt(2 / pi)}. All three of one shape and
   * floating dtype, any strides; computed in f32 (f64 for F64) and rounded once. On the CPU the
   * bits are those of the composed tensor ops in that formula's order (see CpuGeluBackward).
   */
  void geluTanhBackward(Tensor gradOut, Tensor x, Tensor gradX);

  /**
   * Rotary embedding: rotates pairs of x's last dim by the angle whose cos/sin are given (shape:
   * x's shape with last dim D/2, broadcast). Pairs are (2i, 2i+1) when {@code interleaved}, else
   * (i, i + D/2).
   */
  void rotary(Tensor x, Tensor cos, Tensor sin, boolean interleaved, Tensor out);

  /**
   * One AdamW step in place over dense F32 tensors of one shape, in f32, each operation rounded
   * once and in this order (so it gives the bits of the composed tensor ops):
   *
   * <pre>
   * p = p · decay
   * m = m · beta1 + g · (1 − beta1)
   * v = v · beta2 + (g · (1 − beta2)) · g
   * p = p + (m · negStep) / (sqrt(v) / bc2Sqrt + eps)
   * </pre>
   *
   * Returns false, touching nothing, when this backend has no fused step for these operands; the
   * caller then runs the composed ops.
   */
  default boolean adamwStep(
      Tensor param, Tensor grad, Tensor expAvg, Tensor expAvgSq, AdamwScalars s) {
    return false;
  }

  /**
   * Fused attention: q [B,H,Sq,D], k [B,H,Sk,D], v [B,H,Sk,Dv] -> out [B,H,Sq,Dv], softmax of scale
   * * q k^T under the mask, computed blockwise (online softmax) so no Sq x Sk matrix is stored.
   * {@code lseOut} (nullable, [B,H,Sq], F32/F64) receives each row's log-sum-exp.
   */
  void attention(
      Tensor q, Tensor k, Tensor v, AttentionMask mask, double scale, Tensor out, Tensor lseOut);

  /**
   * Gradients of {@link #attention}, computed blockwise (FlashAttention-2) so no Sq x Sk matrix is
   * stored: q, k, v, mask and scale as in the forward call; {@code out} [B,H,Sq,Dv] and {@code lse}
   * [B,H,Sq] (F32/F64) are that call's results (a row with lse = -inf saw no key); {@code gradOut}
   * has out's shape and dtype. {@code gradQ}/{@code gradK}/{@code gradV} are contiguous, of
   * q's/k's/ v's 4-d shapes, F64 for F64 inputs and F32 otherwise, and are written fully.
   */
  void attentionBackward(
      Tensor q,
      Tensor k,
      Tensor v,
      Tensor out,
      Tensor lse,
      Tensor gradOut,
      AttentionMask mask,
      double scale,
      Tensor gradQ,
      Tensor gradK,
      Tensor gradV);

  /**
   * 3-d convolution (cross-correlation, zero padding, dilation 1, groups 1): x [B, C, D, H, W],
   * weight [K, C, kd, kh, kw], bias [K] (nullable), all of one floating dtype, into out [B, K, Do,
   * Ho, Wo] (any strides; the front-end allocates it channels-last) with {@code Do = (D + 2
   * padding[0] - kd) / stride[0] + 1} and likewise for H and W. {@link ComposedConv3d#forward}
   * computes it from other primitives.
   */
  void conv3d(Tensor x, Tensor weight, Tensor bias, long[] stride, long[] padding, Tensor out);

  /**
   * The gradient of {@link #conv3d} with respect to x: {@code gradOut} [B, K, Do, Ho, Wo] (any
   * strides) and weight in x's dtype, into the contiguous {@code gradInput} of x's shape (written
   * fully, zeros where no output position reads x).
   */
  void conv3dBackwardInput(
      Tensor gradOut, Tensor weight, long[] stride, long[] padding, Tensor gradInput);

  /**
   * The gradient of {@link #conv3d} with respect to the weight: x and {@code gradOut} of one dtype,
   * into the contiguous {@code gradWeight} [K, C, kd, kh, kw] (written fully). The bias gradient is
   * a plain sum of {@code gradOut}.
   */
  void conv3dBackwardWeight(
      Tensor x, Tensor gradOut, long[] stride, long[] padding, Tensor gradWeight);

  /** {@code out = x.index_select(dim, index)}; index is 1-d I64/I32. */
  void indexSelect(Tensor x, int dim, Tensor index, Tensor out);

  /** {@code out = x.gather(dim, index)}; index has out's shape. */
  void gather(Tensor x, int dim, Tensor index, Tensor out);

  /** In place: {@code self.scatter_add_(dim, index, src)}; index has src's shape. */
  void scatterAdd(Tensor self, int dim, Tensor index, Tensor src);

  /**
   * Fills {@code out} (contiguous) from the Philox4x32-10 stream of {@code seed} starting at
   * counter {@code offset}. 32-bit results: element i uses counter {@code offset + i/4}, word
   * {@code i%4}; F64 and I64 use two words each: counter {@code offset + i/2}, words {@code 2(i%2),
   * 2(i%2)+1}. Normals come from Box-Muller on consecutive pairs of uniforms of a counter, so the
   * stream is the same on every backend.
   */
  void random(RandomKind kind, long seed, long offset, double a, double b, Tensor out);

  /** Counters {@link #random} consumes for {@code numel} elements of {@code dtype}. */
  static long randomCounters(long numel, DType dtype) {
    return dtype.byteSize() == 8 ? (numel + 1) / 2 : (numel + 3) / 4;
  }
}
