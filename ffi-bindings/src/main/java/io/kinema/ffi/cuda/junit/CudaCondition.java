package io.kinema.ffi.cuda.junit;

import io.kinema.ffi.cuda.CudaDevices;
import io.kinema.ffi.cuda.CudaLibrary;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.extension.ConditionEvaluationResult;
import org.junit.jupiter.api.extension.ExecutionCondition;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.platform.commons.support.AnnotationSupport;

/**
 * The condition behind {@link RequiresCuda}: enabled when {@link CudaDevices#available()} and each
 * listed library loads; otherwise disabled with a one-line reason, printed to stderr the first time
 * it occurs in this JVM so a build without a GPU says why its GPU tests did not run, once.
 */
public final class CudaCondition implements ExecutionCondition {
  private static final Set<String> PRINTED = ConcurrentHashMap.newKeySet();

  @Override
  public ConditionEvaluationResult evaluateExecutionCondition(ExtensionContext context) {
    Optional<RequiresCuda> annotation =
        AnnotationSupport.findAnnotation(context.getElement(), RequiresCuda.class);
    if (annotation.isEmpty()) return ConditionEvaluationResult.enabled("no @RequiresCuda");
    String reason = skipReason(annotation.get().value());
    if (reason == null) return ConditionEvaluationResult.enabled("CUDA is available");
    if (PRINTED.add(reason)) System.err.println(reason);
    return ConditionEvaluationResult.disabled(reason);
  }

  /** The one-line skip message, or null when the device and {@code libraries} are usable. */
  public static String skipReason(CudaLibrary... libraries) {
    if (!CudaDevices.available()) {
      return "CUDA tests skipped: " + CudaDevices.unavailableReason();
    }
    for (CudaLibrary lib : libraries) {
      if (!lib.isAvailable()) return lib + " tests skipped: " + lib.shortReason();
    }
    return null;
  }
}
