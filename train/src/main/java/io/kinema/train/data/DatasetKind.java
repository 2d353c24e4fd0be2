package io.kinema.train.data;

import java.util.List;
import java.util.Locale;

/**
 * The preprocessed-data layouts FastVideo writes (its {@code preprocessed_data_type}): which
 * columns a Parquet file must have.
 */
public enum DatasetKind {
  /** Text-to-video rows: VAE latent plus text embedding ({@code pyarrow_schema_t2v}). */
  T2V(
      List.of(
          "id",
          "caption",
          "vae_latent_bytes",
          "vae_latent_shape",
          "text_embedding_bytes",
          "text_embedding_shape")),
  /** Prompt-only rows for methods that generate their own latents (self-forcing simulation). */
  TEXT_ONLY(List.of("id", "caption", "text_embedding_bytes", "text_embedding_shape"));

  private final List<String> requiredColumns;

  DatasetKind(List<String> requiredColumns) {
    this.requiredColumns = requiredColumns;
  }

  /** The columns every file of this kind must have ({@code *_dtype} columns are optional). */
  public List<String> requiredColumns() {
    return requiredColumns;
  }

  public boolean hasLatents() {
    return this == T2V;
  }

  /** Parses FastVideo's config value: {@code "t2v"} or {@code "text_only"}. */
  public static DatasetKind parse(String value) {
    return switch (value.trim().toLowerCase(Locale.ROOT)) {
      case "t2v" -> T2V;
      case "text_only" -> TEXT_ONLY;
      default ->
          throw new IllegalArgumentException(
              "preprocessed_data_type: expected t2v or text_only, got \"" + value + "\"");
    };
  }
}
