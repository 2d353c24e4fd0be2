package io.kinema.tensor.io;

import io.kinema.tensor.DType;
import java.util.HashMap;
import java.util.Map;

/**
 * The element types the safetensors format defines (its Rust {@code Dtype}), with their width in
 * bits and the Kinema dtype each maps to, if any. Knowing the width of every type lets a file with
 * a type Kinema cannot compute on (I8, F8_E4M3, ...) still be validated and listed.
 */
enum WireType {
  BOOL(8, DType.BOOL),
  F4(4, null),
  F6_E2M3(6, null),
  F6_E3M2(6, null),
  U8(8, DType.U8),
  I8(8, null),
  F8_E5M2(8, null),
  F8_E4M3(8, null),
  F8_E8M0(8, null),
  F8_E4M3FNUZ(8, null),
  F8_E5M2FNUZ(8, null),
  I16(16, null),
  U16(16, null),
  F16(16, DType.F16),
  BF16(16, DType.BF16),
  I32(32, DType.I32),
  U32(32, null),
  F32(32, DType.F32),
  C64(64, null),
  F64(64, DType.F64),
  I64(64, DType.I64),
  U64(64, null);

  private static final Map<String, WireType> BY_NAME = new HashMap<>();

  static {
    for (WireType t : values()) BY_NAME.put(t.name(), t);
  }

  final int bits;

  /** The Kinema dtype with the same name and bit layout, or null when there is none. */
  final DType dtype;

  WireType(int bits, DType dtype) {
    this.bits = bits;
    this.dtype = dtype;
  }

  /** The type called {@code name} in a header, or null for a name the format does not define. */
  static WireType byName(String name) {
    return BY_NAME.get(name);
  }

  /** The wire type of a Kinema dtype (the names are the same). */
  static WireType of(DType dtype) {
    return valueOf(dtype.name());
  }
}
