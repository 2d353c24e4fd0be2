package io.kinema.tensor.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.kinema.tensor.DType;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Safetensors reading and writing: bit-exact round trips of every dtype and layout, the file layout
 * we write, zero-copy mapping and its release, atomic saves, sharded checkpoints, every header
 * validation error (on hand-built files), a mutation fuzz test, and the golden files written by
 * Python's safetensors.
 */
class SafetensorsTest {
  @TempDir Path dir;

  // ---------------------------------------------------------------- helpers

  /** Row-major bytes of t. */
  static byte[] raw(Tensor t) {
    try (Tensor c = t.contiguous()) {
      long bytes = c.numel() * c.dtype().byteSize();
      return c.storage()
          .segment()
          .asSlice(c.offset() * c.dtype().byteSize(), bytes)
          .toArray(ValueLayout.JAVA_BYTE);
    }
  }

  /**
   * A tensor of random bit patterns (0/1 for BOOL); floats start with NaNs (quiet, signalling, with
   * payload), infinities, -0 and the smallest subnormal.
   */
  static Tensor random(DType dt, Random rnd, long... shape) {
    Tensor t = Tensor.empty(dt, shape);
    MemorySegment s = t.storage().segment();
    long n = t.numel();
    for (long i = 0; i < n * dt.byteSize(); i++)
      s.set(ValueLayout.JAVA_BYTE, i, (byte) rnd.nextInt());
    if (dt == DType.BOOL) {
      for (long i = 0; i < n; i++) s.set(ValueLayout.JAVA_BYTE, i, (byte) rnd.nextInt(2));
    }
    long[] specials =
        switch (dt) {
          case F64 ->
              new long[] {
                0x7ff8000000000000L,
                0x7ff0000000000001L,
                0xfff8000000012345L,
                0x7ff0000000000000L,
                0xfff0000000000000L,
                0x8000000000000000L,
                1L
              };
          case F32 ->
              new long[] {
                0x7fc00000, 0x7f800001, 0xffc12345L, 0x7f800000, 0xff800000L, 0x80000000L, 1
              };
          case F16 -> new long[] {0x7e00, 0x7c01, 0xfe45, 0x7c00, 0xfc00, 0x8000, 1};
          case BF16 -> new long[] {0x7fc0, 0x7f81, 0xffc5, 0x7f80, 0xff80, 0x8000, 1};
          default -> new long[0];
        };
    for (int i = 0; i < specials.length && i < n; i++) {
      switch (dt.byteSize()) {
        case 8 -> s.setAtIndex(ValueLayout.JAVA_LONG, i, specials[i]);
        case 4 -> s.setAtIndex(ValueLayout.JAVA_INT, i, (int) specials[i]);
        default -> s.setAtIndex(ValueLayout.JAVA_SHORT, i, (short) specials[i]);
      }
    }
    return t;
  }

  /** 8-byte little-endian length, then the header text, then data. */
  static byte[] file(String header, byte[] data) {
    byte[] h = header.getBytes(StandardCharsets.UTF_8);
    return concat(le(h.length), h, data);
  }

  static byte[] le(long v) {
    return ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(v).array();
  }

  static byte[] concat(byte[]... parts) {
    int n = 0;
    for (byte[] p : parts) n += p.length;
    byte[] out = new byte[n];
    int o = 0;
    for (byte[] p : parts) {
      System.arraycopy(p, 0, out, o, p.length);
      o += p.length;
    }
    return out;
  }

  Path write(String name, byte[] bytes) throws IOException {
    Path p = dir.resolve(name);
    Files.write(p, bytes);
    return p;
  }

  /** Opens the hand-built file, expecting a SafetensorsException naming it and each fragment. */
  SafetensorsException bad(byte[] bytes, String... fragments) throws IOException {
    Path p = write("bad.safetensors", bytes);
    SafetensorsException e =
        assertThrows(
            SafetensorsException.class,
            () -> {
              try (SafetensorsFile f = SafetensorsFile.open(p)) {
                fail("opened: " + f.keys());
              }
            });
    String m = e.getMessage();
    assertTrue(m.contains(p.toString()), "message does not name the file: " + m);
    for (String frag : fragments) assertTrue(m.contains(frag), "expected '" + frag + "' in: " + m);
    return e;
  }

  SafetensorsException badHeader(String header, int dataBytes, String... fragments)
      throws IOException {
    return bad(file(header, new byte[dataBytes]), fragments);
  }

  static String entry(String name, String dtype, String shape, long begin, long end) {
    return "\""
        + name
        + "\":{\"dtype\":\""
        + dtype
        + "\",\"shape\":"
        + shape
        + ",\"data_offsets\":["
        + begin
        + ","
        + end
        + "]}";
  }

  static void assertSame(Tensor expected, Tensor actual, String what) {
    assertEquals(expected.dtype(), actual.dtype(), what + " dtype");
    assertArrayEquals(expected.shape(), actual.shape(), what + " shape");
    assertArrayEquals(raw(expected), raw(actual), what + " bytes");
  }

  // ---------------------------------------------------------------- round trips

  @Test
  void roundTripEveryDtypeBitExact() throws IOException {
    Random rnd = new Random(1);
    try (var s = Scope.open()) {
      Map<String, Tensor> in = new LinkedHashMap<>();
      long[][] shapes = {{17}, {3, 5}, {2, 3, 4}, {1, 33}};
      for (DType dt : DType.values()) {
        for (int k = 0; k < shapes.length; k++) {
          in.put(dt.name().toLowerCase() + ".t" + k, random(dt, rnd, shapes[k]));
        }
      }
      Map<String, String> meta = Map.of("format", "pt", "note", "ünïcödé \"quoted\" \n");
      Path p = dir.resolve("all.safetensors");
      Safetensors.save(p, in, meta);
      try (SafetensorsFile f = SafetensorsFile.open(p)) {
        assertEquals(meta, f.metadata());
        assertEquals(in.size(), f.keys().size());
        for (var e : in.entrySet()) {
          assertSame(e.getValue(), f.get(e.getKey()), e.getKey());
          TensorInfo info = f.info(e.getKey());
          assertEquals(e.getValue().dtype().name(), info.dtype());
          assertEquals(e.getValue().dtype(), info.kinemaDType().orElseThrow());
          assertEquals(e.getValue().numel() * e.getValue().dtype().byteSize(), info.byteSize());
        }
      }
      Map<String, Tensor> loaded = Safetensors.load(p);
      assertEquals(in.keySet(), new java.util.HashSet<>(loaded.keySet()));
      for (var e : in.entrySet()) assertSame(e.getValue(), loaded.get(e.getKey()), e.getKey());
      loaded.values().forEach(Tensor::close);
    }
  }

  @Test
  void emptyTensorsScalarsAndEmptyFile() throws IOException {
    try (var s = Scope.open()) {
      Map<String, Tensor> in = new LinkedHashMap<>();
      in.put("empty0", Tensor.empty(DType.F32, 0));
      in.put("empty_mid", Tensor.empty(DType.BF16, 3, 0, 2));
      in.put("scalar_f64", Tensor.scalar(-2.5, DType.F64));
      in.put("scalar_i64", Tensor.scalar(1L << 40, DType.I64));
      in.put("scalar_bool", Tensor.scalar(1, DType.BOOL));
      in.put("empty_end", Tensor.empty(DType.U8, 0, 7));
      Path p = dir.resolve("edge.safetensors");
      Safetensors.save(p, in, null);
      try (SafetensorsFile f = SafetensorsFile.open(p)) {
        assertEquals(Map.of(), f.metadata());
        for (var e : in.entrySet()) assertSame(e.getValue(), f.get(e.getKey()), e.getKey());
        assertEquals(0, f.get("scalar_f64").dim());
        assertEquals(-2.5, f.get("scalar_f64").item());
        assertEquals(1L << 40, f.get("scalar_i64").toLongArray()[0]);
        assertArrayEquals(new long[] {3, 0, 2}, f.info("empty_mid").shape());
      }
      Path none = dir.resolve("none.safetensors");
      Safetensors.save(none, Map.of(), Map.of());
      try (SafetensorsFile f = SafetensorsFile.open(none)) {
        assertTrue(f.keys().isEmpty());
      }
      assertTrue(Safetensors.load(none).isEmpty());
    }
  }

  @Test
  void nonContiguousInputsAreWrittenAsTheirValues() throws IOException {
    Random rnd = new Random(2);
    try (var s = Scope.open()) {
      Map<String, Tensor> in = new LinkedHashMap<>();
      for (DType dt : DType.values()) {
        Tensor base = random(dt, rnd, 4, 6, 5);
        in.put(dt + ".permute", base.permute(2, 0, 1));
        in.put(dt + ".slice", base.slice(1, 1, 6, 2));
        in.put(dt + ".transpose", base.select(0, 1).t());
        in.put(dt + ".expand", base.select(0, 2).select(0, 3).unsqueeze(0).expand(3, 5));
        in.put(dt + ".narrow", base.narrow(2, 1, 3).narrow(0, 2, 2));
      }
      for (Tensor t : in.values()) assertFalse(t.isContiguous());
      Path p = dir.resolve("views.safetensors");
      Safetensors.save(p, in, null);
      try (SafetensorsFile f = SafetensorsFile.open(p)) {
        for (var e : in.entrySet()) {
          Tensor got = f.get(e.getKey());
          assertTrue(got.isContiguous());
          assertSame(e.getValue(), got, e.getKey());
        }
      }
    }
  }

  @Test
  void getConvertsDtype() throws IOException {
    try (var s = Scope.open()) {
      Tensor x = Tensor.of(new float[] {1.5f, -2f, 3.25f}, 3);
      Path p = dir.resolve("conv.safetensors");
      Safetensors.save(p, Map.of("x", x), null);
      try (SafetensorsFile f = SafetensorsFile.open(p)) {
        Tensor d = f.get("x", DType.F64);
        assertEquals(DType.F64, d.dtype());
        assertArrayEquals(new double[] {1.5, -2, 3.25}, d.toDoubleArray());
        assertEquals(DType.F32, f.get("x", DType.F32).dtype());
        assertArrayEquals(new long[] {1, -2, 3}, f.get("x", DType.I64).toLongArray());
      }
    }
  }

  // ---------------------------------------------------------------- layout of what we write

  @Test
  void writtenLayoutIsDeterministicAlignedAndInReferenceOrder() throws IOException {
    Random rnd = new Random(3);
    try (var s = Scope.open()) {
      Map<String, Tensor> in = new TreeMap<>();
      in.put("b_u8", random(DType.U8, rnd, 5));
      in.put("a_f16", random(DType.F16, rnd, 3));
      in.put("c_f64", random(DType.F64, rnd, 2));
      in.put("a_f32", random(DType.F32, rnd, 7));
      in.put("z_i64", random(DType.I64, rnd, 1));
      in.put("y_bool", random(DType.BOOL, rnd, 3));
      Path p1 = dir.resolve("one.safetensors"), p2 = dir.resolve("two.safetensors");
      Safetensors.save(p1, in, Map.of("b", "2", "a", "1"));
      Map<String, Tensor> reversed = new LinkedHashMap<>();
      new ArrayList<>(in.keySet()).reversed().forEach(k -> reversed.put(k, in.get(k)));
      Safetensors.save(p2, reversed, new TreeMap<>(Map.of("a", "1", "b", "2")));
      byte[] b1 = Files.readAllBytes(p1);
      assertArrayEquals(b1, Files.readAllBytes(p2), "output depends on map order");

      long n = ByteBuffer.wrap(b1, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
      assertEquals(0, (8 + n) % 64, "data section must start at a multiple of 64");
      String header = new String(b1, 8, (int) n, StandardCharsets.UTF_8);
      assertTrue(header.stripTrailing().endsWith("}"));
      assertTrue(header.substring(header.stripTrailing().length()).isBlank());
      JsonObject o = JsonParser.parseString(header).getAsJsonObject();
      assertEquals("1", o.getAsJsonObject("__metadata__").get("a").getAsString());
      try (SafetensorsFile f = SafetensorsFile.open(p1)) {
        // Reference order: element size descending, then name.
        assertEquals(List.of("c_f64", "z_i64", "a_f32", "a_f16", "b_u8", "y_bool"), f.keys());
        for (String k : f.keys()) {
          TensorInfo i = f.info(k);
          assertEquals(0, i.begin() % DType.valueOf(i.dtype()).byteSize(), k + " misaligned");
        }
      }
    }
  }

  // ---------------------------------------------------------------- zero copy

  @Test
  void zeroCopySharesTheMappingAndReleasesItWhenFileAndTensorsAreClosed() throws IOException {
    Random rnd = new Random(4);
    Path p = dir.resolve("zc.safetensors");
    try (var s = Scope.open()) {
      Safetensors.save(
          p, Map.of("a", random(DType.F32, rnd, 64), "b", random(DType.F32, rnd, 16, 4)), null);
    }
    // File closed first, tensor later.
    SafetensorsFile f = SafetensorsFile.open(p);
    assertTrue(f.writableMapping());
    Tensor a = f.get("a");
    Tensor b = f.get("b");
    long lo = f.mapping().address() + f.dataOffset(),
        hi = f.mapping().address() + f.mapping().byteSize();
    for (Tensor t : List.of(a, b)) {
      long addr = t.storage().segment().address();
      assertTrue(addr >= lo && addr + 256 <= hi, "tensor is not inside the mapped file");
    }
    assertEquals(2, f.liveViews());
    byte[] expectA =
        Arrays.copyOfRange(Files.readAllBytes(p), (int) f.dataOffset(), (int) f.dataOffset() + 256);
    Tensor view = a.slice(0, 1, 64, 3); // a view keeps the storage too
    a.close();
    f.close();
    assertTrue(f.mappingAlive(), "mapping released while tensors still use it");
    assertThrows(IllegalStateException.class, () -> f.get("a"));
    assertArrayEquals(Arrays.copyOfRange(expectA, 4, 8), Arrays.copyOfRange(raw(view), 0, 4));
    b.close();
    assertEquals(1, f.liveViews());
    assertTrue(f.mappingAlive());
    view.close();
    assertEquals(0, f.liveViews());
    assertFalse(f.mappingAlive(), "mapping not released after the file and every tensor closed");

    // Tensor closed first, file later; and a file with no zero-copy tensor at all.
    SafetensorsFile g = SafetensorsFile.open(p);
    g.get("a").close();
    assertTrue(g.mappingAlive());
    g.close();
    assertFalse(g.mappingAlive());
    SafetensorsFile h = SafetensorsFile.open(p);
    h.close();
    h.close(); // idempotent
    assertFalse(h.mappingAlive());
  }

  @Test
  void unalignedTensorsAreCopied() throws IOException {
    // u8[2] first puts the f32 tensor 2 bytes past a 64-byte boundary: not element aligned.
    byte[] data = new byte[2 + 16];
    for (int i = 0; i < 2; i++) data[i] = (byte) (i + 1);
    ByteBuffer.wrap(data, 2, 16)
        .order(ByteOrder.LITTLE_ENDIAN)
        .putFloat(1f)
        .putFloat(-2f)
        .putFloat(3f)
        .putFloat(Float.NaN);
    String h = "{" + entry("a", "U8", "[2]", 0, 2) + "," + entry("b", "F32", "[2,2]", 2, 18) + "}";
    byte[] hb = h.getBytes(StandardCharsets.UTF_8);
    String padded = h + " ".repeat((int) ((64 - (8 + hb.length) % 64) % 64));
    Path p = write("unaligned.safetensors", file(padded, data));
    try (var s = Scope.open();
        SafetensorsFile f = SafetensorsFile.open(p)) {
      assertEquals(0, (f.mapping().address() + f.dataOffset()) % 64);
      Tensor a = f.get("a");
      assertEquals(1, f.liveViews()); // aligned: zero-copy
      Tensor b = f.get("b");
      assertEquals(1, f.liveViews()); // 2 bytes past the boundary: copied
      long addr = b.storage().segment().address();
      long lo = f.mapping().address(), hi = lo + f.mapping().byteSize();
      assertTrue(addr < lo || addr >= hi, "unaligned tensor must be a copy");
      assertArrayEquals(new byte[] {1, 2}, raw(a));
      double[] v = b.toDoubleArray();
      assertEquals(List.of(1.0, -2.0, 3.0), List.of(v[0], v[1], v[2]));
      assertTrue(Double.isNaN(v[3]));
    }
  }

  @Test
  void inPlaceOpsOnLoadedTensorsNeverTouchTheFile() throws IOException {
    Random rnd = new Random(5);
    Path p = dir.resolve("cow.safetensors");
    try (var s = Scope.open()) {
      Safetensors.save(p, Map.of("w", random(DType.F32, rnd, 32, 16)), Map.of("format", "pt"));
    }
    byte[] before = Files.readAllBytes(p);
    for (boolean privateMapping : new boolean[] {true, false}) {
      try (var s = Scope.open();
          SafetensorsFile f = SafetensorsFile.open(p, privateMapping)) {
        assertEquals(privateMapping, f.writableMapping());
        Tensor w = f.get("w");
        assertEquals(privateMapping ? 1 : 0, f.liveViews());
        w.fill(7);
        w.mulInPlace(3);
        assertEquals(21.0, w.get(3, 5));
        try (SafetensorsFile again = SafetensorsFile.open(p)) {
          assertFalse(Arrays.equals(raw(w), raw(again.get("w"))));
        }
      }
      assertArrayEquals(before, Files.readAllBytes(p), "the file changed");
    }
  }

  // ---------------------------------------------------------------- atomic save

  @Test
  void failedSaveLeavesTheOldFileAndNoTemporary() throws IOException {
    Path p = dir.resolve("model.safetensors");
    try (var s = Scope.open()) {
      Safetensors.save(p, Map.of("old", Tensor.of(new float[] {1, 2, 3})), Map.of("v", "1"));
    }
    byte[] old = Files.readAllBytes(p);

    Tensor good = Tensor.ones(DType.F32, 1 << 18); // 1 MiB, written first ("a" < "b")
    Tensor broken = Tensor.ones(DType.F32, 1000);
    broken.storage().release(); // storage gone, tensor not closed: fails when its bytes are read
    try {
      IllegalStateException e =
          assertThrows(
              IllegalStateException.class,
              () -> Safetensors.save(p, Map.of("a", good, "b", broken), null));
      assertTrue(e.getMessage().contains("released"), e.getMessage());
    } finally {
      good.close();
    }
    assertArrayEquals(old, Files.readAllBytes(p), "the old file was damaged");
    try (Stream<Path> files = Files.list(dir)) {
      assertEquals(List.of(p), files.toList(), "a temporary file was left behind");
    }

    // Bad arguments fail before anything is written.
    try (var s = Scope.open()) {
      Tensor closed = Tensor.zeros(2);
      closed.close();
      var e1 =
          assertThrows(
              IllegalArgumentException.class, () -> Safetensors.save(p, Map.of("x", closed), null));
      assertTrue(e1.getMessage().contains("'x' is closed"), e1.getMessage());
      var e2 =
          assertThrows(
              IllegalArgumentException.class,
              () -> Safetensors.save(p, Map.of("__metadata__", Tensor.zeros(1)), null));
      assertTrue(e2.getMessage().contains("reserved"), e2.getMessage());
      assertThrows(
          java.nio.file.NoSuchFileException.class,
          () -> Safetensors.save(dir.resolve("no/such/dir/x.safetensors"), Map.of(), null));
    }
    assertArrayEquals(old, Files.readAllBytes(p));
    try (Stream<Path> files = Files.list(dir)) {
      assertEquals(List.of(p), files.toList());
    }
  }

  @Test
  void saveReplacesAFileThatIsStillMappedByZeroCopyTensors() throws IOException {
    Path p = dir.resolve("live.safetensors");
    try (var s = Scope.open()) {
      Safetensors.save(p, Map.of("w", Tensor.full(1, DType.F32, 64)), null);
      Tensor w;
      try (SafetensorsFile f = SafetensorsFile.open(p)) {
        w = f.get("w");
      }
      // Overwrite while w still maps the old file: the rename leaves w's pages intact.
      Safetensors.save(p, Map.of("w", Tensor.full(2, DType.F32, 64)), null);
      assertEquals(1.0, w.get(63));
      try (SafetensorsFile f = SafetensorsFile.open(p)) {
        assertEquals(2.0, f.get("w").get(0));
      }
    }
  }

  // ---------------------------------------------------------------- sharded checkpoints

  @Test
  void shardedRoundTrip() throws IOException {
    Random rnd = new Random(6);
    Path ckpt = dir.resolve("ckpt");
    try (var s = Scope.open()) {
      Map<String, Tensor> in = new LinkedHashMap<>();
      for (int i = 0; i < 12; i++) {
        DType dt = DType.values()[i % DType.values().length];
        in.put("blocks." + i + ".weight", random(dt, rnd, 1 + rnd.nextInt(40)));
      }
      in.put("huge", random(DType.F64, rnd, 100)); // 800 bytes > maxShardBytes: a shard alone
      Path index =
          Safetensors.saveSharded(ckpt, "diffusion_pytorch_model", in, Map.of("format", "pt"), 256);
      assertEquals(ckpt.resolve("diffusion_pytorch_model.safetensors.index.json"), index);
      List<String> shards;
      try (Stream<Path> files = Files.list(ckpt)) {
        shards =
            files
                .map(f -> f.getFileName().toString())
                .filter(f -> f.endsWith(".safetensors"))
                .sorted()
                .toList();
      }
      int n = shards.size();
      assertTrue(n >= 4, "expected several shards, got " + shards);
      for (int i = 0; i < n; i++) {
        assertEquals(
            String.format("diffusion_pytorch_model-%05d-of-%05d.safetensors", i + 1, n),
            shards.get(i));
        long data;
        try (SafetensorsFile f = SafetensorsFile.open(ckpt.resolve(shards.get(i)))) {
          data = Files.size(f.path()) - f.dataOffset();
          assertEquals(Map.of("format", "pt"), f.metadata());
          if (!f.keys().equals(List.of("huge")))
            assertTrue(data <= 256, shards.get(i) + " holds " + data);
        }
      }
      JsonObject idx = JsonParser.parseString(Files.readString(index)).getAsJsonObject();
      long total = 0;
      for (Tensor t : in.values()) total += t.numel() * t.dtype().byteSize();
      assertEquals(total, idx.getAsJsonObject("metadata").get("total_size").getAsLong());
      assertEquals(in.size(), idx.getAsJsonObject("weight_map").size());

      for (Path open : List.of(ckpt, index)) {
        try (SafetensorsCheckpoint c = SafetensorsCheckpoint.open(open)) {
          assertEquals(n, c.files().size());
          assertEquals(in.keySet(), new java.util.HashSet<>(c.keys()));
          assertEquals(Map.of("format", "pt"), c.metadata());
          for (var e : in.entrySet()) {
            assertSame(e.getValue(), c.get(e.getKey()), e.getKey());
            assertEquals(
                idx.getAsJsonObject("weight_map").get(e.getKey()).getAsString(),
                c.fileOf(e.getKey()).path().getFileName().toString());
          }
        }
      }
      Map<String, Tensor> all = Safetensors.load(ckpt);
      assertEquals(in.size(), all.size());
      for (var e : in.entrySet()) assertSame(e.getValue(), all.get(e.getKey()), e.getKey());

      // A second save with fewer shards removes the stale ones.
      Safetensors.saveSharded(
          ckpt, "diffusion_pytorch_model", Map.of("x", Tensor.zeros(4)), null, 1 << 20);
      try (Stream<Path> files = Files.list(ckpt)) {
        assertEquals(
            List.of(
                "diffusion_pytorch_model-00001-of-00001.safetensors",
                "diffusion_pytorch_model.safetensors.index.json"),
            files.map(f -> f.getFileName().toString()).sorted().toList());
      }
      try (SafetensorsCheckpoint c = SafetensorsCheckpoint.open(ckpt)) {
        assertEquals(List.of("x"), c.keys());
      }
    }
  }

  @Test
  void checkpointOpensSingleFilesAndFolders() throws IOException {
    try (var s = Scope.open()) {
      Path folder = Files.createDirectory(dir.resolve("single"));
      Path file = folder.resolve("model.safetensors");
      Safetensors.save(file, Map.of("w", Tensor.of(new float[] {4, 5})), Map.of("k", "v"));
      for (Path p : List.of(folder, file)) {
        try (SafetensorsCheckpoint c = SafetensorsCheckpoint.open(p)) {
          assertEquals(List.of("w"), c.keys());
          assertEquals(Map.of("k", "v"), c.metadata());
          assertArrayEquals(new double[] {4, 5}, c.get("w").toDoubleArray());
          var e = assertThrows(IllegalArgumentException.class, () -> c.get("nope"));
          assertTrue(e.getMessage().contains("'nope'"), e.getMessage());
        }
      }
      Safetensors.save(folder.resolve("other.safetensors"), Map.of(), null);
      var e = assertThrows(SafetensorsException.class, () -> SafetensorsCheckpoint.open(folder));
      assertTrue(e.getMessage().contains("several .safetensors files"), e.getMessage());
      Path empty = Files.createDirectory(dir.resolve("empty"));
      e = assertThrows(SafetensorsException.class, () -> SafetensorsCheckpoint.open(empty));
      assertTrue(e.getMessage().contains("no .safetensors file"), e.getMessage());
      Files.writeString(folder.resolve("a.safetensors.index.json"), "{\"weight_map\":{}}");
      Files.writeString(folder.resolve("b.safetensors.index.json"), "{\"weight_map\":{}}");
      e = assertThrows(SafetensorsException.class, () -> SafetensorsCheckpoint.open(folder));
      assertTrue(e.getMessage().contains("several checkpoint indexes"), e.getMessage());
      e = assertThrows(SafetensorsException.class, () -> SafetensorsFile.open(folder));
      assertTrue(e.getMessage().contains("is a folder"), e.getMessage());
    }
  }

  /** A two-shard checkpoint: s1 holds a, b; s2 holds c. */
  Path shardedFixture() throws IOException {
    Path ckpt = Files.createDirectories(dir.resolve("fx"));
    try (var s = Scope.open()) {
      Safetensors.save(
          ckpt.resolve("m-00001-of-00002.safetensors"),
          Map.of("a", Tensor.zeros(2), "b", Tensor.zeros(3)),
          null);
      Safetensors.save(
          ckpt.resolve("m-00002-of-00002.safetensors"), Map.of("c", Tensor.zeros(4)), null);
    }
    return ckpt;
  }

  SafetensorsException badIndex(Path ckpt, String json, String... fragments) throws IOException {
    Path index = ckpt.resolve("m.safetensors.index.json");
    Files.writeString(index, json);
    var e = assertThrows(SafetensorsException.class, () -> SafetensorsCheckpoint.open(ckpt));
    for (String f : fragments)
      assertTrue(e.getMessage().contains(f), "expected '" + f + "' in: " + e.getMessage());
    return e;
  }

  @Test
  void inconsistentIndexesAreReported() throws IOException {
    Path ckpt = shardedFixture();
    String s1 = "m-00001-of-00002.safetensors", s2 = "m-00002-of-00002.safetensors";
    badIndex(
        ckpt,
        "{\"weight_map\":{\"a\":\""
            + s1
            + "\",\"b\":\""
            + s1
            + "\",\"c\":\"m-00009-of-00009.safetensors\"}}",
        "m-00009-of-00009.safetensors",
        "'c'",
        "does not exist");
    badIndex(
        ckpt,
        "{\"weight_map\":{\"a\":\""
            + s1
            + "\",\"b\":\""
            + s1
            + "\",\"a\":\""
            + s2
            + "\",\"c\":\""
            + s2
            + "\"}}",
        "'a' is listed twice",
        s1,
        s2);
    badIndex(
        ckpt,
        "{\"weight_map\":{\"a\":\"" + s1 + "\",\"c\":\"" + s2 + "\"}}",
        "contains tensor 'b'",
        "does not list",
        s1);
    badIndex(
        ckpt,
        "{\"weight_map\":{\"a\":\"" + s1 + "\",\"b\":\"" + s2 + "\",\"c\":\"" + s2 + "\"}}",
        "tensor 'b' is in shard",
        s1,
        "assigns it to shard " + s2);
    badIndex(
        ckpt,
        "{\"weight_map\":{\"a\":\""
            + s1
            + "\",\"b\":\""
            + s1
            + "\",\"c\":\""
            + s2
            + "\",\"d\":\""
            + s2
            + "\"}}",
        "assigns tensor 'd'",
        s2,
        "does not contain it");
    badIndex(
        ckpt,
        "{\"weight_map\":{\"a\":\"../x.safetensors\"}}",
        "not a file name in the index's folder");
    badIndex(ckpt, "{\"metadata\":{}}", "no \"weight_map\"");
    badIndex(ckpt, "{\"weight_map\":[]}", "weight_map must be an object");
    badIndex(ckpt, "{\"weight_map\":{\"a\":1}}", "weight_map['a'] must be a shard file name");
    badIndex(ckpt, "{\"weight_map\":{}", "not valid JSON");
    badIndex(ckpt, "[]", "must be a JSON object");
    // And the good index opens.
    Files.writeString(
        ckpt.resolve("m.safetensors.index.json"),
        "{\"metadata\":{\"total_size\":36},\"weight_map\":{\"c\":\""
            + s2
            + "\",\"a\":\""
            + s1
            + "\",\"b\":\""
            + s1
            + "\"}}");
    try (SafetensorsCheckpoint c = SafetensorsCheckpoint.open(ckpt)) {
      assertEquals(List.of("a", "b", "c"), c.keys());
    }
  }

  // ---------------------------------------------------------------- validation

  @Test
  void malformedFilesAreRejectedWithClearMessages() throws IOException {
    String ok = entry("x", "F32", "[2]", 0, 8);
    bad(new byte[5], "5 bytes", "too short");
    bad(
        concat(le(1), "{".getBytes(StandardCharsets.UTF_8)),
        "header length 1 is outside [2, 100000000]");
    bad(concat(le(100_000_001), new byte[16]), "header length 100000001 is outside");
    bad(concat(le(-1), new byte[16]), "header length 18446744073709551615 is outside");
    bad(
        concat(le(64), "{}".getBytes(StandardCharsets.UTF_8)),
        "header length 64 runs past the end of the file (10 bytes");
    bad(concat(le(4), new byte[] {'{', (byte) 0xff, (byte) 0xfe, '}'}), "not valid UTF-8");
    badHeader("{\"x\":", 0, "not valid JSON");
    badHeader("{} trailing", 0, "not valid JSON");
    badHeader("{'x':1}", 0, "not valid JSON"); // strict JSON only
    badHeader("[1,2]", 0, "header must be a JSON object, got an array");
    badHeader("\"str\"", 0, "header must be a JSON object, got a string");
    badHeader(
        "{\"x\":\"F32\"}",
        0,
        "tensor 'x'",
        "expected an object with dtype, shape and data_offsets, got a string");
    badHeader(
        "{\"x\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "tensor 'x'", "missing field 'dtype'");
    badHeader("{\"x\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 8, "missing field 'shape'");
    badHeader("{\"x\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, "missing field 'data_offsets'");
    badHeader(
        "{\"x\":{\"dtype\":32,\"shape\":[2],\"data_offsets\":[0,8]}}",
        8,
        "dtype must be a string, got a number");
    badHeader(
        "{\"x\":{\"dtype\":\"F32\",\"shape\":\"2\",\"data_offsets\":[0,8]}}",
        8,
        "shape must be an array of integers, got a string");
    badHeader(
        "{\"x\":{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}}",
        8,
        "shape must hold integers in range, found 2.0");
    badHeader("{\"x\":{\"dtype\":\"F32\",\"shape\":[1e1],\"data_offsets\":[0,8]}}", 8, "found 1e1");
    badHeader(
        "{\"x\":{\"dtype\":\"F32\",\"shape\":[null],\"data_offsets\":[0,8]}}",
        8,
        "shape must hold integers, found null");
    badHeader(
        "{\"x\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],\"data_offsets\":[0,8]}}",
        8,
        "in range");
    badHeader(
        "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4,8]}}",
        8,
        "data_offsets must be [begin, end], got 3 numbers");
    badHeader(
        "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":{}}}",
        8,
        "data_offsets must be an array of integers, got an object");
    badHeader(
        "{\"x\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
        8,
        "field 'dtype' appears twice");
    badHeader(
        "{" + entry("x", "F32", "[-2]", 0, 8) + "}",
        8,
        "tensor 'x'",
        "negative dimension -2 in shape [-2]");
    badHeader(
        "{" + entry("x", "F32", "[4294967296,4294967296]", 0, 8) + "}",
        8,
        "byte size of shape [4294967296, 4294967296] overflows");
    badHeader("{" + entry("x", "F64", "[2305843009213693952]", 0, 8) + "}", 8, "overflows");
    badHeader(
        "{" + entry("x", "F32", "[2]", 8, 0) + "}",
        8,
        "data_offsets [8, 0] must satisfy 0 <= begin <= end");
    badHeader("{" + entry("x", "F32", "[2]", -8, 0) + "}", 8, "0 <= begin <= end");
    badHeader(
        "{" + entry("x", "F32", "[4]", 0, 16) + "}",
        8,
        "data_offsets [0, 16] end beyond the data section, which has 8 bytes");
    badHeader(
        "{" + entry("x", "F32", "[3]", 0, 8) + "}",
        8,
        "tensor 'x'",
        "hold 8 bytes but F32[3] needs 12");
    badHeader(
        "{" + entry("x", "F32", "[2]", 0, 8) + "," + entry("y", "F32", "[2]", 4, 12) + "}",
        12,
        "tensor 'y' bytes [4, 12) overlap tensor 'x' bytes [0, 8)");
    badHeader(
        "{" + entry("x", "F32", "[2]", 0, 8) + "," + entry("y", "F32", "[2]", 12, 20) + "}",
        20,
        "bytes [8, 12) of the data section belong to no tensor (gap before tensor 'y')");
    badHeader(
        "{" + entry("y", "F32", "[1]", 4, 8) + "}", 8, "bytes [0, 4)", "gap before tensor 'y'");
    badHeader(
        "{" + ok + "}", 12, "the data section has 12 bytes but the tensors cover only the first 8");
    badHeader("{" + ok + "," + ok + "}", 8, "key 'x' appears twice");
    badHeader(
        "{\"__metadata__\":{},\"__metadata__\":{}," + ok + "}",
        8,
        "key '__metadata__' appears twice");
    badHeader(
        "{\"__metadata__\":{\"a\":1}," + ok + "}",
        8,
        "__metadata__: value of 'a' must be a string, got a number");
    badHeader(
        "{\"__metadata__\":{\"a\":\"1\",\"a\":\"2\"}," + ok + "}", 8, "key 'a' appears twice");
    badHeader(
        "{\"__metadata__\":[\"a\"]," + ok + "}",
        8,
        "__metadata__ must be an object of strings, got an array");
    badHeader("{" + entry("x", "F31", "[2]", 0, 8) + "}", 8, "tensor 'x'", "unknown dtype 'F31'");
    badHeader(
        "{" + entry("x", "F4", "[3]", 0, 2) + "}",
        2,
        "3 elements of F4 (4 bits each) are not a whole number of bytes");
  }

  @Test
  void validEdgeCasesAreAccepted() throws IOException {
    // null metadata, unknown fields in an entry, whitespace before the object, no padding.
    String h =
        " {\"__metadata__\":null,\"x\":{\"dtype\":\"F32\",\"extra\":[1,{}],\"shape\":[2],\"data_offsets\":[0,8]}}\n";
    Path p = write("edge.safetensors", file(h, new byte[8]));
    try (var s = Scope.open();
        SafetensorsFile f = SafetensorsFile.open(p)) {
      assertEquals(Map.of(), f.metadata());
      assertArrayEquals(new double[] {0, 0}, f.get("x").toDoubleArray());
    }
  }

  @Test
  void unsupportedDtypesAreListedButNotLoaded() throws IOException {
    String h =
        "{"
            + entry("q", "I8", "[4]", 0, 4)
            + ","
            + entry("s", "F8_E4M3", "[2,2]", 4, 8)
            + ","
            + entry("p", "F4", "[2]", 8, 9)
            + ","
            + entry("w", "U8", "[3]", 9, 12)
            + "}";
    Path p =
        write("mixed.safetensors", file(h, new byte[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}));
    try (var s = Scope.open();
        SafetensorsFile f = SafetensorsFile.open(p)) {
      assertEquals(List.of("q", "s", "p", "w"), f.keys());
      assertEquals("F8_E4M3", f.info("s").dtype());
      assertArrayEquals(new long[] {2, 2}, f.info("s").shape());
      assertTrue(f.info("s").kinemaDType().isEmpty());
      var e = assertThrows(SafetensorsException.class, () -> f.get("q"));
      assertEquals(
          "unsupported dtype I8 for tensor 'q' in file "
              + p
              + " (Kinema loads F64, F32, F16, BF16, I64, I32, U8 and BOOL)",
          e.getMessage());
      assertArrayEquals(new long[] {10, 11, 12}, f.get("w").toLongArray());
      var e2 = assertThrows(IllegalArgumentException.class, () -> f.get("missing"));
      assertTrue(e2.getMessage().contains("no tensor 'missing' in " + p), e2.getMessage());
    }
  }

  @Test
  void booleansOtherThanZeroAndOneAreRejected() throws IOException {
    String h = "{" + entry("m", "BOOL", "[4]", 0, 4) + "}";
    Path p = write("bool.safetensors", file(h, new byte[] {0, 1, 2, 1}));
    try (var s = Scope.open();
        SafetensorsFile f = SafetensorsFile.open(p)) {
      var e = assertThrows(SafetensorsException.class, () -> f.get("m"));
      assertEquals(
          p + ": tensor 'm' is BOOL but element 2 is the byte 2 (expected 0 or 1)", e.getMessage());
      assertEquals(0, f.liveViews());
    }
  }

  // ---------------------------------------------------------------- fuzz

  @Test
  void mutatedFilesLoadOrFailWithSafetensorsException() throws IOException {
    Random rnd = new Random(7);
    byte[] valid;
    Path base = dir.resolve("base.safetensors");
    try (var s = Scope.open()) {
      Map<String, Tensor> in = new LinkedHashMap<>();
      in.put("w", random(DType.F32, rnd, 4, 3));
      in.put("b", random(DType.BF16, rnd, 5));
      in.put("i", random(DType.I64, rnd, 2));
      in.put("m", random(DType.BOOL, rnd, 3));
      in.put("e", Tensor.empty(DType.F16, 0, 2));
      in.put("z", Tensor.scalar(3, DType.U8));
      Safetensors.save(base, in, Map.of("format", "pt"));
      valid = Files.readAllBytes(base);
    }
    int headerEnd = 8 + (int) ByteBuffer.wrap(valid, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
    String[] tokens = {
      "{",
      "}",
      "[",
      "]",
      ",",
      ":",
      "\"dtype\"",
      "\"shape\"",
      "\"data_offsets\"",
      "\"F32\"",
      "\"BF16\"",
      "\"I8\"",
      "\"__metadata__\"",
      "\"w\"",
      "0",
      "1",
      "-1",
      "12",
      "48",
      "1e9",
      "9223372036854775807",
      "null",
      "true",
      "\"\\u0000\"",
      " ",
      "2.5",
      "\"x\""
    };
    Path p = dir.resolve("fuzz.safetensors");
    int loaded = 0, rejected = 0;
    for (int iter = 0; iter < 3000; iter++) {
      byte[] m = valid.clone();
      String what;
      switch (iter % 6) {
        case 0 -> { // flip bytes in the header
          int k = 1 + rnd.nextInt(3);
          for (int j = 0; j < k; j++)
            m[8 + rnd.nextInt(headerEnd - 8)] ^= (byte) (1 << rnd.nextInt(8));
          what = "header bit flips";
        }
        case 1 -> { // replace a header byte by a JSON-significant one
          byte[] sig = "{}[]\",:0123456789-. e".getBytes(StandardCharsets.UTF_8);
          m[8 + rnd.nextInt(headerEnd - 8)] = sig[rnd.nextInt(sig.length)];
          what = "header byte replaced";
        }
        case 2 -> { // truncate or extend
          int len = rnd.nextInt(valid.length + 16);
          m = Arrays.copyOf(valid, len);
          what = "length " + len;
        }
        case 3 -> { // a random header length
          long n =
              switch (rnd.nextInt(4)) {
                case 0 -> rnd.nextLong();
                case 1 -> rnd.nextInt(valid.length + 8);
                case 2 -> headerEnd - 8 + rnd.nextInt(17) - 8;
                default -> 100_000_000L + rnd.nextInt(3) - 1;
              };
          System.arraycopy(le(n), 0, m, 0, 8);
          what = "header length " + n;
        }
        case 4 -> { // random JSON-ish header over random data
          StringBuilder sb = new StringBuilder(rnd.nextBoolean() ? "{" : "");
          int k = rnd.nextInt(40);
          for (int j = 0; j < k; j++) sb.append(tokens[rnd.nextInt(tokens.length)]);
          if (rnd.nextBoolean()) sb.append('}');
          byte[] data = new byte[rnd.nextInt(64)];
          rnd.nextBytes(data);
          m = file(sb.toString(), data);
          what = "random header " + sb;
        }
        default -> { // flips in the data section: must load, with exactly those bytes
          for (int j = 0; j < 4; j++) {
            m[headerEnd + rnd.nextInt(m.length - headerEnd)] ^= (byte) (1 + rnd.nextInt(255));
          }
          what = "data flips";
        }
      }
      boolean dataOnly = iter % 6 == 5;
      Files.write(p, m);
      try (var s = Scope.open();
          SafetensorsFile f = SafetensorsFile.open(p)) {
        for (String k : f.keys()) {
          try {
            Tensor t = f.get(k);
            TensorInfo info = f.info(k);
            assertEquals(info.byteSize(), t.numel() * t.dtype().byteSize());
            if (dataOnly) {
              int from = (int) (f.dataOffset() + info.begin());
              assertArrayEquals(Arrays.copyOfRange(m, from, from + (int) info.byteSize()), raw(t));
            }
          } catch (SafetensorsException e) {
            String msg = e.getMessage();
            assertTrue(
                msg.startsWith("unsupported dtype") || msg.contains("(expected 0 or 1)"), msg);
          }
        }
        loaded++;
      } catch (SafetensorsException e) {
        assertFalse(dataOnly, "a file with an intact header was rejected: " + e.getMessage());
        assertTrue(e.getMessage().contains(p.toString()), e.getMessage());
        rejected++;
      } catch (Throwable t) {
        throw new AssertionError("iteration " + iter + " (" + what + "): " + t, t);
      }
    }
    assertTrue(loaded >= 500 && rejected > 1000, "loaded " + loaded + ", rejected " + rejected);
  }

  // ---------------------------------------------------------------- golden files from Python

  static Path golden() {
    Path d = Path.of("").toAbsolutePath();
    for (; d != null; d = d.getParent()) {
      Path pom = d.resolve("pom.xml");
      try {
        if (Files.isRegularFile(pom) && Files.readString(pom).contains("<modules>")) break;
      } catch (IOException e) {
        // keep looking
      }
    }
    assumeTrue(d != null, "no repository root (pom.xml with <modules>) above the working folder");
    Path g = d.resolve("../shared/golden/wan_tiny").normalize();
    assumeTrue(Files.isDirectory(g), "golden files absent: " + g + " (skipping)");
    return g;
  }

  @Test
  void readsDiffusersCheckpointWrittenByPython() throws IOException {
    Path g = golden();
    JsonObject cfg =
        JsonParser.parseString(Files.readString(g.resolve("config.json"))).getAsJsonObject();
    long inner =
        cfg.get("num_attention_heads").getAsLong() * cfg.get("attention_head_dim").getAsLong();
    long inCh = cfg.get("in_channels").getAsLong();
    var ps = cfg.getAsJsonArray("patch_size");
    long[] patchShape = {
      inner, inCh, ps.get(0).getAsLong(), ps.get(1).getAsLong(), ps.get(2).getAsLong()
    };
    long ffn = cfg.get("ffn_dim").getAsLong();
    try (var s = Scope.open();
        SafetensorsCheckpoint c =
            SafetensorsCheckpoint.open(g.resolve("diffusion_pytorch_model.safetensors"));
        SafetensorsFile f64 = SafetensorsFile.open(g.resolve("weights_f64.safetensors"))) {
      assertEquals(69, c.keys().size());
      assertEquals(Map.of("format", "pt"), c.metadata());
      TensorInfo pe = c.info("patch_embedding.weight");
      assertEquals("F32", pe.dtype());
      assertArrayEquals(patchShape, pe.shape());
      assertArrayEquals(new long[] {ffn, inner}, c.info("blocks.1.ffn.net.0.proj.weight").shape());
      assertArrayEquals(new long[] {1, 6, inner}, c.info("blocks.0.scale_shift_table").shape());
      SafetensorsFile file = c.files().get(0);
      for (String k : c.keys()) {
        int before = file.liveViews();
        Tensor w = c.get(k);
        // Python's writer keeps every tensor element-aligned, so every one is zero-copy.
        long addr = file.mapping().address() + file.dataOffset() + c.info(k).begin();
        assertEquals(0, addr % 4, k);
        assertTrue(file.liveViews() > before, k + " should be zero-copy");
        // The README: every f32 tensor is the float32 cast of the f64 one.
        Tensor ref = f64.get(k, DType.F32);
        assertSame(ref, w, k);
      }
    }
  }

  @Test
  void readsGoldenIoFile() throws IOException {
    Path g = golden();
    try (var s = Scope.open();
        SafetensorsFile f = SafetensorsFile.open(g.resolve("io_f64.safetensors"))) {
      assertEquals(77, f.keys().size());
      assertEquals(Map.of("precision", "exact_f64"), f.metadata());
      Tensor loss = f.get("loss");
      // The golden README lists loss as [] (0-d), but the file stores shape [1].
      assertArrayEquals(new long[] {1}, loss.shape());
      assertEquals(DType.F64, loss.dtype());
      assertEquals(165.90667130669823, loss.item());
      assertArrayEquals(new double[] {137.0, 912.0}, f.get("input.timestep").toDoubleArray());
      assertArrayEquals(new long[] {2, 4, 3, 8, 8}, f.info("output").shape());
      // Everything loads and sums to something finite.
      for (String k : f.keys()) {
        for (double v : f.get(k).toDoubleArray()) assertTrue(Double.isFinite(v), k);
      }
      Map<String, Tensor> all = Safetensors.load(g.resolve("io_f64.safetensors"));
      assertEquals(f.keys(), new ArrayList<>(all.keySet()));
      all.values().forEach(Tensor::close);
    }
  }
}
