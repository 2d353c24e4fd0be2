package io.kinema.tensor.backend;

import java.util.Arrays;

/**
 * The iteration space of operands sharing a shape, with as few dims as possible: size-1 dims
 * dropped, and each dim fused into the one before it where every operand's strides make the two one
 * run. The rank may be 0 (a single element). Kernels on every backend walk this space.
 *
 * @param shape the fused sizes
 * @param strides per operand, its strides along the fused dims
 */
public record FusedDims(long[] shape, long[][] strides) {
  /**
   * The fused space of operands with {@code strides} (one array per operand) over {@code shape}.
   */
  public static FusedDims of(long[] shape, long[]... strides) {
    int ops = strides.length;
    long[] sh = new long[shape.length];
    long[][] st = new long[ops][shape.length];
    int k = 0;
    for (int d = 0; d < shape.length; d++) {
      if (shape[d] == 1) continue;
      if (k > 0 && fusable(strides, d, st, k - 1, shape[d])) {
        sh[k - 1] *= shape[d];
        for (int i = 0; i < ops; i++) st[i][k - 1] = strides[i][d];
        continue;
      }
      sh[k] = shape[d];
      for (int i = 0; i < ops; i++) st[i][k] = strides[i][d];
      k++;
    }
    long[][] out = new long[ops][];
    for (int i = 0; i < ops; i++) out[i] = Arrays.copyOf(st[i], k);
    return new FusedDims(Arrays.copyOf(sh, k), out);
  }

  public int rank() {
    return shape.length;
  }

  private static boolean fusable(long[][] strides, int d, long[][] st, int prev, long size) {
    for (int i = 0; i < strides.length; i++) {
      if (st[i][prev] != strides[i][d] * size) return false;
    }
    return true;
  }
}
