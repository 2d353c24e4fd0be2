package io.kinema.tensor.distributed;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.Function;

/** Test helper: runs a body on every rank of a group, each on its own thread. */
final class Ranks {
  private Ranks() {}

  /**
   * Runs {@code body} for each rank concurrently and returns the results by rank. A rank that
   * throws aborts the group (so the others fail rather than wait) and the first failure, by rank,
   * is rethrown.
   */
  static <T> List<T> run(List<ProcessGroup> groups, Function<ProcessGroup, T> body) {
    ExecutorService pool = Executors.newFixedThreadPool(groups.size());
    try {
      List<Future<T>> futures = new ArrayList<>();
      for (ProcessGroup g : groups) {
        futures.add(
            pool.submit(
                () -> {
                  try {
                    return body.apply(g);
                  } catch (RuntimeException | Error e) {
                    g.abort("rank " + g.rank() + " failed: " + e.getMessage());
                    throw e;
                  }
                }));
      }
      List<T> results = new ArrayList<>();
      RuntimeException failure = null;
      for (Future<T> f : futures) {
        try {
          results.add(f.get());
        } catch (ExecutionException e) {
          results.add(null);
          if (failure == null) {
            failure =
                e.getCause() instanceof RuntimeException r ? r : new RuntimeException(e.getCause());
          }
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new IllegalStateException(e);
        }
      }
      if (failure != null) throw failure;
      return results;
    } finally {
      pool.shutdownNow();
    }
  }
}
