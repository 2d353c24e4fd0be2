package io.kinema.ffi.cuda.junit;

import io.kinema.ffi.cuda.CudaLibrary;
import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Runs the annotated test class or method only where a CUDA device is usable and the listed
 * libraries load; elsewhere it is skipped, and the reason is printed once per JVM as one line:
 * {@code CUDA tests skipped: libcuda.so.1 not found in [/usr/lib/x86_64-linux-gnu, ...]}.
 *
 * <pre>{@code
 * @RequiresCuda(CudaLibrary.CUBLAS)
 * class MyGemmGpuTest { ... }
 * }</pre>
 *
 * For use in any module's tests (the annotation lives in the ffi-bindings jar).
 */
@Target({ElementType.TYPE, ElementType.METHOD})
@Retention(RetentionPolicy.RUNTIME)
@Documented
@ExtendWith(CudaCondition.class)
public @interface RequiresCuda {
  /** Libraries the tests need besides the driver (which is always required). */
  CudaLibrary[] value() default {};
}
