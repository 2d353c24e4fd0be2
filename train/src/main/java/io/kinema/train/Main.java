package io.kinema.train;

import io.kinema.train.cli.Cli;
import java.io.PrintWriter;

/**
 * {@code train.jar}'s entry point. The engine needs the incubating Vector API module, which {@code
 * java -jar} cannot add by itself, so when it is missing Main re-launches the JVM with the flags
 * ({@link Relauncher}); then it runs the command line ({@link Cli}).
 *
 * <p>Main touches no engine class before the module check: loading one would load the Vector API.
 */
public final class Main {
  private Main() {}

  public static void main(String[] args) throws Exception {
    if (!Relauncher.vectorModulePresent()) {
      System.exit(Relauncher.relaunch(Main.class, args));
    }
    System.setProperty("java.awt.headless", "true");
    int code = Cli.run(args, new PrintWriter(System.out, true), new PrintWriter(System.err, true));
    System.exit(code);
  }
}
