package io.kinema.tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Joining and splitting: cat copies into one output (stack is cat of unsqueezed views, in {@link
 * Tensor#stack}); split and chunk return views.
 */
final class ShapeOps {
  private ShapeOps() {}

  static Tensor cat(List<Tensor> tensors, int dim) {
    if (tensors.isEmpty()) throw new IllegalArgumentException("cat: expected at least one tensor");
    Tensor first = tensors.get(0);
    int rank = first.dim();
    if (rank == 0)
      throw new IllegalArgumentException(
          "cat: zero-dim tensor " + first.describe() + " cannot be concatenated");
    int d = Shapes.normalizeDim("cat", dim, rank);
    Ops.sameDevice("cat", tensors.toArray(Tensor[]::new));
    long[] outShape = first.shape();
    DType dtype = first.dtype();
    long total = 0;
    for (int i = 0; i < tensors.size(); i++) {
      Tensor t = tensors.get(i);
      long[] sh = t.shape();
      if (sh.length != rank) {
        throw new IllegalArgumentException(
            "cat: tensor "
                + i
                + " "
                + t.describe()
                + " has rank "
                + sh.length
                + ", tensor 0 "
                + first.describe()
                + " has "
                + rank);
      }
      for (int k = 0; k < rank; k++) {
        if (k != d && sh[k] != outShape[k]) {
          throw new IllegalArgumentException(
              "cat: tensor "
                  + i
                  + " "
                  + t.describe()
                  + " differs from "
                  + first.describe()
                  + " in dim "
                  + k
                  + " (cat dim is "
                  + d
                  + ")");
        }
      }
      total += sh[d];
      dtype = DType.promote(dtype, t.dtype());
    }
    outShape[d] = total;
    Tensor out = Tensor.empty(dtype, first.device(), outShape);
    long at = 0;
    for (Tensor t : tensors) {
      long n = t.size(d);
      try (Tensor dst = out.narrow(d, at, n)) {
        if (n > 0) out.backend().copy(t, dst);
      }
      at += n;
    }
    return out;
  }

  static List<Tensor> split(Tensor x, long splitSize, int dim) {
    int d = Shapes.normalizeDim("split", dim, x.dim());
    if (splitSize <= 0)
      throw new IllegalArgumentException("split: split size must be > 0, got " + splitSize);
    long n = x.size(d);
    List<Tensor> out = new ArrayList<>();
    for (long s = 0; s < n || (n == 0 && out.isEmpty()); s += splitSize)
      out.add(x.narrow(d, s, Math.min(splitSize, n - s)));
    return out;
  }

  static List<Tensor> split(Tensor x, long[] sizes, int dim) {
    int d = Shapes.normalizeDim("split", dim, x.dim());
    long sum = 0;
    for (long s : sizes) {
      if (s < 0)
        throw new IllegalArgumentException("split: negative size in " + Arrays.toString(sizes));
      sum += s;
    }
    if (sum != x.size(d)) {
      throw new IllegalArgumentException(
          "split: sizes "
              + Arrays.toString(sizes)
              + " sum to "
              + sum
              + " but dim "
              + d
              + " of "
              + x.describe()
              + " is "
              + x.size(d));
    }
    List<Tensor> out = new ArrayList<>(sizes.length);
    long at = 0;
    for (long s : sizes) {
      out.add(x.narrow(d, at, s));
      at += s;
    }
    return out;
  }

  static List<Tensor> chunk(Tensor x, int chunks, int dim) {
    if (chunks <= 0) throw new IllegalArgumentException("chunk: chunks must be > 0, got " + chunks);
    int d = Shapes.normalizeDim("chunk", dim, x.dim());
    long n = x.size(d);
    long size = Math.max(1, (n + chunks - 1) / chunks);
    return split(x, size, d);
  }
}
