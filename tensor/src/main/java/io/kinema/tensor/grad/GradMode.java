package io.kinema.tensor.grad;

/**
 * Whether ops on this thread record the graph for backward. On by default; {@link #noGrad()} turns
 * it off for a try-with-resources block (optimizer updates, validation, sampling):
 *
 * <pre>{@code
 * try (var ng = GradMode.noGrad()) {
 *   param.subInPlace(update);
 * }
 * }</pre>
 */
public final class GradMode {
  /** Restores the previous mode when closed. */
  public interface Guard extends AutoCloseable {
    @Override
    void close();
  }

  private static final ThreadLocal<boolean[]> ENABLED =
      ThreadLocal.withInitial(() -> new boolean[] {true});

  private GradMode() {}

  public static boolean isEnabled() {
    return ENABLED.get()[0];
  }

  /** Turns recording off until the guard is closed. */
  public static Guard noGrad() {
    return set(false);
  }

  /** Turns recording on until the guard is closed (e.g. to recompute a checkpointed block). */
  public static Guard enableGrad() {
    return set(true);
  }

  private static Guard set(boolean on) {
    boolean[] flag = ENABLED.get();
    boolean previous = flag[0];
    flag[0] = on;
    return () -> flag[0] = previous;
  }
}
