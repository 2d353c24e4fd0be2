package io.kinema.nn;

import io.kinema.tensor.DType;
import io.kinema.tensor.Generator;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;

/**
 * A lookup table (PyTorch's {@code nn.Embedding}): {@code weight [num, dim]} initialized N(0, 1);
 * integer indices of any shape {@code [*]} give {@code [*, dim]}. The gradient is scattered back
 * into the rows that were used.
 */
public final class Embedding extends Module implements Layer {
  private final long numEmbeddings, embeddingDim;
  private final Parameter weight;

  /** F32 table. */
  public Embedding(long numEmbeddings, long embeddingDim, Generator generator) {
    this(numEmbeddings, embeddingDim, DType.F32, generator);
  }

  /** A null {@code generator} leaves the table zero (to be loaded from a checkpoint). */
  public Embedding(long numEmbeddings, long embeddingDim, DType dtype, Generator generator) {
    if (numEmbeddings < 0 || embeddingDim < 0) {
      throw new IllegalArgumentException(
          "Embedding: negative size (num_embeddings="
              + numEmbeddings
              + ", embedding_dim="
              + embeddingDim
              + ")");
    }
    this.numEmbeddings = numEmbeddings;
    this.embeddingDim = embeddingDim;
    this.weight = registerParameter("weight", Tensor.zeros(dtype, numEmbeddings, embeddingDim));
    if (generator != null) Init.normal(weight.data(), 0, 1, generator);
  }

  public Parameter weight() {
    return weight;
  }

  /** Rows of the table at {@code indices} (I64 or I32, any shape). */
  @Override
  public Tensor forward(Tensor indices) {
    if (indices.dtype() != DType.I64 && indices.dtype() != DType.I32) {
      throw new IllegalArgumentException(
          "Embedding: expected I64 or I32 indices, got " + indices.describe() + " for " + this);
    }
    long[] shape = indices.shape();
    long[] outShape = java.util.Arrays.copyOf(shape, shape.length + 1);
    outShape[shape.length] = embeddingDim;
    try (var s = Scope.open()) {
      Tensor rows = weight.data().indexSelect(0, indices.reshape(-1));
      return s.keep(rows.reshape(outShape));
    }
  }

  @Override
  public String toString() {
    return "Embedding(" + numEmbeddings + ", " + embeddingDim + ")";
  }
}
