package io.kinema.ffi;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_DOUBLE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.util.HashMap;
import java.util.Map;

/**
 * The C types a library's prototypes use, mapped to FFM layouts: the standard C types (sized as on
 * this platform: {@code long} and {@code size_t} come from the native linker) plus the library's
 * typedefs, declared by what they are ({@link #ints}: 32-bit integers and enums; {@link #pointers}:
 * opaque handles; {@link #struct}: a struct passed by value). Immutable; each method returns a
 * copy. {@link #descriptor(CFunction)} turns a parsed prototype into the {@link FunctionDescriptor}
 * of its downcall, so a binding is written as the header's prototype and cannot disagree with it.
 */
public final class CTypes {
  private final Map<String, MemoryLayout> types;

  private CTypes(Map<String, MemoryLayout> types) {
    this.types = Map.copyOf(types);
  }

  /** The standard C types: integers of every spelling, fixed-width types, floats, size_t. */
  public static CTypes standard() {
    Map<String, MemoryLayout> canonical = Linker.nativeLinker().canonicalLayouts();
    var m = new HashMap<String, MemoryLayout>();
    for (String sign : new String[] {"", "signed ", "unsigned "}) {
      m.put(sign + "char", JAVA_BYTE);
      m.put(sign + "short", JAVA_SHORT);
      m.put(sign + "short int", JAVA_SHORT);
      m.put(sign + "int", JAVA_INT);
      m.put(sign + "long", canonical.get("long"));
      m.put(sign + "long int", canonical.get("long"));
      m.put(sign + "long long", JAVA_LONG);
      m.put(sign + "long long int", JAVA_LONG);
    }
    m.put("signed", JAVA_INT);
    m.put("unsigned", JAVA_INT);
    for (int bits : new int[] {8, 16, 32, 64}) {
      MemoryLayout l =
          switch (bits) {
            case 8 -> JAVA_BYTE;
            case 16 -> JAVA_SHORT;
            case 32 -> JAVA_INT;
            default -> JAVA_LONG;
          };
      m.put("int" + bits + "_t", l);
      m.put("uint" + bits + "_t", l);
    }
    m.put("float", JAVA_FLOAT);
    m.put("double", JAVA_DOUBLE);
    m.put("size_t", canonical.get("size_t"));
    m.put("ssize_t", canonical.get("size_t"));
    m.put("intptr_t", canonical.get("size_t"));
    m.put("uintptr_t", canonical.get("size_t"));
    return new CTypes(m);
  }

  /** Adds 32-bit integer typedefs: status codes, enums, {@code typedef int CUdevice}. */
  public CTypes ints(String... names) {
    return with(JAVA_INT, names);
  }

  /** Adds 64-bit integer typedefs, e.g. {@code CUdeviceptr} ({@code unsigned long long}). */
  public CTypes longs(String... names) {
    return with(JAVA_LONG, names);
  }

  /** Adds pointer typedefs: opaque handles such as {@code CUstream}, {@code cublasHandle_t}. */
  public CTypes pointers(String... names) {
    return with(ADDRESS, names);
  }

  /** Adds a struct type that prototypes pass by value (e.g. NCCL's 128-byte unique id). */
  public CTypes struct(String name, MemoryLayout layout) {
    return with(layout, name);
  }

  private CTypes with(MemoryLayout layout, String... names) {
    var m = new HashMap<>(types);
    for (String n : names) {
      if (m.containsKey(n)) throw new IllegalArgumentException("C type declared twice: " + n);
      m.put(n, layout);
    }
    return new CTypes(m);
  }

  /**
   * The layout of a normalized type (see {@link CFunction}): {@code ADDRESS} for every pointer,
   * null for {@code void}. Throws {@link IllegalArgumentException} for an undeclared type.
   */
  public MemoryLayout layout(String type) {
    if (type.endsWith("*")) return ADDRESS;
    if (type.equals("void")) return null;
    MemoryLayout l = types.get(type);
    if (l == null) throw new IllegalArgumentException("unknown C type '" + type + "'");
    return l;
  }

  /** The downcall descriptor of {@code f}; the error names the function and the unknown type. */
  public FunctionDescriptor descriptor(CFunction f) {
    try {
      var args = new MemoryLayout[f.parameterTypes().size()];
      for (int i = 0; i < args.length; i++) {
        args[i] = layout(f.parameterTypes().get(i));
        if (args[i] == null) throw new IllegalArgumentException("void parameter");
      }
      MemoryLayout ret = layout(f.returnType());
      return ret == null ? FunctionDescriptor.ofVoid(args) : FunctionDescriptor.of(ret, args);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(f.name() + ": " + e.getMessage() + " in " + f, e);
    }
  }
}
