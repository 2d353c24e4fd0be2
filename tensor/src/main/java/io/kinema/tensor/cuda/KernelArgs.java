package io.kinema.tensor.cuda;

import io.kinema.tensor.cuda.KernelCatalog.Kernel;
import io.kinema.tensor.cuda.KernelCatalog.Param;
import io.kinema.tensor.cuda.KernelCatalog.ParamType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;

/**
 * The {@code void *kernelParams[]} array of a launch, checked against the kernel's entry in {@link
 * KernelCatalog}: one argument per catalogued parameter, in order, of the Java type that parameter
 * takes — {@code Long} for {@code PTR} (a device address, 0 for null), {@code I64} and {@code U64};
 * {@code Integer} for {@code I32}; {@code Float} for {@code F32}; {@code Double} for {@code F64};
 * the encoded bytes ({@link KernelStructs}) for the structs. A mismatch throws before anything
 * reaches the driver, naming the kernel and the parameter — the driver itself would read garbage.
 *
 * <p>An instance is one native block: the pointer array, then each parameter's value in its own
 * 8-byte aligned slot. {@link CudaKernels} keeps one block per device ({@link #forEveryKernel}) and
 * rewrites it for every launch, under a lock: no arena, no native allocation per launch. That is
 * safe because {@code cuLaunchKernel} reads the parameters during the call: the CUDA Driver API
 * reference (cuLaunchKernel, "Execution Control") says each {@code kernelParams[i]} "must point to
 * a region of memory from which the actual kernel parameter will be copied" — the copy is made when
 * the launch is enqueued, not when the kernel runs, so the next launch may overwrite the block at
 * once even though the kernel has not started.
 */
final class KernelArgs {
  /** The most parameters of any catalogued kernel. */
  static final int MAX_PARAMS =
      KernelCatalog.kernels().stream().mapToInt(k -> k.params().size()).max().orElse(0);

  /** The most value bytes of any catalogued kernel, slots 8-byte aligned. */
  static final long MAX_VALUE_BYTES =
      KernelCatalog.kernels().stream().mapToLong(k -> valueBytes(k.params())).max().orElse(0);

  private final MemorySegment pointers;
  private final MemorySegment values;

  private KernelArgs(Arena arena, int params, long valueBytes) {
    this.pointers = arena.allocate(ValueLayout.ADDRESS, Math.max(1, params));
    this.values = arena.allocate(Math.max(8, valueBytes), 8);
  }

  /** A block in {@code arena} large enough for every catalogued kernel. */
  static KernelArgs forEveryKernel(Arena arena) {
    return new KernelArgs(arena, MAX_PARAMS, MAX_VALUE_BYTES);
  }

  /**
   * The parameter array for {@code kernel} with {@code args} in a block of its own, allocated in
   * {@code arena} (for tests and one-off launches).
   */
  static MemorySegment encode(Kernel kernel, Arena arena, Object... args) {
    var params = kernel.params();
    return new KernelArgs(arena, params.size(), valueBytes(params)).encode(kernel, args);
  }

  /**
   * Writes {@code args} for {@code kernel} into this block and returns its pointer array. The block
   * holds them until the next {@code encode}: hand it to {@code cuLaunchKernel} before then.
   */
  MemorySegment encode(Kernel kernel, Object... args) {
    List<Param> params = kernel.params();
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
    long offset = 0;
    for (int i = 0; i < args.length; i++) {
      Param p = params.get(i);
      write(kernel, i, p, args[i], offset);
      pointers.setAtIndex(ValueLayout.JAVA_LONG, i, values.address() + offset);
      offset += slotBytes(p.type());
    }
    return pointers;
  }

  private void write(Kernel kernel, int i, Param p, Object arg, long offset) {
    ParamType t = p.type();
    switch (t) {
      case PTR, I64, U64 ->
          values.set(ValueLayout.JAVA_LONG, offset, as(Long.class, kernel, i, p, arg));
      case I32 -> values.set(ValueLayout.JAVA_INT, offset, as(Integer.class, kernel, i, p, arg));
      case F32 -> values.set(ValueLayout.JAVA_FLOAT, offset, as(Float.class, kernel, i, p, arg));
      case F64 -> values.set(ValueLayout.JAVA_DOUBLE, offset, as(Double.class, kernel, i, p, arg));
      case SHAPE, STRIDES, ATTENTION_ARGS -> {
        byte[] bytes = as(byte[].class, kernel, i, p, arg);
        if (bytes.length != t.bytes()) {
          throw mismatch(kernel, i, p, bytes.length + " bytes instead of " + t.bytes());
        }
        MemorySegment.copy(bytes, 0, values, ValueLayout.JAVA_BYTE, offset, bytes.length);
      }
    }
  }

  /** A parameter's slot: its size rounded up to 8 bytes, so every slot is 8-byte aligned. */
  private static long slotBytes(ParamType t) {
    return (t.bytes() + 7) & ~7L;
  }

  private static long valueBytes(List<Param> params) {
    long bytes = 0;
    for (Param p : params) bytes += slotBytes(p.type());
    return bytes;
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
