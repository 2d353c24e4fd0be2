package io.kinema.train.validation;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The prompts of a validation file in FastVideo's format (training-infra.md §6): {@code {"data":
 * [{"caption": "..."}, ...]}}, where {@code prompt} is accepted for {@code caption}. Other keys
 * (sizes, steps, image paths) are ignored: the validation callback's settings decide those.
 */
public final class ValidationPrompts {
  private ValidationPrompts() {}

  /**
   * The captions of {@code file}, in order; a malformed file is an error naming it and the entry.
   */
  public static List<String> read(Path file) throws IOException {
    JsonElement root;
    try {
      root = JsonParser.parseString(Files.readString(file));
    } catch (com.google.gson.JsonParseException e) {
      throw new IllegalArgumentException(file + ": not valid JSON: " + e.getMessage(), e);
    }
    if (!root.isJsonObject()
        || !root.getAsJsonObject().has("data")
        || !root.getAsJsonObject().get("data").isJsonArray()) {
      throw new IllegalArgumentException(
          file + ": expected an object with a \"data\" array of {\"caption\": ...} entries");
    }
    List<String> captions = new ArrayList<>();
    int i = 0;
    for (JsonElement e : root.getAsJsonObject().getAsJsonArray("data")) {
      JsonObject o = e.isJsonObject() ? e.getAsJsonObject() : null;
      JsonElement c = o == null ? null : o.has("caption") ? o.get("caption") : o.get("prompt");
      if (c == null || !c.isJsonPrimitive() || c.getAsString().isBlank()) {
        throw new IllegalArgumentException(
            file + ": data[" + i + "] has no \"caption\" (or \"prompt\") string");
      }
      captions.add(c.getAsString());
      i++;
    }
    if (captions.isEmpty()) throw new IllegalArgumentException(file + ": \"data\" is empty");
    return captions;
  }
}
