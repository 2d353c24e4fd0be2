package io.kinema.tensor.cuda;

import io.kinema.tensor.DType;
import io.kinema.tensor.Tensor;

/**
 * Small helpers the CUDA op classes share: device addresses of views, and raw views and scratch
 * tensors built without the front-end (which would check, and might record autograd ops).
 */
final class DeviceTensors {
  private DeviceTensors() {}

  /** The device address of {@code t}'s first element (0 for a null tensor). */
  static long address(Tensor t) {
    if (t == null) return 0;
    return t.storage().segment().address() + t.offset() * t.dtype().byteSize();
  }

  /** {@code t}'s device address plus {@code elements} of its dtype. */
  static long address(Tensor t, long elements) {
    return address(t) + elements * t.dtype().byteSize();
  }

  /** A view of {@code t}'s storage with the given geometry (a new reference the caller closes). */
  static Tensor view(Tensor t, long[] shape, long[] strides, long offset) {
    return new Tensor(t.storage().retain(), t.dtype(), shape, strides, offset);
  }

  /**
   * {@code t} narrowed to {@code [0, length)} along its last dim (a view; the caller closes it).
   */
  static Tensor narrowLast(Tensor t, long length) {
    long[] shape = t.shape();
    shape[shape.length - 1] = length;
    return view(t, shape, t.strides(), t.offset());
  }

  /** An uninitialized contiguous tensor on {@code like}'s device. */
  static Tensor empty(DType dtype, Tensor like, long... shape) {
    return Tensor.empty(dtype, like.device(), shape);
  }

  /** Element strides of a contiguous tensor of {@code shape}. */
  static long[] contiguousStrides(long[] shape) {
    long[] st = new long[shape.length];
    long s = 1;
    for (int d = shape.length - 1; d >= 0; d--) {
      st[d] = s;
      s *= shape[d];
    }
    return st;
  }

  static long product(long[] shape, int from, int to) {
    long n = 1;
    for (int d = from; d < to; d++) n *= shape[d];
    return n;
  }
}
