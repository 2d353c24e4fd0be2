package io.kinema.tensor.cpu;

import io.kinema.tensor.Tensor;
import io.kinema.tensor.backend.BinaryOp;
import io.kinema.tensor.backend.UnaryOp;

/** Elementwise kernels: copy/cast, fill, unary, binary, where. */
final class CpuElementwise {
  private CpuElementwise() {}

  static void copy(Tensor src, Tensor dst) {
    var s = src.storage().segment();
    var d = dst.storage().segment();
    var st = src.dtype();
    var dt = dst.dtype();
    StridedLoop.forEach(
        dst.shape(),
        new long[][] {src.strides(), dst.strides()},
        new long[] {src.offset(), dst.offset()},
        (offs, strides, n) -> {
          for (long i = 0; i < n; i++) {
            long si = offs[0] + i * strides[0], di = offs[1] + i * strides[1];
            if (dt.isFloatingPoint() || st.isFloatingPoint()) {
              Elements.setDouble(d, dt, di, Elements.getDouble(s, st, si));
            } else {
              Elements.setLong(d, dt, di, Elements.getLong(s, st, si));
            }
          }
        });
  }

  static void fill(Tensor dst, double value) {
    var d = dst.storage().segment();
    var dt = dst.dtype();
    StridedLoop.forEach(
        dst.shape(),
        new long[][] {dst.strides()},
        new long[] {dst.offset()},
        (offs, strides, n) -> {
          for (long i = 0; i < n; i++) Elements.setDouble(d, dt, offs[0] + i * strides[0], value);
        });
  }

  static void unary(UnaryOp op, Tensor x, Tensor out, double p1, double p2) {
    throw new UnsupportedOperationException("not implemented yet");
  }

  static void binary(BinaryOp op, Tensor a, Tensor b, Tensor out) {
    throw new UnsupportedOperationException("not implemented yet");
  }

  static void where(Tensor cond, Tensor a, Tensor b, Tensor out) {
    throw new UnsupportedOperationException("not implemented yet");
  }
}
