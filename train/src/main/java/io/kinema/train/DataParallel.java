package io.kinema.train;

import io.kinema.tensor.distributed.ProcessGroup;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.Function;

/**
 * Drives the replicas of a data-parallel run, one thread per replica (the JVM's way to run one
 * process over several devices: no launcher, no processes). With one replica everything runs on the
 * caller's thread and there is no process group.
 *
 * <p>A replica that fails aborts the process group, which releases the replicas waiting for it in a
 * collective (their threads, and on CUDA their GPUs); the first failure is rethrown and the run
 * ends.
 */
final class DataParallel implements AutoCloseable {
  private final List<Replica> replicas;
  private final List<ProcessGroup> groups;
  private final List<ExecutorService> threads = new ArrayList<>();

  /**
   * @param replicas by rank
   * @param groups each replica's process group handle, by rank (empty for one replica)
   */
  DataParallel(List<Replica> replicas, List<ProcessGroup> groups) {
    this.replicas = List.copyOf(replicas);
    this.groups = List.copyOf(groups);
    if (replicas.size() > 1) {
      for (Replica r : replicas) {
        threads.add(
            Executors.newSingleThreadExecutor(
                task -> {
                  Thread t = new Thread(task, "kinema-rank-" + r.rank() + "-" + r.device());
                  t.setDaemon(true);
                  return t;
                }));
      }
    }
  }

  int worldSize() {
    return replicas.size();
  }

  /** Rank 0's replica: the one logged, validated, checkpointed and exported. */
  Replica primary() {
    return replicas.getFirst();
  }

  List<Replica> replicas() {
    return replicas;
  }

  /**
   * Runs {@code body} on every replica (each on its own thread) and returns the results by rank.
   */
  <T> List<T> onEachRank(Function<Replica, T> body) {
    if (threads.isEmpty()) return Collections.singletonList(body.apply(primary()));
    List<Throwable> failures = Collections.synchronizedList(new ArrayList<>());
    List<Future<T>> futures = new ArrayList<>();
    for (int r = 0; r < replicas.size(); r++) {
      Replica replica = replicas.get(r);
      ProcessGroup group = groups.get(r);
      futures.add(
          threads
              .get(r)
              .submit(
                  () -> {
                    try {
                      return body.apply(replica);
                    } catch (RuntimeException | Error e) {
                      failures.add(e); // in order of failure: the first is the cause
                      // the others fail instead of waiting for this rank
                      group.abort("rank " + replica.rank() + " failed: " + e);
                      throw e;
                    }
                  }));
    }
    List<T> results = new ArrayList<>();
    for (Future<T> f : futures) {
      try {
        results.add(f.get());
      } catch (ExecutionException e) {
        results.add(null);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException("interrupted while the replicas were training", e);
      }
    }
    if (!failures.isEmpty()) {
      Throwable first = failures.getFirst();
      if (first instanceof RuntimeException re) throw re;
      throw (Error) first;
    }
    return results;
  }

  /** Stops the threads and closes the process groups and the replicas. */
  @Override
  public void close() {
    threads.forEach(ExecutorService::shutdownNow);
    groups.forEach(ProcessGroup::close);
    replicas.forEach(Replica::close);
  }
}
