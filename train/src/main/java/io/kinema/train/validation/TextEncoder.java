package io.kinema.train.validation;

/**
 * Turns a validation caption into the text embedding the DiT was trained with. Kinema has no UMT5:
 * real runs look captions up in the data set's stored embeddings; the demo uses its fixed word
 * embedder.
 */
@FunctionalInterface
public interface TextEncoder {
  /** One caption's embedding: {@code tokens} rows of {@code dim} values, row-major. */
  record Embedding(float[] values, int tokens, int dim) {
    public Embedding {
      if (tokens < 1 || dim < 1 || values.length != (long) tokens * dim) {
        throw new IllegalArgumentException(
            "Embedding: " + values.length + " values for " + tokens + " x " + dim);
      }
    }
  }

  Embedding encode(String caption);
}
