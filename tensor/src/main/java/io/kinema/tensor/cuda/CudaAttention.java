package io.kinema.tensor.cuda;

import static io.kinema.tensor.cuda.DeviceTensors.address;

import io.kinema.tensor.AttentionMask;
import io.kinema.tensor.DType;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.cuda.CudaKernels.Grid;
import io.kinema.tensor.cuda.KernelStructs.AttentionArgs;
import io.kinema.tensor.grad.GradMode;

/**
 * Fused attention forward and backward on the flash kernels ({@code attention.cu}, {@code
 * attention_backward.cu}): BF16/F16, tensor cores, f32 softmax statistics, no Sq x Sk matrix. The
 * kernels take head dims 64, 128 and 256 (D == Dv) with unit stride along the head dim and 16-byte
 * aligned rows; smaller head dims (and D != Dv up to 256) are zero-padded to the next kernel size —
 * zeros add nothing to q k^T, and the padded output columns are dropped — and operands in another
 * layout are copied. BF16/F16 head dims above 256 run {@link ComposedAttention} on F32 copies of
 * the operands (results rounded back to the caller's tensors): exact to F32, at the composed path's
 * {@code O(B·H·Sq·Sk)} memory.
 *
 * <p>F32 and F64 run {@link SimtAttention}, fused kernels of the same algorithm in plain FFMA/DFMA
 * (head dims up to 256 for F32, 128 for F64); larger head dims fall back to {@link
 * ComposedAttention}, which materializes the {@code [B, H, Sq, Sk]} scores.
 */
final class CudaAttention {
  /** Query rows per CTA of every attention kernel (their grids' second dim counts these). */
  private static final int ROWS_PER_CTA = 64;

  private final CudaKernels kernels;
  private final CudaElementwise elementwise;
  private final SimtAttention simt;

  CudaAttention(CudaKernels kernels, CudaElementwise elementwise) {
    this.kernels = kernels;
    this.elementwise = elementwise;
    this.simt = new SimtAttention(kernels, elementwise);
  }

  void forward(
      Tensor q, Tensor k, Tensor v, AttentionMask mask, double scale, Tensor out, Tensor lseOut) {
    if (SimtAttention.handles(q, v)) {
      simt.forward(q, k, v, mask, scale, out, lseOut);
      return;
    }
    if (ComposedAttention.handles(q)) {
      ComposedAttention.forward(q, k, v, mask, scale, out, lseOut);
      return;
    }
    if (pastFlashHeadDims(q, v)) {
      composedInF32(q, k, v, mask, scale, out, lseOut);
      return;
    }
    int dp = paddedHeadDim("attention", q, k, v);
    long b = q.size(0), h = q.size(1), sq = q.size(2), dv = v.size(3);
    try (Tensor qp = operand(q, dp);
        Tensor kp = operand(k, dp);
        Tensor vp = operand(v, dp);
        Tensor op = output(out, dp);
        Tensor lse = lseOut == null ? null : lseTarget(lseOut);
        Tensor m = maskOperand(mask, elementwise)) {
      AttentionArgs args = args(qp, kp, vp, op, null, lse, mask, m, scale);
      kernels.launch(
          "kinema_flash_attention_" + CudaElementwise.suffix(q.dtype()) + "_d" + dp,
          new Grid(b * h, Math.ceilDiv(sq, ROWS_PER_CTA), 128, 1),
          address(qp),
          address(kp),
          address(vp),
          address(op),
          address(lse),
          address(m),
          args.encode());
      writeBack(op, out, dv);
      if (lse != null && lse.storage() != lseOut.storage()) elementwise.copy(lse, lseOut);
    }
  }

  void backward(
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
      Tensor gradV) {
    if (SimtAttention.handles(q, v)) {
      simt.backward(q, k, v, out, lse, gradOut, mask, scale, gradQ, gradK, gradV);
      return;
    }
    if (ComposedAttention.handles(q)) {
      ComposedAttention.backward(q, k, v, out, lse, gradOut, mask, scale, gradQ, gradK, gradV);
      return;
    }
    if (pastFlashHeadDims(q, v)) {
      composedBackwardInF32(q, k, v, out, lse, gradOut, mask, scale, gradQ, gradK, gradV);
      return;
    }
    int dp = paddedHeadDim("attention backward", q, k, v);
    long b = q.size(0), h = q.size(1), sq = q.size(2), sk = k.size(2);
    String t = CudaElementwise.suffix(q.dtype());
    try (Tensor qp = operand(q, dp);
        Tensor kp = operand(k, dp);
        Tensor vp = operand(v, dp);
        Tensor op = operand(out, dp);
        Tensor gp = operand(gradOut, dp);
        Tensor ls = lseTarget(lse);
        Tensor delta = DeviceTensors.empty(DType.F32, q, b * h * sq);
        Tensor dq = gradient(gradQ, dp);
        Tensor dk = gradient(gradK, dp);
        Tensor dv = gradient(gradV, dp);
        Tensor m = maskOperand(mask, elementwise)) {
      if (ls.storage() != lse.storage()) elementwise.copy(lse, ls);
      byte[] args = args(qp, kp, vp, op, gp, ls, mask, m, scale).encode();
      kernels.launch(
          "kinema_flash_attention_bwd_delta_" + t,
          Math.ceilDiv(b * h * sq, 8),
          address(op),
          address(gp),
          address(delta),
          args,
          dp);
      kernels.launch(
          "kinema_flash_attention_bwd_dkdv_" + t + "_d" + dp,
          new Grid(
              b * h,
              Math.ceilDiv(sk, ROWS_PER_CTA) * KernelCatalog.flashDkdvColumnParts(dp),
              128,
              1),
          address(qp),
          address(kp),
          address(vp),
          address(gp),
          address(ls),
          address(delta),
          address(dk),
          address(dv),
          address(m),
          args);
      kernels.launch(
          "kinema_flash_attention_bwd_dq_" + t + "_d" + dp,
          new Grid(b * h, Math.ceilDiv(sq, ROWS_PER_CTA), 128, 1),
          address(qp),
          address(kp),
          address(vp),
          address(gp),
          address(ls),
          address(delta),
          address(dq),
          address(m),
          args);
      writeBack(dq, gradQ, q.size(3));
      writeBack(dk, gradK, k.size(3));
      writeBack(dv, gradV, v.size(3));
    }
  }

  // ---------------------------------------------------------------- past the flash head dims

  /** The largest head dim of the flash kernels. */
  private static final int MAX_FLASH_HEAD_DIM = 256;

  /** Whether {@code q}, {@code v} are BF16/F16 with a head dim past the flash kernels'. */
  private static boolean pastFlashHeadDims(Tensor q, Tensor v) {
    return q.dtype().isHalf() && Math.max(q.size(3), v.size(3)) > MAX_FLASH_HEAD_DIM;
  }

  /**
   * The forward by {@link ComposedAttention} on F32 copies of the operands (it computes in its
   * operands' dtype: in BF16 the scores and probabilities would be rounded to 8 bits before the
   * softmax and the products); it writes {@code out} and {@code lseOut} by {@code copyFrom}, which
   * rounds to their dtypes.
   */
  private static void composedInF32(
      Tensor q, Tensor k, Tensor v, AttentionMask mask, double scale, Tensor out, Tensor lseOut) {
    try (var ng = GradMode.noGrad();
        var s = Scope.open()) {
      ComposedAttention.forward(f32(q), f32(k), f32(v), mask, scale, out, lseOut);
    }
  }

  /** The backward by {@link ComposedAttention} on F32 copies (see {@link #composedInF32}). */
  private static void composedBackwardInF32(
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
      Tensor gradV) {
    try (var ng = GradMode.noGrad();
        var s = Scope.open()) {
      ComposedAttention.backward(
          f32(q), f32(k), f32(v), f32(out), lse, f32(gradOut), mask, scale, gradQ, gradK, gradV);
    }
  }

  private static Tensor f32(Tensor t) {
    return t.to(DType.F32);
  }

  // ---------------------------------------------------------------- operands

  /** The kernel head dim (64, 128 or 256) for these operands, or a clear "not supported" error. */
  private static int paddedHeadDim(String op, Tensor q, Tensor k, Tensor v) {
    long d = q.size(3), dv = v.size(3);
    DType dt = q.dtype();
    if (!dt.isHalf() || Math.max(d, dv) > MAX_FLASH_HEAD_DIM) {
      throw new UnsupportedOperationException(
          "not supported on CUDA yet: "
              + op
              + " of q "
              + q.describe()
              + ", k "
              + k.describe()
              + ", v "
              + v.describe()
              + ": the flash kernels take BF16/F16 with head dims up to "
              + MAX_FLASH_HEAD_DIM);
    }
    long dp = Math.max(d, dv);
    return dp <= 64 ? 64 : dp <= 128 ? 128 : MAX_FLASH_HEAD_DIM;
  }

  /** Whether the kernels can read {@code t} [B, H, S, dp] in place. */
  private static boolean flashLayout(Tensor t, int dp) {
    return t.size(3) == dp
        && t.stride(3) == 1
        && t.stride(0) % 8 == 0
        && t.stride(1) % 8 == 0
        && t.stride(2) % 8 == 0
        && address(t) % 16 == 0;
  }

  /** {@code t} when the kernels read it in place, else a dense copy zero-padded to {@code dp}. */
  private Tensor operand(Tensor t, int dp) {
    if (flashLayout(t, dp)) return DeviceTensors.view(t, t.shape(), t.strides(), t.offset());
    long[] shape = t.shape();
    shape[3] = dp;
    Tensor p = DeviceTensors.empty(t.dtype(), t, shape);
    if (t.size(3) < dp) elementwise.fill(p, 0);
    try (Tensor head = DeviceTensors.narrowLast(p, t.size(3))) {
      elementwise.copy(t, head);
    }
    return p;
  }

  /** Where the forward writes its output: {@code out} itself, or padded scratch. */
  private static Tensor output(Tensor out, int dp) {
    if (flashLayout(out, dp))
      return DeviceTensors.view(out, out.shape(), out.strides(), out.offset());
    long[] shape = out.shape();
    shape[3] = dp;
    return DeviceTensors.empty(out.dtype(), out, shape);
  }

  /** Where a gradient goes: the caller's dense F32 tensor, or dense padded scratch. */
  private static Tensor gradient(Tensor g, int dp) {
    if (g.dtype() == DType.F32 && g.size(3) == dp && g.isContiguous()) {
      return DeviceTensors.view(g, g.shape(), g.strides(), g.offset());
    }
    long[] shape = g.shape();
    shape[3] = dp;
    return DeviceTensors.empty(DType.F32, g, shape);
  }

  /** The lse the kernels use: the caller's F32 [B, H, Sq, 1] view, or F32 scratch. */
  private static Tensor lseTarget(Tensor lse) {
    if (lse.dtype() == DType.F32)
      return DeviceTensors.view(lse, lse.shape(), lse.strides(), lse.offset());
    return DeviceTensors.empty(DType.F32, lse, lse.shape());
  }

  /**
   * Copies the first {@code d} columns of {@code written} into {@code target} unless they are one.
   */
  private void writeBack(Tensor written, Tensor target, long d) {
    if (written.storage() == target.storage() && written.offset() == target.offset()) return;
    try (Tensor head = DeviceTensors.narrowLast(written, d)) {
      elementwise.copy(head, target);
    }
  }

  /**
   * The kernels' {@code mask} operand (a view or copy, closed by the caller): the explicit BOOL
   * mask (read through its strides), the KeyRanges I32 [Sq, 4] table made dense, or null.
   */
  static Tensor maskOperand(AttentionMask mask, CudaElementwise elementwise) {
    return switch (mask) {
      case AttentionMask.Explicit e -> viewOf(e.allowed());
      case AttentionMask.KeyRanges r -> {
        Tensor t = r.ranges();
        if (t.isContiguous()) yield viewOf(t);
        Tensor dense = DeviceTensors.empty(DType.I32, t, t.shape());
        elementwise.copy(t, dense);
        yield dense;
      }
      default -> null;
    };
  }

  private static Tensor viewOf(Tensor t) {
    return DeviceTensors.view(t, t.shape(), t.strides(), t.offset());
  }

  /** The kernels' argument block. */
  static AttentionArgs args(
      Tensor q,
      Tensor k,
      Tensor v,
      Tensor out,
      Tensor gradOut,
      Tensor lse,
      AttentionMask mask,
      Tensor maskOperand,
      double scale) {
    long blockSize = mask instanceof AttentionMask.BlockCausal bc ? bc.blockSize() : 0;
    return new AttentionArgs(
        q.size(0),
        q.size(1),
        q.size(2),
        k.size(2),
        strides3(q),
        strides3(k),
        strides3(v),
        strides3(out),
        strides3(gradOut),
        strides3(lse),
        mask instanceof AttentionMask.Explicit ? maskOperand.strides() : new long[4],
        blockSize,
        (float) scale,
        MaskKind.of(mask));
  }

  /** The (batch, head, sequence) strides of a 4-d view; zeros for null. */
  private static long[] strides3(Tensor t) {
    if (t == null) return new long[3];
    return new long[] {t.stride(0), t.stride(1), t.stride(2)};
  }
}
