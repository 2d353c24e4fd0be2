package io.kinema.ffi;

import java.io.File;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;
import java.util.function.Function;

/**
 * An optional native library, found and loaded once, lazily, on first use. A library that cannot be
 * found is not an error until something calls into it: {@link #isAvailable()} is false, {@link
 * #unavailableReason()} lists which file names were looked for where and {@link #shortReason()}
 * says the same in one line.
 *
 * <p>Search order, first hit wins (for a library with id {@code openblas}):
 *
 * <ol>
 *   <li>the explicit setting: system property {@code kinema.openblas.path}, else environment
 *       variable {@code KINEMA_OPENBLAS_PATH}; a file, or a folder holding one of the candidate
 *       names. When set, nothing else is tried, so a wrong setting is reported instead of being
 *       papered over by some other copy.
 *   <li>the folders of {@code LD_LIBRARY_PATH} ({@code DYLD_LIBRARY_PATH} on macOS).
 *   <li>if the library names {@linkplain Builder#sitePackages folders inside Python packages}
 *       (NVIDIA's wheels keep theirs in {@code site-packages/nvidia/<package>/lib}): those folders
 *       in every Python site-packages folder found, in the order of {@link #SITE_PACKAGES}: {@code
 *       $VIRTUAL_ENV}, {@code $CONDA_PREFIX}, the user's {@code ~/.local}, pyenv's versions, {@code
 *       /usr/local/lib/python3.*}, then the distribution's own.
 *   <li>the library's {@linkplain Builder#toolkitFolders toolkit folders} (e.g. {@code
 *       /usr/local/cuda/lib64}, then {@code /usr/local/cuda-*}{@code /lib64} newest version first).
 *   <li>the standard folders ({@code /usr/lib/<multiarch>}, {@code /lib/<multiarch>}, {@code
 *       /usr/lib64}, {@code /usr/lib}, {@code /usr/local/lib}, ...), each also with the library's
 *       own subfolders (Debian keeps OpenBLAS in {@code
 *       /usr/lib/x86_64-linux-gnu/openblas-pthread/}), then the library's extra folders (e.g.
 *       {@code /opt/OpenBLAS/lib}).
 *   <li>the dynamic loader's own lookup by file name ({@code dlopen("libopenblas.so.0")}: {@code
 *       ld.so.cache}, {@code RUNPATH}, ...).
 * </ol>
 *
 * Folder patterns (site-packages, toolkit folders) may use {@code *} for any one folder name, and
 * matches are tried newest version first ({@code cuda-12.10} before {@code cuda-12.9}); a leading
 * {@code $NAME} is an environment variable, and the pattern is skipped when it is unset. A folder
 * reached twice (through a symbolic link) is searched once. Within a folder the candidate names are
 * tried in the order given.
 *
 * <p>A candidate that loads but lacks the {@linkplain Builder#requiredSymbol required symbol} is
 * skipped (and named in the reason). The library is loaded into the global arena and never
 * unloaded.
 */
public final class NativeLibrary {
  /** Folders every library is looked for in, after the explicit setting and LD_LIBRARY_PATH. */
  public static final List<Path> STANDARD_FOLDERS = standardFolders();

  /**
   * Where Python keeps installed packages, as folder patterns (see the class comment), in search
   * order: the active virtual or conda environment first, the system's last.
   */
  public static final List<String> SITE_PACKAGES =
      List.of(
          "$VIRTUAL_ENV/lib/python3*/site-packages",
          "$CONDA_PREFIX/lib/python3*/site-packages",
          "$HOME/.local/lib/python3*/site-packages",
          "$PYENV_ROOT/versions/*/lib/python3*/site-packages",
          "$HOME/.pyenv/versions/*/lib/python3*/site-packages",
          "/usr/local/lib/python3*/dist-packages",
          "/usr/local/lib/python3*/site-packages",
          "/usr/lib/python3/dist-packages",
          "/usr/lib/python3*/site-packages",
          "/usr/lib64/python3*/site-packages");

  private final String id;
  private final List<String> names;
  private final List<String> subfolders;
  private final List<Path> extraFolders;
  private final List<String> sitePackages;
  private final List<String> toolkitFolders;
  private final String requiredSymbol;
  private final String hint;
  private final Function<String, String> env;
  private final List<Path> standardFolders;
  private final boolean loaderLookup;

  private volatile Result result;

  /**
   * What the search found: a lookup and where it came from, or why there is none (in full, and in
   * one line).
   */
  private record Result(SymbolLookup lookup, String location, String reason, String shortReason) {}

  private NativeLibrary(Builder b) {
    this.id = b.id;
    this.names = List.copyOf(b.names);
    this.subfolders = List.copyOf(b.subfolders);
    this.extraFolders = List.copyOf(b.extraFolders);
    this.sitePackages = List.copyOf(b.sitePackages);
    this.toolkitFolders = List.copyOf(b.toolkitFolders);
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

  /**
   * Why the library is unavailable in one line, for skip messages and logs: {@code "libcuda.so.1
   * not found in [/usr/lib/x86_64-linux-gnu, ...] nor by the dynamic loader"}, or the first
   * candidate that was found but could not be used, or the explicit setting that points nowhere.
   * Null when the library is available.
   */
  public String shortReason() {
    return load().shortReason;
  }

  /** The candidate file names, most preferred first. */
  public List<String> names() {
    return names;
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
    return new Downcall(this, symbol, descriptor, null, options);
  }

  /**
   * A downcall written as the header's C prototype, e.g. {@code "CUresult cuMemFree_v2(CUdeviceptr
   * dptr)"}: the symbol is the function's name and the descriptor follows from {@code types}.
   * Parsing happens here, so a malformed prototype or an undeclared type fails when the binding
   * class initializes, on any machine, library or not.
   */
  public Downcall downcall(CTypes types, String prototype, Linker.Option... options) {
    CFunction f = CFunction.parse(prototype);
    return new Downcall(this, f.name(), types.descriptor(f), f, options);
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
      else log.problem(p + ": no such file or folder");
      if (r != null) return r;
      log.flushEmpty("");
      String setting = source + "=" + explicit;
      return failure(
          "not loaded: " + setting + " is set, so nothing else was searched.",
          setting
              + ": "
              + (log.problems.isEmpty() ? "none of " + names + " there" : log.problems.get(0)),
          log);
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

    if (!sitePackages.isEmpty()) {
      var patterns = new ArrayList<String>();
      for (String site : SITE_PACKAGES) {
        for (String sub : sitePackages) patterns.add(site + "/" + sub);
      }
      List<Path> dirs = FolderPatterns.expand(patterns, env);
      if (dirs.isEmpty()) {
        List<Path> sites = FolderPatterns.expand(SITE_PACKAGES, env);
        log.lines.add(
            "Python site-packages: no "
                + String.join(" or ", sitePackages)
                + (sites.isEmpty() ? " (no site-packages folder found)" : " in " + sites));
      }
      for (Path dir : dirs) {
        Result r = tryFolder(dir, log);
        if (r != null) return r;
      }
      log.flushEmpty("Python package folders");
    }

    if (!toolkitFolders.isEmpty()) {
      List<Path> dirs = FolderPatterns.expand(toolkitFolders, env);
      if (dirs.isEmpty()) log.lines.add("toolkit folders: none of " + toolkitFolders + " exists");
      for (Path dir : dirs) {
        Result r = tryFolder(dir, log);
        if (r != null) return r;
      }
      log.flushEmpty("toolkit folders");
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

    String loader;
    if (loaderLookup) {
      loader = " nor by the dynamic loader";
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
      loader = "";
      log.lines.add("dynamic loader: not asked (disabled)");
    }
    String summary =
        log.problems.isEmpty()
            ? String.join("/", names) + " not found in " + log.searched + loader
            : log.problems.get(0);
    return failure("not found.", summary, log);
  }

  /**
   * What the search saw: lines for the reason, the folders searched (each once, by real path), the
   * candidates that were there but unusable, and folders holding none of the names (listed
   * together).
   */
  private static final class Log {
    final List<String> lines = new ArrayList<>();
    final List<String> empty = new ArrayList<>();
    final List<String> problems = new ArrayList<>();
    final List<String> searched = new ArrayList<>();
    final Set<Path> seen = new HashSet<>();

    void problem(String line) {
      lines.add(line);
      problems.add(line);
    }

    /** Whether {@code dir} is new (true) or was searched already under another name. */
    boolean firstVisit(Path dir) {
      Path real;
      try {
        real = dir.toRealPath();
      } catch (IOException e) {
        real = dir.toAbsolutePath().normalize();
      }
      return seen.add(real);
    }

    void flushEmpty(String what) {
      if (empty.isEmpty()) return;
      String prefix = what.isEmpty() ? "" : what + " ";
      lines.add(prefix + "without any of the names: " + String.join(", ", empty));
      empty.clear();
    }
  }

  /** Tries each candidate name in {@code dir}; null if none is there and usable. */
  private Result tryFolder(Path dir, Log log) {
    if (!log.firstVisit(dir)) return null;
    if (Files.isDirectory(dir)) log.searched.add(dir.toString());
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
      log.problem(file + ": cannot be loaded: " + e.getMessage());
      return null;
    }
  }

  private Result accept(SymbolLookup lookup, String location, Log log) {
    if (requiredSymbol != null && lookup.find(requiredSymbol).isEmpty()) {
      log.problem(location + ": loaded, but does not export " + requiredSymbol);
      return null;
    }
    return new Result(lookup, location, null, null);
  }

  private Result failure(String what, String summary, Log log) {
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
    return new Result(null, null, sb.toString(), summary.replace('\n', ' '));
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
    private final List<String> sitePackages = new ArrayList<>();
    private final List<String> toolkitFolders = new ArrayList<>();
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

    /**
     * Folders inside each Python site-packages folder to search, after LD_LIBRARY_PATH (e.g. {@code
     * "nvidia/*}{@code /lib"}, where NVIDIA's wheels keep their libraries). Patterns as in the
     * class comment.
     */
    public Builder sitePackages(String... relativeFolders) {
      for (String f : relativeFolders) {
        if (f.startsWith("/") || f.startsWith("$")) {
          throw new IllegalArgumentException("site-packages folder must be relative: " + f);
        }
        sitePackages.add(f);
      }
      return this;
    }

    /**
     * Folder patterns searched after the Python packages and before the standard folders (e.g.
     * {@code "$CUDA_HOME/lib64"}, {@code "/usr/local/cuda/lib64"}, {@code "/usr/local/cuda-*}{@code
     * /lib64"}). Patterns as in the class comment.
     */
    public Builder toolkitFolders(String... patterns) {
      toolkitFolders.addAll(List.of(patterns));
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
