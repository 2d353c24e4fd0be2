package io.kinema.tensor.io;

import com.google.gson.stream.JsonReader;
import com.google.gson.stream.JsonToken;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A parsed and validated safetensors header: the {@code __metadata__} map and the tensors sorted by
 * offset. {@link #parse} checks everything the header claims against the data section before
 * anything reads a tensor, following the reference (Rust) implementation's rules: every entry has a
 * known dtype, an integer shape and {@code [begin, end]} offsets whose length is exactly the
 * tensor's byte size; sorted by offset the tensors tile the data section from byte 0 to its last
 * byte with no gap and no overlap. Beyond the reference it also rejects duplicate keys (which a
 * JSON map would silently merge).
 */
record Header(Map<String, String> metadata, List<TensorInfo> tensors) {
  /** Largest header accepted (the reference implementation's limit). */
  static final long MAX_HEADER_BYTES = 100_000_000L;

  static final String METADATA_KEY = "__metadata__";

  /**
   * Parses the {@code json} header bytes of {@code file}, whose data section holds {@code
   * dataLength} bytes.
   */
  static Header parse(String file, byte[] json, long dataLength) throws SafetensorsException {
    String text = Json.utf8(json, file + ": header");
    Map<String, String> metadata = Map.of();
    List<TensorInfo> tensors = new ArrayList<>();
    try {
      JsonReader r = Json.reader(text);
      if (r.peek() != JsonToken.BEGIN_OBJECT) {
        throw new SafetensorsException(
            file + ": header must be a JSON object, got " + Json.describe(r.peek()));
      }
      Set<String> keys = new HashSet<>();
      r.beginObject();
      while (r.hasNext()) {
        String key = r.nextName();
        if (!keys.add(key)) {
          throw new SafetensorsException(file + ": key '" + key + "' appears twice in the header");
        }
        if (key.equals(METADATA_KEY)) {
          if (r.peek() == JsonToken.NULL) {
            r.nextNull(); // the reference implementation reads null as "no metadata"
          } else {
            metadata = Json.readStringMap(r, file + ": " + METADATA_KEY);
          }
        } else {
          tensors.add(readEntry(file, r, key, dataLength));
        }
      }
      r.endObject();
      if (r.peek() != JsonToken.END_DOCUMENT) {
        throw new SafetensorsException(file + ": unexpected text after the header's JSON object");
      }
    } catch (SafetensorsException e) {
      throw e;
    } catch (IOException | RuntimeException e) {
      // Gson reports syntax errors as MalformedJsonException/EOFException (IOExceptions) and
      // token mismatches as IllegalStateException; its message says where.
      throw new SafetensorsException(file + ": header is not valid JSON: " + e.getMessage(), e);
    }
    checkCoverage(file, tensors, dataLength);
    return new Header(Map.copyOf(metadata), List.copyOf(tensors));
  }

  private static TensorInfo readEntry(String file, JsonReader r, String name, long dataLength)
      throws IOException, SafetensorsException {
    String where = file + ": tensor '" + name + "'";
    if (r.peek() != JsonToken.BEGIN_OBJECT) {
      throw new SafetensorsException(
          where
              + ": expected an object with dtype, shape and data_offsets, got "
              + Json.describe(r.peek()));
    }
    String dtype = null;
    long[] shape = null, offsets = null;
    Set<String> fields = new HashSet<>();
    r.beginObject();
    while (r.hasNext()) {
      String field = r.nextName();
      if (!fields.add(field)) {
        throw new SafetensorsException(where + ": field '" + field + "' appears twice");
      }
      switch (field) {
        case "dtype" -> {
          if (r.peek() != JsonToken.STRING) {
            throw new SafetensorsException(
                where + ": dtype must be a string, got " + Json.describe(r.peek()));
          }
          dtype = r.nextString();
        }
        case "shape" -> shape = readIntegers(r, where, "shape");
        case "data_offsets" -> offsets = readIntegers(r, where, "data_offsets");
        default -> r.skipValue(); // unknown fields are ignored, as by the reference reader
      }
    }
    r.endObject();
    if (dtype == null || shape == null || offsets == null) {
      String missing = dtype == null ? "dtype" : shape == null ? "shape" : "data_offsets";
      throw new SafetensorsException(where + ": missing field '" + missing + "'");
    }

    WireType type = WireType.byName(dtype);
    if (type == null) {
      throw new SafetensorsException(
          where + ": unknown dtype '" + dtype + "' (safetensors defines " + knownTypes() + ")");
    }
    for (long d : shape) {
      if (d < 0) {
        throw new SafetensorsException(
            where + ": negative dimension " + d + " in shape " + Arrays.toString(shape));
      }
    }
    long bytes;
    try {
      long numel = 1;
      for (long d : shape) numel = Math.multiplyExact(numel, d);
      long bits = Math.multiplyExact(numel, (long) type.bits);
      if (bits % 8 != 0) {
        throw new SafetensorsException(
            where
                + ": "
                + numel
                + " elements of "
                + dtype
                + " ("
                + type.bits
                + " bits each) are not a whole number of bytes");
      }
      bytes = bits / 8;
    } catch (ArithmeticException e) {
      throw new SafetensorsException(
          where + ": the byte size of shape " + Arrays.toString(shape) + " overflows");
    }
    if (offsets.length != 2) {
      throw new SafetensorsException(
          where
              + ": data_offsets must be [begin, end], got "
              + offsets.length
              + " numbers "
              + Arrays.toString(offsets));
    }
    long begin = offsets[0], end = offsets[1];
    if (begin < 0 || end < begin) {
      throw new SafetensorsException(
          where + ": data_offsets [" + begin + ", " + end + "] must satisfy 0 <= begin <= end");
    }
    if (end > dataLength) {
      throw new SafetensorsException(
          where
              + ": data_offsets ["
              + begin
              + ", "
              + end
              + "] end beyond the data section, which has "
              + dataLength
              + " bytes");
    }
    if (end - begin != bytes) {
      throw new SafetensorsException(
          where
              + ": data_offsets ["
              + begin
              + ", "
              + end
              + "] hold "
              + (end - begin)
              + " bytes but "
              + dtype
              + Arrays.toString(shape)
              + " needs "
              + bytes);
    }
    return new TensorInfo(name, dtype, shape, begin, end);
  }

  /** A JSON array of integers (each in long range), or an error naming the field. */
  private static long[] readIntegers(JsonReader r, String where, String field)
      throws IOException, SafetensorsException {
    if (r.peek() != JsonToken.BEGIN_ARRAY) {
      throw new SafetensorsException(
          where + ": " + field + " must be an array of integers, got " + Json.describe(r.peek()));
    }
    long[] out = new long[4];
    int n = 0;
    r.beginArray();
    while (r.hasNext()) {
      if (r.peek() != JsonToken.NUMBER) {
        throw new SafetensorsException(
            where + ": " + field + " must hold integers, found " + Json.describe(r.peek()));
      }
      String literal = r.nextString();
      Long v = Json.integer(literal);
      if (v == null) {
        throw new SafetensorsException(
            where + ": " + field + " must hold integers in range, found " + literal);
      }
      if (n == out.length) out = Arrays.copyOf(out, 2 * n);
      out[n++] = v;
    }
    r.endArray();
    return Arrays.copyOf(out, n);
  }

  /** Sorted by offset, the tensors must tile [0, dataLength) exactly (as the reference checks). */
  private static void checkCoverage(String file, List<TensorInfo> tensors, long dataLength)
      throws SafetensorsException {
    tensors.sort(Comparator.comparingLong(TensorInfo::begin).thenComparingLong(TensorInfo::end));
    long covered = 0;
    TensorInfo prev = null;
    for (TensorInfo t : tensors) {
      if (t.begin() < covered) {
        throw new SafetensorsException(
            file
                + ": tensor '"
                + t.name()
                + "' bytes ["
                + t.begin()
                + ", "
                + t.end()
                + ") overlap tensor '"
                + prev.name()
                + "' bytes ["
                + prev.begin()
                + ", "
                + prev.end()
                + ")");
      }
      if (t.begin() > covered) {
        throw new SafetensorsException(
            file
                + ": bytes ["
                + covered
                + ", "
                + t.begin()
                + ") of the data section belong to no tensor (gap before tensor '"
                + t.name()
                + "'); safetensors requires the tensors to cover the data section"
                + " without gaps");
      }
      covered = t.end();
      prev = t;
    }
    if (covered != dataLength) {
      throw new SafetensorsException(
          file
              + ": the data section has "
              + dataLength
              + " bytes but the tensors cover only the first "
              + covered
              + " (trailing bytes, or a truncated header)");
    }
  }

  private static String knownTypes() {
    StringBuilder sb = new StringBuilder();
    for (WireType t : WireType.values()) sb.append(sb.isEmpty() ? "" : ", ").append(t.name());
    return sb.toString();
  }

  /** The tensors by name, in offset order. */
  Map<String, TensorInfo> byName() {
    Map<String, TensorInfo> m = new LinkedHashMap<>();
    for (TensorInfo t : tensors) m.put(t.name(), t);
    return m;
  }
}
