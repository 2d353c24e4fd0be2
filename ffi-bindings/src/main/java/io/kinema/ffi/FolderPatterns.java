package io.kinema.ffi;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.function.Function;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Expands folder patterns such as {@code "$CONDA_PREFIX/lib/python3*}{@code /site-packages"} or
 * {@code "/usr/local/cuda-*}{@code /lib64"} into the existing folders they name. A {@code *} in a
 * path element matches any run of characters within that element; where several folders match, the
 * newest version comes first ({@code cuda-12.10}, {@code cuda-12.9}, {@code cuda-11.8}). A leading
 * {@code $NAME} element is an environment variable; a pattern whose variable is unset names nothing
 * ({@code $HOME} falls back to the {@code user.home} property).
 */
final class FolderPatterns {
  private FolderPatterns() {}

  /** The existing folders the patterns name, in pattern order, then newest version first. */
  static List<Path> expand(List<String> patterns, Function<String, String> env) {
    var out = new ArrayList<Path>();
    for (String pattern : patterns) out.addAll(expand(pattern, env));
    return out;
  }

  /** The existing folders one pattern names, newest version first. */
  static List<Path> expand(String pattern, Function<String, String> env) {
    String path = pattern;
    if (path.startsWith("$")) {
      int slash = path.indexOf('/');
      String name = slash < 0 ? path.substring(1) : path.substring(1, slash);
      String value = env.apply(name);
      if ((value == null || value.isBlank()) && name.equals("HOME")) {
        value = System.getProperty("user.home");
      }
      if (value == null || value.isBlank()) return List.of();
      path = value.strip() + (slash < 0 ? "" : path.substring(slash));
    }
    Path p = Path.of(path);
    List<Path> current = List.of(p.getRoot() == null ? Path.of("") : p.getRoot());
    for (Path element : p) {
      String part = element.toString();
      var next = new ArrayList<Path>();
      for (Path dir : current) {
        if (part.contains("*")) next.addAll(matching(dir, part));
        else next.add(dir.resolve(part));
      }
      current = next;
    }
    return current.stream().filter(Files::isDirectory).toList();
  }

  /** The entries of {@code dir} whose names match {@code glob} (only {@code *}), newest first. */
  private static List<Path> matching(Path dir, String glob) {
    if (!Files.isDirectory(dir)) return List.of();
    var regex = new StringBuilder();
    for (String piece : glob.split("\\*", -1)) {
      if (!regex.isEmpty()) regex.append(".*");
      regex.append(Pattern.quote(piece));
    }
    Pattern re = Pattern.compile(regex.toString());
    try (Stream<Path> entries = Files.list(dir)) {
      return entries
          .filter(e -> re.matcher(e.getFileName().toString()).matches())
          .sorted(Comparator.comparing((Path e) -> e.getFileName().toString(), VERSIONS.reversed()))
          .toList();
    } catch (IOException e) {
      return List.of(); // unreadable: nothing to search there
    }
  }

  /**
   * Orders names as version strings: runs of digits compare as numbers ({@code 12.10 > 12.9}),
   * other characters as text.
   */
  static final Comparator<String> VERSIONS =
      (a, b) -> {
        int i = 0, j = 0;
        while (i < a.length() && j < b.length()) {
          char ca = a.charAt(i), cb = b.charAt(j);
          if (Character.isDigit(ca) && Character.isDigit(cb)) {
            int ei = i, ej = j;
            while (ei < a.length() && Character.isDigit(a.charAt(ei))) ei++;
            while (ej < b.length() && Character.isDigit(b.charAt(ej))) ej++;
            String na = a.substring(i, ei).replaceFirst("^0+(?=.)", "");
            String nb = b.substring(j, ej).replaceFirst("^0+(?=.)", "");
            int c =
                na.length() != nb.length()
                    ? Integer.compare(na.length(), nb.length())
                    : na.compareTo(nb);
            if (c != 0) return c;
            i = ei;
            j = ej;
          } else {
            if (ca != cb) return Character.compare(ca, cb);
            i++;
            j++;
          }
        }
        return Integer.compare(a.length() - i, b.length() - j);
      };
}
