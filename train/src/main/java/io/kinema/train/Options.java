package io.kinema.train;

/**
 * The command line of {@code train.jar} (a small hand parser until the trainer brings its
 * configuration). Options take their value as the next argument or after {@code =}.
 *
 * @param steps optimizer steps of the demo
 * @param seed seed of the engine's random {@code Generator}
 * @param logEvery print the loss every this many steps
 * @param help print the usage and exit
 */
record Options(int steps, long seed, int logEvery, boolean help) {
  static final String USAGE =
      """
      usage: java -jar train.jar [options]
      Trains a small MLP (2 -> 64 -> 64 -> 1, tanh) on a synthetic regression task with
      Kinema's CPU tensors, manual backpropagation and Adam, printing the falling loss.

        --steps N       optimizer steps (default 500)
        --seed S        random seed for data and initialization (default 0)
        --log-every N   print the loss every N steps (default 50)
        -h, --help      print this help""";

  static final Options DEFAULTS = new Options(500, 0, 50, false);

  Options {
    if (steps < 0) throw new IllegalArgumentException("--steps must be >= 0, got " + steps);
    if (logEvery < 1)
      throw new IllegalArgumentException("--log-every must be >= 1, got " + logEvery);
  }

  /** Parses {@code args}; throws IllegalArgumentException naming the bad argument. */
  static Options parse(String... args) {
    int steps = DEFAULTS.steps, logEvery = DEFAULTS.logEvery;
    long seed = DEFAULTS.seed;
    boolean help = false;
    for (int i = 0; i < args.length; i++) {
      String arg = args[i], value = null;
      int eq = arg.indexOf('=');
      if (arg.startsWith("--") && eq > 0) {
        value = arg.substring(eq + 1);
        arg = arg.substring(0, eq);
      }
      switch (arg) {
        case "-h", "--help" -> help = true;
        case "--steps" -> {
          value = value != null ? value : next(args, ++i, arg);
          steps = (int) number(arg, value, Integer.MAX_VALUE);
        }
        case "--seed" -> {
          value = value != null ? value : next(args, ++i, arg);
          seed = number(arg, value, Long.MAX_VALUE);
        }
        case "--log-every" -> {
          value = value != null ? value : next(args, ++i, arg);
          logEvery = (int) number(arg, value, Integer.MAX_VALUE);
        }
        default -> throw new IllegalArgumentException("unknown argument '" + args[i] + "'");
      }
      if (help) break;
    }
    return new Options(steps, seed, logEvery, help);
  }

  private static String next(String[] args, int i, String option) {
    if (i >= args.length) throw new IllegalArgumentException(option + " needs a value");
    return args[i];
  }

  private static long number(String option, String value, long max) {
    try {
      long v = Long.parseLong(value);
      if (v > max || v < -max) throw new NumberFormatException();
      return v;
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(option + " expects an integer, got '" + value + "'");
    }
  }
}
