package io.kinema.ffi.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.kinema.ffi.CFunction;
import io.kinema.ffi.Downcall;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * Checks the bindings against NVIDIA's own headers where they are installed: every prototype
 * (symbol, return and parameter types) against the header's declaration, after the header's
 * renaming macros ({@code #define cuMemAlloc cuMemAlloc_v2}), and every Java enum constant against
 * the C enumerator of the same name. Headers are looked for in {@code -Dkinema.cuda.include} (a
 * path list), {@code $CUDA_HOME/include}, {@code /usr/local/cuda/include} and {@code /usr/include};
 * a library whose header is absent is skipped.
 */
class CudaHeadersTest {

  /** Functions and enumerators of a set of headers. */
  private record Header(Map<String, List<CFunction>> functions, Map<String, Long> enumerators) {}

  private static List<Path> includeDirs() {
    var dirs = new LinkedHashSet<Path>();
    String prop = System.getProperty("kinema.cuda.include");
    if (prop != null) {
      for (String d : prop.split(File.pathSeparator)) if (!d.isBlank()) dirs.add(Path.of(d));
    }
    for (String env : new String[] {"CUDA_HOME", "CUDA_PATH"}) {
      String v = System.getenv(env);
      if (v != null && !v.isBlank()) dirs.add(Path.of(v, "include"));
    }
    dirs.add(Path.of("/usr/local/cuda/include"));
    dirs.add(Path.of("/usr/include"));
    return List.copyOf(dirs);
  }

  /**
   * The first include folder holding {@code file}, read with its siblings matching {@code glob}.
   */
  private static Header header(String file, String siblings) throws IOException {
    for (Path dir : includeDirs()) {
      if (!Files.isRegularFile(dir.resolve(file))) continue;
      var files = new ArrayList<Path>();
      files.add(dir.resolve(file));
      if (siblings != null) {
        try (Stream<Path> s = Files.list(dir)) {
          s.filter(p -> p.getFileName().toString().matches(siblings))
              .filter(p -> !files.contains(p))
              .sorted()
              .forEach(files::add);
        }
      }
      return read(files);
    }
    assumeTrue(false, file + " not found in " + includeDirs());
    return null;
  }

  // ------------------------------------------------------------------------- prototypes

  @Test
  void driverPrototypesMatchCudaH() throws IOException {
    checkPrototypes(CudaDriver.class, header("cuda.h", null));
  }

  @Test
  void cublasPrototypesMatchCublasApiH() throws IOException {
    checkPrototypes(Cublas.class, header("cublas_api.h", null));
  }

  @Test
  void cublasLtPrototypesMatchCublasLtH() throws IOException {
    checkPrototypes(CublasLt.class, header("cublasLt.h", null));
  }

  @Test
  void cudnnPrototypesMatchCudnnHeaders() throws IOException {
    checkPrototypes(Cudnn.class, header("cudnn.h", "cudnn_.*\\.h"));
  }

  @Test
  void ncclPrototypesMatchNcclH() throws IOException {
    checkPrototypes(Nccl.class, header("nccl.h", null));
  }

  private static void checkPrototypes(Class<?> binding, Header h) {
    for (Downcall fn : Bindings.downcalls(binding).values()) {
      CFunction ours = fn.declaration().orElseThrow();
      List<CFunction> theirs = h.functions.getOrDefault(fn.symbol(), List.of());
      assertTrue(!theirs.isEmpty(), fn.symbol() + " is not declared in the header");
      for (CFunction c : theirs) assertEquals(c.toString(), ours.toString(), fn.symbol());
    }
  }

  // -------------------------------------------------------------------------- enumerators

  @Test
  void driverEnumsMatchCudaH() throws IOException {
    Header h = header("cuda.h", null);
    checkEnum(h, CudaDriver.DeviceAttribute.values(), e -> "CU_DEVICE_ATTRIBUTE_" + e.name());
    checkEnum(h, CudaDriver.FunctionAttribute.values(), e -> "CU_FUNC_ATTRIBUTE_" + e.name());
    checkValue(h, "CU_STREAM_DEFAULT", CudaDriver.STREAM_DEFAULT);
    checkValue(h, "CU_STREAM_NON_BLOCKING", CudaDriver.STREAM_NON_BLOCKING);
    checkValue(h, "CU_EVENT_DEFAULT", CudaDriver.EVENT_DEFAULT);
    checkValue(h, "CU_EVENT_BLOCKING_SYNC", CudaDriver.EVENT_BLOCKING_SYNC);
    checkValue(h, "CU_EVENT_DISABLE_TIMING", CudaDriver.EVENT_DISABLE_TIMING);
    checkValue(h, "CUDA_ERROR_OUT_OF_MEMORY", CudaDriverException.OUT_OF_MEMORY);
  }

  @Test
  void dataTypesMatchLibraryTypesH() throws IOException {
    checkEnum(header("library_types.h", null), CudaDataType.values(), e -> "CUDA_" + e.name());
  }

  @Test
  void cublasEnumsMatchCublasApiH() throws IOException {
    Header h = header("cublas_api.h", null);
    checkEnum(h, Cublas.ComputeType.values(), e -> "CUBLAS_" + e.name());
    checkValue(h, "CUBLAS_DEFAULT_MATH", Cublas.DEFAULT_MATH);
    checkValue(h, "CUBLAS_PEDANTIC_MATH", Cublas.PEDANTIC_MATH);
    checkValue(h, "CUBLAS_TF32_TENSOR_OP_MATH", Cublas.TF32_TENSOR_OP_MATH);
    checkValue(
        h,
        "CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION",
        Cublas.MATH_DISALLOW_REDUCED_PRECISION_REDUCTION);
    checkValue(h, "CUBLAS_GEMM_DEFAULT", Cublas.GEMM_DEFAULT);
    checkValue(h, "CUBLAS_OP_N", Cublas.op(false));
    checkValue(h, "CUBLAS_OP_T", Cublas.op(true));
  }

  @Test
  void cublasLtEnumsMatchCublasLtH() throws IOException {
    Header h = header("cublasLt.h", null);
    checkEnum(h, CublasLt.MatmulDescAttribute.values(), e -> "CUBLASLT_MATMUL_DESC_" + e.name());
    checkEnum(
        h, CublasLt.MatrixLayoutAttribute.values(), e -> "CUBLASLT_MATRIX_LAYOUT_" + e.name());
    checkEnum(h, CublasLt.PreferenceAttribute.values(), e -> "CUBLASLT_MATMUL_PREF_" + e.name());
    checkEnum(h, CublasLt.Epilogue.values(), e -> "CUBLASLT_EPILOGUE_" + e.name());
    checkEnum(h, CublasLt.Order.values(), e -> "CUBLASLT_ORDER_" + e.name());
  }

  @Test
  void cudnnEnumsMatchCudnnHeaders() throws IOException {
    Header h = header("cudnn.h", "cudnn_.*\\.h");
    checkEnum(h, Cudnn.DataType.values(), e -> "CUDNN_DATA_" + e.name());
    checkEnum(h, Cudnn.TensorFormat.values(), e -> "CUDNN_TENSOR_" + e.name());
    checkEnum(h, Cudnn.ConvolutionMode.values(), e -> "CUDNN_" + e.name());
    checkEnum(h, Cudnn.MathType.values(), e -> "CUDNN_" + e.name());
  }

  @Test
  void ncclEnumsMatchNcclH() throws IOException {
    Header h = header("nccl.h", null);
    Function<Enum<?>, String> camel =
        e -> "nccl" + e.name().charAt(0) + e.name().substring(1).toLowerCase(Locale.ROOT);
    checkEnum(h, Nccl.DataType.values(), camel);
    checkEnum(h, Nccl.RedOp.values(), camel);
    for (int status = 0; status <= 8; status++) {
      checkValue(h, Nccl.resultName(status), status);
    }
  }

  /** Each constant's {@code code()} equals the C enumerator {@code cName} gives. */
  private static <E extends Enum<E>> void checkEnum(
      Header h, E[] values, Function<? super E, String> cName) {
    for (E e : values) {
      long code;
      try {
        code = ((Number) e.getClass().getMethod("code").invoke(e)).longValue();
      } catch (ReflectiveOperationException x) {
        throw new AssertionError(x);
      }
      checkValue(h, cName.apply(e), code);
    }
  }

  private static void checkValue(Header h, String cName, long value) {
    Long theirs = h.enumerators.get(cName);
    assertTrue(theirs != null, cName + " is not an enumerator of the header");
    assertEquals(theirs.longValue(), value, cName);
  }

  // ---------------------------------------------------------------- a small C header reader

  private static final Pattern DEFINE =
      Pattern.compile(
          "#\\s*define\\s+(\\w+)\\s+(?:__CUDA_API_PT[SD][ZS]\\(\\s*(\\w+)\\s*\\)|(\\w+))\\s*$");
  private static final Pattern UNDEF = Pattern.compile("#\\s*undef\\s+(\\w+)\\s*$");
  private static final Pattern DECLARATION = Pattern.compile("[\\w\\s*]+?\\b\\w+\\s*\\([^()]*\\)");
  private static final Pattern MACRO_WORD = Pattern.compile("\\b[A-Z_][A-Z0-9_]*\\b");
  private static final Pattern TOKEN =
      Pattern.compile("0[xX][0-9a-fA-F]+[uUlL]*|\\d+[uUlL]*|\\w+|<<|[()|+-]");
  private static final Pattern ENUM_BODY = Pattern.compile("\\benum\\s*\\w*\\s*\\{([^{}]*)\\}");

  /**
   * Reads declarations and enumerators. Preprocessor conditions are ignored (both branches are
   * read), but renaming macros are applied in order, with {@code #undef}, as cuda.h relies on.
   */
  private static Header read(List<Path> files) throws IOException {
    var functions = new HashMap<String, List<CFunction>>();
    var enumerators = new HashMap<String, Long>();
    var macros = new HashMap<String, String>();
    for (Path file : files) {
      String text = stripComments(Files.readString(file));
      var statement = new StringBuilder();
      boolean continued = false;
      for (String line : text.split("\n")) {
        String t = line.strip();
        if (continued || t.startsWith("#")) {
          continued = t.endsWith("\\");
          Matcher d = DEFINE.matcher(t), u = UNDEF.matcher(t);
          if (d.matches()) macros.put(d.group(1), d.group(2) != null ? d.group(2) : d.group(3));
          else if (u.matches()) macros.remove(u.group(1));
          continue;
        }
        for (char ch : line.toCharArray()) {
          if (ch == ';' || ch == '{' || ch == '}') {
            declaration(statement.toString(), macros, functions);
            statement.setLength(0);
          } else statement.append(ch);
        }
        statement.append(' ');
      }
      enums(text, enumerators);
    }
    return new Header(functions, enumerators);
  }

  private static void declaration(
      String statement, Map<String, String> macros, Map<String, List<CFunction>> out) {
    String s = MACRO_WORD.matcher(statement).replaceAll(" ").strip();
    if (s.startsWith("typedef") || s.startsWith("static") || s.contains("\"")) return;
    if (!DECLARATION.matcher(s).matches()) return;
    CFunction f;
    try {
      f = CFunction.parse(s);
    } catch (IllegalArgumentException e) {
      return; // not a function declaration after all
    }
    String name = macros.getOrDefault(f.name(), f.name());
    out.computeIfAbsent(name, k -> new ArrayList<>())
        .add(new CFunction(name, f.returnType(), f.parameterTypes()));
  }

  private static void enums(String text, Map<String, Long> out) {
    Matcher m = ENUM_BODY.matcher(text.replaceAll("(?m)^\\s*#.*$", ""));
    while (m.find()) {
      long next = 0;
      for (String entry : m.group(1).split(",")) {
        String e = entry.strip();
        if (e.isEmpty()) continue;
        Matcher name = Pattern.compile("^(\\w+)").matcher(e);
        if (!name.find()) continue;
        int eq = e.indexOf('=');
        Long value = eq < 0 ? Long.valueOf(next) : evaluate(e.substring(eq + 1), out);
        if (value == null) continue; // an expression this reader does not evaluate
        out.putIfAbsent(name.group(1), value);
        next = value + 1;
      }
    }
  }

  /** Evaluates an enumerator's value: numbers, earlier enumerators, | << + - and parentheses. */
  private static Long evaluate(String expr, Map<String, Long> known) {
    var list = new ArrayList<String>();
    Matcher tm = TOKEN.matcher(expr);
    while (tm.find()) list.add(tm.group());
    if (!tm.replaceAll("").isBlank()) return null; // characters this reader does not know
    String[] tokens = list.toArray(String[]::new);
    try {
      var p =
          new Object() {
            int at = 0;

            long or() {
              long v = shift();
              while (at < tokens.length && tokens[at].equals("|")) {
                at++;
                v |= shift();
              }
              return v;
            }

            long shift() {
              long v = sum();
              while (at < tokens.length && tokens[at].equals("<<")) {
                at++;
                v <<= sum();
              }
              return v;
            }

            long sum() {
              long v = atom();
              while (at < tokens.length && (tokens[at].equals("+") || tokens[at].equals("-"))) {
                boolean plus = tokens[at++].equals("+");
                v = plus ? v + atom() : v - atom();
              }
              return v;
            }

            long atom() {
              String t = tokens[at++].strip();
              if (t.equals("(")) {
                long v = or();
                at++; // ")"
                return v;
              }
              if (t.equals("-")) return -atom();
              if (t.matches("0[xX][0-9a-fA-F]+[uUlL]*")) {
                return Long.parseLong(t.replaceAll("[uUlL]", "").substring(2), 16);
              }
              if (t.matches("\\d+[uUlL]*")) return Long.parseLong(t.replaceAll("[uUlL]", ""));
              Long v = known.get(t);
              if (v == null) throw new IllegalArgumentException(t);
              return v;
            }
          };
      long v = p.or();
      return p.at == tokens.length ? v : null;
    } catch (RuntimeException e) {
      return null;
    }
  }

  private static String stripComments(String text) {
    var out = new StringBuilder(text.length());
    int i = 0;
    while (i < text.length()) {
      if (text.startsWith("/*", i)) {
        int end = text.indexOf("*/", i + 2);
        end = end < 0 ? text.length() : end + 2;
        for (int j = i; j < end; j++) if (text.charAt(j) == '\n') out.append('\n');
        i = end;
      } else if (text.startsWith("//", i)) {
        while (i < text.length() && text.charAt(i) != '\n') i++;
      } else out.append(text.charAt(i++));
    }
    return out.toString();
  }
}
