package io.kinema.tensor.io;

import io.kinema.tensor.DType;
import io.kinema.tensor.Device;
import io.kinema.tensor.Shapes;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.backend.Storage;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * An open safetensors file: the header is parsed and validated by {@link #open}, and tensors are
 * read on demand with {@link #get}. The counterpart of Python's {@code safe_open(path, "pt")}.
 *
 * <pre>{@code
 * try (var f = SafetensorsFile.open(path); var scope = Scope.open()) {
 *   Tensor w = f.get("patch_embedding.weight");
 *   ...
 * }
 * }</pre>
 *
 * <h2>Memory</h2>
 *
 * The file is memory-mapped copy-on-write ({@link FileChannel.MapMode#PRIVATE}): pages are read
 * from disk when first touched, and writing to a loaded tensor (an in-place op on a weight) changes
 * a private copy of the page, never the file. {@link #get} is zero-copy when it can be: a tensor
 * whose data starts at an address aligned to its element size (all that the kernels assume: vector
 * loads from memory segments need no alignment) wraps the mapped bytes directly. Other tensors are
 * copied into a fresh allocation. Files written by {@link Safetensors#save} and by Python's
 * safetensors (data section aligned to 8 bytes, tensors in decreasing element size) keep every
 * tensor element-aligned, so they load without copies.
 *
 * <p>The mapping is released deterministically (never by the GC): when this file is closed AND
 * every zero-copy tensor it returned (with all views of them) has been closed. So a tensor from
 * {@link #get} stays valid after {@link #close}.
 *
 * <p>A private mapping needs a channel opened for writing (the JDK's rule, although nothing is ever
 * written). When the file cannot be opened for writing (read-only file or file system, no
 * permission), it is mapped read-only and every {@link #get} copies.
 *
 * <p>The file must not be truncated or rewritten in place while it is open (as for any mapped file,
 * the OS would fault on the missing pages); replacing it by a rename, as {@link Safetensors#save}
 * does, is safe. Only little-endian hosts are supported (the format is little-endian; big-endian
 * hosts are out of scope). Methods are safe to call from several threads.
 */
public final class SafetensorsFile implements AutoCloseable {
  private static final ValueLayout.OfLong U64_LE =
      ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

  private final Path path;
  private final Arena arena;
  private final MemorySegment mapping;
  private final long dataStart;
  private final boolean writableMapping;
  private final Map<String, String> metadata;
  private final Map<String, TensorInfo> tensors; // in offset order
  private final List<String> keys;

  // Guarded by this: the mapping is unmapped when closed && liveViews == 0.
  private boolean closed;
  private int liveViews;

  private SafetensorsFile(
      Path path,
      Arena arena,
      MemorySegment mapping,
      long dataStart,
      boolean writableMapping,
      Header header) {
    this.path = path;
    this.arena = arena;
    this.mapping = mapping;
    this.dataStart = dataStart;
    this.writableMapping = writableMapping;
    this.metadata = header.metadata();
    this.tensors = Collections.unmodifiableMap(header.byName());
    this.keys = List.copyOf(tensors.keySet());
  }

  /**
   * Opens and validates {@code path}. Every inconsistency in the header (see {@link
   * SafetensorsException}) is reported here, before any tensor is read.
   *
   * @throws SafetensorsException if the file is not a valid safetensors file
   * @throws IOException if it cannot be read at all
   */
  public static SafetensorsFile open(Path path) throws IOException {
    return open(path, true);
  }

  /** {@link #open}, with {@code privateMapping = false} forcing the read-only, copying mode. */
  static SafetensorsFile open(Path path, boolean privateMapping) throws IOException {
    requireLittleEndian();
    if (Files.isDirectory(path)) {
      throw new SafetensorsException(
          path + " is a folder, not a safetensors file (open folders with SafetensorsCheckpoint)");
    }
    FileChannel writableChannel = null;
    if (privateMapping) {
      try {
        writableChannel = FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE);
      } catch (NoSuchFileException e) {
        throw e;
      } catch (IOException e) {
        // Not writable here: map read-only and copy on get.
      }
    }
    boolean writable = writableChannel != null;
    Arena arena = Arena.ofShared();
    try (FileChannel ch =
        writable ? writableChannel : FileChannel.open(path, StandardOpenOption.READ)) {
      long size = ch.size();
      if (size < 8) {
        throw new SafetensorsException(
            path + ": file has " + size + " bytes, too short for the 8-byte header length");
      }
      MemorySegment map =
          ch.map(
              writable ? FileChannel.MapMode.PRIVATE : FileChannel.MapMode.READ_ONLY,
              0,
              size,
              arena);
      long n = map.get(U64_LE, 0); // unsigned: a negative long is > 2^63
      if (n < 2 || n > Header.MAX_HEADER_BYTES) {
        throw new SafetensorsException(
            path
                + ": header length "
                + Long.toUnsignedString(n)
                + " is outside [2, "
                + Header.MAX_HEADER_BYTES
                + "] bytes (not a safetensors file?)");
      }
      if (8 + n > size) {
        throw new SafetensorsException(
            path
                + ": header length "
                + n
                + " runs past the end of the file ("
                + size
                + " bytes; the header ends at byte "
                + (8 + n)
                + ")");
      }
      byte[] json = new byte[(int) n];
      MemorySegment.copy(map, ValueLayout.JAVA_BYTE, 8, json, 0, (int) n);
      Header header = Header.parse(path.toString(), json, size - 8 - n);
      return new SafetensorsFile(path, arena, map, 8 + n, writable, header);
    } catch (Throwable t) {
      arena.close();
      throw t;
    }
  }

  static void requireLittleEndian() {
    if (ByteOrder.nativeOrder() != ByteOrder.LITTLE_ENDIAN) {
      throw new UnsupportedOperationException(
          "safetensors I/O supports little-endian hosts only; this host is big-endian");
    }
  }

  /** The file this was opened from. */
  public Path path() {
    return path;
  }

  /** Tensor names in file order (sorted by offset). */
  public List<String> keys() {
    return keys;
  }

  /** True when the file holds a tensor called {@code name}. */
  public boolean containsKey(String name) {
    return tensors.containsKey(name);
  }

  /** The header entry of {@code name} (dtype, shape, byte range); unsupported dtypes included. */
  public TensorInfo info(String name) {
    TensorInfo t = tensors.get(name);
    if (t == null) {
      throw new IllegalArgumentException(
          "no tensor '" + name + "' in " + path + " (it holds " + tensors.size() + " tensors)");
    }
    return t;
  }

  /** The header entries of every tensor, in file order. */
  public List<TensorInfo> infos() {
    return List.copyOf(tensors.values());
  }

  /** The header's {@code __metadata__} (empty when absent). */
  public Map<String, String> metadata() {
    return metadata;
  }

  /** Offset of the data section in the file: 8 + the header length. */
  public long dataOffset() {
    return dataStart;
  }

  /**
   * The tensor {@code name} on the CPU, in the file's dtype: a view of the mapped file when its
   * data is aligned (see the class comment), else a copy. The caller owns it (close it, or create
   * it inside a {@link io.kinema.tensor.Scope}).
   *
   * @throws SafetensorsException if its dtype is one Kinema does not support, or it is BOOL with
   *     bytes other than 0 and 1
   * @throws IllegalArgumentException if there is no such tensor
   * @throws IllegalStateException if this file is closed
   */
  public Tensor get(String name) throws SafetensorsException {
    TensorInfo info = info(name);
    Optional<DType> dt = info.kinemaDType();
    if (dt.isEmpty()) {
      throw new SafetensorsException(
          "unsupported dtype "
              + info.dtype()
              + " for tensor '"
              + name
              + "' in file "
              + path
              + " (Kinema loads F64, F32, F16, BF16, I64, I32, U8 and BOOL)");
    }
    DType dtype = dt.get();
    long[] shape = info.shape();
    long bytes = info.byteSize();
    if (bytes == 0) return Tensor.empty(dtype, shape);

    acquire(name);
    boolean handedOver = false;
    try {
      MemorySegment src = mapping.asSlice(dataStart + info.begin(), bytes);
      if (dtype == DType.BOOL) checkBooleans(name, src);
      if (writableMapping && src.address() % dtype.byteSize() == 0) {
        Storage storage = new Storage(src, Device.CPU, seg -> release());
        Tensor t = new Tensor(storage, dtype, shape, Shapes.contiguousStrides(shape), 0);
        handedOver = true; // the storage's releaser now owns the reference
        return t;
      }
      Tensor t = Tensor.empty(dtype, shape);
      MemorySegment.copy(src, 0, t.storage().segment(), 0, bytes);
      return t;
    } finally {
      if (!handedOver) release();
    }
  }

  /** Kernels treat BOOL as bytes 0 and 1; any other byte is corrupt data, not "true". */
  private void checkBooleans(String name, MemorySegment src) throws SafetensorsException {
    for (long i = 0; i < src.byteSize(); i++) {
      byte b = src.get(ValueLayout.JAVA_BYTE, i);
      if (b != 0 && b != 1) {
        throw new SafetensorsException(
            path
                + ": tensor '"
                + name
                + "' is BOOL but element "
                + i
                + " is the byte "
                + (b & 0xff)
                + " (expected 0 or 1)");
      }
    }
  }

  /** The tensor {@code name} converted to {@code dtype} (no copy when it already has it). */
  public Tensor get(String name, DType dtype) throws SafetensorsException {
    Tensor t = get(name);
    if (t.dtype() == dtype) return t;
    try (t) {
      return t.to(dtype);
    }
  }

  /**
   * Closes the file. Tensors already returned stay valid; the mapping is released when the last of
   * them is closed too. Idempotent.
   */
  @Override
  public synchronized void close() {
    if (closed) return;
    closed = true;
    if (liveViews == 0) arena.close();
  }

  private synchronized void acquire(String name) {
    if (closed) {
      throw new IllegalStateException("get('" + name + "'): " + path + " is closed");
    }
    liveViews++;
  }

  private synchronized void release() {
    if (--liveViews == 0 && closed) arena.close();
  }

  // ---------------------------------------------------------------- hooks for tests

  /** True until the mapping has been released. */
  boolean mappingAlive() {
    return arena.scope().isAlive();
  }

  /** Zero-copy tensors (storages) still using the mapping. */
  synchronized int liveViews() {
    return liveViews;
  }

  /** The whole mapped file. */
  MemorySegment mapping() {
    return mapping;
  }

  /** True when the file is mapped copy-on-write (so aligned tensors are zero-copy). */
  boolean writableMapping() {
    return writableMapping;
  }

  @Override
  public String toString() {
    return "SafetensorsFile(" + path + ", " + tensors.size() + " tensors)";
  }

  /** Tensors by name in file order (for {@link SafetensorsCheckpoint}). */
  Map<String, TensorInfo> tensorMap() {
    return new LinkedHashMap<>(tensors);
  }
}
