package io.kinema.tensor.cuda;

import static io.kinema.tensor.cuda.DeviceTensors.address;

import io.kinema.tensor.DType;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.backend.ReduceGeometry;
import io.kinema.tensor.backend.ReduceOp;
import io.kinema.tensor.cuda.CudaKernels.Grid;
import java.util.Arrays;

/**
 * Reductions and argmax/argmin on CUDA ({@code reduce.cu}). Floating reductions run in two
 * deterministic launches: a partial pass writes f64 partials per (output, split), and {@code
 * kinema_reduce_finish} combines each output's splits in order and finishes the op (mean, the
 * norm's root, the variance's divisor). VAR/STD add a second partial pass over squared deviations
 * from the first pass's means, as the CPU does. The reduced range is split only when there are too
 * few outputs to fill the GPU (a full reduction uses about two blocks per SM).
 */
final class CudaReduce {
  /** Reductions this short take one warp per output instead of a block. */
  private static final long WARP_PER_OUTPUT_MAX = 1024;

  /** The least elements (row plan) or rows (column plan) a split is given. */
  private static final long ROW_SPLIT_MIN = 2048, COLUMN_SPLIT_MIN = 64;

  private final CudaKernels kernels;
  private final CudaElementwise elementwise;

  CudaReduce(CudaKernels kernels, CudaElementwise elementwise) {
    this.kernels = kernels;
    this.elementwise = elementwise;
  }

  void reduce(ReduceOp op, Tensor x, int[] dims, double param, Tensor out) {
    ReduceGeometry g = ReduceGeometry.of(x.shape(), x.strides(), out.strides(), dims);
    long numOut = g.numOut(), n = g.n();
    if (numOut == 0) return;
    if (n == 0) {
      // Empty reductions: the identity (the front-end rejects MAX/MIN and norms without one).
      double v =
          switch (op) {
            case SUM, NORM -> 0;
            case PROD -> 1;
            default -> Double.NaN;
          };
      elementwise.fill(out, v);
      return;
    }
    if (g.keptShape().length > KernelStructs.MAX_RANK
        || g.redShape().length > KernelStructs.MAX_RANK) {
      throw new UnsupportedOperationException(
          "not supported on CUDA yet: "
              + op
              + " over dims "
              + Arrays.toString(dims)
              + " of "
              + x.describe()
              + " with strides "
              + Arrays.toString(x.strides())
              + ": more than 8 kept or reduced dims remain after fusing contiguous ones ("
              + g
              + ")");
    }
    if (!x.dtype().isFloatingPoint()) {
      integerReduce(op, x, g, out);
      return;
    }
    boolean column = columnPlan(g);
    boolean warp = !column && n <= WARP_PER_OUTPUT_MAX;
    int splits = splits(g, column, warp);
    ReduceKind kind = ReduceKind.of(op, param);
    try (Tensor partials = DeviceTensors.empty(DType.F64, x, numOut * splits)) {
      if (op != ReduceOp.VAR && op != ReduceOp.STD) {
        partialPass(kind, x, g, column, warp, splits, 0, param, partials);
        finish(op, kind, partials, splits, g, param, out, 0);
        return;
      }
      try (Tensor means = DeviceTensors.empty(DType.F64, x, numOut)) {
        partialPass(ReduceKind.SUM, x, g, column, warp, splits, 0, param, partials);
        finish(ReduceOp.MEAN, ReduceKind.SUM, partials, splits, g, param, null, address(means));
        partialPass(
            ReduceKind.SUM_SQDEV, x, g, column, warp, splits, address(means), param, partials);
        finish(op, ReduceKind.SUM_SQDEV, partials, splits, g, param, out, 0);
      }
    }
  }

  /**
   * True when the column plan suits: the innermost kept dim is contiguous in x and at least 16
   * long, and the reduced dims are outer (a warp then reads 32 neighbouring elements).
   */
  private static boolean columnPlan(ReduceGeometry g) {
    long[] kept = g.keptShape(), keptX = g.keptX(), redX = g.redX();
    int k = kept.length;
    return k > 0 && keptX[k - 1] == 1 && kept[k - 1] >= 16 && redX[redX.length - 1] != 1;
  }

  /** Splits of the reduced range: 1 unless the outputs alone cannot fill the GPU. */
  private int splits(ReduceGeometry g, boolean column, boolean warp) {
    long numOut = g.numOut(), n = g.n();
    long blocks = column ? Math.ceilDiv(numOut, 32) : warp ? Math.ceilDiv(numOut, 8) : numOut;
    long target = 2L * kernels.multiprocessors();
    if (blocks >= target) return 1;
    long wanted = Math.ceilDiv(target, blocks);
    long affordable = n / (column ? COLUMN_SPLIT_MIN : ROW_SPLIT_MIN);
    return (int) Math.max(1, Math.min(Math.min(wanted, affordable), 65535));
  }

  private void partialPass(
      ReduceKind kind,
      Tensor x,
      ReduceGeometry g,
      boolean column,
      boolean warp,
      int splits,
      long means,
      double param,
      Tensor partials) {
    long numOut = g.numOut();
    DType t = x.dtype();
    byte[] kept = KernelStructs.shape(g.keptShape()), keptX = KernelStructs.strides(g.keptX());
    byte[] red = KernelStructs.shape(g.redShape()), redX = KernelStructs.strides(g.redX());
    if (column) {
      kernels.launch(
          "kinema_reduce_cols_",
          t,
          new Grid(Math.ceilDiv(numOut, 32), splits, 32, 8),
          kind.code(),
          address(x),
          kept,
          keptX,
          red,
          redX,
          g.n(),
          numOut,
          splits,
          means,
          param,
          address(partials));
    } else {
      long blocks = warp ? Math.ceilDiv(numOut, 8) : numOut;
      kernels.launch(
          "kinema_reduce_rows_",
          t,
          new Grid(blocks, splits, CudaKernels.BLOCK, 1),
          kind.code(),
          address(x),
          kept,
          keptX,
          red,
          redX,
          g.n(),
          numOut,
          splits,
          means,
          param,
          address(partials),
          warp ? 1 : 0);
    }
  }

  /** Combines the partials and writes {@code out} (nullable) and/or f64 {@code values}. */
  private void finish(
      ReduceOp op,
      ReduceKind kind,
      Tensor partials,
      int splits,
      ReduceGeometry g,
      double param,
      Tensor out,
      long values) {
    kernels.launch(
        "kinema_reduce_finish",
        Math.ceilDiv(g.numOut(), CudaKernels.BLOCK),
        op.ordinal(),
        kind.code(),
        address(partials),
        splits,
        g.numOut(),
        g.n(),
        param,
        address(out),
        out == null ? DType.F64.ordinal() : out.dtype().ordinal(),
        KernelStructs.shape(g.keptShape()),
        KernelStructs.strides(g.keptOut()),
        values);
  }

  /** SUM/PROD (into I64) and MAX/MIN of integers and BOOL, a block per output. */
  private void integerReduce(ReduceOp op, Tensor x, ReduceGeometry g, Tensor out) {
    kernels.launch(
        "kinema_reduce_int",
        g.numOut(),
        op.ordinal(),
        address(x),
        x.dtype().ordinal(),
        KernelStructs.shape(g.keptShape()),
        KernelStructs.strides(g.keptX()),
        KernelStructs.shape(g.redShape()),
        KernelStructs.strides(g.redX()),
        g.n(),
        address(out),
        out.dtype().ordinal(),
        KernelStructs.strides(g.keptOut()));
  }

  /** Index (I64) of the first max (min) along {@code dim}: a block per line. */
  void argReduce(boolean max, Tensor x, int dim, Tensor out) {
    int rank = x.dim();
    long[] lines = new long[rank - 1], linesX = new long[rank - 1], linesOut = new long[rank - 1];
    for (int d = 0, j = 0; d < rank; d++) {
      if (d == dim) continue;
      lines[j] = x.size(d);
      linesX[j] = x.stride(d);
      linesOut[j++] = out.stride(d);
    }
    long len = x.size(dim), stride = x.stride(dim);
    StridedLayout l = StridedLayout.of(lines, linesX, linesOut);
    l.forEachLaunch(
        (offs, p) ->
            kernels.launch(
                "kinema_argreduce",
                p.numel(),
                max ? 1 : 0,
                address(x, offs[0]),
                x.dtype().ordinal(),
                p.shapeStruct(),
                p.stridesStruct(0),
                p.stridesStruct(1),
                len,
                stride,
                DeviceTensors.address(out, offs[1])));
  }
}
