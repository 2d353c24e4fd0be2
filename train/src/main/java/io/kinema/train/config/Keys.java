package io.kinema.train.config;

import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Typed reading of one map of the configuration (a section). Every read names the key it accepts,
 * so after all reads {@link #finish()} can report the keys nobody asked for, with a suggestion
 * among the ones that were. A value of the wrong type is reported (naming the path and the type
 * expected) and the default is used, so that reading goes on and every problem is found in one
 * pass. Each read also records the value used (the default when absent) into {@link #resolved()},
 * which becomes {@link RunConfig#raw()}.
 */
final class Keys {
  private final Map<String, Object> map;
  private final String path;
  private final Problems problems;
  private final Path baseDir;
  private final Map<String, Object> resolved = new LinkedHashMap<>();
  private final Set<String> known = new LinkedHashSet<>();

  private Keys(Map<String, Object> map, String path, Problems problems, Path baseDir) {
    this.map = map;
    this.path = path;
    this.problems = problems;
    this.baseDir = baseDir;
  }

  /** The document root. */
  static Keys root(Map<String, Object> raw, Problems problems, Path baseDir) {
    return new Keys(raw, "", problems, baseDir);
  }

  /** The dotted path of {@code key} in this map. */
  String pathOf(String key) {
    return path.isEmpty() ? key : path + "." + key;
  }

  /** This map's own dotted path (empty at the root). */
  String path() {
    return path;
  }

  Problems problems() {
    return problems;
  }

  Path baseDir() {
    return baseDir;
  }

  /** True when {@code key} is present with a non-null value. */
  boolean has(String key) {
    return map.get(key) != null;
  }

  /** The keys present in this map, in document order. */
  List<String> presentKeys() {
    return List.copyOf(map.keySet());
  }

  /** What was read, with defaults, in reading order (sections are filled as they are read). */
  Map<String, Object> resolved() {
    return resolved;
  }

  /** Replaces the recorded value of {@code key} (e.g. by a normalized form). */
  void setResolved(String key, Object value) {
    resolved.put(key, value);
  }

  /** Reports an error at {@code key}. */
  void error(String key, String message) {
    problems.error(pathOf(key), message);
  }

  /** Reports an error at {@code key} unless it already has one (a bad type, say). */
  void check(boolean ok, String key, String message) {
    if (!ok && !problems.failed(pathOf(key))) error(key, message);
  }

  /** True when an error was reported at {@code key}. */
  boolean failed(String key) {
    return problems.failed(pathOf(key));
  }

  // ---------------------------------------------------------------- scalars

  /** A string (numbers are taken as their text), or {@code dflt} when absent or null. */
  String string(String key, String dflt) {
    Object v = take(key);
    String s = dflt;
    if (v instanceof String str) s = str;
    else if (v instanceof Number n) s = numberText(n);
    else if (v != null) typeError(key, "a string", v);
    resolved.put(key, s);
    return s;
  }

  /** A non-empty string; reports {@code required} when absent, null or empty. */
  String requiredString(String key) {
    String s = string(key, null);
    if ((s == null || s.isEmpty()) && !failed(key)) error(key, "required");
    return s;
  }

  /** One of {@code allowed} (compared exactly), or {@code dflt} when absent or null. */
  String choice(String key, String dflt, List<String> allowed) {
    String s = string(key, dflt);
    if (s != null && !allowed.contains(s) && !failed(key)) {
      error(key, badChoice(s, allowed));
      return dflt;
    }
    return s;
  }

  /** An enum constant by its lower-case name ({@code unipc} -> {@code UNIPC}). */
  <E extends Enum<E>> E enumValue(String key, E dflt, Class<E> type) {
    List<String> names = new ArrayList<>();
    for (E e : type.getEnumConstants()) names.add(e.name().toLowerCase(Locale.ROOT));
    String s = choice(key, dflt.name().toLowerCase(Locale.ROOT), names);
    return Enum.valueOf(type, (s == null ? dflt.name() : s).toUpperCase(Locale.ROOT));
  }

  static String badChoice(String value, List<String> allowed) {
    return "expected one of "
        + String.join(", ", allowed)
        + ", got '"
        + value
        + "'"
        + DidYouMean.hint(value, allowed);
  }

  /** An integer (an integral float such as {@code 1e4} is accepted), or {@code dflt}. */
  int integer(String key, int dflt) {
    Integer v = optInteger(key);
    int out = v == null ? dflt : v;
    resolved.put(key, out);
    return out;
  }

  /** An integer, or null when absent or null (recorded as null). */
  Integer optInteger(String key) {
    Object v = take(key);
    Long l = v == null ? null : toLong(key, v, Integer.MIN_VALUE, Integer.MAX_VALUE);
    Integer out = l == null ? null : l.intValue();
    resolved.put(key, out);
    return out;
  }

  /** A long integer, or {@code dflt}. */
  long longInteger(String key, long dflt) {
    Object v = take(key);
    Long l = v == null ? null : toLong(key, v, Long.MIN_VALUE, Long.MAX_VALUE);
    long out = l == null ? dflt : l;
    resolved.put(key, out);
    return out;
  }

  /** A number (integers widen), or {@code dflt}. */
  double number(String key, double dflt) {
    Double v = optNumber(key);
    double out = v == null ? dflt : v;
    resolved.put(key, out);
    return out;
  }

  /** A number, or null when absent or null. */
  Double optNumber(String key) {
    Object v = take(key);
    Double out = v == null ? null : toDouble(key, v);
    resolved.put(key, out);
    return out;
  }

  /** {@code true} or {@code false}, or {@code dflt}. */
  boolean bool(String key, boolean dflt) {
    Object v = take(key);
    boolean out = dflt;
    if (v instanceof Boolean b) out = b;
    else if (v != null) typeError(key, "true or false", v);
    resolved.put(key, out);
    return out;
  }

  /** True or false, or null when absent or null. */
  Boolean optBool(String key) {
    Object v = take(key);
    Boolean out = null;
    if (v instanceof Boolean b) out = b;
    else if (v != null) typeError(key, "true or false", v);
    resolved.put(key, out);
    return out;
  }

  // ---------------------------------------------------------------- lists

  /** A list of strings, or {@code dflt}. */
  List<String> stringList(String key, List<String> dflt) {
    Object v = take(key);
    List<String> out = dflt;
    if (v instanceof List<?> list) {
      out = new ArrayList<>();
      for (Object e : list) {
        if (e instanceof String s) out.add(s);
        else return listTypeError(key, "a list of strings", v, dflt);
      }
    } else if (v != null) {
      typeError(key, "a list of strings", v);
    }
    resolved.put(key, out == null ? null : List.copyOf(out));
    return out;
  }

  /** A list of integers (a single integer is a list of one when {@code allowScalar}). */
  List<Integer> intList(String key, List<Integer> dflt, boolean allowScalar) {
    Object v = take(key);
    List<Integer> out = dflt;
    String expected = allowScalar ? "an integer or a list of integers" : "a list of integers";
    if (v instanceof List<?> list) {
      out = new ArrayList<>();
      for (Object e : list) {
        Long l = integral(e, Integer.MIN_VALUE, Integer.MAX_VALUE);
        if (l == null) return listTypeError(key, expected, v, dflt);
        out.add(l.intValue());
      }
    } else if (allowScalar
        && v != null
        && integral(v, Integer.MIN_VALUE, Integer.MAX_VALUE) != null) {
      out = List.of(integral(v, Integer.MIN_VALUE, Integer.MAX_VALUE).intValue());
    } else if (v != null) {
      typeError(key, expected, v);
    }
    resolved.put(key, out == null ? null : List.copyOf(out));
    return out;
  }

  /** A list of numbers, or {@code dflt}. */
  List<Double> numberList(String key, List<Double> dflt) {
    Object v = take(key);
    List<Double> out = dflt;
    if (v instanceof List<?> list) {
      out = new ArrayList<>();
      for (Object e : list) {
        if (e instanceof Number n && !(e instanceof BigInteger)) out.add(n.doubleValue());
        else return listTypeError(key, "a list of numbers", v, dflt);
      }
    } else if (v != null) {
      typeError(key, "a list of numbers", v);
    }
    resolved.put(key, out == null ? null : List.copyOf(out));
    return out;
  }

  private <T> List<T> listTypeError(String key, String expected, Object v, List<T> dflt) {
    typeError(key, expected, v);
    resolved.put(key, dflt == null ? null : List.copyOf(dflt));
    return dflt;
  }

  // ---------------------------------------------------------------- paths

  /**
   * A path, resolved against the YAML file's folder and normalized; recorded as the absolute path.
   * Null (or {@code dflt}) when absent, null or empty.
   *
   * @param mustExist report an error when nothing exists at the resolved path
   */
  Path path(String key, Path dflt, boolean mustExist) {
    String s = string(key, null);
    Path out = dflt;
    if (s != null && !s.isEmpty()) {
      out = resolvePath(key, s);
      if (out != null && mustExist && !Files.exists(out)) {
        error(key, "'" + s + "' does not exist" + where(s, out));
      }
    }
    resolved.put(key, out == null ? null : out.toString());
    return out;
  }

  /** {@code text} as a path against the base folder, or null (reported) when it is malformed. */
  Path resolvePath(String key, String text) {
    try {
      return baseDir.resolve(text).toAbsolutePath().normalize();
    } catch (InvalidPathException e) {
      error(key, "not a valid path: '" + text + "'");
      return null;
    }
  }

  /** {@code " (resolved to /abs)"} when the text was relative, else empty. */
  static String where(String text, Path resolved) {
    return Path.of(text).isAbsolute() ? "" : " (resolved to " + resolved + ")";
  }

  // ---------------------------------------------------------------- maps

  /**
   * The map at {@code key} (empty when absent or null); its resolved values are recorded under
   * {@code key}. A value that is not a map is reported and read as empty.
   */
  Keys section(String key) {
    Object v = take(key);
    Map<String, Object> m = Map.of();
    if (v != null) {
      Map<String, Object> asMap = asStringMap(key, v);
      if (asMap != null) m = asMap;
    }
    Keys child = new Keys(m, pathOf(key), problems, baseDir);
    resolved.put(key, child.resolved);
    return child;
  }

  /** A free-form value, recorded as given. */
  Object any(String key) {
    Object v = take(key);
    resolved.put(key, v);
    return v;
  }

  /**
   * A key accepted for FastVideo compatibility that has no effect in Kinema: when present, it is
   * kept in the resolved tree and a warning with {@code why} is recorded.
   */
  void ignored(String key, String why) {
    known.add(key);
    if (map.containsKey(key)) {
      resolved.put(key, map.get(key));
      problems.warn(pathOf(key), "ignored: " + why);
    }
  }

  private Map<String, Object> asStringMap(String key, Object v) {
    if (!(v instanceof Map<?, ?> raw)) {
      typeError(key, "a map", v);
      return null;
    }
    Map<String, Object> m = new LinkedHashMap<>();
    for (Map.Entry<?, ?> e : raw.entrySet()) {
      if (e.getKey() instanceof String s) {
        m.put(s, e.getValue());
      } else {
        error(key, "keys must be strings, got " + describe(e.getKey()));
        return null;
      }
    }
    return m;
  }

  // ---------------------------------------------------------------- unknown keys

  /** Marks {@code key} as valid here without reading it. */
  void declare(String key) {
    known.add(key);
  }

  /** Reports every present key that no read asked for, with a suggestion among the valid ones. */
  void finish() {
    for (String key : map.keySet()) {
      if (known.contains(key)) continue;
      String hint = DidYouMean.hint(key, known);
      error(
          key,
          "unknown key"
              + (hint.isEmpty() ? " (valid keys: " + String.join(", ", known) + ")" : hint));
    }
  }

  // ---------------------------------------------------------------- helpers

  /** Declares {@code key} and returns its value (null when absent). */
  private Object take(String key) {
    known.add(key);
    return map.get(key);
  }

  private void typeError(String key, String expected, Object v) {
    error(key, "expected " + expected + ", got " + describe(v));
  }

  private Long toLong(String key, Object v, long min, long max) {
    Long l = integral(v, min, max);
    if (l == null) typeError(key, "an integer", v);
    return l;
  }

  /** The value as a long if it is an integer (or an integral float) in [min, max], else null. */
  private static Long integral(Object v, long min, long max) {
    long l;
    if (v instanceof Integer || v instanceof Long || v instanceof Short || v instanceof Byte) {
      l = ((Number) v).longValue();
    } else if (v instanceof BigInteger b) {
      if (b.bitLength() > 63) return null;
      l = b.longValue();
    } else if (v instanceof Double || v instanceof Float) {
      double d = ((Number) v).doubleValue();
      if (d != Math.rint(d) || Math.abs(d) > 9.0e15) return null;
      l = (long) d;
    } else {
      return null;
    }
    return l < min || l > max ? null : l;
  }

  private Double toDouble(String key, Object v) {
    if (v instanceof Number n) return n.doubleValue();
    typeError(key, "a number", v);
    return null;
  }

  private static String numberText(Number n) {
    return n instanceof Double d && d == Math.rint(d) && !d.isInfinite()
        ? Long.toString(d.longValue())
        : n.toString();
  }

  /** How messages show a value: strings quoted, collections by kind. */
  static String describe(Object v) {
    if (v == null) return "null";
    if (v instanceof String s) return "'" + s + "'";
    if (v instanceof Map<?, ?>) return "a map";
    if (v instanceof List<?>) return "a list";
    return v.toString();
  }
}
