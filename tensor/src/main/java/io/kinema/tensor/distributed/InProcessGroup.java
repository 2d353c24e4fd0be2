package io.kinema.tensor.distributed;

import io.kinema.tensor.Device;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.grad.GradMode;
import java.util.ArrayList;
import java.util.List;

/**
 * A process group of CPU replicas in this JVM, one thread per rank. A collective is two meetings:
 * the ranks post their tensors, then each rank computes its result from everybody's inputs, then
 * all meet again (so no input is overwritten while another rank still reads it) and each writes its
 * result in place.
 *
 * <p>Reductions add in rank order, {@code ((t0 + t1) + t2) + ...}, with the CPU kernels (which give
 * the same bits whatever the thread count): every rank computes the same sum from the same inputs,
 * so the results are identical on all ranks and from run to run.
 */
final class InProcessGroup implements ProcessGroup {
  /** What a rank posts: its tensors and the call's description, which must agree across ranks. */
  private record Post(String call, List<Tensor> tensors) {}

  private final Rendezvous rendezvous;
  private final int rank;
  private boolean closed;

  private InProcessGroup(Rendezvous rendezvous, int rank) {
    this.rendezvous = rendezvous;
    this.rank = rank;
  }

  /** The handles of a new group of {@code worldSize} CPU ranks, element {@code i} rank i's. */
  static List<ProcessGroup> create(int worldSize) {
    if (worldSize < 1) throw new IllegalArgumentException("world size must be >= 1: " + worldSize);
    Rendezvous r = new Rendezvous(worldSize);
    List<ProcessGroup> ranks = new ArrayList<>();
    for (int i = 0; i < worldSize; i++) ranks.add(new InProcessGroup(r, i));
    return List.copyOf(ranks);
  }

  @Override
  public int rank() {
    return rank;
  }

  @Override
  public int worldSize() {
    return rendezvous.worldSize();
  }

  @Override
  public Device device() {
    return Device.CPU;
  }

  @Override
  public void allReduce(Tensor tensor, ReduceOp op) {
    allReduce(List.of(tensor), op);
  }

  @Override
  public void allReduce(List<Tensor> tensors, ReduceOp op) {
    String call = "allReduce";
    for (Tensor t : tensors) {
      Collectives.tensor(call, this, "tensor", t);
      Collectives.reducible(call, this, t, op);
    }
    List<List<Tensor>> all = exchange(call + " " + op, tensors);
    try (var ng = GradMode.noGrad();
        var s = Scope.open()) {
      List<Tensor> results = new ArrayList<>();
      for (int i = 0; i < tensors.size(); i++) {
        final int index = i;
        results.add(reduce(all.stream().map(ts -> ts.get(index)).toList(), op));
      }
      rendezvous.await(call);
      for (int i = 0; i < tensors.size(); i++)
        tensors.get(i).copyFrom(results.get(i).view(tensors.get(i).shape()));
    }
  }

  @Override
  public void broadcast(Tensor tensor, int root) {
    String call = "broadcast";
    Collectives.tensor(call, this, "tensor", tensor);
    Collectives.root(call, this, root);
    List<List<Tensor>> all = exchange(call + " from " + root, List.of(tensor));
    try (var ng = GradMode.noGrad()) {
      if (rank != root) tensor.copyFrom(all.get(root).getFirst());
    }
    rendezvous.await(call);
  }

  @Override
  public void allGather(Tensor input, Tensor output) {
    String call = "allGather";
    Collectives.tensor(call, this, "input", input);
    Collectives.tensor(call, this, "output", output);
    Collectives.worldSized(call, this, input, output, "output");
    List<List<Tensor>> all = exchange(call, List.of(input));
    long n = input.numel();
    try (var ng = GradMode.noGrad();
        var s = Scope.open()) {
      Tensor flat = output.view(output.numel());
      for (int r = 0; r < all.size(); r++) {
        flat.narrow(0, r * n, n).copyFrom(all.get(r).getFirst().view(n));
      }
    }
    rendezvous.await(call);
  }

  @Override
  public void reduceScatter(Tensor input, Tensor output, ReduceOp op) {
    String call = "reduceScatter";
    Collectives.tensor(call, this, "input", input);
    Collectives.tensor(call, this, "output", output);
    Collectives.worldSized(call, this, output, input, "input");
    Collectives.reducible(call, this, input, op);
    List<List<Tensor>> all = exchange(call + " " + op, List.of(input));
    long n = output.numel();
    try (var ng = GradMode.noGrad();
        var s = Scope.open()) {
      List<Tensor> blocks =
          all.stream()
              .map(ts -> ts.getFirst().view(ts.getFirst().numel()).narrow(0, rank * n, n))
              .toList();
      Tensor result = reduce(blocks, op);
      rendezvous.await(call);
      output.copyFrom(result.view(output.shape()));
    }
  }

  @Override
  public void barrier() {
    ensureOpen("barrier");
    rendezvous.await("barrier (rank " + rank + ")");
  }

  @Override
  public void abort(String reason) {
    rendezvous.abort(reason);
  }

  @Override
  public void close() {
    if (closed) return;
    closed = true;
    rendezvous.abort("rank " + rank + " closed it");
  }

  @Override
  public String toString() {
    return "InProcessGroup(rank " + rank + " of " + worldSize() + ")";
  }

  // ---------------------------------------------------------------- helpers

  /**
   * Posts this rank's tensors and returns every rank's, after checking that all ranks made the same
   * call with tensors of the same dtypes and sizes (each rank checks the same posts, so all fail
   * together with the same message).
   */
  private List<List<Tensor>> exchange(String call, List<Tensor> tensors) {
    ensureOpen(call);
    Object[] posts = rendezvous.exchange(rank, new Post(call, List.copyOf(tensors)), call);
    Post first = (Post) posts[0];
    List<List<Tensor>> all = new ArrayList<>();
    for (int r = 0; r < posts.length; r++) {
      Post p = (Post) posts[r];
      if (!p.call().equals(first.call()) || !sameLayout(p.tensors(), first.tensors())) {
        throw new IllegalStateException(
            call
                + " (rank "
                + rank
                + "): ranks disagree: rank 0 called "
                + describe(first)
                + ", rank "
                + r
                + " "
                + describe(p));
      }
      all.add(p.tensors());
    }
    return all;
  }

  private static boolean sameLayout(List<Tensor> a, List<Tensor> b) {
    if (a.size() != b.size()) return false;
    for (int i = 0; i < a.size(); i++) {
      if (a.get(i).dtype() != b.get(i).dtype() || a.get(i).numel() != b.get(i).numel()) {
        return false;
      }
    }
    return true;
  }

  private static String describe(Post p) {
    return p.call() + " of " + p.tensors().stream().map(Tensor::describe).toList();
  }

  /** {@code ((x0 + x1) + x2) + ...}, divided by the count for AVG; a new tensor. */
  private static Tensor reduce(List<Tensor> xs, ReduceOp op) {
    Tensor acc = xs.getFirst().view(xs.getFirst().numel());
    for (int r = 1; r < xs.size(); r++) acc = acc.add(xs.get(r).view(xs.get(r).numel()));
    if (xs.size() == 1) acc = acc.copy();
    if (op == ReduceOp.AVG) acc = acc.div(xs.size());
    return acc;
  }

  private void ensureOpen(String call) {
    if (closed) throw new IllegalStateException(call + " (rank " + rank + "): the group is closed");
  }
}
