package io.kinema.ffi.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kinema.ffi.Downcall;
import java.io.IOException;
import java.io.InputStream;
import java.lang.classfile.ClassFile;
import java.lang.classfile.ClassModel;
import java.lang.classfile.CodeElement;
import java.lang.classfile.MethodModel;
import java.lang.classfile.Opcode;
import java.lang.classfile.instruction.FieldInstruction;
import java.lang.classfile.instruction.InvokeInstruction;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * {@code MethodHandle.invokeExact} fails at run time, with WrongMethodTypeException, when a call
 * site's types differ from the handle's by so much as int for long; without a GPU no binding method
 * ever runs, so that would go unnoticed until the first GPU run. This test reads the bindings'
 * bytecode instead: each {@code invokeExact} site is paired with the {@link Downcall} field read
 * before it (in the same method, or in the callers of a helper that takes the downcall as an
 * argument), and the site's method type must equal the downcall's {@code
 * descriptor().toMethodType()}. Every downcall must be called somewhere.
 */
class CallSiteTypesTest {
  private static final String DOWNCALL = Downcall.class.descriptorString();

  /** An invokeExact site: the method it is in, the downcall field read before it (or null). */
  private record Site(String method, String field, String type) {}

  /** A call to a same-class static method, and the downcall field read before it. */
  private record HelperCall(String helper, String field) {}

  @Test
  void everyInvokeExactMatchesItsDowncallsType() throws IOException {
    int pairs = 0;
    for (Class<?> binding : Bindings.CLASSES.keySet()) {
      Map<String, Downcall> downcalls = Bindings.downcalls(binding);
      ClassModel model = parse(binding);
      String owner = model.thisClass().asInternalName();
      var sites = new ArrayList<Site>();
      var calls = new ArrayList<HelperCall>();
      for (MethodModel m : model.methods()) scan(owner, m, sites, calls);

      Set<String> used = new HashSet<>();
      Map<String, List<String>> helperFields = new HashMap<>();
      for (HelperCall c : calls) {
        if (c.field != null)
          helperFields.computeIfAbsent(c.helper, k -> new ArrayList<>()).add(c.field);
      }
      for (Site s : sites) {
        List<String> fields =
            s.field != null ? List.of(s.field) : helperFields.getOrDefault(s.method, List.of());
        assertTrue(
            !fields.isEmpty(),
            binding.getSimpleName() + "." + s.method + ": invokeExact without a known downcall");
        for (String f : fields) {
          Downcall fn = downcalls.get(f);
          String expected = fn.descriptor().toMethodType().toMethodDescriptorString();
          assertEquals(
              expected,
              s.type,
              binding.getSimpleName() + "." + s.method + " calls " + fn.symbol() + " (" + f + ")");
          used.add(f);
          pairs++;
        }
      }
      var unused = new HashSet<>(downcalls.keySet());
      unused.removeAll(used);
      assertTrue(unused.isEmpty(), binding.getSimpleName() + " never calls " + unused);
    }
    assertTrue(pairs >= 100, "only " + pairs + " call sites checked");
  }

  private static ClassModel parse(Class<?> c) throws IOException {
    try (InputStream in = c.getResourceAsStream(c.getSimpleName() + ".class")) {
      return ClassFile.of().parse(in.readAllBytes());
    }
  }

  /** Records the method's invokeExact sites and its calls of same-class static methods. */
  private static void scan(String owner, MethodModel m, List<Site> sites, List<HelperCall> calls) {
    String name = m.methodName().stringValue() + m.methodType().stringValue();
    m.code()
        .ifPresent(
            code -> {
              String last = null;
              for (CodeElement e : code) {
                if (e instanceof FieldInstruction f
                    && f.opcode() == Opcode.GETSTATIC
                    && f.owner().asInternalName().equals(owner)
                    && f.typeSymbol().descriptorString().equals(DOWNCALL)) {
                  last = f.name().stringValue();
                } else if (e instanceof InvokeInstruction i) {
                  String target = i.owner().asInternalName();
                  if (target.equals("java/lang/invoke/MethodHandle")
                      && i.name().equalsString("invokeExact")) {
                    sites.add(new Site(name, last, i.typeSymbol().descriptorString()));
                    last = null;
                  } else if (target.equals(owner) && i.opcode() == Opcode.INVOKESTATIC) {
                    calls.add(
                        new HelperCall(i.name().stringValue() + i.type().stringValue(), last));
                  }
                }
              }
            });
  }
}
