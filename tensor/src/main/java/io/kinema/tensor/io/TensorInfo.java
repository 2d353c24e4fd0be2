package io.kinema.tensor.io;

import io.kinema.tensor.DType;
import java.util.Arrays;
import java.util.Optional;

/**
 * What a safetensors header says about one tensor: its dtype as the file names it ({@code "F32"},
 * {@code "BF16"}, also types Kinema cannot load such as {@code "I8"} or {@code "F8_E4M3"}), its
 * shape, and its bytes {@code [begin, end)} relative to the start of the data section (the byte
 * after the header), as in the header's {@code data_offsets}.
 *
 * @param name the tensor's key
 * @param dtype the safetensors dtype name
 * @param shape the sizes (row-major; {@code []} for a 0-d scalar)
 * @param begin first byte, relative to the data section
 * @param end one past the last byte, relative to the data section
 */
public record TensorInfo(String name, String dtype, long[] shape, long begin, long end) {
  public TensorInfo {
    shape = shape.clone();
  }

  /** The sizes (a copy). */
  @Override
  public long[] shape() {
    return shape.clone();
  }

  /** Number of elements. */
  public long numel() {
    long n = 1;
    for (long d : shape) n *= d;
    return n;
  }

  /** Number of bytes, {@code end - begin}. */
  public long byteSize() {
    return end - begin;
  }

  /** The Kinema dtype of this tensor, or empty when Kinema does not support the file's dtype. */
  public Optional<DType> kinemaDType() {
    WireType w = WireType.byName(dtype);
    return Optional.ofNullable(w == null ? null : w.dtype);
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof TensorInfo t
        && name.equals(t.name)
        && dtype.equals(t.dtype)
        && Arrays.equals(shape, t.shape)
        && begin == t.begin
        && end == t.end;
  }

  @Override
  public int hashCode() {
    return ((name.hashCode() * 31 + dtype.hashCode()) * 31 + Arrays.hashCode(shape)) * 31
        + Long.hashCode(begin * 31 + end);
  }

  @Override
  public String toString() {
    return name + ": " + dtype + Arrays.toString(shape) + " bytes [" + begin + ", " + end + ")";
  }
}
