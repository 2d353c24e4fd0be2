package io.kinema.autograd;

import io.kinema.tensor.Generator;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.grad.GradMode;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/**
 * Gradient (activation) checkpointing: runs a block without recording its graph, keeping only its
 * inputs, and runs it again during backward to get the gradients. Peak memory of a deep stack falls
 * from all blocks' activations to one block's plus the block boundaries. Random draws inside the
 * block replay exactly: pass the generators it uses and their offsets are rewound for the
 * recomputation.
 */
public final class Checkpoint {
  private Checkpoint() {}

  /**
   * {@code block(inputs)}, recomputed in backward. Parameters the block uses that require grad get
   * their gradients as usual. The block must be a function of its inputs, its parameters and the
   * given generators.
   */
  public static Tensor apply(
      Function<List<Tensor>, Tensor> block, List<Tensor> inputs, Generator... generators) {
    long[] offsets = new long[generators.length];
    for (int i = 0; i < generators.length; i++) offsets[i] = generators[i].offset();
    Tensor out;
    try (var ng = GradMode.noGrad()) {
      out = block.apply(inputs);
    }
    if (!GradMode.isEnabled() || !out.dtype().isFloatingPoint()) return out;
    // Recorded even when no input requires grad: parameters inside the block may.
    Node.Backward backward =
        (node, g) -> {
          long[] resume = new long[generators.length];
          for (int i = 0; i < generators.length; i++) {
            resume[i] = generators[i].offset();
            generators[i].setOffset(offsets[i]);
          }
          try (var on = GradMode.enableGrad();
              var scope = Scope.open()) {
            List<Tensor> leaves = new ArrayList<>(inputs.size());
            for (Tensor in : inputs) {
              Tensor d = node.saved(in).detach();
              if (in.requiresGrad()) d.requiresGrad(true);
              leaves.add(d);
            }
            Tensor y = block.apply(leaves);
            if (y.requiresGrad()) y.backward(g);
            Tensor[] r = new Tensor[leaves.size()];
            for (int i = 0; i < r.length; i++) {
              Tensor gi = leaves.get(i).grad();
              r[i] = gi == null ? null : scope.keep(gi.alias());
            }
            return r;
          } finally {
            for (int i = 0; i < generators.length; i++) generators[i].setOffset(resume[i]);
          }
        };
    Node node = Engine.recordCustom("checkpoint", inputs, backward, out);
    for (Tensor t : inputs) node.save(t);
    return out;
  }
}
