package io.kinema.diffusion.schedulers;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Locates {@code ../shared/golden/<name>} next to the repository root, and compares arrays. */
final class Golden {
  private Golden() {}

  /**
   * The golden folder, or a skipped test (assumption) when this checkout has no shared/ beside it.
   */
  static Path folder(String name) {
    Path root = repoRoot();
    assumeTrue(
        root != null, "no Maven reactor root (pom.xml with <modules>) above the working dir");
    Path dir = root.resolve("../shared/golden").resolve(name).normalize();
    assumeTrue(
        Files.isDirectory(dir),
        "golden tensors not available: "
            + dir
            + " is absent (shared/ is not beside this checkout)");
    return dir;
  }

  private static Path repoRoot() {
    for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
      Path pom = p.resolve("pom.xml");
      try {
        if (Files.isRegularFile(pom) && Files.readString(pom).contains("<modules>")) return p;
      } catch (IOException e) {
        return null;
      }
    }
    return null;
  }

  /** max |a − e| / max(max |e|, tiny): the error relative to the reference's scale. */
  static double relToScale(double[] expected, double[] actual) {
    double scale = 0, err = 0;
    for (int i = 0; i < expected.length; i++) {
      scale = Math.max(scale, Math.abs(expected[i]));
      err = Math.max(err, Math.abs(actual[i] - expected[i]));
    }
    return err / Math.max(scale, Double.MIN_NORMAL);
  }

  /** max over elements of |a − e| / max(|e|, floor): elementwise relative error, floored. */
  static double relElementwise(double[] expected, double[] actual, double floor) {
    double err = 0;
    for (int i = 0; i < expected.length; i++) {
      err =
          Math.max(err, Math.abs(actual[i] - expected[i]) / Math.max(Math.abs(expected[i]), floor));
    }
    return err;
  }

  static double maxAbs(double[] expected, double[] actual) {
    double err = 0;
    for (int i = 0; i < expected.length; i++) {
      err = Math.max(err, Math.abs(actual[i] - expected[i]));
    }
    return err;
  }
}
