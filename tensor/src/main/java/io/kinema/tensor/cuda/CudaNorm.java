package io.kinema.tensor.cuda;

import static io.kinema.tensor.cuda.DeviceTensors.address;

import io.kinema.tensor.DType;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.cuda.CudaKernels.Grid;
import java.util.Arrays;

/**
 * softmax, layer_norm, rms_norm ({@code softmax.cu}, {@code norm.cu}) and rotary embedding ({@code
 * rotary.cu}) on CUDA. The row kernels take dense operands: a strided input is copied dense first,
 * and an output that is not dense is written through a dense scratch tensor.
 */
final class CudaNorm {
  private final CudaKernels kernels;
  private final CudaElementwise elementwise;

  CudaNorm(CudaKernels kernels, CudaElementwise elementwise) {
    this.kernels = kernels;
    this.elementwise = elementwise;
  }

  void softmax(Tensor x, int dim, boolean log, Tensor out) {
    if (x.numel() == 0) return;
    long[] shape = x.shape();
    long outer = DeviceTensors.product(shape, 0, dim), len = shape[dim];
    long inner = DeviceTensors.product(shape, dim + 1, shape.length);
    DType t = x.dtype();
    try (Tensor xd = dense(x);
        Tensor yd = denseOutput(out)) {
      if (inner == 1) {
        kernels.launch(
            "kinema_softmax_",
            t,
            Grid.of(outer, CudaKernels.rowThreads(len)),
            address(xd),
            address(yd),
            len,
            log ? 1 : 0);
      } else {
        kernels.launch(
            "kinema_softmax_inner_",
            t,
            kernels.gridStride(outer * inner),
            address(xd),
            address(yd),
            outer,
            len,
            inner,
            log ? 1 : 0);
      }
      writeBack(yd, out);
    }
  }

  void layerNorm(
      Tensor x,
      int normalizedDims,
      Tensor weight,
      Tensor bias,
      double eps,
      Tensor out,
      Tensor meanOut,
      Tensor rstdOut) {
    normalize(false, x, normalizedDims, weight, bias, eps, out, meanOut, rstdOut);
  }

  void rmsNorm(
      Tensor x, int normalizedDims, Tensor weight, double eps, Tensor out, Tensor rstdOut) {
    normalize(true, x, normalizedDims, weight, null, eps, out, null, rstdOut);
  }

  private void normalize(
      boolean rms,
      Tensor x,
      int normalizedDims,
      Tensor weight,
      Tensor bias,
      double eps,
      Tensor out,
      Tensor meanOut,
      Tensor rstdOut) {
    long[] shape = x.shape();
    int lead = shape.length - normalizedDims;
    long rows = DeviceTensors.product(shape, 0, lead),
        n = DeviceTensors.product(shape, lead, shape.length);
    if (rows == 0) return;
    DType t = x.dtype();
    DType stats = x.dtype() == DType.F64 ? DType.F64 : DType.F32;
    try (Tensor xd = dense(x);
        Tensor w = dense(weight);
        Tensor b = dense(bias);
        Tensor yd = denseOutput(out);
        Tensor mean = statsOutput(meanOut, stats);
        Tensor rstd = statsOutput(rstdOut, stats)) {
      Grid grid = Grid.of(rows, CudaKernels.rowThreads(n));
      if (rms) {
        kernels.launch(
            "kinema_rms_norm_",
            t,
            grid,
            address(xd),
            address(w),
            address(yd),
            address(rstd),
            n,
            eps);
      } else {
        kernels.launch(
            "kinema_layer_norm_",
            t,
            grid,
            address(xd),
            address(w),
            address(b),
            address(yd),
            address(mean),
            address(rstd),
            n,
            eps);
      }
      writeBack(yd, out);
      writeBack(mean, meanOut);
      writeBack(rstd, rstdOut);
    }
  }

  /**
   * Softmax's gradient ({@code kinema_softmax_backward_<t>}, block per row over the last dim): for
   * another dim, y, dy and dx are viewed with that dim swapped to the end, and the dense copies the
   * kernel needs are made of those views.
   */
  void softmaxBackward(Tensor y, Tensor dy, int dim, boolean log, Tensor dx) {
    if (y.numel() == 0) return;
    long len = y.size(dim), rows = y.numel() / len;
    DType t = y.dtype();
    try (Tensor yl = dimLast(y, dim);
        Tensor gl = dimLast(dy, dim);
        Tensor xl = dimLast(dx, dim);
        Tensor yd = dense(yl);
        Tensor gd = dense(gl);
        Tensor xd = denseOutput(xl)) {
      kernels.launch(
          "kinema_softmax_backward_",
          t,
          Grid.of(rows, CudaKernels.rowThreads(len)),
          address(yd),
          address(gd),
          address(xd),
          len,
          log ? 1 : 0);
      writeBack(xd, xl);
    }
  }

  /**
   * Layer norm's (RMS norm's when {@code mean} is null) gradients: {@code
   * kinema_*_norm_backward_<t>} writes dx and per-block partial column sums of a fixed number of
   * rows per block ({@code ceil(rows / (2 SMs))}), then {@code kinema_column_sum_<a>} adds the
   * partials in block order into dweight / dbias, so the bits do not depend on scheduling. dx is
   * computed into scratch when the caller does not want it (the kernel always writes it).
   */
  void normBackward(
      Tensor dy,
      Tensor x,
      int normalizedDims,
      Tensor weight,
      Tensor mean,
      Tensor rstd,
      Tensor dx,
      Tensor dw,
      Tensor db) {
    long[] shape = x.shape();
    int lead = shape.length - normalizedDims;
    long rows = DeviceTensors.product(shape, 0, lead),
        n = DeviceTensors.product(shape, lead, shape.length);
    if (rows == 0 || n == 0) {
      if (dw != null) elementwise.fill(dw, 0);
      if (db != null) elementwise.fill(db, 0);
      return;
    }
    boolean rms = mean == null;
    DType stats = x.dtype() == DType.F64 ? DType.F64 : DType.F32;
    DType t = x.dtype();
    long perBlock = Math.ceilDiv(rows, 2L * kernels.multiprocessors());
    long blocks = Math.ceilDiv(rows, perBlock);
    try (Tensor xd = dense(x);
        Tensor gd = dense(dy);
        Tensor w = dense(weight);
        Tensor mu = statsInput(mean, stats);
        Tensor rs = statsInput(rstd, stats);
        Tensor dxd = dx == null ? DeviceTensors.empty(x.dtype(), x, shape) : denseOutput(dx);
        Tensor dwp = dw == null ? null : DeviceTensors.empty(stats, x, blocks, n);
        Tensor dbp = db == null ? null : DeviceTensors.empty(stats, x, blocks, n)) {
      // Threads as the forward: a block walks its rows one at a time, each row spread over them.
      Grid grid = Grid.of(blocks, CudaKernels.rowThreads(n));
      if (rms) {
        kernels.launch(
            "kinema_rms_norm_backward_",
            t,
            grid,
            address(gd),
            address(xd),
            address(w),
            address(rs),
            address(dxd),
            address(dwp),
            rows,
            n,
            perBlock);
      } else {
        kernels.launch(
            "kinema_layer_norm_backward_",
            t,
            grid,
            address(gd),
            address(xd),
            address(w),
            address(mu),
            address(rs),
            address(dxd),
            address(dwp),
            address(dbp),
            rows,
            n,
            perBlock);
      }
      writeBack(dxd, dx);
      columnSum(dwp, blocks, n, dw);
      columnSum(dbp, blocks, n, db);
    }
  }

  /** out (weight's shape) = the sum over blocks, in block order, of partials [blocks, n]. */
  private void columnSum(Tensor partials, long blocks, long n, Tensor out) {
    if (out == null) return;
    try (Tensor od = denseOutput(out)) {
      kernels.launch(
          "kinema_column_sum_",
          partials.dtype(),
          Grid.of(Math.ceilDiv(n, 256), 256),
          address(partials),
          blocks,
          n,
          address(od),
          od.dtype().ordinal());
      writeBack(od, out);
    }
  }

  /** {@code t} viewed with dims {@code dim} and the last swapped. */
  private static Tensor dimLast(Tensor t, int dim) {
    long[] shape = t.shape(), strides = t.strides();
    int last = shape.length - 1;
    long s = shape[dim], st = strides[dim];
    shape[dim] = shape[last];
    strides[dim] = strides[last];
    shape[last] = s;
    strides[last] = st;
    return DeviceTensors.view(t, shape, strides, t.offset());
  }

  /**
   * Rotary embedding: one thread per pair. The pair index space is x's shape with the last dim
   * halved: the leading dims fused across x, cos, sin and out where their strides allow, then the
   * pair dim, which the kernel needs last and unfused.
   */
  void rotary(Tensor x, Tensor cos, Tensor sin, boolean interleaved, Tensor out) {
    int last = x.dim() - 1;
    Tensor[] ops = {x, cos, sin, out};
    long[][] leading = new long[4][];
    long[] pairStrides = new long[4];
    for (int i = 0; i < 4; i++) {
      leading[i] = Arrays.copyOf(ops[i].strides(), last);
      pairStrides[i] = ops[i].stride(last);
    }
    StridedLayout pairs =
        StridedLayout.of(Arrays.copyOf(x.shape(), last), leading)
            .append(x.size(last) / 2, pairStrides);
    pairs.forEachLaunch(
        (offs, p) ->
            kernels.launch(
                "kinema_rotary_",
                x.dtype(),
                kernels.gridStride(p.numel()),
                address(x, offs[0]),
                address(cos, offs[1]),
                cos.dtype().ordinal(),
                address(sin, offs[2]),
                sin.dtype().ordinal(),
                address(out, offs[3]),
                p.shapeStruct(),
                p.stridesStruct(0),
                p.stridesStruct(1),
                p.stridesStruct(2),
                p.stridesStruct(3),
                p.numel(),
                interleaved ? 1 : 0,
                0));
  }

  // ---------------------------------------------------------------- dense operands

  /** {@code t} itself (a new reference) when contiguous, else a dense copy; null stays null. */
  private Tensor dense(Tensor t) {
    if (t == null) return null;
    if (t.isContiguous()) return t.share(); // a handle of our own, in no Scope
    Tensor d = DeviceTensors.empty(t.dtype(), t, t.shape());
    elementwise.copy(t, d);
    return d;
  }

  /** Where a kernel writes {@code out}: out itself when contiguous, else dense scratch. */
  private Tensor denseOutput(Tensor out) {
    if (out == null || out.isContiguous()) return dense(out);
    return DeviceTensors.empty(out.dtype(), out, out.shape());
  }

  /**
   * Where a kernel writes statistics of {@code dtype}: the caller's tensor or scratch; null: none.
   */
  private Tensor statsOutput(Tensor requested, DType dtype) {
    if (requested == null) return null;
    if (requested.dtype() == dtype && requested.isContiguous()) return dense(requested);
    return DeviceTensors.empty(dtype, requested, requested.shape());
  }

  /** Saved statistics as the dense compute-type rows the kernels read; null stays null. */
  private Tensor statsInput(Tensor t, DType dtype) {
    if (t == null) return null;
    if (t.dtype() == dtype) return dense(t);
    Tensor d = DeviceTensors.empty(dtype, t, t.shape());
    elementwise.copy(t, d);
    return d;
  }

  /** Copies {@code written} into {@code target} unless it is a view of the same memory. */
  private void writeBack(Tensor written, Tensor target) {
    if (written == null || target == null) return;
    if (written.storage() == target.storage() && written.offset() == target.offset()) return;
    elementwise.copy(written, target);
  }
}
