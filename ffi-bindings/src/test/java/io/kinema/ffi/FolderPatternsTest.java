package io.kinema.ffi;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class FolderPatternsTest {
  @TempDir Path tmp;

  @Test
  void versionsCompareNumerically() {
    var names = new ArrayList<>(List.of("cuda-12.9", "cuda-11.8", "cuda-12.10", "cuda-13.0"));
    names.sort(FolderPatterns.VERSIONS.reversed());
    assertEquals(List.of("cuda-13.0", "cuda-12.10", "cuda-12.9", "cuda-11.8"), names);
    assertTrue(FolderPatterns.VERSIONS.compare("python3.9", "python3.12") < 0);
    assertTrue(FolderPatterns.VERSIONS.compare("lib007", "lib7") == 0);
    assertTrue(FolderPatterns.VERSIONS.compare("cuda", "cuda-12") < 0);
  }

  @Test
  void starsMatchWithinOneFolderNameAndOnlyExistingFoldersCount() throws IOException {
    for (String d : new String[] {"a/python3.9/x", "a/python3.12/x", "a/python3.12/y", "b/x"}) {
      Files.createDirectories(tmp.resolve(d));
    }
    Files.writeString(tmp.resolve("a/python3.13"), "a file, not a folder");
    assertEquals(
        List.of(tmp.resolve("a/python3.12/x"), tmp.resolve("a/python3.9/x")),
        FolderPatterns.expand(tmp + "/a/python3*/x", Map.<String, String>of()::get));
    assertEquals(
        List.of(tmp.resolve("b/x"), tmp.resolve("a/python3.12/x"), tmp.resolve("a/python3.9/x")),
        FolderPatterns.expand(
            List.of(tmp + "/b/*", tmp + "/a/*/x"), Map.<String, String>of()::get));
  }

  @Test
  void aLeadingVariableComesFromTheEnvironmentAndUnsetNamesNothing() throws IOException {
    Files.createDirectories(tmp.resolve("env/lib64"));
    var env = Map.of("ROOT_DIR", tmp.resolve("env").toString());
    assertEquals(
        List.of(tmp.resolve("env/lib64")), FolderPatterns.expand("$ROOT_DIR/lib64", env::get));
    assertEquals(List.of(), FolderPatterns.expand("$NOT_SET/lib64", env::get));
    assertEquals(List.of(), FolderPatterns.expand(tmp + "/missing/*", env::get));
  }
}
