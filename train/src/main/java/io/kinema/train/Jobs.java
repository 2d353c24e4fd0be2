package io.kinema.train;

import java.io.PrintStream;

/** Parses the command line and runs the job it names; returns the process exit code. */
final class Jobs {
  private Jobs() {}

  static int run(String[] args, PrintStream out, PrintStream err) {
    Options options;
    try {
      options = Options.parse(args);
    } catch (IllegalArgumentException e) {
      err.println("train: " + e.getMessage());
      err.println(Options.USAGE);
      return 2;
    }
    if (options.help()) {
      out.println(Options.USAGE);
      return 0;
    }
    // Until the trainer exists, the default job is the engine demo.
    MlpDemo.run(options, out);
    return 0;
  }
}
