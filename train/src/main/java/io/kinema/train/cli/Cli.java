package io.kinema.train.cli;

import io.kinema.train.ResumeMismatchException;
import io.kinema.train.config.ConfigException;
import java.io.PrintWriter;
import picocli.CommandLine;

/**
 * Runs {@code train.jar}'s command line and maps failures to exit codes: 0 done, 1 the job failed
 * (bad data, I/O), 2 the command line or config is wrong (nothing was started).
 */
public final class Cli {
  /** The job failed while running. */
  public static final int EXIT_FAILED = 1;

  /** Bad usage or config; reported before any work. */
  public static final int EXIT_USAGE = 2;

  private Cli() {}

  /** Runs the command line {@code args}, printing to {@code out}/{@code err}; the exit code. */
  public static int run(String[] args, PrintWriter out, PrintWriter err) {
    CommandLine cl = new CommandLine(new TrainCommand());
    cl.setOut(out).setErr(err);
    cl.setExecutionExceptionHandler(
        (e, cmd, parsed) -> {
          switch (e) {
            case ConfigException c -> {
              c.errors().forEach(line -> err.println("config error: " + line));
              return EXIT_USAGE;
            }
            case ResumeMismatchException r -> {
              err.println("error: " + r.getMessage());
              return EXIT_USAGE;
            }
            default -> {
              err.println("error: " + describe(e));
              if (Boolean.getBoolean("kinema.trace")) e.printStackTrace(err);
              else err.println("(run with -Dkinema.trace=true for the stack trace)");
              return EXIT_FAILED;
            }
          }
        });
    int code = cl.execute(args);
    out.flush();
    err.flush();
    return code;
  }

  private static String describe(Throwable e) {
    String m = e.getMessage();
    return m == null || m.isBlank() ? e.getClass().getSimpleName() : m;
  }

  /** The version line of {@code --version}. */
  static final class Version implements CommandLine.IVersionProvider {
    @Override
    public String[] getVersion() {
      String v = Cli.class.getPackage().getImplementationVersion();
      return new String[] {
        "Kinema train.jar " + (v != null ? v : "(development build)"),
        "Java " + Runtime.version() + " (" + System.getProperty("java.vendor") + ")"
      };
    }
  }
}
