package io.kinema.diffusion.wan;

import io.kinema.nn.Attention;
import io.kinema.nn.Layer;
import io.kinema.tensor.AttentionMask;
import io.kinema.tensor.DType;
import io.kinema.tensor.Device;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.grad.GradMode;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/**
 * The causal (streaming, autoregressive) Wan 2.1 DiT of Self-Forcing ({@code CausalWanModel}; spec
 * {@code causal-wan.md}). It runs the weights of a bidirectional {@link WanTransformer3D} (same
 * state dict) with three changes:
 *
 * <ol>
 *   <li>one timestep per latent frame ({@code t [B, F]}): each frame's tokens get that frame's
 *       modulation, gates and output shift/scale;
 *   <li>training mode ({@link #forward}): block-causal self-attention over chunks of {@code
 *       framesPerBlock} frames (a token sees its own chunk and every earlier one; with a local
 *       window only the last {@code localAttnSize} frames up to its chunk's end);
 *   <li>streaming mode ({@link #forwardCached}): one chunk per call, attending (without a mask) to
 *       itself and the keys/values of earlier chunks held in a {@link KvCache}; rotary frame
 *       positions start at the chunk's first frame. The text's cross-attention keys/values are
 *       computed on the first call and reused.
 * </ol>
 *
 * <p>As in the original code, the text embeddings are zero-padded to {@code textLen} (512) tokens
 * and the padding is attended; the sinusoidal timestep features are computed in float64 and rounded
 * to the float32 island dtype. {@link WanCausalInference} drives the streaming rollout.
 */
public final class WanCausalTransformer3D implements AutoCloseable {
  /** Text length the original model pads to. */
  public static final int DEFAULT_TEXT_LEN = 512;

  private final WanTransformer3D model;
  private final int framesPerBlock;
  private final int localAttnSize;
  private final int sinkSize;
  private final int textLen;

  /**
   * @param model the weights (owned: closed with this)
   * @param framesPerBlock latent frames per causal chunk ({@code num_frame_per_block}, Self-Forcing
   *     uses 3)
   * @param localAttnSize attention window in frames, -1 for global
   * @param sinkSize frames at the start of the cache never evicted (local window only)
   * @param textLen the text is zero-padded to this many tokens
   */
  public WanCausalTransformer3D(
      WanTransformer3D model, int framesPerBlock, int localAttnSize, int sinkSize, int textLen) {
    if (framesPerBlock <= 0) {
      throw new IllegalArgumentException(
          "WanCausalTransformer3D: framesPerBlock must be positive, got " + framesPerBlock);
    }
    if (localAttnSize != -1 && localAttnSize < framesPerBlock) {
      throw new IllegalArgumentException(
          "WanCausalTransformer3D: localAttnSize must be -1 (global) or at least framesPerBlock "
              + framesPerBlock
              + ", got "
              + localAttnSize);
    }
    if (sinkSize < 0 || (localAttnSize != -1 && sinkSize >= localAttnSize)) {
      throw new IllegalArgumentException(
          "WanCausalTransformer3D: sinkSize must be in [0, localAttnSize), got "
              + sinkSize
              + " (localAttnSize "
              + localAttnSize
              + ")");
    }
    if (textLen <= 0) {
      throw new IllegalArgumentException("WanCausalTransformer3D: textLen must be positive");
    }
    this.model = model;
    this.framesPerBlock = framesPerBlock;
    this.localAttnSize = localAttnSize;
    this.sinkSize = sinkSize;
    this.textLen = textLen;
  }

  /** Global attention, no sink, text padded to 512. */
  public WanCausalTransformer3D(WanTransformer3D model, int framesPerBlock) {
    this(model, framesPerBlock, -1, 0, DEFAULT_TEXT_LEN);
  }

  /** Loads the weights (either key layout) as {@link WanTransformer3D#load} does. */
  public static WanCausalTransformer3D load(
      WanConfig config, Path weights, DType dtype, int framesPerBlock) throws IOException {
    return new WanCausalTransformer3D(
        WanTransformer3D.load(config, weights, dtype, true), framesPerBlock);
  }

  /** The underlying module (parameters, state dict, dtype, checkpointing). */
  public WanTransformer3D model() {
    return model;
  }

  public int framesPerBlock() {
    return framesPerBlock;
  }

  public int localAttnSize() {
    return localAttnSize;
  }

  public int sinkSize() {
    return sinkSize;
  }

  @Override
  public void close() {
    model.close();
  }

  // ---------------------------------------------------------------- training mode

  /** {@link #forward(Tensor, Tensor, Tensor, WanTransformer3D.Trace)} without a trace. */
  public Tensor forward(Tensor x, Tensor t, Tensor context) {
    return forward(x, t, context, null);
  }

  /**
   * The full-sequence forward with the block-causal mask ({@code _forward_train}).
   *
   * @param x latent {@code [B, C_in, F, H, W]}
   * @param t per-frame timesteps {@code [B, F]} (or {@code [B]}: the same for every frame); read on
   *     the host, not differentiated
   * @param context text embeddings {@code [B, S <= textLen, text_dim]}
   * @return the velocity {@code [B, C_out, F, H, W]} in the model's dtype
   */
  public Tensor forward(Tensor x, Tensor t, Tensor context, WanTransformer3D.Trace trace) {
    return run(x, t, context, null, 0, trace);
  }

  /**
   * The teacher-forcing forward (FastVideo's {@code TeacherForcingSFTMethod}, Self-Forcing's {@code
   * clean_x}; causal-wan.md §3): one sequence {@code [clean | noisy]}, both halves at the same RoPE
   * positions, the clean half modulated at timestep {@code augT} and block-causal within itself,
   * each noisy block attending to itself and to the clean blocks before it. So every block is
   * denoised from the clean past, as in streaming inference, in one call.
   *
   * @param noisy latents {@code [B, C_in, F, H, W]}
   * @param t the noisy frames' timesteps {@code [B, F]} (or {@code [B]})
   * @param clean the clean latents, the shape of {@code noisy}
   * @param augT the clean half's timestep (FastVideo's default 0)
   * @return the velocity of the noisy half {@code [B, C_out, F, H, W]}
   */
  public Tensor forwardTeacherForcing(
      Tensor noisy, Tensor t, Tensor clean, double augT, Tensor context) {
    WanConfig c = model.config();
    checkInputs(noisy, t, context);
    if (!java.util.Arrays.equals(noisy.shape(), clean.shape())) {
      throw new IllegalArgumentException(
          "WanCausalTransformer3D.forwardTeacherForcing: clean "
              + clean.describe()
              + " and noisy "
              + noisy.describe()
              + " latents differ in shape");
    }
    if (localAttnSize != -1) {
      throw new IllegalStateException(
          "WanCausalTransformer3D.forwardTeacherForcing: needs global attention, the model has a"
              + " local window of "
              + localAttnSize
              + " frames");
    }
    WanConfig.PatchSize p = c.patchSize();
    long b = noisy.size(0), fp = noisy.size(2) / p.t();
    long hp = noisy.size(3) / p.h(), wp = noisy.size(4) / p.w(), d = c.innerDim();
    long frameTokens = hp * wp, len = fp * frameTokens;
    DType act = model.dtype(), up = WanTransformer3D.upcast(act);
    try (var s = Scope.open()) {
      Tensor[] half =
          WanRope.tables(
              c.attentionHeadDim(), 0, fp, hp, wp, c.ropeMaxSeqLen(), up, noisy.device());
      Tensor cos = Tensor.cat(List.of(half[0], half[0]), 0);
      Tensor sin = Tensor.cat(List.of(half[1], half[1]), 0);
      Tensor tokens =
          Tensor.cat(List.of(model.embedPatches(clean, null), model.embedPatches(noisy, null)), 1);
      Tensor tn = t.dim() == 1 ? t.unsqueeze(1).expand(b, fp) : t;
      Tensor tt =
          Tensor.cat(List.of(Tensor.full(augT, tn.dtype(), tn.device(), b, fp), tn), 1)
              .contiguous();
      WanTimeTextEmbedding.Output cond =
          ((WanTimeTextEmbedding) model.getSubmodule("condition_embedder"))
              .forward(tt, padText(context.to(act)), act, up, true, null);
      Tensor temb = cond.temb().view(b, 2 * fp, d);
      Tensor proj = cond.timestepProj().view(b, 2 * fp, 6, d);
      AttentionMask mask = teacherForcingMask(fp, frameTokens).to(tokens.device());
      for (int i = 0; i < model.blocks().size(); i++) {
        tokens =
            model
                .blocks()
                .get(i)
                .forward(tokens, cond.context(), proj, cos, sin, mask, null, "blocks." + i + ".");
      }
      Tensor o = model.head(tokens.narrow(1, len, len), temb.narrow(1, fp, fp), null);
      return s.keep(model.unpatchify(o, b, fp, hp, wp));
    }
  }

  /**
   * The {@code [clean | noisy]} mask of {@link #forwardTeacherForcing} (causal-wan.md §3) over
   * {@code 2 len} tokens: clean token n sees the clean keys up to the end of its block, noisy token
   * {@code len + pos} the clean blocks before its own and its own noisy block. Two key intervals
   * per row: O(len) memory, and the kernels skip the key blocks a query tile cannot see.
   */
  AttentionMask.KeyRanges teacherForcingMask(long frames, long frameTokens) {
    int len = Math.toIntExact(frames * frameTokens);
    int block = Math.toIntExact(framesPerBlock * frameTokens);
    int[] ranges = new int[8 * len]; // (lo1, hi1, lo2, hi2) per row; zeros: empty
    for (int n = 0; n < 2 * len; n++) {
      int pos = n < len ? n : n - len;
      int start = pos / block * block, end = Math.min(len, start + block);
      if (n < len) {
        ranges[4 * n + 1] = end; // clean: block-causal within the clean half
      } else {
        ranges[4 * n + 1] = start; // noisy: the clean blocks before its own
        ranges[4 * n + 2] = len + start; // and its own noisy block
        ranges[4 * n + 3] = len + end;
      }
    }
    return AttentionMask.KeyRanges.of(ranges);
  }

  /**
   * The mask of the training forward over {@code frames} frames of {@code frameTokens} tokens, on
   * the CPU: {@code AttentionMask.blockCausal} for global attention, else key ranges: each token
   * sees the last {@code localAttnSize} frames up to its chunk's end (its own position included, as
   * the window is at least a chunk).
   */
  public AttentionMask mask(long frames, long frameTokens) {
    long block = framesPerBlock * frameTokens;
    if (localAttnSize == -1) return AttentionMask.blockCausal(block);
    int l = Math.toIntExact(frames * frameTokens);
    long window = localAttnSize * frameTokens;
    int[] ranges = new int[4 * l];
    for (int n = 0; n < l; n++) {
      long end = Math.min(l, (n / block + 1) * block);
      ranges[4 * n] = (int) Math.max(0, end - window);
      ranges[4 * n + 1] = (int) end;
    }
    return AttentionMask.KeyRanges.of(ranges);
  }

  /** {@code mask} with its tensor (if any) on {@code device}. */
  private static AttentionMask on(AttentionMask mask, Device device) {
    return mask instanceof AttentionMask.KeyRanges r ? r.to(device) : mask;
  }

  // ---------------------------------------------------------------- streaming mode

  /**
   * The per-rollout state: for each layer the self-attention keys (after q/k-norm and RoPE) and
   * values of the chunks seen so far, {@code [B, cacheLen, heads, headDim]}, with {@code globalEnd}
   * (one past the last token written, over the whole video) and {@code localEnd} (one past the last
   * valid slot of the buffer); and the text's cross-attention keys/values.
   */
  public static final class KvCache implements AutoCloseable {
    private final Tensor[] k, v, crossK, crossV;
    private final long[] globalEnd, localEnd;
    private final long length;

    KvCache(
        int layers, long batch, long length, int heads, long headDim, DType dtype, Device device) {
      this.length = length;
      k = new Tensor[layers];
      v = new Tensor[layers];
      crossK = new Tensor[layers];
      crossV = new Tensor[layers];
      globalEnd = new long[layers];
      localEnd = new long[layers];
      for (int i = 0; i < layers; i++) {
        k[i] = Tensor.zeros(dtype, device, batch, length, heads, headDim).share();
        v[i] = Tensor.zeros(dtype, device, batch, length, heads, headDim).share();
      }
    }

    /** Buffer length in tokens. */
    public long length() {
      return length;
    }

    /** Layer {@code l}'s key buffer (a live view: valid slots are {@code [0, localEnd)}). */
    public Tensor keys(int l) {
      return k[l];
    }

    public Tensor values(int l) {
      return v[l];
    }

    /** Layer {@code l}'s cached text keys {@code [B, textLen, heads, headDim]} (null before). */
    public Tensor crossKeys(int l) {
      return crossK[l];
    }

    public Tensor crossValues(int l) {
      return crossV[l];
    }

    public long globalEnd(int l) {
      return globalEnd[l];
    }

    public long localEnd(int l) {
      return localEnd[l];
    }

    /** Back to the start of a rollout: zeroed buffers, indices 0, text keys forgotten. */
    public void reset() {
      for (int i = 0; i < k.length; i++) {
        try (var ng = GradMode.noGrad()) {
          k[i].zero();
          v[i].zero();
        }
        globalEnd[i] = localEnd[i] = 0;
        closeCross(i);
      }
    }

    private void closeCross(int i) {
      if (crossK[i] != null) crossK[i].close();
      if (crossV[i] != null) crossV[i].close();
      crossK[i] = crossV[i] = null;
    }

    @Override
    public void close() {
      for (int i = 0; i < k.length; i++) {
        k[i].close();
        v[i].close();
        closeCross(i);
      }
    }
  }

  /**
   * A zeroed cache for {@code batch} samples, on the model's device. Self-Forcing sizes it {@code
   * localAttnSize·S} with a local window, else the number of frames of the whole video times S
   * ({@code 21·1560}).
   *
   * @param lengthTokens buffer length in tokens
   */
  public KvCache newCache(long batch, long lengthTokens) {
    WanConfig c = model.config();
    return new KvCache(
        c.numLayers(),
        batch,
        lengthTokens,
        c.numAttentionHeads(),
        c.attentionHeadDim(),
        model.dtype(),
        model.parameters().getFirst().data().device());
  }

  /**
   * One streaming call ({@code _forward_inference}): a chunk of frames starting at token {@code
   * currentStart} of the video; writes the chunk's keys/values into the cache (overwriting the same
   * slots when called again at the same start, as the denoising steps of a chunk do) and attends to
   * them and to the cached prefix within the window.
   *
   * @param x chunk latents {@code [B, C_in, Fc, H, W]}
   * @param t per-frame timesteps {@code [B, Fc]}
   * @param currentStart token offset of the chunk in the video: its first frame times S
   */
  public Tensor forwardCached(
      Tensor x, Tensor t, Tensor context, KvCache cache, long currentStart) {
    return run(x, t, context, cache, currentStart, null);
  }

  // ---------------------------------------------------------------- the shared forward

  private Tensor run(
      Tensor x,
      Tensor t,
      Tensor context,
      KvCache cache,
      long currentStart,
      WanTransformer3D.Trace trace) {
    WanConfig c = model.config();
    checkInputs(x, t, context);
    WanConfig.PatchSize p = c.patchSize();
    long b = x.size(0), fp = x.size(2) / p.t(), hp = x.size(3) / p.h(), wp = x.size(4) / p.w();
    long frameTokens = hp * wp, d = c.innerDim();
    if (cache != null && currentStart % frameTokens != 0) {
      throw new IllegalArgumentException(
          "WanCausalTransformer3D: currentStart "
              + currentStart
              + " is not a multiple of the "
              + frameTokens
              + " tokens of a frame");
    }
    DType act = model.dtype(), up = WanTransformer3D.upcast(act);
    try (var s = Scope.open()) {
      long startFrame = currentStart / frameTokens;
      Tensor[] rope =
          WanRope.tables(
              c.attentionHeadDim(), startFrame, fp, hp, wp, c.ropeMaxSeqLen(), up, x.device());
      Tensor tokens = model.embedPatches(x, trace);

      Tensor padded = padText(context.to(act));
      WanTransformer3D.record(trace, "text_embedding.in", padded);
      Tensor tt = t.dim() == 1 ? t.unsqueeze(1).expand(b, fp).contiguous() : t;
      WanTimeTextEmbedding.Output cond =
          ((WanTimeTextEmbedding) model.getSubmodule("condition_embedder"))
              .forward(tt, padded, act, up, true, trace);
      Tensor temb = cond.temb().view(b, fp, d);
      Tensor proj = cond.timestepProj().view(b, fp, 6, d);

      AttentionMask mask = cache == null ? on(mask(fp, frameTokens), tokens.device()) : null;
      for (int i = 0; i < model.blocks().size(); i++) {
        WanTransformerBlock block = model.blocks().get(i);
        String prefix = "blocks." + i + ".";
        if (cache == null) {
          tokens =
              block.forward(tokens, cond.context(), proj, rope[0], rope[1], mask, trace, prefix);
        } else {
          int layer = i;
          Attention.Rotary rotary = Attention.Rotary.of(rope[0], rope[1], true);
          tokens =
              block.body(
                  tokens,
                  proj,
                  (a, h) ->
                      cachedSelfAttention(a, h, rotary, cache, layer, currentStart, frameTokens),
                  (a, h) -> cachedCrossAttention(a, h, cond.context(), cache, layer),
                  trace,
                  prefix);
        }
      }
      Tensor o = model.head(tokens, temb, trace);
      return s.keep(model.unpatchify(o, b, fp, hp, wp));
    }
  }

  private Tensor padText(Tensor context) {
    long len = context.size(1);
    if (len == textLen) return context;
    Tensor zeros =
        Tensor.zeros(
            context.dtype(), context.device(), context.size(0), textLen - len, context.size(2));
    return Tensor.cat(List.of(context, zeros), 1);
  }

  /** q, k, v of {@code h} as {@code [B, L, heads, headDim]}, q and k normed (and roped). */
  private static Tensor[] qkv(Attention a, Tensor h, Attention.Rotary rotary) {
    Tensor q =
        ((Layer) a.getSubmodule("norm_q")).forward(((Layer) a.getSubmodule("to_q")).forward(h));
    Tensor k =
        ((Layer) a.getSubmodule("norm_k")).forward(((Layer) a.getSubmodule("to_k")).forward(h));
    Tensor v = ((Layer) a.getSubmodule("to_v")).forward(h);
    q = q.unflatten(-1, a.heads(), a.headDim());
    k = k.unflatten(-1, a.heads(), a.headDim());
    v = v.unflatten(-1, a.heads(), a.headDim());
    if (rotary != null) {
      q = rotary.apply(q);
      k = rotary.apply(k);
    }
    return new Tensor[] {q, k, v};
  }

  /** Attention of q {@code [B, Lq, H, d]} to k, v {@code [B, Lk, H, d]}, then {@code to_out}. */
  private static Tensor attend(Attention a, Tensor q, Tensor k, Tensor v) {
    Tensor o =
        Tensor.scaledDotProductAttention(
            q.transpose(1, 2),
            k.transpose(1, 2),
            v.transpose(1, 2),
            AttentionMask.NONE,
            1.0 / Math.sqrt(a.headDim()));
    Tensor merged = o.transpose(1, 2).reshape(q.size(0), q.size(1), a.heads() * a.headDim());
    return ((Layer) a.getSubmodule("to_out")).forward(merged);
  }

  private Tensor cachedSelfAttention(
      Attention a,
      Tensor h,
      Attention.Rotary rotary,
      KvCache cache,
      int layer,
      long currentStart,
      long frameTokens) {
    Tensor[] qkv = qkv(a, h, rotary);
    Tensor q = qkv[0], k = qkv[1], v = qkv[2];
    long lc = h.size(1), currentEnd = currentStart + lc;
    long cacheLen = cache.length, localEnd = cache.localEnd[layer];
    long globalEnd = cache.globalEnd[layer];
    long sink = sinkSize * frameTokens;
    long advance = currentEnd - globalEnd;
    long newLocalEnd;
    Tensor kc = cache.k[layer], vc = cache.v[layer];
    try (var ng = GradMode.noGrad()) {
      if (localAttnSize != -1 && currentEnd > globalEnd && lc + localEnd > cacheLen) {
        long evict = lc + localEnd - cacheLen;
        long keep = localEnd - evict - sink;
        // shift the kept tokens left past the sink (through a temporary: the ranges overlap)
        try (Tensor tk = kc.narrow(1, sink + evict, keep).contiguous();
            Tensor tv = vc.narrow(1, sink + evict, keep).contiguous()) {
          kc.narrow(1, sink, keep).copyFrom(tk);
          vc.narrow(1, sink, keep).copyFrom(tv);
        }
        newLocalEnd = localEnd + advance - evict;
      } else {
        newLocalEnd = localEnd + advance;
      }
      if (newLocalEnd < lc || newLocalEnd > cacheLen) {
        throw new IllegalStateException(
            "WanCausalTransformer3D: chunk at token "
                + currentStart
                + " ("
                + lc
                + " tokens) does not fit the KV cache of "
                + cacheLen
                + " tokens (local end "
                + localEnd
                + ", global end "
                + globalEnd
                + ")");
      }
      kc.narrow(1, newLocalEnd - lc, lc).copyFrom(k);
      vc.narrow(1, newLocalEnd - lc, lc).copyFrom(v);
    }
    cache.globalEnd[layer] = currentEnd;
    cache.localEnd[layer] = newLocalEnd;
    long maxAttention = localAttnSize != -1 ? localAttnSize * frameTokens : cacheLen;
    long from = Math.max(0, newLocalEnd - maxAttention);
    long prefix = newLocalEnd - lc - from;
    // the chunk's own keys/values come from this call's tensors (so gradients reach them), the
    // prefix from the cache (constants: earlier chunks ran without gradients)
    Tensor keys = k, values = v;
    if (prefix > 0) {
      keys = Tensor.cat(List.of(kc.narrow(1, from, prefix), k), 1);
      values = Tensor.cat(List.of(vc.narrow(1, from, prefix), v), 1);
    }
    return attend(a, q, keys, values);
  }

  private Tensor cachedCrossAttention(
      Attention a, Tensor h, Tensor context, KvCache cache, int layer) {
    if (cache.crossK[layer] == null) {
      try (var s = Scope.open();
          var ng = GradMode.noGrad()) {
        Tensor k =
            ((Layer) a.getSubmodule("norm_k"))
                .forward(((Layer) a.getSubmodule("to_k")).forward(context));
        Tensor v = ((Layer) a.getSubmodule("to_v")).forward(context);
        cache.crossK[layer] = k.unflatten(-1, a.heads(), a.headDim()).contiguous().share();
        cache.crossV[layer] = v.unflatten(-1, a.heads(), a.headDim()).contiguous().share();
      }
    }
    Tensor q =
        ((Layer) a.getSubmodule("norm_q")).forward(((Layer) a.getSubmodule("to_q")).forward(h));
    q = q.unflatten(-1, a.heads(), a.headDim());
    return attend(a, q, cache.crossK[layer], cache.crossV[layer]);
  }

  private void checkInputs(Tensor x, Tensor t, Tensor context) {
    WanConfig c = model.config();
    WanConfig.PatchSize p = c.patchSize();
    if (x.dim() != 5
        || x.size(1) != c.inChannels()
        || x.size(2) == 0
        || x.size(3) == 0
        || x.size(4) == 0
        || x.size(2) % p.t() != 0
        || x.size(3) % p.h() != 0
        || x.size(4) % p.w() != 0) {
      throw new IllegalArgumentException(
          "WanCausalTransformer3D: expected x [B, "
              + c.inChannels()
              + ", F, H, W] with F, H, W positive multiples of the patch size, got "
              + x.describe());
    }
    long b = x.size(0), f = x.size(2) / p.t();
    boolean perFrame = t.dim() == 2 && t.size(0) == b && t.size(1) == f;
    boolean perSample = t.dim() == 1 && t.size(0) == b;
    if (!perFrame && !perSample) {
      throw new IllegalArgumentException(
          "WanCausalTransformer3D: expected timesteps ["
              + b
              + ", "
              + f
              + "] (one per latent frame) or ["
              + b
              + "], got "
              + t.describe());
    }
    if (context.dim() != 3
        || context.size(0) != b
        || context.size(2) != c.textDim()
        || context.size(1) > textLen) {
      throw new IllegalArgumentException(
          "WanCausalTransformer3D: expected context ["
              + b
              + ", S <= "
              + textLen
              + ", "
              + c.textDim()
              + "], got "
              + context.describe());
    }
  }

  @Override
  public String toString() {
    return "WanCausalTransformer3D(framesPerBlock="
        + framesPerBlock
        + ", localAttnSize="
        + localAttnSize
        + ", sinkSize="
        + sinkSize
        + ", textLen="
        + textLen
        + ", "
        + model
        + ")";
  }
}
