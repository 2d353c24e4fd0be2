package io.kinema.train.tracking;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.zip.CRC32C;

/**
 * TFRecord framing, the container of TensorBoard event files: per record a little-endian uint64
 * length, the masked CRC32C of those 8 bytes, the data, and the masked CRC32C of the data.
 */
final class TfRecord {
  /** Bytes a record adds around its data. */
  static final int OVERHEAD = 8 + 4 + 4;

  private TfRecord() {}

  /** {@code data} framed as one record. */
  static byte[] frame(byte[] data) {
    ByteBuffer record = ByteBuffer.allocate(OVERHEAD + data.length).order(ByteOrder.LITTLE_ENDIAN);
    record.putLong(data.length);
    record.putInt(maskedCrc32c(record.array(), 0, 8));
    record.put(data);
    record.putInt(maskedCrc32c(data, 0, data.length));
    return record.array();
  }

  /**
   * CRC32C, rotated right by 15 bits plus a constant: TensorFlow masks stored CRCs because the CRC
   * of data that itself holds CRCs is weak.
   */
  static int maskedCrc32c(byte[] data, int offset, int length) {
    var crc = new CRC32C();
    crc.update(data, offset, length);
    int c = (int) crc.getValue();
    return ((c >>> 15) | (c << 17)) + 0xa282ead8;
  }
}
