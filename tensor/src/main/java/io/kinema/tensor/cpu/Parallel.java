package io.kinema.tensor.cpu;

import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.RecursiveAction;

/**
 * The one thread pool every CPU kernel shares, sized to the cores (system property {@code
 * kinema.threads} overrides). Work is split into at most one contiguous chunk per thread; the
 * calling thread runs a chunk itself.
 */
public final class Parallel {
  /** A half-open range [start, end) of work items. */
  @FunctionalInterface
  public interface RangeBody {
    void run(long start, long end);
  }

  private static final int THREADS =
      Integer.getInteger("kinema.threads", Runtime.getRuntime().availableProcessors());
  private static final ForkJoinPool POOL = THREADS > 1 ? new ForkJoinPool(THREADS) : null;

  private Parallel() {}

  /**
   * True on a thread that is running a chunk of some {@link #forRange} call. Nested parallel calls
   * run sequentially there. The mark is per chunk, not per pool thread: a chunk may run on a pool
   * worker or, when the caller's {@code join} finds it not yet started, on the caller itself. If
   * only pool workers ran nested calls sequentially, a nested kernel would split its work (and
   * round its partial sums) differently depending on thread timing, and results would differ in the
   * last bits from run to run.
   */
  private static final ThreadLocal<boolean[]> IN_CHUNK =
      ThreadLocal.withInitial(() -> new boolean[1]);

  private static void runChunk(RangeBody body, long start, long end) {
    boolean[] mark = IN_CHUNK.get();
    boolean outer = mark[0];
    mark[0] = true;
    try {
      body.run(start, end);
    } finally {
      mark[0] = outer;
    }
  }

  /** Threads kernels may use. */
  public static int threads() {
    return THREADS;
  }

  /**
   * Runs {@code body} over [0, n) split into contiguous chunks. Chunks hold at least {@code grain}
   * items, so small jobs stay on the calling thread.
   */
  public static void forRange(long n, long grain, RangeBody body) {
    if (n <= 0) return;
    int chunks = (int) Math.min(THREADS, Math.max(1, n / Math.max(1, grain)));
    if (chunks <= 1 || POOL == null || IN_CHUNK.get()[0]) {
      body.run(0, n);
      return;
    }
    RecursiveAction[] tasks = new RecursiveAction[chunks - 1];
    for (int c = 1; c < chunks; c++) {
      long s = n * c / chunks, e = n * (c + 1) / chunks;
      tasks[c - 1] =
          new RecursiveAction() {
            @Override
            protected void compute() {
              runChunk(body, s, e);
            }
          };
      POOL.execute(tasks[c - 1]);
    }
    Throwable failure = null;
    try {
      runChunk(body, 0, n / chunks);
    } catch (Throwable t) {
      failure = t;
    }
    for (RecursiveAction t : tasks) {
      try {
        t.join();
      } catch (Throwable e) {
        if (failure == null) failure = e;
      }
    }
    if (failure instanceof RuntimeException r) throw r;
    if (failure instanceof Error err) throw err;
  }
}
