package io.kinema.tensor.cuda;

import static io.kinema.tensor.cuda.DeviceTensors.address;

import io.kinema.tensor.AttentionMask;
import io.kinema.tensor.DType;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.cuda.CudaKernels.Grid;

/**
 * Fused F32/F64 attention forward and backward on the kernels of {@code attention_f32.cu}: the
 * flash algorithm of the BF16/F16 kernels (online softmax, lse, Delta + dK/dV + dQ passes without
 * atomics) in plain FFMA/DFMA, so no {@code [B, H, Sq, Sk]} matrix is stored. The kernels read q,
 * k, v, out and gradOut in place through their (batch, head, sequence) strides when the head dim
 * has unit stride (broadcast k/v included) and take any head dims {@code d, dv} up to their tile D:
 * 32, 64, 128, 256 for F32 and 32, 64, 128 for F64 ({@link #handles}). Results follow the CPU's
 * semantics: masks end-aligned, a row that sees no key gets output 0 and lse −∞.
 */
final class SimtAttention {
  /** Rows a CTA owns in every kernel of {@code attention_f32.cu}. */
  private static final int ROWS_PER_CTA = 32;

  private final CudaKernels kernels;
  private final CudaElementwise elementwise;

  SimtAttention(CudaKernels kernels, CudaElementwise elementwise) {
    this.kernels = kernels;
    this.elementwise = elementwise;
  }

  /** Whether these kernels compute attention of q [.., D] and v [.., Dv]. */
  static boolean handles(Tensor q, Tensor v) {
    return (q.dtype() == DType.F32 || q.dtype() == DType.F64)
        && tile(q.dtype(), Math.max(q.size(3), v.size(3))) > 0;
  }

  /** The smallest kernel head-dim tile holding {@code d}, or 0 when there is none. */
  private static int tile(DType dtype, long d) {
    for (int t : KernelCatalog.simtHeadDims(suffix(dtype))) {
      if (d <= t) return t;
    }
    return 0;
  }

  void forward(
      Tensor q, Tensor k, Tensor v, AttentionMask mask, double scale, Tensor out, Tensor lseOut) {
    long b = q.size(0), h = q.size(1), sq = q.size(2), d = q.size(3), dv = v.size(3);
    String t = suffix(q.dtype());
    try (Tensor qo = operand(q);
        Tensor ko = operand(k);
        Tensor vo = operand(v);
        Tensor o = output(out, q.dtype());
        Tensor lse = lseOut == null ? null : output(lseOut, q.dtype());
        Tensor m = CudaAttention.maskOperand(mask, elementwise)) {
      byte[] args = CudaAttention.args(qo, ko, vo, o, null, lse, mask, m, scale).encode();
      kernels.launch(
          "kinema_attention_" + t + "_d" + tile(q.dtype(), Math.max(d, dv)),
          grid(b * h, sq, q.dtype(), Math.max(d, dv)),
          address(qo),
          address(ko),
          address(vo),
          address(o),
          address(lse),
          address(m),
          args,
          (int) d,
          (int) dv,
          scale);
      if (o.storage() != out.storage()) elementwise.copy(o, out);
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
    DType dt = q.dtype();
    long b = q.size(0), h = q.size(1), sq = q.size(2), sk = k.size(2);
    long d = q.size(3), dv = v.size(3), dMax = Math.max(d, dv);
    String t = suffix(dt);
    String dTile = "_d" + tile(dt, dMax);
    try (Tensor qo = operand(q);
        Tensor ko = operand(k);
        Tensor vo = operand(v);
        Tensor oo = operand(out);
        Tensor go = operand(gradOut);
        Tensor ls = lseOperand(lse, dt);
        Tensor delta = DeviceTensors.empty(dt, q, b * h * sq);
        Tensor dq = gradient(gradQ, dt);
        Tensor dk = gradient(gradK, dt);
        Tensor dvo = gradient(gradV, dt);
        Tensor m = CudaAttention.maskOperand(mask, elementwise)) {
      byte[] args = CudaAttention.args(qo, ko, vo, oo, go, ls, mask, m, scale).encode();
      kernels.launch(
          "kinema_attention_bwd_delta_" + t,
          Math.ceilDiv(b * h * sq, 8),
          address(oo),
          address(go),
          address(delta),
          args,
          (int) dv);
      kernels.launch(
          "kinema_attention_bwd_dkdv_" + t + dTile,
          grid(b * h, sk, dt, dMax),
          address(qo),
          address(ko),
          address(vo),
          address(go),
          address(ls),
          address(delta),
          address(dk),
          address(dvo),
          address(m),
          args,
          (int) d,
          (int) dv,
          scale);
      kernels.launch(
          "kinema_attention_bwd_dq_" + t + dTile,
          grid(b * h, sq, dt, dMax),
          address(qo),
          address(ko),
          address(vo),
          address(go),
          address(ls),
          address(delta),
          address(dq),
          address(m),
          args,
          (int) d,
          (int) dv,
          scale);
      if (dq.storage() != gradQ.storage()) elementwise.copy(dq, gradQ);
      if (dk.storage() != gradK.storage()) elementwise.copy(dk, gradK);
      if (dvo.storage() != gradV.storage()) elementwise.copy(dvo, gradV);
    }
  }

  /** {@code (B * H, ceil(rows / 32))} CTAs of the kernel's block size. */
  private static Grid grid(long bh, long rows, DType dtype, long d) {
    int threads = tile(dtype, d) <= 64 ? 128 : 256;
    return new Grid(bh, Math.ceilDiv(rows, ROWS_PER_CTA), threads, 1);
  }

  private static String suffix(DType dtype) {
    return dtype == DType.F64 ? "f64" : "f32";
  }

  /** An input the kernels read in place (unit stride along the head dim), else a dense copy. */
  private Tensor operand(Tensor t) {
    if (t.stride(3) == 1 || t.size(3) == 1) return viewOf(t);
    Tensor dense = DeviceTensors.empty(t.dtype(), t, t.shape());
    elementwise.copy(t, dense);
    return dense;
  }

  /** The saved lse in the kernels' dtype: {@code lse} itself, or a converted copy. */
  private Tensor lseOperand(Tensor lse, DType dtype) {
    if (lse.dtype() == dtype) return viewOf(lse);
    Tensor converted = DeviceTensors.empty(dtype, lse, lse.shape());
    elementwise.copy(lse, converted);
    return converted;
  }

  /**
   * Where a kernel writes {@code target}: {@code target} itself when it has the kernels' dtype and
   * unit stride along its last dim, else dense scratch the caller copies back.
   */
  private static Tensor output(Tensor target, DType dtype) {
    int last = target.dim() - 1;
    if (target.dtype() == dtype && (target.stride(last) == 1 || target.size(last) == 1)) {
      return viewOf(target);
    }
    return DeviceTensors.empty(dtype, target, target.shape());
  }

  private static Tensor viewOf(Tensor t) {
    return DeviceTensors.view(t, t.shape(), t.strides(), t.offset());
  }

  /** Where a gradient goes: the caller's dense tensor of the kernels' dtype, or dense scratch. */
  private static Tensor gradient(Tensor g, DType dtype) {
    if (g.dtype() == dtype && g.isContiguous()) {
      return viewOf(g);
    }
    return DeviceTensors.empty(dtype, g, g.shape());
  }
}
