package io.kinema.tensor.io;

import com.google.gson.Strictness;
import com.google.gson.stream.JsonReader;
import com.google.gson.stream.JsonToken;
import java.io.IOException;
import java.io.StringReader;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Strict JSON reading shared by the header and index parsers. Both read with Gson's streaming
 * {@link JsonReader} rather than a tree, so that duplicate keys (which a tree silently merges) and
 * wrong value types are seen and reported with the key they concern.
 */
final class Json {
  private Json() {}

  /** Decodes strict UTF-8 (malformed bytes are an error, never a replacement character). */
  static String utf8(byte[] bytes, String where) throws SafetensorsException {
    try {
      return StandardCharsets.UTF_8
          .newDecoder()
          .onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT)
          .decode(ByteBuffer.wrap(bytes))
          .toString();
    } catch (CharacterCodingException e) {
      throw new SafetensorsException(where + " is not valid UTF-8", e);
    }
  }

  /** A reader that accepts only RFC 8259 JSON (no comments, NaN, unquoted names...). */
  static JsonReader reader(String text) {
    JsonReader r = new JsonReader(new StringReader(text));
    r.setStrictness(Strictness.STRICT);
    return r;
  }

  /** "a string", "an array", ... for messages about an unexpected token. */
  static String describe(JsonToken t) {
    return switch (t) {
      case BEGIN_ARRAY -> "an array";
      case BEGIN_OBJECT -> "an object";
      case STRING -> "a string";
      case NUMBER -> "a number";
      case BOOLEAN -> "a boolean";
      case NULL -> "null";
      case END_DOCUMENT -> "the end of the text";
      default -> t.toString();
    };
  }

  /**
   * Reads an object whose values are all strings; a duplicate key or a non-string value is an error
   * prefixed with {@code where}.
   */
  static Map<String, String> readStringMap(JsonReader r, String where)
      throws IOException, SafetensorsException {
    if (r.peek() != JsonToken.BEGIN_OBJECT) {
      throw new SafetensorsException(
          where + " must be an object of strings, got " + describe(r.peek()));
    }
    Map<String, String> out = new LinkedHashMap<>();
    r.beginObject();
    while (r.hasNext()) {
      String k = r.nextName();
      if (r.peek() != JsonToken.STRING) {
        throw new SafetensorsException(
            where + ": value of '" + k + "' must be a string, got " + describe(r.peek()));
      }
      if (out.put(k, r.nextString()) != null) {
        throw new SafetensorsException(where + ": key '" + k + "' appears twice");
      }
    }
    r.endObject();
    return out;
  }

  /**
   * Parses a JSON number literal that must be an integer in long range (no fraction, no exponent).
   * Returns null when it is not.
   */
  static Long integer(String literal) {
    int i = literal.startsWith("-") ? 1 : 0;
    if (i == literal.length()) return null;
    for (int k = i; k < literal.length(); k++) {
      char c = literal.charAt(k);
      if (c < '0' || c > '9') return null;
    }
    try {
      return Long.parseLong(literal);
    } catch (NumberFormatException e) {
      return null;
    }
  }
}
