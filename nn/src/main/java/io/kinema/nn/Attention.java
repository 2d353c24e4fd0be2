package io.kinema.nn;

import io.kinema.tensor.AttentionMask;
import io.kinema.tensor.DType;
import io.kinema.tensor.Generator;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;

/**
 * Multi-head attention laid out as diffusers' {@code Attention} / {@code WanAttention}, so that
 * checkpoint keys match ({@code attn1.to_q.weight}, {@code attn1.to_out.0.bias}, {@code
 * attn1.norm_q.weight}): projections {@code to_q} (dim -> inner), {@code to_k} and {@code to_v}
 * (contextDim -> inner), {@code to_out.0} (inner -> dim), {@code inner = heads * headDim}; optional
 * RMSNorm of q and k ({@code norm_q}, {@code norm_k}); an optional rotary hook; then fused {@link
 * Tensor#scaledDotProductAttention} with scale {@code 1/sqrt(headDim)}.
 *
 * <p>Self-attention: {@code forward(x, mask[, rotary])}; cross-attention: {@code forward(x,
 * context)} with keys and values from {@code context [B, Sk, contextDim]}. Inputs are {@code [B, S,
 * dim]}, the output {@code [B, S, dim]}. Children are looked up at each call, so a projection
 * replaced by an adapter (LoRA) is used.
 */
public class Attention extends Module {
  /** Normalization of q and k before the heads attend. */
  public enum QkNorm {
    NONE,
    /** diffusers' "rms_norm": per head, weight of size headDim. */
    RMS,
    /**
     * diffusers' "rms_norm_across_heads" (Wan): over the whole projected vector before the head
     * split, weight of size inner = heads * headDim.
     */
    RMS_ACROSS_HEADS
  }

  /**
   * A rotary position embedding applied to q and to k after the q/k norm: it receives and returns
   * {@code [B, S, H, headDim]} (the head split of the projection, before the transpose to {@code
   * [B, H, S, headDim]} that attention uses), so tables shaped {@code [S, 1, headDim/2]} broadcast.
   */
  @FunctionalInterface
  public interface Rotary {
    Tensor apply(Tensor x);

    /**
     * {@code x.rotary(cos, sin, interleaved)}: cos/sin broadcastable to {@code [B, S, H,
     * headDim/2]}, e.g. {@code [S, 1, headDim/2]}; Wan uses interleaved pairs.
     */
    static Rotary of(Tensor cos, Tensor sin, boolean interleaved) {
      return x -> x.rotary(cos, sin, interleaved);
    }
  }

  private final long dim, contextDim, headDim;
  private final int heads;
  private final QkNorm qkNorm;

  /** Biases everywhere, eps 1e-5 (diffusers' default; Wan passes 1e-6), context dim = dim. */
  public Attention(long dim, int heads, QkNorm qkNorm, DType dtype, Generator generator) {
    this(dim, dim, heads, headDim(dim, heads), qkNorm, 1e-5, true, dtype, generator);
  }

  private static long headDim(long dim, int heads) {
    if (heads <= 0 || dim % heads != 0) {
      throw new IllegalArgumentException(
          "Attention: dim " + dim + " must be a positive multiple of heads " + heads);
    }
    return dim / heads;
  }

  /**
   * @param contextDim width of the key/value input (dim for self-attention)
   * @param headDim width of one head; inner = heads * headDim
   * @param eps of the q/k RMSNorm
   * @param bias whether all four projections have a bias
   * @param generator initializes the projections (PyTorch's Linear init); null leaves them zero
   */
  public Attention(
      long dim,
      long contextDim,
      int heads,
      long headDim,
      QkNorm qkNorm,
      double eps,
      boolean bias,
      DType dtype,
      Generator generator) {
    if (dim <= 0 || contextDim <= 0 || heads <= 0 || headDim <= 0) {
      throw new IllegalArgumentException(
          "Attention: sizes must be positive, got dim="
              + dim
              + ", contextDim="
              + contextDim
              + ", heads="
              + heads
              + ", headDim="
              + headDim);
    }
    this.dim = dim;
    this.contextDim = contextDim;
    this.heads = heads;
    this.headDim = headDim;
    this.qkNorm = qkNorm;
    long inner = heads * headDim;
    registerModule("to_q", new Linear(dim, inner, bias, dtype, generator));
    registerModule("to_k", new Linear(contextDim, inner, bias, dtype, generator));
    registerModule("to_v", new Linear(contextDim, inner, bias, dtype, generator));
    registerModule("to_out", new Sequential(new Linear(inner, dim, bias, dtype, generator)));
    if (qkNorm != QkNorm.NONE) {
      long[] shape = {qkNorm == QkNorm.RMS ? headDim : inner};
      registerModule("norm_q", new RMSNorm(shape, eps, true, dtype));
      registerModule("norm_k", new RMSNorm(shape, eps, true, dtype));
    }
  }

  public int heads() {
    return heads;
  }

  public long headDim() {
    return headDim;
  }

  /** Self-attention without mask or rotary embedding. */
  public Tensor forward(Tensor x) {
    return forward(x, null, AttentionMask.NONE, null);
  }

  /** Self-attention. */
  public Tensor forward(Tensor x, AttentionMask mask) {
    return forward(x, null, mask, null);
  }

  /** Self-attention with a rotary embedding of q and k. */
  public Tensor forward(Tensor x, AttentionMask mask, Rotary rotary) {
    return forward(x, null, mask, rotary);
  }

  /** Cross-attention to {@code context}, no mask. */
  public Tensor forward(Tensor x, Tensor context) {
    return forward(x, context, AttentionMask.NONE, null);
  }

  /**
   * The general form.
   *
   * @param x queries' input {@code [B, Sq, dim]}
   * @param context keys' and values' input {@code [B, Sk, contextDim]}; null for self-attention
   * @param mask which keys each query sees (null = all)
   * @param rotary applied to q and k ({@code [B, S, H, headDim]}); null for none
   */
  public Tensor forward(Tensor x, Tensor context, AttentionMask mask, Rotary rotary) {
    Tensor kv = context == null ? x : context;
    if (x.dim() != 3 || x.size(2) != dim || kv.dim() != 3 || kv.size(2) != contextDim) {
      throw new IllegalArgumentException(
          "Attention: expected x [B, S, "
              + dim
              + "]"
              + (context == null ? "" : " and context [B, Sk, " + contextDim + "]")
              + ", got x "
              + x.describe()
              + (context == null ? "" : ", context " + context.describe()));
    }
    if (kv.size(0) != x.size(0)) {
      throw new IllegalArgumentException(
          "Attention: batch sizes differ: x " + x.describe() + ", context " + kv.describe());
    }
    try (var s = Scope.open()) {
      Tensor q = layer("to_q").forward(x);
      Tensor k = layer("to_k").forward(kv);
      Tensor v = layer("to_v").forward(kv);
      if (qkNorm == QkNorm.RMS_ACROSS_HEADS) {
        q = layer("norm_q").forward(q);
        k = layer("norm_k").forward(k);
      }
      // [B, S, inner] -> [B, S, H, headDim]: views of the projections
      q = q.unflatten(-1, heads, headDim);
      k = k.unflatten(-1, heads, headDim);
      v = v.unflatten(-1, heads, headDim);
      if (qkNorm == QkNorm.RMS) {
        q = layer("norm_q").forward(q);
        k = layer("norm_k").forward(k);
      }
      if (rotary != null) {
        q = rotary.apply(q);
        k = rotary.apply(k);
      }
      Tensor o =
          Tensor.scaledDotProductAttention(
              q.transpose(1, 2),
              k.transpose(1, 2),
              v.transpose(1, 2),
              mask == null ? AttentionMask.NONE : mask,
              1.0 / Math.sqrt(headDim));
      // [B, H, Sq, headDim] -> [B, Sq, inner]
      Tensor merged = o.transpose(1, 2).reshape(x.size(0), x.size(1), heads * headDim);
      return s.keep(layer("to_out").forward(merged));
    }
  }

  private Layer layer(String name) {
    return (Layer) getSubmodule(name);
  }

  @Override
  public String toString() {
    return "Attention(dim="
        + dim
        + ", contextDim="
        + contextDim
        + ", heads="
        + heads
        + ", headDim="
        + headDim
        + ", qkNorm="
        + qkNorm
        + ")";
  }
}
