package io.kinema.train.data;

/**
 * The stored columns of one row, not yet decoded or validated (decoding happens per access, so the
 * row-group cache holds each tensor once, as the file's bytes). Null fields were null or absent in
 * the file; {@code readError} describes a value the reader could not even extract.
 */
record RawRow(
    String id,
    String caption,
    byte[] latentBytes,
    long[] latentShape,
    String latentDtype,
    byte[] textBytes,
    long[] textShape,
    String textDtype,
    String readError) {

  /** Approximate heap footprint, for the cache bound. */
  long heapBytes() {
    long n = 128;
    if (latentBytes != null) n += latentBytes.length;
    if (textBytes != null) n += textBytes.length;
    return n;
  }
}
