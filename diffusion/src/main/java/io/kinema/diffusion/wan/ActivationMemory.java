package io.kinema.diffusion.wan;

import io.kinema.tensor.DType;
import java.util.Locale;

/**
 * A back-of-the-envelope estimate of the memory one training step of {@link WanTransformer3D} needs
 * beyond its weights, so that a run can be sized before it is started. It counts the tensors our
 * autograd keeps for backward, op by op, for the model's layers (not a measurement; {@code
 * ActivationMemoryTest} checks it against the allocator's peak on small models).
 *
 * <p>Notation: {@code N = B * L} video tokens ({@code L = (F/p_t)(H/p_h)(W/p_w)}), {@code N_t = B *
 * S} text tokens, width {@code D}, FFN width {@code F_ff}, {@code h} heads, {@code e} bytes of the
 * activation dtype, {@code u} bytes of diffusers' float32 islands (4 for BF16/F16, else {@code e}),
 * {@code w} bytes of the attention-backward compute type (8 for F64, else 4).
 *
 * <ul>
 *   <li><b>Saved per block</b> {@code = N D (6u + 15e) + 2 N F_ff e + 3 N_t D e + 2 B h L w}: in
 *       the F32 islands the block input, the three LayerNorm inputs/outputs that the modulation
 *       multiplies and the FFN output that the gate multiplies (6); in the activation dtype the
 *       attention input, q and k before and after their norm/rotation, v, the merged heads before
 *       {@code to_out} and the attention output (self: 8), the cross-attention's query side (norm2
 *       output, q, normed q, merged heads: 4) and the FFN input (1); the FFN's hidden pre- and
 *       post-activation (2 of width F_ff); the cross-attention keys/values of the text (3); each
 *       attention's own output and row log-sum-exp, kept by the attention op for its backward (2 of
 *       width D, 2 per query and head in the compute type).
 *   <li><b>Global</b> {@code = N D (2u + e) + 3 N C_out P e + N_t (text_dim + 3 D) e}: output norm
 *       input and output, {@code proj_out} input, the output before and after unpatchify, the text
 *       MLP's saved tensors and its output (read by every block).
 *   <li><b>Attention backward</b> {@code = 4 N D w (+ 3 N D (w + e) for BF16/F16)}: the blockwise
 *       (flash-style) backward never builds an L x L matrix; for one attention at a time it holds
 *       the incoming gradient in the compute type, and dq, dk, dv; half-precision inputs add their
 *       f32 copies and the gradients converted back.
 *   <li><b>Gradient working set</b> {@code = 4 N D u + 2 N F_ff u}: the residual-stream gradient
 *       and the gradients of one layer's inputs while it runs backward.
 *   <li><b>With gradient checkpointing</b> each block keeps only its input ({@code N D e}); in
 *       backward one block at a time is recomputed, with its saved set plus its non-saved
 *       temporaries ({@code 6 N D u}) alive until its backward is done.
 * </ul>
 *
 * <p>{@code peak = global + (checkpointing ? layers N D e + saved_block + 6 N D u : layers *
 * saved_block) + attention_backward + gradient_working_set + parameter_gradients} (parameter
 * gradients are as large as the trainable weights, in their dtype). Weights, optimizer state and
 * the allocator's cache are not included.
 *
 * <p>It is an estimate, not a bound: it adds the saved activations, the attention scratch and all
 * parameter gradients, while in reality saved tensors are freed as backward proceeds and the
 * gradients grow; on the small test models the measured peak is 0.72 - 1.08 of the estimate.
 */
public final class ActivationMemory {
  private ActivationMemory() {}

  /**
   * The estimate, in bytes.
   *
   * @param tokens {@code N = B * L}
   * @param savedPerBlock what one block keeps for backward (without checkpointing)
   * @param saved everything kept for backward after the forward (with or without checkpointing)
   * @param attentionBackward the transient of one attention's backward
   * @param gradients parameter gradients (all parameters trainable)
   * @param peak the estimated peak above the weights
   */
  public record Estimate(
      long tokens,
      long textTokens,
      long savedPerBlock,
      long saved,
      long attentionBackward,
      long workingSet,
      long gradients,
      long peak,
      boolean checkpointing) {
    @Override
    public String toString() {
      return String.format(
          Locale.ROOT,
          "Wan activation memory: %d video tokens, %d text tokens, %s: saved for backward %s (%s"
              + " per block), attention backward %s, working set %s, parameter gradients %s ->"
              + " peak ~%s above the weights",
          tokens,
          textTokens,
          checkpointing ? "checkpointed blocks" : "no checkpointing",
          human(saved),
          human(savedPerBlock),
          human(attentionBackward),
          human(workingSet),
          human(gradients),
          human(peak));
    }
  }

  /**
   * Estimates a training step (forward + backward) of a model of {@code config} in {@code dtype}.
   *
   * @param frames latent frames (pre-patch), e.g. 21 for 81 video frames
   * @param height latent height (pre-patch), e.g. 60 for 480 pixels
   * @param width latent width (pre-patch), e.g. 104 for 832 pixels
   * @param textLen text tokens per sample (512 for Wan's UMT5 padding)
   */
  public static Estimate estimate(
      WanConfig config,
      int batch,
      int frames,
      int height,
      int width,
      int textLen,
      DType dtype,
      boolean checkpointing) {
    WanConfig.PatchSize p = config.patchSize();
    long l = (long) (frames / p.t()) * (height / p.h()) * (width / p.w());
    long n = batch * l, nt = (long) batch * textLen;
    long d = config.innerDim(), ff = config.ffnDim(), heads = config.numAttentionHeads();
    long e = dtype.byteSize(), u = dtype.isHalf() ? 4 : e, w = dtype == DType.F64 ? 8 : 4;
    long layers = config.numLayers();
    long perBlock =
        n * d * (6 * u + 15 * e) + 2 * n * ff * e + 3 * nt * d * e + 2 * batch * heads * l * w;
    long global =
        n * d * (2 * u + e)
            + 3 * n * config.outChannels() * p.volume() * e
            + nt * (config.textDim() + 3 * d) * e;
    long saved = checkpointing ? global + layers * n * d * e : global + layers * perBlock;
    long attention = 4 * n * d * w + (dtype.isHalf() ? 3 * n * d * (w + e) : 0);
    long working = 4 * n * d * u + 2 * n * ff * u;
    if (checkpointing) working += perBlock + 6 * n * d * u;
    long params = config.parameterCount();
    long gradients = params * e; // the F32 islands of half models are a rounding error here
    long peak = saved + attention + working + gradients;
    return new Estimate(n, nt, perBlock, saved, attention, working, gradients, peak, checkpointing);
  }

  /**
   * Prints estimates: {@code ActivationMemory [1.3B|14B] [frames height width] [batch]} with the
   * video size in pixels (default 81 x 480 x 832, batch 1), for BF16 with and without gradient
   * checkpointing.
   */
  public static void main(String[] args) {
    WanConfig c =
        args.length > 0 && args[0].equals("14B") ? WanConfig.t2v14B() : WanConfig.t2v1_3B();
    int frames = args.length > 3 ? Integer.parseInt(args[1]) : 81;
    int height = args.length > 3 ? Integer.parseInt(args[2]) : 480;
    int width = args.length > 3 ? Integer.parseInt(args[3]) : 832;
    int batch = args.length > 4 ? Integer.parseInt(args[4]) : 1;
    // Wan's VAE: 4x temporal, 8x spatial compression
    int lf = (frames - 1) / 4 + 1, lh = height / 8, lw = width / 8;
    for (boolean ckpt : new boolean[] {false, true}) {
      System.out.println(estimate(c, batch, lf, lh, lw, 512, DType.BF16, ckpt));
    }
  }

  /** Bytes as KiB/MiB/GiB. */
  static String human(long bytes) {
    if (bytes >= 1L << 30)
      return String.format(Locale.ROOT, "%.2f GiB", bytes / (double) (1L << 30));
    if (bytes >= 1L << 20)
      return String.format(Locale.ROOT, "%.2f MiB", bytes / (double) (1L << 20));
    return String.format(Locale.ROOT, "%.1f KiB", bytes / 1024.0);
  }
}
