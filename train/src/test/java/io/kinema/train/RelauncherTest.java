package io.kinema.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class RelauncherTest {
  private static final String JAVA = "/jdk/bin/java";
  private static final List<String> FLAGS_AND_GUARD =
      List.of(
          "--add-modules=jdk.incubator.vector",
          "--enable-native-access=ALL-UNNAMED",
          "--sun-misc-unsafe-memory-access=allow",
          "-Dkinema.relaunched=true");

  private static List<String> concat(List<?>... parts) {
    List<String> out = new ArrayList<>();
    for (List<?> p : parts) for (Object o : p) out.add((String) o);
    return out;
  }

  @Test
  void singleJarIsRelaunchedWithDashJar() {
    List<String> c =
        Relauncher.childCommand(
            JAVA,
            List.of("-Xmx2g", "-Dfoo=bar"),
            List.of(),
            "train/target/train.jar",
            "io.kinema.train.Main",
            List.of("--steps", "10"));
    assertEquals(
        concat(
            List.of(JAVA, "-Xmx2g", "-Dfoo=bar"),
            FLAGS_AND_GUARD,
            List.of("-jar", "train/target/train.jar", "--steps", "10")),
        c);
  }

  @Test
  void classPathIsRelaunchedWithTheMainClass() {
    List<String> c =
        Relauncher.childCommand(
            JAVA, List.of(), List.of(), "a/classes:b.jar", "io.kinema.train.Main", List.of());
    assertEquals(
        concat(
            List.of(JAVA),
            FLAGS_AND_GUARD,
            List.of("-cp", "a/classes:b.jar", "io.kinema.train.Main")),
        c);
    c = Relauncher.childCommand(JAVA, List.of(), List.of(), "target/classes", "M", List.of("x"));
    assertEquals(
        concat(List.of(JAVA), FLAGS_AND_GUARD, List.of("-cp", "target/classes", "M", "x")), c);
  }

  @Test
  void flagsAlreadyPresentAreNotRepeated() {
    List<String> c =
        Relauncher.childCommand(
            JAVA,
            List.of("--enable-native-access=ALL-UNNAMED", "-ea"),
            List.of(),
            "t.jar",
            "M",
            List.of());
    assertEquals(
        List.of(
            JAVA,
            "--enable-native-access=ALL-UNNAMED",
            "-ea",
            "--add-modules=jdk.incubator.vector",
            "--sun-misc-unsafe-memory-access=allow",
            "-Dkinema.relaunched=true",
            "-jar",
            "t.jar"),
        c);
  }

  @Test
  void optionsFromTheEnvironmentAreLeftToTheChildsEnvironment() {
    // JAVA_TOOL_OPTIONS and JDK_JAVA_OPTIONS come first among the input arguments; the child
    // inherits the environment and reads them again, so copying them would repeat them.
    List<String> c =
        Relauncher.childCommand(
            JAVA,
            List.of("-Dt=2", "-Dz=1", "-Xmx1g"),
            List.of("-Dt=2", "-Dz=1"),
            "t.jar",
            "M",
            List.of("a", "b"));
    assertEquals(
        concat(List.of(JAVA, "-Xmx1g"), FLAGS_AND_GUARD, List.of("-jar", "t.jar", "a", "b")), c);
    // A mismatch stops the stripping: nothing the user typed is lost.
    c =
        Relauncher.childCommand(
            JAVA, List.of("-Dx=1", "-Dt=2"), List.of("-Dt=2"), "t.jar", "M", List.of());
    assertEquals(
        concat(List.of(JAVA, "-Dx=1", "-Dt=2"), FLAGS_AND_GUARD, List.of("-jar", "t.jar")), c);
  }

  @Test
  void environmentOptionsAreSplitOnWhitespace() {
    assertEquals(List.of(), Relauncher.tokens(null));
    assertEquals(List.of(), Relauncher.tokens("  "));
    assertEquals(List.of("-Da=1", "-Xmx1g"), Relauncher.tokens(" -Da=1 \t -Xmx1g "));
  }

  // ---------------------------------------------------------------- real JVMs

  private record Run(int code, String output) {}

  /** Runs Main in a JVM started without the engine's flags (as {@code java -jar} would be). */
  private static Run runMainWithoutFlags(String... extra) throws IOException, InterruptedException {
    String java = ProcessHandle.current().info().command().orElseThrow();
    List<String> cmd = new ArrayList<>(List.of(java));
    cmd.addAll(List.of(extra));
    cmd.addAll(
        List.of("-cp", System.getProperty("java.class.path"), Main.class.getName(), "--help"));
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(60, TimeUnit.SECONDS), "timed out: " + out);
    return new Run(p.exitValue(), out);
  }

  @Test
  void mainRelaunchesItselfWithTheVectorModule() throws Exception {
    Run r = runMainWithoutFlags("-Xmx256m");
    assertEquals(0, r.code(), r.output());
    assertTrue(r.output().contains("Usage: train.jar"), r.output());
  }

  @Test
  void theGuardStopsARelaunchLoop() throws Exception {
    Run r = runMainWithoutFlags("-Dkinema.relaunched=true");
    assertEquals(Relauncher.EXIT_NO_MODULE, r.code(), r.output());
    assertTrue(
        r.output().contains("the re-launched JVM still lacks module jdk.incubator.vector"),
        r.output());
  }
}
