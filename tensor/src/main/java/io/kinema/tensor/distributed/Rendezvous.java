package io.kinema.tensor.distributed;

import java.util.concurrent.BrokenBarrierException;
import java.util.concurrent.CyclicBarrier;

/**
 * Where the threads of an in-process group meet: each rank posts a value, waits until all have, and
 * reads everybody's. {@link #abort} (a rank closing the group) releases the waiting ranks with an
 * exception.
 */
final class Rendezvous {
  private final CyclicBarrier barrier;
  private final Object[] posted;
  private volatile String abortedBy;

  Rendezvous(int worldSize) {
    this.barrier = new CyclicBarrier(worldSize);
    this.posted = new Object[worldSize];
  }

  int worldSize() {
    return posted.length;
  }

  /**
   * Posts {@code value} as {@code rank}'s and returns every rank's, once all have posted. The array
   * stays valid until the next {@link #await()} every rank passes (callers always await once more
   * before posting again, so nobody overwrites a value another rank still reads).
   */
  Object[] exchange(int rank, Object value, String call) {
    posted[rank] = value;
    await(call);
    return posted.clone();
  }

  /** Returns once every rank has called it. */
  void await(String call) {
    if (abortedBy != null) throw aborted(call);
    try {
      barrier.await();
    } catch (BrokenBarrierException e) {
      throw aborted(call);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      barrier.reset();
      throw new IllegalStateException(call + ": interrupted while waiting for the other ranks", e);
    }
  }

  /** Ends the group: ranks waiting now or later fail. */
  void abort(String who) {
    if (abortedBy == null) abortedBy = who;
    barrier.reset();
  }

  private IllegalStateException aborted(String call) {
    return new IllegalStateException(
        call + ": the process group was ended (" + abortedBy + ") while waiting for the others");
  }
}
