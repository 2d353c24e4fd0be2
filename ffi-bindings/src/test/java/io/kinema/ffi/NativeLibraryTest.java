package io.kinema.ffi;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.kinema.ffi.openblas.OpenBlas;
import java.io.IOException;
import java.lang.foreign.FunctionDescriptor;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The search order and the reasons given. Loadable cases reuse the machine's OpenBLAS file under
 * made-up names (symlinks in a temp folder), so they skip without OpenBLAS.
 */
class NativeLibraryTest {
  private static final String FAKE = "libkinema-fake.so.1";

  @TempDir Path tmp;

  /** Removes the links first, so JUnit does not warn about links leaving the temp folder. */
  @AfterEach
  void removeLinks() throws IOException {
    try (var paths = Files.walk(tmp)) {
      for (Path p : paths.filter(Files::isSymbolicLink).toList()) Files.delete(p);
    }
  }

  /** The real OpenBLAS file, or a skipped test. */
  private static Path realLibrary() {
    assumeTrue(OpenBlas.isAvailable(), OpenBlas.unavailableReason());
    Path p = Path.of(OpenBlas.library().location().orElseThrow());
    assumeTrue(
        Files.isRegularFile(p), "OpenBLAS was resolved by the loader, not from a file: " + p);
    return p;
  }

  private static Path linkIn(Path dir, String name, Path target) throws IOException {
    Files.createDirectories(dir);
    return Files.createSymbolicLink(dir.resolve(name), target);
  }

  /** A library with only the places the test gives: no real environment, no standard folders. */
  private static NativeLibrary.Builder isolated(String id, Map<String, String> env) {
    return NativeLibrary.builder(id)
        .names("libkinema-missing.so.0", FAKE)
        .environment(env::get)
        .standardFolders(List.of())
        .loaderLookup(false);
  }

  @Test
  void settingNamesFollowTheId() {
    NativeLibrary lib = NativeLibrary.builder("cublas-lt").names("libcublasLt.so.13").build();
    assertEquals("kinema.cublas-lt.path", lib.propertyName());
    assertEquals("KINEMA_CUBLAS_LT_PATH", lib.envName());
    assertThrows(IllegalArgumentException.class, () -> NativeLibrary.builder("Bad Id"));
    assertThrows(IllegalStateException.class, () -> NativeLibrary.builder("x").build());
  }

  @Test
  void missingLibraryIsUnavailableAndSaysWhereItLooked() throws IOException {
    Path emptyDir = Files.createDirectories(tmp.resolve("empty"));
    NativeLibrary lib =
        NativeLibrary.builder("nosuch")
            .names("libkinema-no-such-lib.so.1", "libkinema-no-such-lib.so")
            .subfolders("nosuch-pthread")
            .environment(Map.of("LD_LIBRARY_PATH", emptyDir.toString())::get)
            .hint("Install nosuch.")
            .build();
    assertFalse(lib.isAvailable());
    assertTrue(lib.location().isEmpty());
    String reason = lib.unavailableReason();
    for (String expected :
        new String[] {
          "nosuch library not found",
          "[libkinema-no-such-lib.so.1, libkinema-no-such-lib.so]",
          "neither -Dkinema.nosuch.path nor KINEMA_NOSUCH_PATH is set",
          "LD_LIBRARY_PATH folders without any of the names: " + emptyDir,
          NativeLibrary.STANDARD_FOLDERS.get(0).toString(),
          NativeLibrary.STANDARD_FOLDERS.get(0).resolve("nosuch-pthread").toString(),
          "dynamic loader, by name libkinema-no-such-lib.so.1",
          "Install nosuch.",
        }) {
      assertTrue(reason.contains(expected), "missing '" + expected + "' in:\n" + reason);
    }
    var e = assertThrows(IllegalStateException.class, lib::lookup);
    assertEquals(reason, e.getMessage());
    assertTrue(lib.find("anything").isEmpty());
    Downcall fn = lib.downcall("f", FunctionDescriptor.ofVoid());
    assertFalse(fn.isPresent());
    var u = assertThrows(UnsupportedOperationException.class, fn::handle);
    assertTrue(u.getMessage().startsWith("f is unavailable: nosuch library not found"));
  }

  @Test
  void bogusExplicitPathIsReportedAndNothingElseIsTried() {
    // libopenblas.so.0 is loadable by the dynamic loader, but the explicit setting wins.
    String prop = "kinema.bogus.path";
    System.setProperty(prop, "/nonexistent/libopenblas.so.0");
    try {
      NativeLibrary lib = NativeLibrary.builder("bogus").names("libopenblas.so.0").build();
      assertFalse(lib.isAvailable());
      String reason = lib.unavailableReason();
      assertTrue(
          reason.contains("-Dkinema.bogus.path=/nonexistent/libopenblas.so.0 is set"), reason);
      assertTrue(reason.contains("/nonexistent/libopenblas.so.0: no such file or folder"), reason);
      assertFalse(reason.contains("LD_LIBRARY_PATH"), reason);
    } finally {
      System.clearProperty(prop);
    }
  }

  @Test
  void explicitFileThatIsNotALibrary() throws IOException {
    Path junk = Files.writeString(tmp.resolve(FAKE), "not an ELF file");
    NativeLibrary lib = isolated("junk", Map.of("KINEMA_JUNK_PATH", junk.toString())).build();
    assertFalse(lib.isAvailable());
    String reason = lib.unavailableReason();
    assertTrue(reason.contains("KINEMA_JUNK_PATH=" + junk + " is set"), reason);
    assertTrue(reason.contains(junk + ": cannot be loaded"), reason);
  }

  @Test
  void explicitSettingTakesAFileOrAFolder() throws IOException {
    Path real = realLibrary();
    Path file = linkIn(tmp.resolve("a"), FAKE, real);
    NativeLibrary byFile =
        isolated("byfile", Map.of("KINEMA_BYFILE_PATH", file.toString())).build();
    assertTrue(byFile.isAvailable(), byFile.unavailableReason());
    assertNull(byFile.unavailableReason());
    assertEquals(file.toString(), byFile.location().orElseThrow());
    assertTrue(byFile.find("cblas_sgemm").isPresent());

    // The property beats the environment variable.
    System.setProperty("kinema.byfolder.path", file.getParent().toString());
    try {
      NativeLibrary byFolder =
          isolated("byfolder", Map.of("KINEMA_BYFOLDER_PATH", "/nonexistent")).build();
      assertTrue(byFolder.isAvailable(), byFolder.unavailableReason());
      assertEquals(file.toString(), byFolder.location().orElseThrow());
    } finally {
      System.clearProperty("kinema.byfolder.path");
    }
  }

  @Test
  void libraryPathComesBeforeStandardFoldersAndInOrder() throws IOException {
    Path real = realLibrary();
    Path first = tmp.resolve("first"), second = tmp.resolve("second"), std = tmp.resolve("std");
    Files.createDirectories(first);
    linkIn(second, FAKE, real);
    linkIn(std, FAKE, real);
    NativeLibrary lib =
        isolated("order", Map.of("LD_LIBRARY_PATH", first + ":" + second))
            .standardFolders(List.of(std))
            .build();
    assertTrue(lib.isAvailable(), lib.unavailableReason());
    assertEquals(second.resolve(FAKE).toString(), lib.location().orElseThrow());

    NativeLibrary stdOnly =
        isolated("stdonly", Map.of()).standardFolders(List.of(first, std)).build();
    assertEquals(std.resolve(FAKE).toString(), stdOnly.location().orElseThrow());
  }

  @Test
  void subfoldersOfStandardFoldersAndExtraFolders() throws IOException {
    Path real = realLibrary();
    Path base = tmp.resolve("usr-lib");
    linkIn(base.resolve("fake-pthread"), FAKE, real);
    NativeLibrary lib =
        isolated("sub", Map.of()).standardFolders(List.of(base)).subfolders("fake-pthread").build();
    assertEquals(
        base.resolve("fake-pthread").resolve(FAKE).toString(), lib.location().orElseThrow());

    Path extra = tmp.resolve("opt-fake-lib");
    linkIn(extra, FAKE, real);
    NativeLibrary viaExtra = isolated("extra", Map.of()).folders(extra.toString()).build();
    assertEquals(extra.resolve(FAKE).toString(), viaExtra.location().orElseThrow());
  }

  @Test
  void candidateWithoutTheRequiredSymbolIsSkipped() throws IOException {
    Path real = realLibrary();
    Path dir = tmp.resolve("lib");
    linkIn(dir, FAKE, real);
    NativeLibrary lib =
        isolated("nosym", Map.of("LD_LIBRARY_PATH", dir.toString()))
            .requiredSymbol("kinema_no_such_symbol")
            .build();
    assertFalse(lib.isAvailable());
    String reason = lib.unavailableReason();
    assertTrue(
        reason.contains(dir.resolve(FAKE) + ": loaded, but does not export kinema_no_such_symbol"),
        reason);
  }

  @Test
  void loaderLookupBySoname() {
    assumeTrue(OpenBlas.isAvailable(), OpenBlas.unavailableReason());
    NativeLibrary lib =
        NativeLibrary.builder("soname")
            .names("libopenblas.so.0")
            .environment(Map.<String, String>of()::get)
            .standardFolders(List.of())
            .build();
    assumeTrue(
        lib.isAvailable(),
        "libopenblas.so.0 is not in the loader's cache: " + lib.unavailableReason());
    assertEquals("libopenblas.so.0 (resolved by the dynamic loader)", lib.location().orElseThrow());
  }

  @Test
  void downcallsBindOnceAndNameMissingSymbols() throws Throwable {
    Path real = realLibrary();
    NativeLibrary lib = isolated("dc", Map.of("KINEMA_DC_PATH", real.toString())).build();
    Downcall corename = lib.downcall("openblas_get_corename", FunctionDescriptor.of(ADDRESS));
    assertTrue(corename.isPresent());
    assertNull(corename.unavailableReason());
    assertEquals("openblas_get_corename", corename.symbol());
    assertTrue(corename.handle() == corename.handle());
    var p = (java.lang.foreign.MemorySegment) corename.handle().invokeExact();
    assertEquals(OpenBlas.corename(), p.reinterpret(256).getString(0));

    Downcall missing = lib.downcall("kinema_no_such_symbol", FunctionDescriptor.ofVoid());
    assertFalse(missing.isPresent());
    var e = assertThrows(UnsupportedOperationException.class, missing::handle);
    assertEquals(
        "kinema_no_such_symbol is not exported by the dc library loaded from " + real,
        e.getMessage());
  }

  @Test
  void pythonPackagesComeAfterLibraryPathAndToolkitFoldersNewestFirst() throws IOException {
    Path real = realLibrary();
    Path venv = tmp.resolve("venv");
    Path wheel = venv.resolve("lib/python3.12/site-packages/nvidia/cublas/lib");
    linkIn(wheel, FAKE, real);
    Path older = tmp.resolve("cuda-12.9/lib64"), newer = tmp.resolve("cuda-12.10/lib64");
    linkIn(older, FAKE, real);
    linkIn(newer, FAKE, real);
    Path empty = Files.createDirectories(tmp.resolve("ld"));
    var env = Map.of("VIRTUAL_ENV", venv.toString(), "LD_LIBRARY_PATH", empty.toString());
    NativeLibrary lib =
        isolated("wheels", env)
            .sitePackages("nvidia/*/lib")
            .toolkitFolders(tmp + "/cuda-*/lib64")
            .build();
    assertEquals(wheel.resolve(FAKE).toString(), lib.location().orElseThrow());

    NativeLibrary toolkit =
        isolated("toolkit", Map.of("MY_CUDA", tmp.toString()))
            .sitePackages("nvidia/*/lib")
            .toolkitFolders("$UNSET_CUDA_HOME/lib64", "$MY_CUDA/cuda-*/lib64")
            .build();
    assertEquals(newer.resolve(FAKE).toString(), toolkit.location().orElseThrow());
  }

  @Test
  void shortReasonIsOneLineNamingTheFoldersSearchedOnce() throws IOException {
    Path dir = Files.createDirectories(tmp.resolve("lib"));
    Path alias = Files.createSymbolicLink(tmp.resolve("alias"), dir);
    NativeLibrary lib =
        isolated("short", Map.of("LD_LIBRARY_PATH", dir + ":" + alias))
            .toolkitFolders(tmp + "/nothing-*")
            .build();
    assertFalse(lib.isAvailable());
    assertEquals(
        "libkinema-missing.so.0/" + FAKE + " not found in [" + dir + "]", lib.shortReason());
    assertTrue(
        lib.unavailableReason().contains("toolkit folders: none of [" + tmp + "/nothing-*] exists"),
        lib.unavailableReason());

    Path junk = Files.writeString(tmp.resolve(FAKE), "not an ELF file");
    NativeLibrary bad = isolated("bad", Map.of("KINEMA_BAD_PATH", junk.toString())).build();
    assertTrue(
        bad.shortReason()
            .startsWith("KINEMA_BAD_PATH=" + junk + ": " + junk + ": cannot be loaded"),
        bad.shortReason());
    assertNull(OpenBlas.isAvailable() ? OpenBlas.library().shortReason() : null);
  }

  @Test
  void sitePackagesAreRelativeFolders() {
    assertThrows(
        IllegalArgumentException.class, () -> NativeLibrary.builder("x").sitePackages("/abs"));
  }
}
