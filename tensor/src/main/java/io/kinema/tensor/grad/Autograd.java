package io.kinema.tensor.grad;

import io.kinema.tensor.Tensor;
import java.util.ServiceLoader;

/** Finds the {@link GradEngine} and decides whether an op must be recorded. */
public final class Autograd {
  private static volatile GradEngine engine;

  private Autograd() {}

  /** The engine; a clear error when the autograd module is not on the class path. */
  public static GradEngine engine() {
    GradEngine e = engine;
    if (e == null) {
      synchronized (Autograd.class) {
        if (engine == null) {
          engine =
              ServiceLoader.load(GradEngine.class)
                  .findFirst()
                  .orElseThrow(
                      () ->
                          new IllegalStateException(
                              "gradients need the kinema-autograd module on the class path"));
        }
        e = engine;
      }
    }
    return e;
  }

  /** True when grad mode is on and one of {@code call}'s inputs requires grad. */
  public static boolean needsRecording(OpCall call) {
    if (!GradMode.isEnabled()) return false;
    for (Tensor t : call.inputs()) if (t.requiresGrad()) return true;
    return false;
  }

  /** Records {@code call} as {@code out}'s origin if needed; returns {@code out}. */
  public static Tensor record(OpCall call, Tensor out) {
    if (needsRecording(call)) engine().record(call, out);
    return out;
  }
}
