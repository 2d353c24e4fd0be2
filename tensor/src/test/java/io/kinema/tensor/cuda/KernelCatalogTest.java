package io.kinema.tensor.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.kinema.tensor.DType;
import io.kinema.tensor.backend.BinaryOp;
import io.kinema.tensor.backend.RandomKind;
import io.kinema.tensor.backend.ReduceOp;
import io.kinema.tensor.backend.UnaryOp;
import io.kinema.tensor.cuda.KernelCatalog.Kernel;
import io.kinema.tensor.cuda.KernelCatalog.Module;
import io.kinema.tensor.cuda.KernelCatalog.ParamType;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The contract between the CUDA sources, the shipped PTX and {@link KernelCatalog}: the codes in
 * {@code kinema_cuda.h} are the Java enums' ordinals; every catalogued kernel is an entry of its
 * module's PTX with exactly the catalogued parameters (and nothing else is exported); ptxas'
 * resource use (target/ptx-report.txt) fits the catalogued launches on sm_80 and sm_90. The PTX
 * checks skip with one line when the build had no nvcc.
 */
class KernelCatalogTest {
  private static final Path CUDA_SOURCES = Path.of("src", "main", "cuda");
  private static final Path REPORT = Path.of("target", "ptx-report.txt");

  /** Registers per SM (and the most one block may use) on sm_80 and sm_90. */
  private static final int REGISTERS_PER_SM = 65536;

  /** The most shared memory one block may use after raising its attribute, per architecture. */
  private static final Map<String, Integer> MAX_SMEM_OPT_IN =
      Map.of("sm_80", 163 * 1024, "sm_90", 227 * 1024);

  // ---------------------------------------------------------------- codes (no nvcc needed)

  @Test
  void headerCodesAreTheJavaOrdinals() throws IOException {
    String header = Files.readString(CUDA_SOURCES.resolve("kinema_cuda.h"));
    assertCodes(header, "KINEMA_", DType.values(), "dtype");
    assertCodes(header, "KINEMA_UNARY_", UnaryOp.values(), "UnaryOp");
    assertCodes(header, "KINEMA_BINARY_", BinaryOp.values(), "BinaryOp");
    assertCodes(header, "KINEMA_REDUCE_", ReduceOp.values(), "ReduceOp");
    assertCodes(header, "KINEMA_KIND_", ReduceKind.values(), "ReduceKind");
    assertCodes(header, "KINEMA_RANDOM_", RandomKind.values(), "RandomKind");
    assertCodes(header, "KINEMA_MASK_", MaskKind.values(), "MaskKind");
  }

  /**
   * The constants {@code PREFIX<NAME> = <code>} for exactly the enum's names, with its ordinals.
   */
  private static void assertCodes(String header, String prefix, Enum<?>[] values, String what) {
    Map<String, Integer> expected = new TreeMap<>();
    for (Enum<?> e : values) expected.put(e.name(), e.ordinal());
    Map<String, Integer> found = new TreeMap<>();
    Matcher m = Pattern.compile(Pattern.quote(prefix) + "([A-Z0-9_]+) = (\\d+)").matcher(header);
    while (m.find()) {
      // The bare dtype prefix also matches the other groups' names: keep the enum's own names.
      if (prefix.equals("KINEMA_") && !expected.containsKey(m.group(1))) continue;
      found.put(m.group(1), Integer.parseInt(m.group(2)));
    }
    assertEquals(expected, found, what + " codes in kinema_cuda.h");
  }

  @Test
  void reduceKindAndMaskKindFollowTheOps() {
    assertEquals(ReduceKind.SUM, ReduceKind.of(ReduceOp.VAR, 0));
    assertEquals(ReduceKind.SUM_SQ, ReduceKind.of(ReduceOp.NORM, 2));
    assertEquals(ReduceKind.MAX_ABS, ReduceKind.of(ReduceOp.NORM, Double.POSITIVE_INFINITY));
    assertEquals(ReduceKind.COUNT_NZ, ReduceKind.of(ReduceOp.NORM, 0));
    assertEquals(ReduceKind.SUM_POW, ReduceKind.of(ReduceOp.NORM, 3));
    assertEquals(MaskKind.BLOCK_CAUSAL, MaskKind.of(io.kinema.tensor.AttentionMask.blockCausal(4)));
  }

  // ---------------------------------------------------------------- structs and table

  @Test
  void structsEncodeInTheKernelsLayout() {
    ByteBuffer shape = le(KernelStructs.shape(2, 3, 5));
    assertEquals(KernelStructs.SHAPE_BYTES, shape.capacity());
    assertEquals(3, shape.getLong(1 * 8)); // size[1]
    assertEquals(0, shape.getLong(3 * 8)); // size[3], past the rank
    assertEquals(3, shape.getLong(8 * 8)); // rank
    ByteBuffer strides = le(KernelStructs.strides(15, 5, 1));
    assertEquals(KernelStructs.STRIDES_BYTES, strides.capacity());
    assertEquals(5, strides.getLong(8));
    var e = assertThrows(IllegalArgumentException.class, () -> KernelStructs.shape(new long[9]));
    assertTrue(e.getMessage().contains("exceeds the kernels' 8 dims"), e.getMessage());

    long[] s3 = {1000, 100, 10};
    var args =
        new KernelStructs.AttentionArgs(
            2,
            3,
            5,
            7,
            s3,
            s3,
            s3,
            s3,
            s3,
            s3,
            new long[] {0, 0, 7, 1},
            4,
            0.125f,
            MaskKind.BLOCK_CAUSAL);
    ByteBuffer a = le(args.encode());
    assertEquals(KernelStructs.ATTENTION_ARGS_BYTES, a.capacity());
    assertEquals(7, a.getLong(3 * 8)); // sk
    assertEquals(7, a.getLong((4 + 18 + 2) * 8)); // mask_stride[2]
    assertEquals(4, a.getLong(26 * 8)); // block_size
    assertEquals(0.125f, a.getFloat(27 * 8));
    assertEquals(MaskKind.BLOCK_CAUSAL.code(), a.getInt(27 * 8 + 4));
    assertThrows(
        IllegalArgumentException.class,
        () ->
            new KernelStructs.AttentionArgs(
                1, 1, 1, 1, s3, s3, s3, s3, s3, s3, s3, 0, 1, MaskKind.NONE));
  }

  @Test
  void tableIsConsistent() {
    Set<String> sources = new HashSet<>();
    for (Module m : Module.values()) {
      assertTrue(Files.exists(CUDA_SOURCES.resolve(m.fileName() + ".cu")), m + " has no source");
      assertFalse(KernelCatalog.kernels(m).isEmpty(), m + " lists no kernel");
      sources.add(m.fileName() + ".cu");
    }
    try (var files = Files.list(CUDA_SOURCES)) {
      List<String> unlisted =
          files
              .map(p -> p.getFileName().toString())
              .filter(f -> f.endsWith(".cu") && !sources.contains(f))
              .toList();
      assertEquals(List.of(), unlisted, "CUDA sources without a Module");
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
    for (Kernel k : KernelCatalog.kernels()) {
      assertTrue(k.name().startsWith("kinema_"), k.name());
      assertTrue(k.launch().threads() % 32 == 0, k.name() + ": block of whole warps");
      assertTrue(k.launch().maxThreads() >= k.launch().threads(), k.name());
      assertEquals(k, KernelCatalog.kernel(k.name()));
    }
    var e = assertThrows(IllegalArgumentException.class, () -> KernelCatalog.kernel("nope"));
    assertEquals("no CUDA kernel named 'nope' in KernelCatalog", e.getMessage());
  }

  // ---------------------------------------------------------------- PTX (needs the built kernels)

  /** An entry's parameters as declared in PTX: ".u64", ".u32", ".f32", ".f64" or "b8[N]". */
  private record PtxEntry(String name, List<String> params) {}

  private static final Pattern ENTRY =
      Pattern.compile("\\.visible \\.entry (\\w+)\\(([^)]*)\\)", Pattern.DOTALL);
  private static final Pattern PARAM =
      Pattern.compile("\\.param (?:\\.align \\d+ )?(\\.\\w+) \\w+(\\[(\\d+)\\])?");

  private static Map<String, PtxEntry> entries(String ptx) {
    Map<String, PtxEntry> out = new LinkedHashMap<>();
    Matcher m = ENTRY.matcher(ptx);
    while (m.find()) {
      List<String> params = new ArrayList<>();
      Matcher p = PARAM.matcher(m.group(2));
      while (p.find()) params.add(p.group(2) != null ? "b8[" + p.group(3) + "]" : p.group(1));
      out.put(m.group(1), new PtxEntry(m.group(1), params));
    }
    return out;
  }

  private static String ptxType(ParamType t) {
    return switch (t) {
      case PTR, I64, U64 -> ".u64";
      case I32 -> ".u32";
      case F32 -> ".f32";
      case F64 -> ".f64";
      case SHAPE, STRIDES, ATTENTION_ARGS -> "b8[" + t.bytes() + "]";
    };
  }

  private static String ptxOrSkip(Module m) {
    var ptx = m.ptx();
    assumeTrue(
        ptx.isPresent(),
        "PTX not built (no nvcc at build time): " + m.resource() + " is absent; skipping");
    byte[] b = ptx.get();
    assertEquals(0, b[b.length - 1], "ptx() is NUL-terminated");
    return new String(b, 0, b.length - 1, StandardCharsets.UTF_8);
  }

  @Test
  void everyKernelIsAnEntryWithTheCataloguedParameters() {
    for (Module m : Module.values()) {
      String ptx = ptxOrSkip(m);
      assertTrue(ptx.contains(".target sm_80"), m + ": PTX for compute_80 (runs on sm_80+)");
      Map<String, PtxEntry> entries = entries(ptx);
      Set<String> listed = new HashSet<>();
      for (Kernel k : KernelCatalog.kernels(m)) {
        PtxEntry e = entries.get(k.name());
        assertNotNull(e, k.name() + " is not an .entry of " + m.resource());
        List<String> want = k.params().stream().map(p -> ptxType(p.type())).toList();
        assertEquals(want, e.params(), k.name() + " parameters");
        listed.add(k.name());
      }
      Set<String> extra = new HashSet<>(entries.keySet());
      extra.removeAll(listed);
      assertEquals(Set.of(), extra, m + " exports kernels the catalog does not list");
    }
  }

  /** One line of target/ptx-report.txt. */
  private record Usage(int registers, int smem, int stack, int spillStores, int spillLoads) {}

  @Test
  void resourceUsageFitsTheLaunches() throws IOException {
    ptxOrSkip(Module.ELEMENTWISE);
    assumeTrue(Files.exists(REPORT), "no " + REPORT + " (PTX built elsewhere); skipping");
    Map<String, Usage> usage = new LinkedHashMap<>(); // "kernel arch" -> usage
    for (String line : Files.readAllLines(REPORT)) {
      if (line.isBlank() || line.startsWith("#")) continue;
      String[] f = line.trim().split("\\s+");
      assertEquals(8, f.length, "report line: " + line);
      usage.put(
          f[1] + " " + f[2],
          new Usage(
              Integer.parseInt(f[3]),
              Integer.parseInt(f[4]),
              Integer.parseInt(f[5]),
              Integer.parseInt(f[6]),
              Integer.parseInt(f[7])));
    }
    List<String> problems = new ArrayList<>();
    for (Kernel k : KernelCatalog.kernels()) {
      for (String arch : MAX_SMEM_OPT_IN.keySet()) {
        Usage u = usage.get(k.name() + " " + arch);
        if (u == null) {
          problems.add(k.name() + " " + arch + ": not in the report");
          continue;
        }
        var launch = k.launch();
        if (u.registers() * launch.maxThreads() > REGISTERS_PER_SM) {
          problems.add(
              k.name()
                  + " "
                  + arch
                  + ": "
                  + u.registers()
                  + " registers x "
                  + launch.maxThreads()
                  + " threads exceed "
                  + REGISTERS_PER_SM);
        }
        int smem = u.smem() + launch.dynamicSmem();
        int limit =
            launch.needsSmemOptIn()
                ? MAX_SMEM_OPT_IN.get(arch)
                : KernelCatalog.Launch.DEFAULT_SMEM_LIMIT;
        if (smem > limit) {
          problems.add(k.name() + " " + arch + ": " + smem + " bytes of shared memory > " + limit);
        }
        if (u.spillStores() != 0 || u.spillLoads() != 0) {
          problems.add(k.name() + " " + arch + ": spills registers (" + u + ")");
        }
      }
    }
    assertEquals(List.of(), problems, "ptxas resource usage");
  }

  private static ByteBuffer le(byte[] b) {
    return ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
  }
}
