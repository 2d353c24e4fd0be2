package io.kinema.autograd;

import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.grad.GradEngine;
import io.kinema.tensor.grad.GradMode;
import io.kinema.tensor.grad.GradNode;
import io.kinema.tensor.grad.OpCall;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reverse-mode autograd (registered with the tensor module through {@link
 * java.util.ServiceLoader}). {@link #record} turns an {@link OpCall} into a {@link Node} with the
 * derivative rule from {@link Derivatives}; {@link #backward} walks the nodes reachable from the
 * root in dependency order (each node runs once, after all its consumers), sums gradients arriving
 * from several consumers, and accumulates leaf gradients into {@link Tensor#grad()}. Backward
 * itself runs with grad mode off (no higher-order gradients) inside its own {@link Scope}, so every
 * temporary it makes is freed when it returns.
 */
public final class Engine implements GradEngine {
  @Override
  public void record(OpCall call, Tensor out) {
    out.attachGradFn(Derivatives.node(call, out));
  }

  /** Records a custom op (checkpointed blocks, user functions) whose backward is a closure. */
  static Node recordCustom(String name, List<Tensor> inputs, Node.Backward backward, Tensor out) {
    Node node = new Node(name, inputs, backward, out.shape());
    out.attachGradFn(node);
    return node;
  }

  @Override
  public void release(GradNode node) {
    ((Node) node).release();
  }

  @Override
  public void backward(Tensor root, Tensor gradOutput, boolean retainGraph) {
    if (gradOutput != null && !Arrays.equals(gradOutput.shape(), root.shape())) {
      throw new IllegalArgumentException(
          "backward: gradient " + gradOutput.describe() + " does not match " + root.describe());
    }
    try (var ng = GradMode.noGrad();
        var scope = Scope.open()) {
      Tensor seed = gradOutput != null ? gradOutput.to(root.dtype()) : Tensor.onesLike(root);
      if (!(root.gradFn() instanceof Node rootNode)) {
        accumulateLeaf(root, seed);
        return;
      }
      run(rootNode, seed, retainGraph);
    }
  }

  private static void run(Node root, Tensor seed, boolean retainGraph) {
    // Count, for every reachable node, how many reachable consumers will send it a gradient.
    Map<Node, Integer> pendingConsumers = new IdentityHashMap<>();
    ArrayDeque<Node> stack = new ArrayDeque<>();
    pendingConsumers.put(root, 0);
    stack.push(root);
    while (!stack.isEmpty()) {
      Node n = stack.pop();
      for (Node.Edge e : n.edges) {
        if (e instanceof Node.ToNode(Node p)) {
          Integer c = pendingConsumers.get(p);
          if (c == null) stack.push(p);
          pendingConsumers.put(p, c == null ? 1 : c + 1);
        }
      }
    }
    Map<Node, Tensor> grads = new IdentityHashMap<>();
    grads.put(root, seed);
    ArrayDeque<Node> ready = new ArrayDeque<>();
    ready.push(root);
    while (!ready.isEmpty()) {
      Node n = ready.pop();
      Tensor g = grads.remove(n);
      // Each rule's temporaries are freed as soon as it has run (not at the end of backward):
      // only the gradients it returns leave its scope.
      Tensor[] inputGrads;
      try (var ruleScope = Scope.open()) {
        inputGrads = n.backward.apply(n, g);
        for (Tensor gi : inputGrads) if (gi != null) ruleScope.keep(gi);
      }
      // Rules may pass g on unchanged or return one tensor for several inputs (add): give every
      // edge its own handle, since each is closed independently once consumed.
      Map<Tensor, Boolean> handedOut = new IdentityHashMap<>();
      handedOut.put(g, true);
      for (int i = 0; i < inputGrads.length; i++) {
        Tensor gi = inputGrads[i];
        if (gi != null && handedOut.put(gi, true) != null) inputGrads[i] = gi.alias();
      }
      g.close();
      if (!retainGraph) n.freeSaved();
      for (int i = 0; i < n.edges.length; i++) {
        Tensor gi = i < inputGrads.length ? inputGrads[i] : null;
        if (gi != null && !(n.edges[i] instanceof Node.Nowhere)) gi = conform(n, i, gi);
        switch (n.edges[i]) {
          case Node.ToNode(Node p) -> {
            if (gi != null) {
              Tensor prev = grads.get(p);
              if (prev == null) grads.put(p, gi);
              else {
                grads.put(p, prev.add(gi));
                prev.close();
                gi.close();
              }
            }
            int left = pendingConsumers.merge(p, -1, Integer::sum);
            if (left == 0) {
              if (grads.containsKey(p)) ready.push(p);
              else skipBranch(p, pendingConsumers, ready, grads);
            }
          }
          case Node.ToLeaf(Tensor leaf) -> {
            if (gi != null) {
              accumulateLeaf(leaf, gi);
              gi.close(); // the leaf holds its own handle (or copy): free a copied one now
            }
          }
          case Node.Nowhere() -> {
            if (gi != null) gi.close();
          }
        }
      }
    }
  }

  /**
   * The gradient of input {@code i} in that input's dtype (as PyTorch: an op that promoted a BF16
   * input to F32 sends its BF16 producer a BF16 gradient); a shape other than the input's is a bug
   * in the rule and fails here rather than as a confusing error further down the graph.
   */
  private static Tensor conform(Node n, int i, Tensor gi) {
    if (!Arrays.equals(gi.shape(), n.inputShapes[i])) {
      throw new IllegalStateException(
          "autograd bug: the rule of "
              + n.name()
              + " returned a gradient "
              + gi.describe()
              + " for input "
              + i
              + " of shape "
              + Arrays.toString(n.inputShapes[i]));
    }
    if (gi.dtype() == n.inputDtypes[i]) return gi;
    Tensor converted = gi.to(n.inputDtypes[i]);
    gi.close();
    return converted;
  }

  /**
   * A node all of whose consumers sent no gradient: its own parents lose a consumer too. (Rare:
   * only when a rule returns null for a differentiable input.)
   */
  private static void skipBranch(
      Node n, Map<Node, Integer> pending, ArrayDeque<Node> ready, Map<Node, Tensor> grads) {
    ArrayDeque<Node> work = new ArrayDeque<>();
    work.push(n);
    while (!work.isEmpty()) {
      Node m = work.pop();
      for (Node.Edge e : m.edges) {
        if (e instanceof Node.ToNode(Node p)) {
          if (pending.merge(p, -1, Integer::sum) == 0) {
            if (grads.containsKey(p)) ready.push(p);
            else work.push(p);
          }
        }
      }
    }
  }

  private static void accumulateLeaf(Tensor leaf, Tensor g) {
    if (leaf.isClosed()) return;
    Tensor gc = g.dtype() == leaf.dtype() ? g : g.to(leaf.dtype());
    if (leaf.grad() == null) {
      // The leaf owns its gradient beyond this backward's scope. It may take over gc's memory only
      // when nothing else refers to it: a gradient shared with another leaf, a saved tensor or the
      // caller's gradOutput would change with them when it is accumulated into in place.
      leaf.setGrad(exclusive(gc) ? gc.share() : sharedCopy(gc));
    } else {
      leaf.grad().addInPlace(gc);
    }
    if (gc != g) gc.close();
  }

  /** True when {@code t} is the only reference to its storage and fills most of it. */
  private static boolean exclusive(Tensor t) {
    long used = t.numel() * t.dtype().byteSize();
    return t.isContiguous()
        && t.storage().refCount() == 1
        && t.storage().byteSize() <= used + used / 4 + 64;
  }

  private static Tensor sharedCopy(Tensor t) {
    try (Tensor c = t.copy()) {
      return c.share();
    }
  }

  /** The nodes of a graph, for tests and debugging: names from the root towards the leaves. */
  public static List<String> describe(Tensor root) {
    List<String> out = new ArrayList<>();
    if (!(root.gradFn() instanceof Node r)) return out;
    ArrayDeque<Node> q = new ArrayDeque<>();
    Map<Node, Boolean> seen = new IdentityHashMap<>();
    q.add(r);
    seen.put(r, true);
    while (!q.isEmpty()) {
      Node n = q.poll();
      out.add(n.name());
      for (Node.Edge e : n.edges) {
        if (e instanceof Node.ToNode(Node p) && seen.put(p, true) == null) q.add(p);
      }
    }
    return out;
  }
}
