package io.kinema.ffi;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A C function prototype as written in a header, e.g. {@code "CUresult cuMemAlloc_v2(CUdeviceptr
 * *dptr, size_t bytesize)"}, reduced to its name and its types. Types are normalized: qualifiers
 * ({@code const}, {@code volatile}, {@code struct}, {@code enum}) are dropped, an array parameter
 * is a pointer, and pointers are written {@code "char **"}. Parameter names are optional and
 * ignored; {@code (void)} is no parameters. {@link CTypes} turns the types into an FFM {@link
 * java.lang.foreign.FunctionDescriptor}.
 *
 * @param name the function's (linker) name
 * @param returnType the normalized return type, {@code "void"} for none
 * @param parameterTypes the normalized parameter types
 */
public record CFunction(String name, String returnType, List<String> parameterTypes) {
  private static final Pattern TOKEN =
      Pattern.compile("\\s*([A-Za-z_][A-Za-z0-9_]*|\\*|\\[[^]]*]|\\S)");
  private static final Set<String> DROPPED = Set.of("const", "volatile", "struct", "enum");
  private static final Set<String> TYPE_WORDS =
      Set.of("void", "char", "short", "int", "long", "signed", "unsigned", "float", "double");

  public CFunction {
    parameterTypes = List.copyOf(parameterTypes);
  }

  /**
   * Parses {@code prototype}; throws {@link IllegalArgumentException} naming the prototype when it
   * is not one (a trailing {@code ;} is allowed).
   */
  public static CFunction parse(String prototype) {
    List<String> tokens = tokens(prototype);
    int open = tokens.indexOf("(");
    if (open < 2 || !tokens.getLast().equals(")") || !isIdentifier(tokens.get(open - 1))) {
      throw new IllegalArgumentException("not a C prototype 'type name(params)': " + prototype);
    }
    String name = tokens.get(open - 1);
    String returnType = type(tokens.subList(0, open - 1), prototype);
    var params = new ArrayList<String>();
    List<String> inner = tokens.subList(open + 1, tokens.size() - 1);
    if (!(inner.isEmpty() || inner.equals(List.of("void")))) {
      int start = 0;
      for (int i = 0; i <= inner.size(); i++) {
        if (i == inner.size() || inner.get(i).equals(",")) {
          params.add(parameter(inner.subList(start, i), prototype));
          start = i + 1;
        }
      }
    }
    return new CFunction(name, returnType, params);
  }

  /** The prototype in normalized form, e.g. {@code "CUresult cuMemFree_v2(CUdeviceptr)"}. */
  @Override
  public String toString() {
    return returnType + " " + name + "(" + String.join(", ", parameterTypes) + ")";
  }

  private static List<String> tokens(String s) {
    String text = s.strip();
    if (text.endsWith(";")) text = text.substring(0, text.length() - 1);
    var out = new ArrayList<String>();
    Matcher m = TOKEN.matcher(text);
    int at = 0;
    while (at < text.length() && m.find(at) && m.start() == at) {
      out.add(m.group(1));
      at = m.end();
    }
    if (!text.substring(at).isBlank()) {
      throw new IllegalArgumentException("cannot read '" + text.substring(at) + "' in " + s);
    }
    return out;
  }

  /** One parameter: a type, maybe a name, maybe {@code []}. */
  private static String parameter(List<String> tokens, String prototype) {
    var t = new ArrayList<>(tokens);
    boolean array = false;
    while (!t.isEmpty() && t.getLast().startsWith("[")) {
      t.removeLast();
      array = true;
    }
    // A trailing identifier is the parameter's name unless it is part of the type itself:
    // "unsigned int" has no name, "CUdeviceptr dptr" and "int *count" do.
    if (t.size() >= 2) {
      String last = t.getLast();
      List<String> rest = t.subList(0, t.size() - 1);
      boolean restHasType = rest.stream().anyMatch(w -> isIdentifier(w) && !DROPPED.contains(w));
      if (isIdentifier(last) && !TYPE_WORDS.contains(last) && restHasType) t.removeLast();
    }
    if (array) t.add("*");
    return type(t, prototype);
  }

  /** Normalizes type tokens: drops qualifiers, joins words, appends the stars. */
  private static String type(List<String> tokens, String prototype) {
    var words = new ArrayList<String>();
    int stars = 0;
    for (String tok : tokens) {
      if (tok.equals("*")) stars++;
      else if (DROPPED.contains(tok)) continue;
      else if (!isIdentifier(tok)) {
        throw new IllegalArgumentException("unexpected '" + tok + "' in " + prototype);
      } else if (stars > 0) {
        throw new IllegalArgumentException("type word after '*' in " + prototype);
      } else words.add(tok);
    }
    if (words.isEmpty()) {
      throw new IllegalArgumentException("missing type in " + tokens + " of " + prototype);
    }
    String base = String.join(" ", words);
    return stars == 0 ? base : base + " " + "*".repeat(stars);
  }

  private static boolean isIdentifier(String tok) {
    return !tok.isEmpty() && (Character.isLetter(tok.charAt(0)) || tok.charAt(0) == '_');
  }
}
