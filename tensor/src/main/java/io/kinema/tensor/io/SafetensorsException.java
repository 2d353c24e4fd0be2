package io.kinema.tensor.io;

import java.io.IOException;

/**
 * A safetensors file or checkpoint index that cannot be read as one: malformed header, offsets that
 * do not match the dtype and shape, a missing shard, a dtype Kinema does not support, and so on.
 * The message names the file and, where it applies, the tensor and what was expected.
 *
 * <p>It is an {@link IOException} (as {@link java.util.zip.ZipException} is) because a bad file is
 * a property of the data on disk, not a programming error: callers that open files already handle
 * {@code IOException}, and a loader can catch this one to report a corrupt download. Misuse of the
 * API (an unknown tensor name, a closed file) is an unchecked exception instead.
 */
public final class SafetensorsException extends IOException {
  private static final long serialVersionUID = 1L;

  public SafetensorsException(String message) {
    super(message);
  }

  public SafetensorsException(String message, Throwable cause) {
    super(message, cause);
  }
}
