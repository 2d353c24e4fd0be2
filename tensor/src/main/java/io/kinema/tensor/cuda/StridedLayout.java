package io.kinema.tensor.cuda;

import io.kinema.tensor.backend.FusedDims;
import java.util.Arrays;

/**
 * The index space of a strided kernel: several operands of one shape, each with its own element
 * strides, with size-1 dims dropped and neighbouring dims fused wherever every operand's strides
 * allow (as the CPU's {@code StridedLoop}), so a contiguous tensor is one dim of stride 1 and index
 * arithmetic on the GPU stays short. The kernels take at most {@link KernelStructs#MAX_RANK} dims;
 * {@link #forEachLaunch} runs the dims beyond that as a host loop of launches.
 *
 * @param shape the fused sizes (rank 0 when every dim has size 1)
 * @param strides per operand, the fused element strides
 */
record StridedLayout(long[] shape, long[][] strides) {
  /** Receives one launch's operand offsets (elements, per operand) and its index space. */
  @FunctionalInterface
  interface Launch {
    void run(long[] offsets, StridedLayout part);
  }

  /** The fused layout of operands with {@code strides} over {@code shape}. */
  static StridedLayout of(long[] shape, long[]... strides) {
    FusedDims f = FusedDims.of(shape, strides);
    return new StridedLayout(f.shape(), f.strides());
  }

  /** This layout with one more (innermost, unfused) dim of {@code size}, operand strides given. */
  StridedLayout append(long size, long... innerStrides) {
    long[][] st = new long[strides.length][];
    for (int i = 0; i < st.length; i++) {
      st[i] = Arrays.copyOf(strides[i], rank() + 1);
      st[i][rank()] = innerStrides[i];
    }
    long[] sh = Arrays.copyOf(shape, rank() + 1);
    sh[rank()] = size;
    return new StridedLayout(sh, st);
  }

  int rank() {
    return shape.length;
  }

  long numel() {
    long n = 1;
    for (long s : shape) n *= s;
    return n;
  }

  /** True when operand {@code i} walks memory contiguously in this index order (stride 1). */
  boolean dense(int i) {
    return rank() == 0 || (rank() == 1 && strides[i][0] == 1);
  }

  /** True when operand {@code i} is one element seen everywhere (every stride 0). */
  boolean broadcastScalar(int i) {
    for (long s : strides[i]) if (s != 0) return false;
    return true;
  }

  /** {@code kinema_shape} of this layout. */
  byte[] shapeStruct() {
    return KernelStructs.shape(shape);
  }

  /** {@code kinema_strides} of operand {@code i}. */
  byte[] stridesStruct(int i) {
    return KernelStructs.strides(strides[i]);
  }

  /**
   * Calls {@code launch} once per kernel launch: once with offsets 0 when the rank fits the
   * kernels, else once per index of the leading dims beyond {@link KernelStructs#MAX_RANK}, with
   * each operand's element offset of that index and the trailing dims' layout. Nothing for an empty
   * index space.
   */
  void forEachLaunch(Launch launch) {
    if (numel() == 0) return;
    int ops = strides.length;
    int outer = Math.max(0, rank() - KernelStructs.MAX_RANK);
    if (outer == 0) {
      launch.run(new long[ops], this);
      return;
    }
    long[][] inner = new long[ops][];
    for (int i = 0; i < ops; i++) inner[i] = Arrays.copyOfRange(strides[i], outer, rank());
    StridedLayout part = new StridedLayout(Arrays.copyOfRange(shape, outer, rank()), inner);
    long count = 1;
    for (int d = 0; d < outer; d++) count *= shape[d];
    long[] idx = new long[outer];
    for (long c = 0; c < count; c++) {
      long[] offsets = new long[ops];
      for (int i = 0; i < ops; i++) {
        for (int d = 0; d < outer; d++) offsets[i] += idx[d] * strides[i][d];
      }
      launch.run(offsets, part);
      for (int d = outer - 1; d >= 0 && ++idx[d] == shape[d]; d--) idx[d] = 0;
    }
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof StridedLayout l
        && Arrays.equals(shape, l.shape)
        && Arrays.deepEquals(strides, l.strides);
  }

  @Override
  public int hashCode() {
    return 31 * Arrays.hashCode(shape) + Arrays.deepHashCode(strides);
  }

  @Override
  public String toString() {
    return "StridedLayout" + Arrays.toString(shape) + " strides " + Arrays.deepToString(strides);
  }
}
