package io.kinema.train;

import java.io.File;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Re-starts the JVM with the flags the engine needs when it was started without them ({@code java
 * -jar train.jar}). No manifest attribute adds a module, so {@code --add-modules} can only come
 * from the command line or an environment variable; a child JVM costs about 0.1 s.
 *
 * <p>The child gets the same java executable, the parent's JVM options (heap size, {@code -D}
 * properties), the flags, a guard property against re-launch loops, the same class path (as {@code
 * -jar} when it is a single jar, so the manifest still applies) and the same arguments. The parent
 * forwards the child's exit code, and a shutdown hook stops the child when the parent is stopped.
 */
final class Relauncher {
  /** The incubating module every engine kernel uses. */
  static final String VECTOR_MODULE = "jdk.incubator.vector";

  /** What the child JVM gets on top of the parent's options (the same as {@code ./kinema}). */
  static final List<String> FLAGS =
      List.of(
          "--add-modules=" + VECTOR_MODULE,
          "--enable-native-access=ALL-UNNAMED",
          "--sun-misc-unsafe-memory-access=allow");

  /** Set in the child; seeing it without the module means the flags did not take. */
  static final String GUARD = "kinema.relaunched";

  /** Exit code when the re-launched JVM still lacks the module. */
  static final int EXIT_NO_MODULE = 3;

  private Relauncher() {}

  static boolean vectorModulePresent() {
    return ModuleLayer.boot().findModule(VECTOR_MODULE).isPresent();
  }

  /**
   * Runs {@code main} with {@code args} in a child JVM that has the flags; returns its exit code.
   */
  static int relaunch(Class<?> main, String[] args) throws IOException, InterruptedException {
    if (System.getProperty(GUARD) != null) {
      System.err.println(
          "train: the re-launched JVM still lacks module "
              + VECTOR_MODULE
              + "; run java with "
              + String.join(" ", FLAGS)
              + " (./kinema train does)");
      return EXIT_NO_MODULE;
    }
    String java =
        ProcessHandle.current()
            .info()
            .command()
            .orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    List<String> inherited = new ArrayList<>();
    inherited.addAll(tokens(System.getenv("JAVA_TOOL_OPTIONS")));
    inherited.addAll(tokens(System.getenv("JDK_JAVA_OPTIONS")));
    List<String> command =
        childCommand(
            java,
            ManagementFactory.getRuntimeMXBean().getInputArguments(),
            inherited,
            System.getProperty("java.class.path"),
            main.getName(),
            Arrays.asList(args));
    Process child = new ProcessBuilder(command).inheritIO().start();
    // Without this hook, stopping the parent (SIGTERM) would leave the child running.
    Thread stopChild =
        new Thread(
            () -> {
              if (!child.isAlive()) return;
              child.destroy();
              try {
                if (!child.waitFor(10, TimeUnit.SECONDS)) child.destroyForcibly();
              } catch (InterruptedException e) {
                child.destroyForcibly();
              }
            },
            "kinema-relaunch-stop");
    Runtime.getRuntime().addShutdownHook(stopChild);
    return child.waitFor();
  }

  /**
   * The child's command line: {@code java}, the parent's JVM options without those the child will
   * pick up again from the environment ({@code inherited}: JAVA_TOOL_OPTIONS and JDK_JAVA_OPTIONS,
   * which come first), {@link #FLAGS} not already there, the {@link #GUARD}, then {@code -jar cp}
   * when the class path is one jar, else {@code -cp cp mainClass}, then {@code args}.
   */
  static List<String> childCommand(
      String java,
      List<String> jvmArgs,
      List<String> inherited,
      String classPath,
      String mainClass,
      List<String> args) {
    List<String> c = new ArrayList<>();
    c.add(java);
    int skip = 0;
    while (skip < inherited.size()
        && skip < jvmArgs.size()
        && jvmArgs.get(skip).equals(inherited.get(skip))) {
      skip++;
    }
    c.addAll(jvmArgs.subList(skip, jvmArgs.size()));
    for (String f : FLAGS) if (!c.contains(f)) c.add(f);
    c.add("-D" + GUARD + "=true");
    boolean singleJar = classPath.endsWith(".jar") && !classPath.contains(File.pathSeparator);
    if (singleJar) {
      c.add("-jar");
      c.add(classPath);
    } else {
      c.add("-cp");
      c.add(classPath);
      c.add(mainClass);
    }
    c.addAll(args);
    return c;
  }

  /** An environment variable's options split on whitespace (empty when unset). */
  static List<String> tokens(String options) {
    if (options == null || options.isBlank()) return List.of();
    return List.of(options.trim().split("\\s+"));
  }
}
