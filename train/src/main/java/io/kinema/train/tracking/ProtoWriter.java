package io.kinema.train.tracking;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * The few protobuf wire-format encodings TensorBoard events need (varint, 32/64-bit fixed, length
 * delimited), so the trainer needs no protobuf library. Fields are written in the order called.
 */
final class ProtoWriter {
  static final int VARINT = 0;
  static final int FIXED64 = 1;
  static final int LENGTH_DELIMITED = 2;
  static final int FIXED32 = 5;

  private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();

  ProtoWriter int64(int field, long value) {
    tag(field, VARINT);
    varint(value);
    return this;
  }

  ProtoWriter double64(int field, double value) {
    tag(field, FIXED64);
    littleEndian(Double.doubleToRawLongBits(value), 8);
    return this;
  }

  ProtoWriter float32(int field, float value) {
    tag(field, FIXED32);
    littleEndian(Float.floatToRawIntBits(value), 4);
    return this;
  }

  ProtoWriter string(int field, String value) {
    return bytes(field, value.getBytes(StandardCharsets.UTF_8));
  }

  ProtoWriter message(int field, ProtoWriter message) {
    return bytes(field, message.toByteArray());
  }

  ProtoWriter bytes(int field, byte[] value) {
    tag(field, LENGTH_DELIMITED);
    varint(value.length);
    bytes.writeBytes(value);
    return this;
  }

  byte[] toByteArray() {
    return bytes.toByteArray();
  }

  private void tag(int field, int wireType) {
    varint((long) field << 3 | wireType);
  }

  /** Base-128, least significant group first; negative int64 values take ten bytes. */
  private void varint(long value) {
    while ((value & ~0x7FL) != 0) {
      bytes.write((int) (value & 0x7F) | 0x80);
      value >>>= 7;
    }
    bytes.write((int) value);
  }

  private void littleEndian(long value, int count) {
    for (int i = 0; i < count; i++) bytes.write((int) (value >>> (8 * i)) & 0xFF);
  }
}
