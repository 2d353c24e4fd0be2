package io.kinema.train;

/**
 * {@code train.jar}'s entry point. The engine needs the incubating Vector API module, which {@code
 * java -jar} cannot add by itself, so when it is missing Main re-launches the JVM with the flags
 * ({@link Relauncher}); then it runs the job the arguments ask for.
 *
 * <p>Main touches no engine class before the module check: loading one would load the Vector API.
 */
public final class Main {
  private Main() {}

  public static void main(String[] args) throws Exception {
    if (!Relauncher.vectorModulePresent()) {
      System.exit(Relauncher.relaunch(Main.class, args));
    }
    System.exit(Jobs.run(args, System.out, System.err));
  }
}
