package io.kinema.tensor;

import io.kinema.tensor.backend.BinaryOp;
import io.kinema.tensor.backend.UnaryOp;

/** Front-end of elementwise ops: dtype rules, broadcasting, output allocation. */
final class ElementwiseOps {
  private ElementwiseOps() {}

  static Tensor unary(UnaryOp op, Tensor x) {
    return unary(op, x, 0, 0);
  }

  static Tensor unary(UnaryOp op, Tensor x, double p1, double p2) {
    throw new UnsupportedOperationException("not implemented yet");
  }

  static Tensor binary(BinaryOp op, Tensor a, Tensor b) {
    throw new UnsupportedOperationException("not implemented yet");
  }

  static Tensor binary(BinaryOp op, Tensor a, double b) {
    throw new UnsupportedOperationException("not implemented yet");
  }

  static Tensor binaryInPlace(BinaryOp op, Tensor self, Tensor other) {
    throw new UnsupportedOperationException("not implemented yet");
  }

  static Tensor binaryInPlace(BinaryOp op, Tensor self, double other) {
    throw new UnsupportedOperationException("not implemented yet");
  }

  static Tensor where(Tensor cond, Tensor a, Tensor b) {
    throw new UnsupportedOperationException("not implemented yet");
  }
}
