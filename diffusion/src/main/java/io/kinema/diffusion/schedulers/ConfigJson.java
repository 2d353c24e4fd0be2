package io.kinema.diffusion.schedulers;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Typed reads of a diffusers {@code scheduler_config.json} (absent or null keys: the default). */
final class ConfigJson {
  private final JsonObject obj;
  private final String owner;

  private ConfigJson(JsonObject obj, String owner) {
    this.obj = obj;
    this.owner = owner;
  }

  static ConfigJson parse(String json, String owner) {
    JsonElement e;
    try {
      e = JsonParser.parseString(json);
    } catch (RuntimeException ex) {
      throw new IllegalArgumentException(owner + ": scheduler config is not valid JSON", ex);
    }
    if (!e.isJsonObject()) {
      throw new IllegalArgumentException(owner + ": scheduler config must be a JSON object");
    }
    return new ConfigJson(e.getAsJsonObject(), owner);
  }

  static ConfigJson read(Path path, String owner) throws IOException {
    return parse(Files.readString(path), owner);
  }

  private JsonElement get(String key) {
    JsonElement e = obj.get(key);
    return e == null || e.isJsonNull() ? null : e;
  }

  String className() {
    return string("_class_name", null);
  }

  int integer(String key, int dflt) {
    JsonElement e = get(key);
    return e == null ? dflt : e.getAsInt();
  }

  double number(String key, double dflt) {
    JsonElement e = get(key);
    return e == null ? dflt : e.getAsDouble();
  }

  boolean bool(String key, boolean dflt) {
    JsonElement e = get(key);
    return e == null ? dflt : e.getAsBoolean();
  }

  String string(String key, String dflt) {
    JsonElement e = get(key);
    return e == null ? dflt : e.getAsString();
  }

  int[] ints(String key) {
    JsonElement e = get(key);
    if (e == null) return new int[0];
    var a = e.getAsJsonArray();
    int[] out = new int[a.size()];
    for (int i = 0; i < out.length; i++) out[i] = a.get(i).getAsInt();
    return out;
  }

  /** Fails when {@code key} is set to anything but its default (an option Kinema lacks). */
  void requireFalse(String key) {
    if (bool(key, false)) {
      throw new UnsupportedOperationException(owner + ": " + key + "=true is not supported");
    }
  }

  void requireAbsent(String key) {
    if (get(key) != null) {
      throw new UnsupportedOperationException(
          owner + ": " + key + "=" + get(key) + " is not supported");
    }
  }

  void requireClass(String expected) {
    String c = className();
    if (c != null && !c.equals(expected)) {
      throw new IllegalArgumentException(owner + ": the config is for " + c + ", not " + expected);
    }
  }
}
