package io.kinema.ffi.cuda;

import io.kinema.ffi.Downcall;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The binding classes under test and their downcalls, read by reflection. */
final class Bindings {
  private Bindings() {}

  /** Each binding class with the library it binds. */
  static final Map<Class<?>, CudaLibrary> CLASSES =
      Map.of(
          CudaDriver.class, CudaLibrary.DRIVER,
          Cublas.class, CudaLibrary.CUBLAS,
          CublasLt.class, CudaLibrary.CUBLASLT,
          Cudnn.class, CudaLibrary.CUDNN,
          Nccl.class, CudaLibrary.NCCL);

  /** Symbols a binding checks for before calling: absent from older library versions. */
  static final List<String> OPTIONAL = List.of("cudnnGetLastErrorString", "ncclGetLastError");

  /** The static {@link Downcall} fields of {@code binding}, by field name (initializes it). */
  static Map<String, Downcall> downcalls(Class<?> binding) {
    var out = new LinkedHashMap<String, Downcall>();
    for (Field f : binding.getDeclaredFields()) {
      if (f.getType() != Downcall.class || !Modifier.isStatic(f.getModifiers())) continue;
      try {
        f.setAccessible(true);
        out.put(f.getName(), (Downcall) f.get(null));
      } catch (ReflectiveOperationException e) {
        throw new AssertionError(e);
      }
    }
    return out;
  }
}
