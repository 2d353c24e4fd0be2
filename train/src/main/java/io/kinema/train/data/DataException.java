package io.kinema.train.data;

/**
 * Bad training data: a missing or unreadable file, a schema that is not FastVideo's, or a row whose
 * tensors do not match their declared shape. The message names the file and row and says what was
 * expected, e.g. {@code "data/part-00003.parquet row 17: vae_latent_bytes has 4096 bytes, shape
 * [16,2,8,8] needs 8192"}.
 */
public final class DataException extends RuntimeException {
  public DataException(String message) {
    super(message);
  }

  public DataException(String message, Throwable cause) {
    super(message, cause);
  }
}
