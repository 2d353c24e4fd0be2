package io.kinema.tensor;

import io.kinema.tensor.grad.GradMode;

/**
 * Front-end of index_select, gather and scatter_add (PyTorch semantics). Indices are I64 or I32
 * tensors; their values are range-checked by the kernels as they are read (negative values are
 * errors, as in PyTorch's gather/scatter). A 0-d tensor counts as one element along its only dim.
 */
final class IndexOps {
  private IndexOps() {}

  static Tensor indexSelect(Tensor x, int dim, Tensor index) {
    String op = "indexSelect";
    requireNonNull(op, x, index);
    Ops.sameDevice(op, x, index);
    requireIndexType(op, index);
    if (index.dim() > 1) {
      throw new IllegalArgumentException(
          op
              + ": index must be 0-d or 1-d, got "
              + index.describe()
              + " for input "
              + x.describe());
    }
    int d = Shapes.normalizeDim(op, dim, x.dim());
    long n = index.numel();
    if (x.dim() == 0 && n != 1) {
      throw new IllegalArgumentException(
          op + ": a 0-d input " + x.describe() + " takes one index, got " + index.describe());
    }
    long[] shape = x.shape();
    if (x.dim() > 0) shape[d] = n;
    Tensor out = Tensor.empty(x.dtype(), x.device(), shape);
    try (Tensor x1 = atLeast1d(x);
        Tensor i1 = index.reshape(n);
        Tensor o1 = atLeast1d(out)) {
      if (o1.numel() > 0) x.backend().indexSelect(x1, d, i1, o1);
    } catch (RuntimeException | Error e) {
      out.close();
      throw e;
    }
    return out;
  }

  static Tensor gather(Tensor x, int dim, Tensor index) {
    String op = "gather";
    requireNonNull(op, x, index);
    Ops.sameDevice(op, x, index);
    requireIndexType(op, index);
    if (index.dim() != x.dim()) {
      throw new IllegalArgumentException(
          op
              + ": index "
              + index.describe()
              + " must have the same number of dims as the input "
              + x.describe());
    }
    int d = Shapes.normalizeDim(op, dim, x.dim());
    for (int i = 0; i < x.dim(); i++) {
      if (i != d && index.size(i) > x.size(i)) {
        throw new IllegalArgumentException(
            op
                + ": index "
                + index.describe()
                + " is larger than the input "
                + x.describe()
                + " in dim "
                + i
                + " (only dim "
                + d
                + " may differ)");
      }
    }
    Tensor out = Tensor.empty(x.dtype(), x.device(), index.shape());
    try (Tensor x1 = atLeast1d(x);
        Tensor i1 = atLeast1d(index);
        Tensor o1 = atLeast1d(out)) {
      if (o1.numel() > 0) x.backend().gather(x1, d, i1, o1);
    } catch (RuntimeException | Error e) {
      out.close();
      throw e;
    }
    return out;
  }

  static Tensor scatterAdd(Tensor self, int dim, Tensor index, Tensor src, boolean inPlace) {
    String op = inPlace ? "scatterAddInPlace" : "scatterAdd";
    requireNonNull(op, self, index);
    if (src == null) throw new IllegalArgumentException(op + ": src must not be null");
    Ops.sameDevice(op, self, index, src);
    requireIndexType(op, index);
    if (src.dtype() != self.dtype()) {
      throw new IllegalArgumentException(
          op + ": src " + src.describe() + " must have the dtype of self " + self.describe());
    }
    if (index.dim() != self.dim() || src.dim() != self.dim()) {
      throw new IllegalArgumentException(
          op
              + ": self "
              + self.describe()
              + ", index "
              + index.describe()
              + " and src "
              + src.describe()
              + " must have the same number of dims");
    }
    int d = Shapes.normalizeDim(op, dim, self.dim());
    for (int i = 0; i < self.dim(); i++) {
      if (index.size(i) > src.size(i) || (i != d && index.size(i) > self.size(i))) {
        throw new IllegalArgumentException(
            op
                + ": index "
                + index.describe()
                + " must not be larger than src "
                + src.describe()
                + " in any dim, nor than self "
                + self.describe()
                + " in dims other than "
                + d
                + " (dim "
                + i
                + ")");
      }
    }
    if (inPlace) {
      long[] sh = self.shape(), st = self.strides();
      for (int i = 0; i < sh.length; i++) {
        if (sh[i] > 1 && st[i] == 0) {
          throw new IllegalArgumentException(
              op
                  + ": self "
                  + self.describe()
                  + " is a broadcast (expanded) view; several of its elements share memory");
        }
      }
    }
    Tensor target = inPlace ? self : copyUnrecorded(self);
    // The views below are this op's internals: nothing to record for them either.
    try (var ng = GradMode.noGrad();
        Tensor t1 = atLeast1d(target);
        Tensor i1 = atLeast1d(index);
        Tensor s1 = atLeast1d(src);
        Tensor sNarrow = narrowTo(s1, i1.shape())) {
      if (i1.numel() > 0) self.backend().scatterAdd(t1, d, i1, sNarrow);
    } catch (RuntimeException | Error e) {
      if (!inPlace) target.close();
      throw e;
    }
    return target;
  }

  /**
   * A copy that is part of scatter_add, not an op of its own: recorded as one, it would give the
   * result two origins (Tensor.scatterAdd records the whole op).
   */
  private static Tensor copyUnrecorded(Tensor t) {
    try (var ng = GradMode.noGrad()) {
      return t.copy();
    }
  }

  private static void requireNonNull(String op, Tensor x, Tensor index) {
    if (x == null) throw new IllegalArgumentException(op + ": input must not be null");
    if (index == null) throw new IllegalArgumentException(op + ": index must not be null");
  }

  private static void requireIndexType(String op, Tensor index) {
    if (index.dtype() != DType.I64 && index.dtype() != DType.I32) {
      throw new IllegalArgumentException(
          op + ": index must be I64 or I32, got " + index.describe());
    }
  }

  /** A view of t with a 0-d tensor seen as [1]. */
  private static Tensor atLeast1d(Tensor t) {
    return t.dim() == 0 ? t.reshape(1) : t.alias();
  }

  /** The leading {@code shape[d]} elements of every dim of t (a view). */
  private static Tensor narrowTo(Tensor t, long[] shape) {
    Tensor cur = t.alias();
    for (int d = 0; d < shape.length; d++) {
      if (cur.size(d) == shape[d]) continue;
      Tensor next = cur.narrow(d, 0, shape[d]);
      cur.close();
      cur = next;
    }
    return cur;
  }
}
