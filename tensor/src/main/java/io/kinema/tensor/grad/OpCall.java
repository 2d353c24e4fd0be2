package io.kinema.tensor.grad;

import io.kinema.tensor.AttentionMask;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.backend.BinaryOp;
import io.kinema.tensor.backend.Epilogue;
import io.kinema.tensor.backend.ReduceOp;
import io.kinema.tensor.backend.UnaryOp;
import java.util.List;

/**
 * What a differentiable op was called with: the record the autograd engine keeps to run the op's
 * derivative rule in backward. One record per op family; {@link #inputs()} lists the operands
 * gradients flow to, in order (constants such as indices, masks and rotary tables are not among
 * them).
 */
public sealed interface OpCall {
  /** The operands gradients flow to. */
  List<Tensor> inputs();

  /** {@code op(x)} with the scalar parameters of {@link UnaryOp}. */
  record Unary(UnaryOp op, Tensor x, double p1, double p2) implements OpCall {
    public List<Tensor> inputs() {
      return List.of(x);
    }
  }

  /** {@code op(a, b)} with broadcasting. */
  record Binary(BinaryOp op, Tensor a, Tensor b) implements OpCall {
    public List<Tensor> inputs() {
      return List.of(a, b);
    }
  }

  /** {@code op(a, s)} for a Java scalar s. */
  record BinaryScalar(BinaryOp op, Tensor a, double s) implements OpCall {
    public List<Tensor> inputs() {
      return List.of(a);
    }
  }

  /** {@code cond ? a : b}; cond is a constant. */
  record Where(Tensor cond, Tensor a, Tensor b) implements OpCall {
    public List<Tensor> inputs() {
      return List.of(a, b);
    }
  }

  /** A reduction over sorted, normalized {@code dims}. */
  record Reduce(ReduceOp op, Tensor x, int[] dims, boolean keepdim, double param)
      implements OpCall {
    public List<Tensor> inputs() {
      return List.of(x);
    }
  }

  /** {@code a @ b} with PyTorch's matmul rules. */
  record Matmul(Tensor a, Tensor b) implements OpCall {
    public List<Tensor> inputs() {
      return List.of(a, b);
    }
  }

  /**
   * PyTorch's {@code linear} with a fused activation: {@code epilogue(x @ weight^T + bias)}; bias
   * may be null; {@code preActivation} is the forward's {@code x @ weight^T + bias} when the
   * epilogue is an activation (not an input: kept for the backward), else null.
   */
  record Linear(Tensor x, Tensor weight, Tensor bias, Epilogue epilogue, Tensor preActivation)
      implements OpCall {
    public List<Tensor> inputs() {
      return nonNull(x, weight, bias);
    }
  }

  /** softmax or log_softmax along {@code dim}. */
  record Softmax(Tensor x, int dim, boolean log) implements OpCall {
    public List<Tensor> inputs() {
      return List.of(x);
    }
  }

  /**
   * layer_norm; weight and bias may be null; {@code mean} and {@code rstd} are the forward's row
   * statistics (not inputs: kept for the backward).
   */
  record LayerNorm(
      Tensor x,
      long[] normalizedShape,
      Tensor weight,
      Tensor bias,
      double eps,
      Tensor mean,
      Tensor rstd)
      implements OpCall {
    public List<Tensor> inputs() {
      return nonNull(x, weight, bias);
    }
  }

  /** rms_norm; weight may be null; {@code rstd} is the forward's (kept for the backward). */
  record RmsNorm(Tensor x, long[] normalizedShape, Tensor weight, double eps, Tensor rstd)
      implements OpCall {
    public List<Tensor> inputs() {
      return nonNull(x, weight);
    }
  }

  /** Rotary embedding of x; the cos/sin tables are constants. */
  record Rotary(Tensor x, Tensor cos, Tensor sin, boolean interleaved) implements OpCall {
    public List<Tensor> inputs() {
      return List.of(x);
    }
  }

  /**
   * Fused scaled dot-product attention; the mask is a constant, {@code lse} the forward's row
   * log-sum-exp (not an input: kept for the backward).
   */
  record Attention(Tensor q, Tensor k, Tensor v, AttentionMask mask, double scale, Tensor lse)
      implements OpCall {
    public List<Tensor> inputs() {
      return List.of(q, k, v);
    }
  }

  /** 3-d convolution (dilation 1, groups 1); bias may be null. */
  record Conv3d(Tensor x, Tensor weight, Tensor bias, long[] stride, long[] padding)
      implements OpCall {
    public List<Tensor> inputs() {
      return nonNull(x, weight, bias);
    }
  }

  record IndexSelect(Tensor x, int dim, Tensor index) implements OpCall {
    public List<Tensor> inputs() {
      return List.of(x);
    }
  }

  record Gather(Tensor x, int dim, Tensor index) implements OpCall {
    public List<Tensor> inputs() {
      return List.of(x);
    }
  }

  /** Out-of-place scatter_add of src into a copy of self. */
  record ScatterAdd(Tensor self, int dim, Tensor index, Tensor src) implements OpCall {
    public List<Tensor> inputs() {
      return List.of(self, src);
    }
  }

  record Cat(List<Tensor> tensors, int dim) implements OpCall {
    public List<Tensor> inputs() {
      return tensors;
    }
  }

  /** A dtype conversion or a copy (contiguous, clone): the gradient is converted back. */
  record Convert(Tensor x) implements OpCall {
    public List<Tensor> inputs() {
      return List.of(x);
    }
  }

  /** A view with another shape and the same elements in the same order (view, reshape, ...). */
  record Reshape(Tensor x) implements OpCall {
    public List<Tensor> inputs() {
      return List.of(x);
    }
  }

  /** Dims reordered: result dim i is x's dim {@code order[i]} (permute, transpose). */
  record Permute(Tensor x, int[] order) implements OpCall {
    public List<Tensor> inputs() {
      return List.of(x);
    }
  }

  /** A broadcast view (expand): the gradient is summed back to x's shape. */
  record Expand(Tensor x) implements OpCall {
    public List<Tensor> inputs() {
      return List.of(x);
    }
  }

  /** Elements start, start+step, ... of dim {@code dim} (narrow, slice, split, chunk). */
  record Slice(Tensor x, int dim, long start, long length, long step) implements OpCall {
    public List<Tensor> inputs() {
      return List.of(x);
    }
  }

  /** Index {@code index} of dim {@code dim}, which is removed. */
  record Select(Tensor x, int dim, long index) implements OpCall {
    public List<Tensor> inputs() {
      return List.of(x);
    }
  }

  private static List<Tensor> nonNull(Tensor... ts) {
    java.util.ArrayList<Tensor> l = new java.util.ArrayList<>(ts.length);
    for (Tensor t : ts) if (t != null) l.add(t);
    return List.copyOf(l);
  }
}
