package io.kinema.tensor.cuda;

import io.kinema.tensor.cuda.KernelCatalog.Kernel;
import io.kinema.tensor.cuda.KernelCatalog.Param;
import io.kinema.tensor.cuda.KernelCatalog.ParamType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The {@code void *kernelParams[]} array of a launch, checked against the kernel's entry in {@link
 * KernelCatalog}: one argument per catalogued parameter, in order, of the Java type that parameter
 * takes — {@code Long} for {@code PTR} (a device address, 0 for null), {@code I64} and {@code U64};
 * {@code Integer} for {@code I32}; {@code Float} for {@code F32}; {@code Double} for {@code F64};
 * the encoded bytes ({@link KernelStructs}) for the structs. A mismatch throws before anything
 * reaches the driver, naming the kernel and the parameter — the driver itself would read garbage.
 */
final class KernelArgs {
  private KernelArgs() {}

  /** The parameter array for {@code kernel} with {@code args}, allocated in {@code arena}. */
  static MemorySegment encode(Kernel kernel, Arena arena, Object... args) {
    var params = kernel.params();
    if (args.length != params.size()) {
      throw new IllegalArgumentException(
          kernel.name()
              + " takes "
              + params.size()
              + " arguments "
              + names(kernel)
              + ", got "
              + args.length);
    }
    MemorySegment array = arena.allocate(ValueLayout.ADDRESS, Math.max(1, args.length));
    for (int i = 0; i < args.length; i++) {
      Param p = params.get(i);
      MemorySegment slot = arena.allocate(p.type().bytes(), 8);
      write(kernel, i, p, args[i], slot);
      array.setAtIndex(ValueLayout.ADDRESS, i, slot);
    }
    return array;
  }

  private static void write(Kernel kernel, int i, Param p, Object arg, MemorySegment slot) {
    ParamType t = p.type();
    switch (t) {
      case PTR, I64, U64 -> slot.set(ValueLayout.JAVA_LONG, 0, as(Long.class, kernel, i, p, arg));
      case I32 -> slot.set(ValueLayout.JAVA_INT, 0, as(Integer.class, kernel, i, p, arg));
      case F32 -> slot.set(ValueLayout.JAVA_FLOAT, 0, as(Float.class, kernel, i, p, arg));
      case F64 -> slot.set(ValueLayout.JAVA_DOUBLE, 0, as(Double.class, kernel, i, p, arg));
      case SHAPE, STRIDES, ATTENTION_ARGS -> {
        byte[] bytes = as(byte[].class, kernel, i, p, arg);
        if (bytes.length != t.bytes()) {
          throw mismatch(kernel, i, p, bytes.length + " bytes instead of " + t.bytes());
        }
        MemorySegment.copy(bytes, 0, slot, ValueLayout.JAVA_BYTE, 0, bytes.length);
      }
    }
  }

  private static <T> T as(Class<T> type, Kernel kernel, int i, Param p, Object arg) {
    if (!type.isInstance(arg)) {
      String got = arg == null ? "null" : arg.getClass().getSimpleName() + " " + arg;
      throw mismatch(kernel, i, p, "a " + got + " where a " + type.getSimpleName() + " belongs");
    }
    return type.cast(arg);
  }

  private static IllegalArgumentException mismatch(Kernel kernel, int i, Param p, String what) {
    return new IllegalArgumentException(
        kernel.name() + " argument " + i + " (" + p.name() + ", " + p.type() + "): " + what);
  }

  private static String names(Kernel kernel) {
    return kernel.params().stream().map(Param::name).toList().toString();
  }
}
