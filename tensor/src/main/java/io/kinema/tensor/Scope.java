package io.kinema.tensor;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;

/**
 * Deterministic release for code that makes many temporaries: every tensor created on this thread
 * while a scope is open is closed when the scope closes, except those passed to {@link #keep},
 * which move to the enclosing scope (or to the caller, outside any scope).
 *
 * <pre>{@code
 * try (var scope = Scope.open()) {
 *   Tensor y = x.matmul(w).add(b).relu();
 *   return scope.keep(y);
 * }
 * }</pre>
 */
public final class Scope implements AutoCloseable {
  private static final ThreadLocal<ArrayDeque<Scope>> STACK =
      ThreadLocal.withInitial(ArrayDeque::new);

  private final List<Tensor> owned = new ArrayList<>();
  private boolean closed;

  private Scope() {}

  /** Opens a scope on the current thread. */
  public static Scope open() {
    Scope s = new Scope();
    STACK.get().push(s);
    return s;
  }

  static void register(Tensor t) {
    Scope s = STACK.get().peek();
    if (s != null) s.owned.add(t);
  }

  /** Keeps {@code t} alive past this scope: it belongs to the enclosing scope afterwards. */
  public Tensor keep(Tensor t) {
    if (owned.remove(t)) {
      ArrayDeque<Scope> stack = STACK.get();
      boolean passed = false;
      for (Scope s : stack) {
        if (passed) {
          s.owned.add(t);
          break;
        }
        if (s == this) passed = true;
      }
    }
    return t;
  }

  /** Keeps each of {@code ts}; see {@link #keep(Tensor)}. */
  public void keepAll(Iterable<Tensor> ts) {
    for (Tensor t : ts) keep(t);
  }

  @Override
  public void close() {
    if (closed) return;
    closed = true;
    ArrayDeque<Scope> stack = STACK.get();
    if (stack.peek() != this)
      throw new IllegalStateException("scopes must be closed innermost first");
    stack.pop();
    for (Tensor t : owned) t.close();
    owned.clear();
  }
}
