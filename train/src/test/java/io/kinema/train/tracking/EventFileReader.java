package io.kinema.train.tracking;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads a TensorBoard event file back for tests, independently of the writer's encoder: checks both
 * CRCs of every record and decodes the Event fields the writer uses.
 */
final class EventFileReader {
  private EventFileReader() {}

  /** One scalar of a summary. */
  record Scalar(String tag, float value) {}

  /** The fields of an Event that the writer sets; absent ones are null. */
  record Event(
      double wallTime,
      long step,
      String fileVersion,
      List<Scalar> scalars,
      Integer sessionStatus) {}

  static List<Event> read(Path file) throws IOException {
    ByteBuffer in = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
    var events = new ArrayList<Event>();
    while (in.hasRemaining()) {
      int start = in.position();
      long length = in.getLong();
      assertEquals(maskedCrc(in.array(), start, 8), in.getInt(), "length CRC at " + start);
      byte[] data = new byte[Math.toIntExact(length)];
      in.get(data);
      assertEquals(maskedCrc(data, 0, data.length), in.getInt(), "data CRC at " + start);
      events.add(event(data));
    }
    return events;
  }

  /** CRC32C (Castagnoli) bit by bit, masked as TensorFlow does; written apart from the writer's. */
  static int maskedCrc(byte[] data, int offset, int length) {
    int crc = 0xFFFFFFFF;
    for (int i = offset; i < offset + length; i++) {
      crc ^= data[i] & 0xFF;
      for (int bit = 0; bit < 8; bit++) crc = (crc >>> 1) ^ (0x82F63B78 & -(crc & 1));
    }
    crc = ~crc;
    return Integer.rotateRight(crc, 15) + 0xa282ead8;
  }

  private static Event event(byte[] data) {
    var in = new Fields(data);
    double wallTime = 0;
    long step = 0;
    String fileVersion = null;
    List<Scalar> scalars = null;
    Integer status = null;
    while (in.more()) {
      long key = in.varint();
      int field = (int) (key >>> 3);
      switch (field) {
        case 1 -> wallTime = Double.longBitsToDouble(in.fixed(8));
        case 2 -> step = in.varint();
        case 3 -> fileVersion = new String(in.delimited(), StandardCharsets.UTF_8);
        case 5 -> scalars = summary(in.delimited());
        case 7 -> status = sessionStatus(in.delimited());
        default -> throw new AssertionError("unexpected Event field " + field);
      }
    }
    return new Event(wallTime, step, fileVersion, scalars, status);
  }

  private static List<Scalar> summary(byte[] data) {
    var in = new Fields(data);
    var values = new ArrayList<Scalar>();
    while (in.more()) {
      assertEquals(1 << 3 | 2, in.varint(), "Summary.value");
      var value = new Fields(in.delimited());
      String tag = null;
      Float simple = null;
      while (value.more()) {
        long key = value.varint();
        if (key == (1 << 3 | 2)) tag = new String(value.delimited(), StandardCharsets.UTF_8);
        else if (key == (2 << 3 | 5)) simple = Float.intBitsToFloat((int) value.fixed(4));
        else throw new AssertionError("unexpected Value key " + key);
      }
      values.add(new Scalar(tag, simple));
    }
    return values;
  }

  private static int sessionStatus(byte[] data) {
    var in = new Fields(data);
    assertEquals(1 << 3, in.varint(), "SessionLog.status");
    return (int) in.varint();
  }

  /** A cursor over protobuf wire data. */
  private static final class Fields {
    private final byte[] data;
    private int pos;

    Fields(byte[] data) {
      this.data = data;
    }

    boolean more() {
      return pos < data.length;
    }

    long varint() {
      long value = 0;
      for (int shift = 0; ; shift += 7) {
        int b = data[pos++] & 0xFF;
        value |= (long) (b & 0x7F) << shift;
        if (b < 0x80) return value;
      }
    }

    long fixed(int bytes) {
      long value = 0;
      for (int i = 0; i < bytes; i++) value |= (long) (data[pos++] & 0xFF) << (8 * i);
      return value;
    }

    byte[] delimited() {
      int length = Math.toIntExact(varint());
      byte[] out = java.util.Arrays.copyOfRange(data, pos, pos + length);
      pos += length;
      return out;
    }
  }
}
