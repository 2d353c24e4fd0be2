package io.kinema.tensor;

/** Stride arithmetic for views. */
final class Views {
  private Views() {}

  /**
   * Strides that let a tensor of {@code oldShape}/{@code oldStrides} be seen as {@code newShape}
   * without copying, or null when impossible (PyTorch's computeStride: each run of old dims that is
   * contiguous in memory can be re-split freely).
   */
  static long[] reshapeStrides(long[] oldShape, long[] oldStrides, long[] newShape) {
    long[] newStrides = new long[newShape.length];
    long numel = Shapes.numel(oldShape);
    if (numel == 0) return Shapes.contiguousStrides(newShape);
    int viewD = newShape.length - 1;
    long chunkBase = oldStrides.length == 0 ? 1 : oldStrides[oldStrides.length - 1];
    long tensorNumel = 1, viewNumel = 1;
    for (int td = oldShape.length - 1; td >= 0; td--) {
      tensorNumel *= oldShape[td];
      boolean runEnds =
          td == 0 || (oldShape[td - 1] != 1 && oldStrides[td - 1] != tensorNumel * chunkBase);
      if (runEnds) {
        while (viewD >= 0 && (viewNumel < tensorNumel || newShape[viewD] == 1)) {
          newStrides[viewD] = viewNumel * chunkBase;
          viewNumel *= newShape[viewD];
          viewD--;
        }
        if (viewNumel != tensorNumel) return null;
        if (td > 0) {
          chunkBase = oldStrides[td - 1];
          tensorNumel = 1;
          viewNumel = 1;
        }
      }
    }
    if (viewD != -1) {
      // Remaining leading size-1 dims.
      for (; viewD >= 0; viewD--) {
        if (newShape[viewD] != 1) return null;
        newStrides[viewD] = 1;
      }
    }
    return newStrides;
  }
}
