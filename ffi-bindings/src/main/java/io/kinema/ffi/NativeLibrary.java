package io.kinema.ffi;

import java.io.File;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.function.Function;

/**
 * An optional native library, found and loaded once, lazily, on first use. A library that cannot be
 * found is not an error until something calls into it: {@link #isAvailable()} is false and {@link
 * #unavailableReason()} lists which file names were looked for where.
 *
 * <p>Search order, first hit wins (for a library with id {@code openblas}):
 *
 * <ol>
 *   <li>the explicit setting: system property {@code kinema.openblas.path}, else environment
 *       variable {@code KINEMA_OPENBLAS_PATH}; a file, or a folder holding one of the candidate
 *       names. When set, nothing else is tried, so a wrong setting is reported instead of being
 *       papered over by some other copy.
 *   <li>the folders of {@code LD_LIBRARY_PATH} ({@code DYLD_LIBRARY_PATH} on macOS).
 *   <li>the standard folders ({@code /usr/lib/<multiarch>}, {@code /lib/<multiarch>}, {@code
 *       /usr/lib64}, {@code /usr/lib}, {@code /usr/local/lib}, ...), each also with the library's
 *       own subfolders (Debian keeps OpenBLAS in {@code
 *       /usr/lib/x86_64-linux-gnu/openblas-pthread/}), then the library's extra folders (e.g.
 *       {@code /opt/OpenBLAS/lib}).
 *   <li>the dynamic loader's own lookup by file name ({@code dlopen("libopenblas.so.0")}: {@code
 *       ld.so.cache}, {@code RUNPATH}, ...).
 * </ol>
 *
 * A candidate that loads but lacks the {@linkplain Builder#requiredSymbol required symbol} is
 * skipped (and named in the reason). The library is loaded into the global arena and never
 * unloaded.
 */
public final class NativeLibrary {
  /** Folders every library is looked for in, after the explicit setting and LD_LIBRARY_PATH. */
  public static final List<Path> STANDARD_FOLDERS = standardFolders();

  private final String id;
  private final List<String> names;
  private final List<String> subfolders;
  private final List<Path> extraFolders;
  private final String requiredSymbol;
  private final String hint;
  private final Function<String, String> env;
  private final List<Path> standardFolders;
  private final boolean loaderLookup;

  private volatile Result result;

  /** What the search found: a lookup and where it came from, or why there is none. */
  private record Result(SymbolLookup lookup, String location, String reason) {}

  private NativeLibrary(Builder b) {
    this.id = b.id;
    this.names = List.copyOf(b.names);
    this.subfolders = List.copyOf(b.subfolders);
    this.extraFolders = List.copyOf(b.extraFolders);
    this.requiredSymbol = b.requiredSymbol;
    this.hint = b.hint;
    this.env = b.env;
    this.standardFolders = List.copyOf(b.standardFolders);
    this.loaderLookup = b.loaderLookup;
  }

  /**
   * Starts describing the library {@code id} (lower case, e.g. {@code "openblas"}, {@code "cuda"},
   * {@code "cublas"}), which names its settings {@code kinema.<id>.path} / {@code
   * KINEMA_<ID>_PATH}.
   */
  public static Builder builder(String id) {
    return new Builder(id);
  }

  /** The library's id, as given to {@link #builder(String)}. */
  public String id() {
    return id;
  }

  /** The system property that names the library's file or folder: {@code kinema.<id>.path}. */
  public String propertyName() {
    return "kinema." + id + ".path";
  }

  /** The environment variable read when the property is unset: {@code KINEMA_<ID>_PATH}. */
  public String envName() {
    return "KINEMA_" + id.toUpperCase(Locale.ROOT).replaceAll("[^A-Z0-9]", "_") + "_PATH";
  }

  /** Whether the library was found and loaded (searches and loads it on the first call). */
  public boolean isAvailable() {
    return load().lookup != null;
  }

  /** Why the library is unavailable (what was looked for where), or null when it is available. */
  public String unavailableReason() {
    return load().reason;
  }

  /** The file the library was loaded from (or the name the loader resolved), if available. */
  public Optional<String> location() {
    return Optional.ofNullable(load().location);
  }

  /** The library's symbols; throws {@link IllegalStateException} with the reason if unavailable. */
  public SymbolLookup lookup() {
    Result r = load();
    if (r.lookup == null) throw new IllegalStateException(r.reason);
    return r.lookup;
  }

  /** The address of {@code symbol}, empty when the library is unavailable or lacks it. */
  public Optional<MemorySegment> find(String symbol) {
    Result r = load();
    return r.lookup == null ? Optional.empty() : r.lookup.find(symbol);
  }

  /**
   * A downcall to {@code symbol}; its method handle is created on first use. Creating the {@link
   * Downcall} loads nothing, so it can sit in a static final field of a binding class.
   */
  public Downcall downcall(String symbol, FunctionDescriptor descriptor, Linker.Option... options) {
    return new Downcall(this, symbol, descriptor, options);
  }

  private Result load() {
    Result r = result;
    if (r == null) {
      synchronized (this) {
        r = result;
        if (r == null) result = r = search();
      }
    }
    return r;
  }

  // ------------------------------------------------------------------------------------ search

  private Result search() {
    var log = new Log();

    String explicit = System.getProperty(propertyName());
    String source = "-D" + propertyName();
    if (explicit == null || explicit.isBlank()) {
      explicit = env.apply(envName());
      source = envName();
    }
    if (explicit != null && !explicit.isBlank()) {
      Path p = Path.of(explicit.strip());
      Result r = null;
      if (Files.isDirectory(p)) r = tryFolder(p, log);
      else if (Files.exists(p)) r = tryFile(p, log);
      else log.lines.add(p + ": no such file or folder");
      if (r != null) return r;
      log.flushEmpty("");
      return failure(
          "not loaded: " + source + "=" + explicit + " is set, so nothing else was searched.", log);
    }
    log.lines.add(
        "explicit setting: neither -D" + propertyName() + " nor " + envName() + " is set");

    String pathVar = libraryPathVariable();
    String ldPath = env.apply(pathVar);
    if (ldPath == null || ldPath.isBlank()) log.lines.add(pathVar + ": not set");
    else {
      for (String dir : ldPath.split(File.pathSeparator)) {
        if (dir.isBlank()) continue;
        Result r = tryFolder(Path.of(dir), log);
        if (r != null) return r;
      }
      log.flushEmpty(pathVar + " folders");
    }

    var folders = new LinkedHashSet<Path>();
    for (Path base : standardFolders) {
      folders.add(base);
      for (String sub : subfolders) folders.add(base.resolve(sub));
    }
    folders.addAll(extraFolders);
    var absent = new ArrayList<String>();
    for (Path dir : folders) {
      if (!Files.isDirectory(dir)) {
        absent.add(dir.toString());
        continue;
      }
      Result r = tryFolder(dir, log);
      if (r != null) return r;
    }
    log.flushEmpty("standard folders");
    if (!absent.isEmpty())
      log.lines.add("standard folders absent here: " + String.join(", ", absent));

    if (loaderLookup) {
      for (String name : names) {
        try {
          SymbolLookup lookup = SymbolLookup.libraryLookup(name, Arena.global());
          Result r = accept(lookup, name + " (resolved by the dynamic loader)", log);
          if (r != null) return r;
        } catch (IllegalArgumentException e) {
          log.lines.add("dynamic loader, by name " + name + ": " + e.getMessage());
        }
      }
    } else {
      log.lines.add("dynamic loader: not asked (disabled)");
    }
    return failure("not found.", log);
  }

  /** Lines for the reason; folders holding none of the names are listed together. */
  private static final class Log {
    final List<String> lines = new ArrayList<>();
    final List<String> empty = new ArrayList<>();

    void flushEmpty(String what) {
      if (empty.isEmpty()) return;
      String prefix = what.isEmpty() ? "" : what + " ";
      lines.add(prefix + "without any of the names: " + String.join(", ", empty));
      empty.clear();
    }
  }

  /** Tries each candidate name in {@code dir}; null if none is there and usable. */
  private Result tryFolder(Path dir, Log log) {
    boolean any = false;
    for (String name : names) {
      Path f = dir.resolve(name);
      if (Files.exists(f)) {
        any = true;
        Result r = tryFile(f, log);
        if (r != null) return r;
      }
    }
    if (!any) log.empty.add(dir.toString());
    return null;
  }

  private Result tryFile(Path file, Log log) {
    try {
      return accept(SymbolLookup.libraryLookup(file, Arena.global()), file.toString(), log);
    } catch (IllegalArgumentException e) {
      log.lines.add(file + ": cannot be loaded: " + e.getMessage());
      return null;
    }
  }

  private Result accept(SymbolLookup lookup, String location, Log log) {
    if (requiredSymbol != null && lookup.find(requiredSymbol).isEmpty()) {
      log.lines.add(location + ": loaded, but does not export " + requiredSymbol);
      return null;
    }
    return new Result(lookup, location, null);
  }

  private Result failure(String what, Log log) {
    var sb = new StringBuilder();
    sb.append(id).append(" library ").append(what).append(" Looked for ").append(names);
    if (requiredSymbol != null) sb.append(" exporting ").append(requiredSymbol);
    sb.append(':');
    for (String line : log.lines) sb.append("\n  - ").append(line);
    if (hint != null) sb.append("\n").append(hint);
    sb.append("\nSet -D")
        .append(propertyName())
        .append(" or ")
        .append(envName())
        .append(" to the library file (or its folder) to choose one.");
    return new Result(null, null, sb.toString());
  }

  private static String libraryPathVariable() {
    String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
    if (os.contains("mac")) return "DYLD_LIBRARY_PATH";
    if (os.contains("win")) return "PATH";
    return "LD_LIBRARY_PATH";
  }

  private static List<Path> standardFolders() {
    String arch = System.getProperty("os.arch", "");
    String multiarch =
        switch (arch) {
          case "amd64", "x86_64" -> "x86_64-linux-gnu";
          case "aarch64", "arm64" -> "aarch64-linux-gnu";
          case "ppc64le" -> "powerpc64le-linux-gnu";
          case "riscv64" -> "riscv64-linux-gnu";
          default -> null;
        };
    var dirs = new ArrayList<Path>();
    if (multiarch != null) {
      dirs.add(Path.of("/usr/lib", multiarch));
      dirs.add(Path.of("/lib", multiarch));
      dirs.add(Path.of("/usr/local/lib", multiarch));
    }
    for (String d : new String[] {"/usr/lib64", "/lib64", "/usr/lib", "/usr/local/lib64"}) {
      dirs.add(Path.of(d));
    }
    dirs.add(Path.of("/usr/local/lib"));
    dirs.add(Path.of("/opt/homebrew/lib")); // macOS (Apple silicon) Homebrew
    return List.copyOf(dirs);
  }

  /** Describes a library to look for; see {@link NativeLibrary} for the search order. */
  public static final class Builder {
    private final String id;
    private final List<String> names = new ArrayList<>();
    private final List<String> subfolders = new ArrayList<>();
    private final List<Path> extraFolders = new ArrayList<>();
    private String requiredSymbol;
    private String hint;
    private Function<String, String> env = System::getenv;
    private List<Path> standardFolders = STANDARD_FOLDERS;
    private boolean loaderLookup = true;

    private Builder(String id) {
      if (id == null || !id.matches("[a-z][a-z0-9_.-]*")) {
        throw new IllegalArgumentException("library id must be lower case [a-z0-9_.-]: " + id);
      }
      this.id = id;
    }

    /** Candidate file names, most preferred first (e.g. the soname, then the dev symlink). */
    public Builder names(String... names) {
      this.names.addAll(List.of(names));
      return this;
    }

    /** Subfolders tried under each standard folder (e.g. Debian's {@code openblas-pthread}). */
    public Builder subfolders(String... subfolders) {
      this.subfolders.addAll(List.of(subfolders));
      return this;
    }

    /** Absolute folders tried after the standard ones (e.g. {@code /usr/local/cuda/lib64}). */
    public Builder folders(String... folders) {
      for (String f : folders) extraFolders.add(Path.of(f));
      return this;
    }

    /** A symbol the library must export to count as found (skips unrelated same-name files). */
    public Builder requiredSymbol(String symbol) {
      this.requiredSymbol = symbol;
      return this;
    }

    /** A line appended to the reason, e.g. how to install the library. */
    public Builder hint(String hint) {
      this.hint = hint;
      return this;
    }

    /** Replaces the standard folders (tests, or platforms this class does not know). */
    public Builder standardFolders(List<Path> folders) {
      this.standardFolders = List.copyOf(folders);
      return this;
    }

    /** Where environment variables are read from (tests); defaults to {@link System#getenv}. */
    public Builder environment(Function<String, String> env) {
      this.env = env;
      return this;
    }

    /** Whether to ask the dynamic loader by bare name as a last resort (default true). */
    public Builder loaderLookup(boolean enabled) {
      this.loaderLookup = enabled;
      return this;
    }

    public NativeLibrary build() {
      if (names.isEmpty()) throw new IllegalStateException("no candidate names for " + id);
      return new NativeLibrary(this);
    }
  }
}
