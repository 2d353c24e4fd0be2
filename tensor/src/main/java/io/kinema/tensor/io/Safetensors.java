package io.kinema.tensor.io;

import com.google.gson.stream.JsonWriter;
import io.kinema.tensor.Device;
import io.kinema.tensor.Tensor;
import java.io.IOException;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.CharBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.regex.Pattern;

/**
 * Saving and loading whole safetensors files and sharded checkpoints (the format of Hugging Face
 * models, diffusers' {@code diffusion_pytorch_model.safetensors} among them). For reading single
 * tensors lazily, see {@link SafetensorsFile} and {@link SafetensorsCheckpoint}.
 *
 * <p>Files are written atomically: to a temporary file in the target folder, flushed to disk, then
 * renamed over the target, so a crash leaves either the old file or the new one under the final
 * name, never a torn one. Output is deterministic: tensors are laid out as the reference
 * implementation lays them out (by element size, largest first, then by name, so every tensor is
 * naturally aligned), the metadata sorted by key, and the header padded with spaces so the data
 * section starts at a multiple of 64 bytes (making tensors zero-copy when read back).
 */
public final class Safetensors {
  private Safetensors() {}

  /** Data section alignment in the files we write (64: the engine's allocation alignment). */
  static final int DATA_ALIGNMENT = 64;

  private static final int WRITE_CHUNK = 1 << 26;

  private static final Pattern SHARD_NAME = Pattern.compile("-\\d{5}-of-\\d{5}\\.safetensors");

  /**
   * Writes {@code tensors} to {@code path} (atomically, replacing any existing file). Tensors may
   * have any dtype, any strides (non-contiguous ones are written as their contiguous values) and
   * any device (copied to the CPU first). {@code metadata} (may be null) becomes the header's
   * {@code __metadata__}; diffusers and transformers write {@code {"format": "pt"}}.
   *
   * @throws IllegalArgumentException for a null or closed tensor, or the reserved name {@code
   *     __metadata__}
   */
  public static void save(Path path, Map<String, Tensor> tensors, Map<String, String> metadata)
      throws IOException {
    SafetensorsFile.requireLittleEndian();
    checkTensors("save " + path, tensors);
    List<Map.Entry<String, Tensor>> order = new ArrayList<>(tensors.entrySet());
    // The reference layout: larger elements first, then by name.
    order.sort(
        Comparator.comparingInt((Map.Entry<String, Tensor> e) -> -e.getValue().dtype().byteSize())
            .thenComparing(Map.Entry::getKey));
    byte[] header = header(path, order, metadata);
    atomicWrite(
        path,
        ch -> {
          ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
          len.putLong(0, header.length);
          writeFully(ch, len);
          writeFully(ch, ByteBuffer.wrap(header));
          for (Map.Entry<String, Tensor> e : order) writeData(ch, e.getValue());
        });
  }

  /**
   * Reads every tensor of a safetensors file, a sharded checkpoint's index, or a folder holding
   * either (see {@link SafetensorsCheckpoint#open}), in file order. The tensors are the caller's to
   * close; they stay valid after this returns (zero-copy ones keep their file mapped until then).
   */
  public static Map<String, Tensor> load(Path path) throws IOException {
    try (SafetensorsCheckpoint ckpt = SafetensorsCheckpoint.open(path)) {
      Map<String, Tensor> out = new LinkedHashMap<>();
      try {
        for (String k : ckpt.keys()) out.put(k, ckpt.get(k));
      } catch (IOException | RuntimeException e) {
        for (Tensor t : out.values()) t.close();
        throw e;
      }
      return out;
    }
  }

  /**
   * Writes {@code tensors} as a sharded checkpoint in {@code folder} (created if needed), in the
   * layout of transformers/diffusers {@code save_pretrained}: shards {@code
   * <baseName>-00001-of-0000N.safetensors}, each at most {@code maxShardBytes} of tensor data
   * (unless a single tensor is larger: it gets a shard of its own), filled in name order, and the
   * index {@code <baseName>.safetensors.index.json} mapping every name to its shard. Every shard
   * carries {@code metadata}. Each file is written atomically and the index last; then shards of an
   * earlier save with the same base name that the new index does not list are deleted. (A crash
   * before the index is written leaves the old index, which a reader checks against its shards.)
   *
   * <p>For diffusers, {@code baseName} is {@code "diffusion_pytorch_model"}.
   *
   * @return the index file
   */
  public static Path saveSharded(
      Path folder,
      String baseName,
      Map<String, Tensor> tensors,
      Map<String, String> metadata,
      long maxShardBytes)
      throws IOException {
    if (maxShardBytes <= 0) {
      throw new IllegalArgumentException(
          "saveSharded: maxShardBytes must be > 0, got " + maxShardBytes);
    }
    if (baseName.isEmpty() || baseName.contains("/") || baseName.contains("\\")) {
      throw new IllegalArgumentException(
          "saveSharded: baseName must be a plain file name, got '" + baseName + "'");
    }
    checkTensors("saveSharded " + folder, tensors); // all of them, before any shard is written
    Files.createDirectories(folder);
    List<Map<String, Tensor>> shards = new ArrayList<>();
    Map<String, Tensor> current = new LinkedHashMap<>();
    long currentBytes = 0, total = 0;
    for (Map.Entry<String, Tensor> e : new TreeMap<>(tensors).entrySet()) {
      Tensor t = e.getValue();
      long bytes = Math.multiplyExact(t.numel(), (long) t.dtype().byteSize());
      if (!current.isEmpty() && currentBytes + bytes > maxShardBytes) {
        shards.add(current);
        current = new LinkedHashMap<>();
        currentBytes = 0;
      }
      current.put(e.getKey(), t);
      currentBytes += bytes;
      total += bytes;
    }
    if (!current.isEmpty() || shards.isEmpty()) shards.add(current);

    int n = shards.size();
    Map<String, String> weightMap = new TreeMap<>();
    Set<String> written = new HashSet<>();
    for (int i = 0; i < n; i++) {
      String shardName =
          String.format(Locale.ROOT, "%s-%05d-of-%05d.safetensors", baseName, i + 1, n);
      save(folder.resolve(shardName), shards.get(i), metadata);
      written.add(shardName);
      for (String k : shards.get(i).keySet()) weightMap.put(k, shardName);
    }
    Path index = folder.resolve(baseName + SafetensorsCheckpoint.INDEX_SUFFIX);
    byte[] json = indexJson(total, weightMap);
    atomicWrite(index, ch -> writeFully(ch, ByteBuffer.wrap(json)));

    // Shards of an earlier save under this base name are stale now.
    try (DirectoryStream<Path> ds = Files.newDirectoryStream(folder)) {
      for (Path p : ds) {
        String f = p.getFileName().toString();
        if (f.startsWith(baseName)
            && SHARD_NAME.matcher(f.substring(baseName.length())).matches()
            && !written.contains(f)) {
          Files.deleteIfExists(p);
        }
      }
    }
    return index;
  }

  // ---------------------------------------------------------------- header, data

  private static void checkTensors(String op, Map<String, Tensor> tensors) {
    for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
      String name = e.getKey();
      if (name == null) throw new IllegalArgumentException(op + ": null tensor name");
      if (name.equals(Header.METADATA_KEY)) {
        throw new IllegalArgumentException(
            op + ": '" + Header.METADATA_KEY + "' is reserved, not a tensor name");
      }
      Tensor t = e.getValue();
      if (t == null || t.isClosed()) {
        throw new IllegalArgumentException(
            op + ": tensor '" + name + "' is " + (t == null ? "null" : "closed"));
      }
    }
  }

  private static byte[] header(
      Path path, List<Map.Entry<String, Tensor>> order, Map<String, String> metadata)
      throws IOException {
    StringWriter sw = new StringWriter();
    JsonWriter w = new JsonWriter(sw);
    w.beginObject();
    if (metadata != null && !metadata.isEmpty()) {
      w.name(Header.METADATA_KEY).beginObject();
      for (Map.Entry<String, String> m : new TreeMap<>(metadata).entrySet()) {
        if (m.getValue() == null) {
          throw new IllegalArgumentException(
              "save " + path + ": metadata '" + m.getKey() + "' has a null value");
        }
        w.name(m.getKey()).value(m.getValue());
      }
      w.endObject();
    }
    long offset = 0;
    for (Map.Entry<String, Tensor> e : order) {
      Tensor t = e.getValue();
      long bytes = Math.multiplyExact(t.numel(), (long) t.dtype().byteSize());
      w.name(e.getKey()).beginObject();
      w.name("dtype").value(WireType.of(t.dtype()).name());
      w.name("shape").beginArray();
      for (long d : t.shape()) w.value(d);
      w.endArray();
      w.name("data_offsets").beginArray().value(offset).value(offset + bytes).endArray();
      w.endObject();
      offset += bytes;
    }
    w.endObject();
    w.flush();
    byte[] json = utf8(sw.toString(), path);
    int pad = (int) ((DATA_ALIGNMENT - (8 + (long) json.length) % DATA_ALIGNMENT) % DATA_ALIGNMENT);
    byte[] out = new byte[json.length + pad];
    System.arraycopy(json, 0, out, 0, json.length);
    for (int i = json.length; i < out.length; i++) out[i] = ' ';
    return out;
  }

  /** Strict UTF-8: a name with an unpaired surrogate cannot be stored and is an error. */
  private static byte[] utf8(String s, Path path) {
    try {
      ByteBuffer b =
          StandardCharsets.UTF_8
              .newEncoder()
              .onMalformedInput(CodingErrorAction.REPORT)
              .onUnmappableCharacter(CodingErrorAction.REPORT)
              .encode(CharBuffer.wrap(s));
      byte[] out = new byte[b.remaining()];
      b.get(out);
      return out;
    } catch (CharacterCodingException e) {
      throw new IllegalArgumentException(
          "save " + path + ": a tensor name or metadata string is not valid Unicode", e);
    }
  }

  /** Writes t's elements in row-major order (a contiguous CPU copy first when it is not one). */
  private static void writeData(FileChannel ch, Tensor t) throws IOException {
    long bytes = t.numel() * t.dtype().byteSize();
    if (bytes == 0) return;
    try (Tensor host = t.to(Device.CPU);
        Tensor c = host.contiguous()) {
      MemorySegment seg = c.storage().segment().asSlice(c.offset() * c.dtype().byteSize(), bytes);
      for (long pos = 0; pos < bytes; pos += WRITE_CHUNK) {
        writeFully(ch, seg.asSlice(pos, Math.min(WRITE_CHUNK, bytes - pos)).asByteBuffer());
      }
    }
  }

  private static void writeFully(FileChannel ch, ByteBuffer b) throws IOException {
    while (b.hasRemaining()) ch.write(b);
  }

  private static byte[] indexJson(long totalSize, Map<String, String> weightMap)
      throws IOException {
    StringWriter sw = new StringWriter();
    JsonWriter w = new JsonWriter(sw);
    w.setIndent("  ");
    w.beginObject();
    w.name("metadata").beginObject().name("total_size").value(totalSize).endObject();
    w.name("weight_map").beginObject();
    for (Map.Entry<String, String> e : weightMap.entrySet()) w.name(e.getKey()).value(e.getValue());
    w.endObject();
    w.endObject();
    w.flush();
    sw.write('\n');
    return sw.toString().getBytes(StandardCharsets.UTF_8);
  }

  // ---------------------------------------------------------------- atomic replace

  interface Body {
    void write(FileChannel ch) throws IOException;
  }

  /**
   * Runs {@code body} on a new temporary file next to {@code target}, forces it to disk, and
   * renames it over {@code target} atomically. On any failure the temporary file is deleted and
   * {@code target} is untouched.
   */
  static void atomicWrite(Path target, Body body) throws IOException {
    Path abs = target.toAbsolutePath();
    Path dir = abs.getParent();
    Path tmp = null;
    FileChannel ch = null;
    for (int attempt = 0; ch == null; attempt++) {
      tmp =
          dir.resolve(
              "."
                  + abs.getFileName()
                  + "."
                  + Long.toHexString(ThreadLocalRandom.current().nextLong())
                  + ".tmp");
      try {
        // CREATE_NEW (not createTempFile) so the file gets the usual permissions (umask).
        ch = FileChannel.open(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
      } catch (FileAlreadyExistsException e) {
        if (attempt > 100) throw e;
      }
    }
    try {
      try (FileChannel c = ch) {
        body.write(c);
        c.force(true);
      }
      Files.move(tmp, abs, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } catch (Throwable t) {
      try {
        Files.deleteIfExists(tmp);
      } catch (IOException suppressed) {
        t.addSuppressed(suppressed);
      }
      throw t;
    }
    syncDirectory(dir);
  }

  /** Makes the rename durable (Linux); a no-op where folders cannot be opened. */
  private static void syncDirectory(Path dir) {
    try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
      d.force(true);
    } catch (IOException | UncheckedIOException e) {
      // Not supported on this platform/file system: the rename itself was still atomic.
    }
  }
}
