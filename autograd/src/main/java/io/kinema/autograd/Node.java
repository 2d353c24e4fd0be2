package io.kinema.autograd;

import io.kinema.tensor.DType;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.grad.GradNode;
import java.util.ArrayDeque;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * One recorded op: where its input gradients go (edges), what it saved for its derivative rule, and
 * how many tensors and child nodes still refer to it. When that count reaches zero the saved
 * tensors are released and the parents are let go — the graph frees itself as the step's tensors
 * are closed, without the GC.
 */
final class Node implements GradNode {
  /** Where the gradient of one input goes: a parent node, a leaf, or nowhere. */
  sealed interface Edge {}

  record ToNode(Node node) implements Edge {}

  record ToLeaf(Tensor leaf) implements Edge {}

  record Nowhere() implements Edge {}

  static final Edge NOWHERE = new Nowhere();

  /** Computes the gradients of the inputs (in edge order; null = none) from the output's. */
  interface Backward {
    Tensor[] apply(Node node, Tensor gradOutput);
  }

  private final String name;
  final Edge[] edges;
  final Backward backward;
  final long[] outputShape;

  /** Each input's dtype and shape: the gradient sent along edge i must have them. */
  final DType[] inputDtypes;

  final long[][] inputShapes;

  /** Original tensor -> our own handle on it, plus the storage version seen when saved. */
  private final Map<Tensor, Tensor> saved = new IdentityHashMap<>();

  private final Map<Tensor, Long> savedVersion = new IdentityHashMap<>();
  private Tensor savedOutput;
  private long savedOutputVersion;
  private int refs;
  private boolean freed;

  Node(String name, List<Tensor> inputs, Backward backward, long[] outputShape) {
    this.name = name;
    this.backward = backward;
    this.outputShape = outputShape;
    this.edges = new Edge[inputs.size()];
    this.inputDtypes = new DType[edges.length];
    this.inputShapes = new long[edges.length][];
    for (int i = 0; i < edges.length; i++) {
      Tensor t = inputs.get(i);
      if (t != null) {
        inputDtypes[i] = t.dtype();
        inputShapes[i] = t.shape();
      }
      if (t == null || !t.requiresGrad()) {
        edges[i] = NOWHERE;
      } else if (t.gradFn() instanceof Node parent) {
        parent.retain();
        edges[i] = new ToNode(parent);
      } else {
        edges[i] = new ToLeaf(t);
      }
    }
  }

  @Override
  public String name() {
    return name;
  }

  @Override
  public synchronized void retain() {
    refs++;
  }

  /** Keeps {@code t} for backward (a no-op for null). */
  void save(Tensor t) {
    if (t == null || saved.containsKey(t)) return;
    saved.put(t, t.share());
    savedVersion.put(t, t.storage().version());
  }

  void saveOutput(Tensor out) {
    savedOutput = out.share();
    savedOutputVersion = out.storage().version();
  }

  /** Our handle on a tensor saved at record time, checked against in-place changes since. */
  Tensor saved(Tensor original) {
    if (original == null) return null;
    checkNotFreed();
    Tensor s = saved.get(original);
    if (s == null)
      throw new IllegalStateException(
          "autograd bug: " + name + " did not save " + original.describe());
    if (s.storage().version() != savedVersion.get(original)) throw modified(s);
    return s;
  }

  Tensor output() {
    checkNotFreed();
    if (savedOutput == null)
      throw new IllegalStateException("autograd bug: " + name + " did not save its output");
    if (savedOutput.storage().version() != savedOutputVersion) throw modified(savedOutput);
    return savedOutput;
  }

  private IllegalStateException modified(Tensor t) {
    return new IllegalStateException(
        "backward: a tensor "
            + t.describe()
            + " saved by "
            + name
            + " was modified in place after it was used; its gradient would be wrong (clone it"
            + " before the in-place op)");
  }

  private void checkNotFreed() {
    if (freed) {
      throw new IllegalStateException(
          "backward: the graph through "
              + name
              + " was already freed by an earlier backward; pass retainGraph=true to the first"
              + " backward to run it twice");
    }
  }

  /** Releases what backward needed (after backward without retainGraph). */
  void freeSaved() {
    for (Tensor t : saved.values()) t.close();
    saved.clear();
    if (savedOutput != null) savedOutput.close();
    savedOutput = null;
    freed = true;
  }

  /**
   * Drops one reference; the last frees the node and lets go of its parents, iteratively (a deep
   * graph must not overflow the stack).
   */
  void release() {
    ArrayDeque<Node> work = new ArrayDeque<>();
    work.push(this);
    while (!work.isEmpty()) {
      Node n = work.pop();
      synchronized (n) {
        if (--n.refs > 0) continue;
        n.freeSaved();
        for (int i = 0; i < n.edges.length; i++) {
          if (n.edges[i] instanceof ToNode(Node p)) work.push(p);
          n.edges[i] = NOWHERE;
        }
      }
    }
  }

  @Override
  public String toString() {
    return "Node(" + name + ")";
  }
}
