package io.kinema.tensor.io;

import com.google.gson.stream.JsonReader;
import com.google.gson.stream.JsonToken;
import io.kinema.tensor.DType;
import io.kinema.tensor.Tensor;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * A model checkpoint that may be split over several safetensors files, as Hugging Face models are:
 * an index {@code <name>.safetensors.index.json} holding {@code {"metadata": {"total_size": N},
 * "weight_map": {"tensor name": "<name>-00001-of-00003.safetensors", ...}}} next to its shards.
 * {@link #open} takes a single file, an index, or a folder holding one of them, and exposes the
 * union of the shards' tensors by name.
 *
 * <p>The index is checked against the shards when opening: a shard it names must exist and hold
 * exactly the tensors the index assigns to it (a tensor missing from its shard, present in a shard
 * the index does not assign it to, or listed twice, is a {@link SafetensorsException} naming the
 * files and the tensor). Tensors load as {@link SafetensorsFile#get} loads them (zero-copy when
 * aligned); closing the checkpoint closes every shard.
 */
public final class SafetensorsCheckpoint implements AutoCloseable {
  /** Suffix of index files: {@code diffusion_pytorch_model.safetensors.index.json}. */
  public static final String INDEX_SUFFIX = ".safetensors.index.json";

  private final Path source;
  private final List<SafetensorsFile> files;
  private final Map<String, SafetensorsFile> fileOf; // in shard order, then file order
  private final List<String> keys;

  private SafetensorsCheckpoint(
      Path source, List<SafetensorsFile> files, Map<String, SafetensorsFile> fileOf) {
    this.source = source;
    this.files = List.copyOf(files);
    this.fileOf = Collections.unmodifiableMap(fileOf);
    this.keys = List.copyOf(fileOf.keySet());
  }

  /**
   * Opens {@code path}: a {@code .safetensors} file, an {@code *.safetensors.index.json} index, or
   * a folder holding exactly one index (used even when single files lie beside it) or else exactly
   * one {@code .safetensors} file.
   */
  public static SafetensorsCheckpoint open(Path path) throws IOException {
    if (Files.isDirectory(path)) return open(pickInFolder(path));
    if (path.getFileName().toString().endsWith(".index.json")) return openIndex(path);
    SafetensorsFile f = SafetensorsFile.open(path);
    Map<String, SafetensorsFile> fileOf = new LinkedHashMap<>();
    for (String k : f.keys()) fileOf.put(k, f);
    return new SafetensorsCheckpoint(path, List.of(f), fileOf);
  }

  private static Path pickInFolder(Path folder) throws IOException {
    List<Path> indexes = new ArrayList<>(), singles = new ArrayList<>();
    try (DirectoryStream<Path> ds = Files.newDirectoryStream(folder)) {
      for (Path p : ds) {
        String f = p.getFileName().toString();
        if (f.startsWith(".") || !Files.isRegularFile(p)) continue;
        if (f.endsWith(INDEX_SUFFIX)) indexes.add(p);
        else if (f.endsWith(".safetensors")) singles.add(p);
      }
    }
    Collections.sort(indexes);
    Collections.sort(singles);
    if (indexes.size() == 1) return indexes.get(0);
    if (indexes.size() > 1) {
      throw new SafetensorsException(
          folder + " holds several checkpoint indexes " + names(indexes) + "; open one of them");
    }
    if (singles.size() == 1) return singles.get(0);
    if (singles.isEmpty()) {
      throw new SafetensorsException(
          folder + " holds no .safetensors file and no *" + INDEX_SUFFIX + " index");
    }
    throw new SafetensorsException(
        folder
            + " holds several .safetensors files "
            + names(singles)
            + " and no index; open one of them");
  }

  private static List<String> names(List<Path> paths) {
    List<String> out = new ArrayList<>();
    for (Path p : paths) out.add(p.getFileName().toString());
    return out;
  }

  private static SafetensorsCheckpoint openIndex(Path index) throws IOException {
    Map<String, String> weightMap = readWeightMap(index);
    Path dir = index.toAbsolutePath().normalize().getParent();
    // Shards in name order; for each, the keys the index assigns to it.
    Map<String, Set<String>> assigned = new TreeMap<>();
    for (Map.Entry<String, String> e : weightMap.entrySet()) {
      assigned.computeIfAbsent(e.getValue(), s -> new HashSet<>()).add(e.getKey());
    }
    List<SafetensorsFile> opened = new ArrayList<>();
    try {
      Map<String, SafetensorsFile> fileOf = new LinkedHashMap<>();
      for (Map.Entry<String, Set<String>> e : assigned.entrySet()) {
        String shard = e.getKey();
        Set<String> want = e.getValue();
        Path p = dir.resolve(shard).normalize();
        if (!dir.equals(p.getParent())) {
          throw new SafetensorsException(
              index + ": shard '" + shard + "' is not a file name in the index's folder");
        }
        if (!Files.isRegularFile(p)) {
          throw new SafetensorsException(
              index
                  + ": shard "
                  + shard
                  + " (holding '"
                  + want.iterator().next()
                  + "'"
                  + (want.size() > 1 ? " and " + (want.size() - 1) + " other tensors" : "")
                  + ") does not exist in "
                  + dir);
        }
        SafetensorsFile f = SafetensorsFile.open(p);
        opened.add(f);
        for (String k : f.keys()) {
          String owner = weightMap.get(k);
          if (owner == null) {
            throw new SafetensorsException(
                "shard "
                    + p
                    + " contains tensor '"
                    + k
                    + "', which index "
                    + index
                    + " does not list");
          }
          if (!owner.equals(shard)) {
            throw new SafetensorsException(
                "tensor '"
                    + k
                    + "' is in shard "
                    + p
                    + " but index "
                    + index
                    + " assigns it to shard "
                    + owner);
          }
        }
        for (String k : want) {
          if (!f.containsKey(k)) {
            throw new SafetensorsException(
                index
                    + " assigns tensor '"
                    + k
                    + "' to shard "
                    + p
                    + ", which does not contain it");
          }
        }
        for (String k : f.keys()) fileOf.put(k, f);
      }
      return new SafetensorsCheckpoint(index, opened, fileOf);
    } catch (IOException | RuntimeException e) {
      for (SafetensorsFile f : opened) f.close();
      throw e;
    }
  }

  /** The index's weight_map, strictly parsed (a tensor listed twice is an error). */
  private static Map<String, String> readWeightMap(Path index) throws IOException {
    String text = Json.utf8(Files.readAllBytes(index), index.toString());
    Map<String, String> weightMap = null;
    try {
      JsonReader r = Json.reader(text);
      if (r.peek() != JsonToken.BEGIN_OBJECT) {
        throw new SafetensorsException(
            index + ": an index must be a JSON object, got " + Json.describe(r.peek()));
      }
      Set<String> top = new HashSet<>();
      r.beginObject();
      while (r.hasNext()) {
        String key = r.nextName();
        if (!top.add(key)) {
          throw new SafetensorsException(index + ": key '" + key + "' appears twice");
        }
        if (key.equals("weight_map")) {
          weightMap = readWeightMapObject(index, r);
        } else {
          r.skipValue(); // "metadata" ({"total_size": N}, ...) is informational
        }
      }
      r.endObject();
      if (r.peek() != JsonToken.END_DOCUMENT) {
        throw new SafetensorsException(index + ": unexpected text after the JSON object");
      }
    } catch (SafetensorsException e) {
      throw e;
    } catch (IOException | RuntimeException e) {
      throw new SafetensorsException(index + ": not valid JSON: " + e.getMessage(), e);
    }
    if (weightMap == null) throw new SafetensorsException(index + ": no \"weight_map\"");
    return weightMap;
  }

  private static Map<String, String> readWeightMapObject(Path index, JsonReader r)
      throws IOException {
    if (r.peek() != JsonToken.BEGIN_OBJECT) {
      throw new SafetensorsException(
          index + ": weight_map must be an object, got " + Json.describe(r.peek()));
    }
    Map<String, String> out = new LinkedHashMap<>();
    r.beginObject();
    while (r.hasNext()) {
      String k = r.nextName();
      if (r.peek() != JsonToken.STRING) {
        throw new SafetensorsException(
            index
                + ": weight_map['"
                + k
                + "'] must be a shard file name, got "
                + Json.describe(r.peek()));
      }
      String shard = r.nextString();
      String before = out.put(k, shard);
      if (before != null) {
        throw new SafetensorsException(
            index
                + ": tensor '"
                + k
                + "' is listed twice in weight_map (shards "
                + before
                + " and "
                + shard
                + ")");
      }
    }
    r.endObject();
    return out;
  }

  /** What was opened: the file or index. */
  public Path source() {
    return source;
  }

  /** The open files (one, or the shards in name order). */
  public List<SafetensorsFile> files() {
    return files;
  }

  /** Every tensor name: shard by shard, each in file order. */
  public List<String> keys() {
    return keys;
  }

  public boolean containsKey(String name) {
    return fileOf.containsKey(name);
  }

  /** The file holding {@code name}. */
  public SafetensorsFile fileOf(String name) {
    SafetensorsFile f = fileOf.get(name);
    if (f == null) {
      throw new IllegalArgumentException(
          "no tensor '" + name + "' in checkpoint " + source + " (" + keys.size() + " tensors)");
    }
    return f;
  }

  /** The header entry of {@code name}. */
  public TensorInfo info(String name) {
    return fileOf(name).info(name);
  }

  /**
   * The {@code __metadata__} of the first file ({@link Safetensors#saveSharded} and {@code
   * save_pretrained} write the same into every shard).
   */
  public Map<String, String> metadata() {
    return files.isEmpty() ? Map.of() : files.get(0).metadata();
  }

  /** See {@link SafetensorsFile#get(String)}. */
  public Tensor get(String name) throws SafetensorsException {
    return fileOf(name).get(name);
  }

  /** See {@link SafetensorsFile#get(String, DType)}. */
  public Tensor get(String name, DType dtype) throws SafetensorsException {
    return fileOf(name).get(name, dtype);
  }

  /** Closes every file (tensors already returned stay valid). */
  @Override
  public void close() {
    for (SafetensorsFile f : files) f.close();
  }

  @Override
  public String toString() {
    return "SafetensorsCheckpoint("
        + source
        + ", "
        + files.size()
        + " files, "
        + keys.size()
        + " tensors)";
  }
}
