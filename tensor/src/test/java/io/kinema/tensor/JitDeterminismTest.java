package io.kinema.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * CPU results depend neither on the JIT nor on the thread count: {@link DeterminismProbe} gives the
 * same bits in a child JVM that only interprets ({@code -Xint}, one thread), in one that stops at
 * C1 (three threads), in one that compiles with C2 alone, early and synchronously ({@code -Xbatch},
 * so the fingerprint surely comes from C2 code; two threads), and here (tiered, this machine's
 * thread count) after a warm-up. Before {@link io.kinema.tensor.cpu.VectorMath}'s functions
 * replaced the Vector API's transcendentals and {@code reduceLanes(ADD)}, and reductions stopped
 * splitting by the thread count, most of the probe's ops failed this.
 */
class JitDeterminismTest {
  /** Calls of every op before the fingerprint, in the JVMs that compile. */
  private static final int WARM_UP = 60;

  @Test
  void interpreterC1AndC2GiveTheSameBits() throws Exception {
    Process interpreted = probe(List.of("-Xint", "-Dkinema.threads=1"), 0);
    Process c1 = probe(List.of("-XX:TieredStopAtLevel=1", "-Dkinema.threads=3"), WARM_UP);
    Process c2 =
        probe(
            List.of(
                "-XX:-TieredCompilation",
                "-XX:CompileThreshold=1000",
                "-Xbatch",
                "-Dkinema.threads=2"),
            WARM_UP);
    DeterminismProbe.warmUp(WARM_UP);
    List<String> here = DeterminismProbe.run();
    List<String> reference = output(interpreted);
    assertSameLines("interpreter", reference, "C1", output(c1));
    assertSameLines("interpreter", reference, "C2", output(c2));
    assertSameLines("interpreter", reference, "tiered", here);
  }

  /** Starts the probe in a child JVM with these flags, warming up with {@code warmUp} calls. */
  private static Process probe(List<String> flags, int warmUp) throws IOException {
    List<String> cmd = new ArrayList<>();
    cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    cmd.add("--add-modules=jdk.incubator.vector");
    cmd.add("--enable-native-access=ALL-UNNAMED");
    // The vector width decides the lane-sum tree: children must use this JVM's.
    for (String arg : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
      if (arg.matches("-XX:(UseAVX|UseSSE|MaxVectorSize)=.*")) cmd.add(arg);
    }
    cmd.addAll(flags);
    cmd.add("-cp");
    cmd.add(System.getProperty("java.class.path"));
    cmd.add(DeterminismProbe.class.getName());
    cmd.add(Integer.toString(warmUp));
    return new ProcessBuilder(cmd).redirectErrorStream(true).start();
  }

  /** The probe's lines (warnings filtered out), failing if it does not exit cleanly in time. */
  private static List<String> output(Process p) throws Exception {
    String text = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (!p.waitFor(60, TimeUnit.SECONDS)) p.destroyForcibly();
    assertEquals(0, p.exitValue(), "probe failed:\n" + text);
    return text.lines().filter(l -> !l.startsWith("WARNING")).toList();
  }

  private static void assertSameLines(String a, List<String> as, String b, List<String> bs) {
    List<String> diff = new ArrayList<>();
    for (int i = 0; i < Math.max(as.size(), bs.size()); i++) {
      String x = i < as.size() ? as.get(i) : "(none)", y = i < bs.size() ? bs.get(i) : "(none)";
      if (!x.equals(y)) diff.add(a + ": " + x + "  " + b + ": " + y);
    }
    assertEquals(List.of(), diff, a + " and " + b + " differ");
  }
}
