package io.kinema.train.config;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * Command-line overrides of a configuration, FastVideo style: {@code --a.b.c VALUE} or {@code
 * --a.b.c=VALUE} sets key {@code c} of map {@code b} of section {@code a} in the raw tree before it
 * is validated, creating missing maps. Values are cast as FastVideo does: {@code true}/{@code
 * false} to booleans, {@code none}/{@code null} to null, integers, floats, {@code [..]} (and {@code
 * {..}}) as YAML, anything else stays a string. A relative path given this way resolves against the
 * YAML file's folder like the file's own values.
 *
 * <p>The command line's aliases {@code --resume-from-checkpoint} and {@code --override-output-dir}
 * map to {@link #resumeFromCheckpoint} and {@link #overrideOutputDir}.
 */
public final class ConfigOverrides {
  private ConfigOverrides() {}

  /** Names the command line in error messages. */
  public static final String SOURCE = "command line";

  private static final Pattern INTEGER = Pattern.compile("[-+]?[0-9]+");
  private static final Pattern FLOAT =
      Pattern.compile(
          "[-+]?([0-9]+\\.[0-9]*|\\.[0-9]+|[0-9]+)([eE][-+]?[0-9]+)?|[-+]?(inf|infinity)|nan",
          Pattern.CASE_INSENSITIVE);
  private static final Pattern KEY = Pattern.compile("[A-Za-z_][A-Za-z0-9_\\-]*");

  /**
   * A deep copy of {@code raw} with the overrides in {@code args} applied in order.
   *
   * @throws ConfigException listing every malformed argument (no value, not {@code --dotted.key}, a
   *     key below a value that is not a map)
   */
  public static Map<String, Object> apply(Map<String, ?> raw, List<String> args) {
    Map<String, Object> out = deepCopy(raw);
    List<ConfigError> errors = new ArrayList<>();
    for (int i = 0; i < args.size(); i++) {
      String arg = args.get(i);
      if (!arg.startsWith("--") || arg.length() == 2) {
        errors.add(
            new ConfigError(
                SOURCE,
                "",
                "unexpected argument '" + arg + "' (overrides look like --a.b.c VALUE)"));
        continue;
      }
      String key = arg.substring(2);
      String value;
      int eq = key.indexOf('=');
      if (eq >= 0) {
        value = key.substring(eq + 1);
        key = key.substring(0, eq);
      } else if (i + 1 < args.size() && !args.get(i + 1).startsWith("--")) {
        value = args.get(++i);
      } else {
        errors.add(new ConfigError(SOURCE, key, "needs a value (--" + key + " VALUE)"));
        continue;
      }
      String problem = set(out, key, cast(value));
      if (problem != null) errors.add(new ConfigError(SOURCE, key, problem));
    }
    if (!errors.isEmpty()) throw new ConfigException(errors);
    return out;
  }

  /**
   * {@code --resume-from-checkpoint VALUE}: sets {@code training.checkpoint.resume_from_checkpoint}
   * in a deep copy of {@code raw}; {@code latest} stays as is, a path is made absolute against the
   * current directory (where the command was typed).
   */
  public static Map<String, Object> resumeFromCheckpoint(Map<String, ?> raw, String value) {
    String v =
        value.equals(TrainingConfig.Checkpoint.LATEST) || value.isEmpty()
            ? value
            : Path.of(value).toAbsolutePath().normalize().toString();
    return setOne(raw, "training.checkpoint.resume_from_checkpoint", v);
  }

  /**
   * {@code --override-output-dir DIR}: sets {@code training.checkpoint.output_dir} in a deep copy
   * of {@code raw}, made absolute against the current directory.
   */
  public static Map<String, Object> overrideOutputDir(Map<String, ?> raw, String dir) {
    return setOne(
        raw,
        "training.checkpoint.output_dir",
        Path.of(dir).toAbsolutePath().normalize().toString());
  }

  private static Map<String, Object> setOne(Map<String, ?> raw, String dotted, Object value) {
    Map<String, Object> out = deepCopy(raw);
    String problem = set(out, dotted, value);
    if (problem != null) throw new ConfigException(SOURCE, dotted, problem);
    return out;
  }

  /** The typed value of an override's text, as FastVideo casts it. */
  public static Object cast(String text) {
    String lower = text.strip().toLowerCase(Locale.ROOT);
    if (lower.equals("true")) return true;
    if (lower.equals("false")) return false;
    if (lower.equals("none") || lower.equals("null")) return null;
    if (INTEGER.matcher(lower).matches()) {
      try {
        long l = Long.parseLong(lower.startsWith("+") ? lower.substring(1) : lower);
        return l == (int) l ? (Object) (int) l : (Object) l;
      } catch (NumberFormatException e) {
        return text; // beyond a long: keep the text
      }
    }
    if (FLOAT.matcher(lower).matches()) {
      if (lower.equals("nan")) return Double.NaN;
      if (lower.contains("inf")) {
        return lower.startsWith("-") ? Double.NEGATIVE_INFINITY : Double.POSITIVE_INFINITY;
      }
      return Double.parseDouble(lower);
    }
    String s = text.strip();
    if ((s.startsWith("[") && s.endsWith("]")) || (s.startsWith("{") && s.endsWith("}"))) {
      return YamlIo.parse(s, SOURCE);
    }
    return text;
  }

  /**
   * Sets {@code dotted} in {@code root}, creating missing maps; returns a problem or null.
   * Intermediate values that are not maps are not replaced (that is an error).
   */
  @SuppressWarnings("unchecked")
  static String set(Map<String, Object> root, String dotted, Object value) {
    String[] parts = dotted.split("\\.", -1);
    for (String p : parts) {
      if (!KEY.matcher(p).matches()) {
        return "not a dotted key path (expected names like training.loop.max_train_steps)";
      }
    }
    Map<String, Object> m = root;
    for (int i = 0; i < parts.length - 1; i++) {
      Object next = m.get(parts[i]);
      if (next == null) {
        next = new LinkedHashMap<String, Object>();
        m.put(parts[i], next);
      } else if (!(next instanceof Map)) {
        return String.join(".", List.of(parts).subList(0, i + 1))
            + " is "
            + Keys.describe(next)
            + ", not a map";
      }
      m = (Map<String, Object>) next;
    }
    m.put(parts[parts.length - 1], value);
    return null;
  }

  /** A mutable deep copy of a tree of maps and lists (other values are shared). */
  static Map<String, Object> deepCopy(Map<?, ?> m) {
    Map<String, Object> out = new LinkedHashMap<>();
    m.forEach((k, v) -> out.put(String.valueOf(k), copyValue(v)));
    return out;
  }

  private static Object copyValue(Object v) {
    if (v instanceof Map<?, ?> m) return deepCopy(m);
    if (v instanceof List<?> l) {
      List<Object> out = new ArrayList<>();
      for (Object e : l) out.add(copyValue(e));
      return out;
    }
    return v;
  }
}
