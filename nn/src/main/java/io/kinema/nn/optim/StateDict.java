package io.kinema.nn.optim;

import io.kinema.tensor.Tensor;
import io.kinema.tensor.io.Safetensors;
import io.kinema.tensor.io.SafetensorsFile;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The resumable state of an {@link Optimizer}, {@link LRScheduler} or {@link EMA}: named tensors
 * plus named scalars written as strings (doubles in their shortest round-trip form, so a save/load
 * restores them exactly). This is the shape of a safetensors file — tensors and {@code
 * __metadata__} — so {@link #save} and {@link #load} are one call each.
 *
 * <p>The tensors are handles this object owns ({@link #close} releases them). A state dict taken
 * from a live object shares storage with it: save it before the next step.
 */
public record StateDict(Map<String, Tensor> tensors, Map<String, String> scalars)
    implements AutoCloseable {
  public StateDict {
    tensors = Collections.unmodifiableMap(new LinkedHashMap<>(tensors));
    scalars = Collections.unmodifiableMap(new LinkedHashMap<>(scalars));
  }

  /** Writes the tensors, with the scalars as the file's metadata. */
  public void save(Path path) throws IOException {
    Safetensors.save(path, tensors, scalars);
  }

  /** Reads a file written by {@link #save}; the caller closes the result. */
  public static StateDict load(Path path) throws IOException {
    Map<String, String> meta;
    try (SafetensorsFile f = SafetensorsFile.open(path)) {
      meta = f.metadata();
    }
    return new StateDict(Safetensors.load(path), meta);
  }

  /** A scalar that must be present. */
  public String scalar(String key) {
    String v = scalars.get(key);
    if (v == null)
      throw new IllegalArgumentException(
          "state dict: missing scalar '" + key + "' (has " + scalars.keySet() + ")");
    return v;
  }

  /** A numeric scalar that must be present. */
  public double scalarDouble(String key) {
    String v = scalar(key);
    try {
      return Double.parseDouble(v);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(
          "state dict: scalar '" + key + "' is '" + v + "', not a number", e);
    }
  }

  /** An integer scalar that must be present. */
  public long scalarLong(String key) {
    String v = scalar(key);
    try {
      return Long.parseLong(v);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(
          "state dict: scalar '" + key + "' is '" + v + "', not an integer", e);
    }
  }

  /** A boolean scalar ("true"/"false") that must be present. */
  public boolean scalarBoolean(String key) {
    String v = scalar(key);
    if (v.equals("true")) return true;
    if (v.equals("false")) return false;
    throw new IllegalArgumentException(
        "state dict: scalar '" + key + "' is '" + v + "', not true/false");
  }

  /** Closes every tensor handle. */
  @Override
  public void close() {
    for (Tensor t : tensors.values()) t.close();
  }
}
