package io.kinema.diffusion.wan;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kinema.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Assumptions;

/** The golden folder and comparisons shared by the Wan tests. */
final class WanTestUtil {
  private WanTestUtil() {}

  /**
   * {@code ../shared/golden/wan_tiny} next to the repository root (the folder whose pom.xml has
   * {@code <modules>}, found by walking up from the working directory); the calling test is skipped
   * when it is absent.
   */
  static Path golden() {
    return goldenFolder("wan_tiny");
  }

  static Path goldenFolder(String name) {
    Path d = Path.of("").toAbsolutePath();
    for (; d != null; d = d.getParent()) {
      try {
        Path pom = d.resolve("pom.xml");
        if (Files.isRegularFile(pom) && Files.readString(pom).contains("<modules>")) break;
      } catch (IOException e) {
        // keep looking
      }
    }
    Assumptions.assumeTrue(
        d != null, "no repository root (pom.xml with <modules>) above the working directory");
    Path g = d.resolve("../shared/golden/" + name).normalize();
    Assumptions.assumeTrue(
        Files.isDirectory(g), "golden tensors not found at " + g + ": Wan parity tests skipped");
    return g;
  }

  /** max |a - e| / max |e|: the normwise relative error the golden README reports. */
  static double relErr(double[] expected, double[] actual) {
    assertEquals(expected.length, actual.length, "length");
    double num = 0, den = 0;
    for (int i = 0; i < expected.length; i++) {
      num = Math.max(num, Math.abs(actual[i] - expected[i]));
      den = Math.max(den, Math.abs(expected[i]));
    }
    return den == 0 ? num : num / den;
  }

  static double relErr(Tensor expected, Tensor actual) {
    assertEquals(Arrays.toString(expected.shape()), Arrays.toString(actual.shape()), "shape");
    return relErr(expected.toDoubleArray(), actual.toDoubleArray());
  }

  static void assertRel(String what, Tensor expected, Tensor actual, double tol) {
    double e = relErr(expected, actual);
    assertTrue(e <= tol, what + ": relative error " + e + " > " + tol);
  }
}
