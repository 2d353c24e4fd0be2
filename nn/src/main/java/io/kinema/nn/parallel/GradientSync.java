package io.kinema.nn.parallel;

import io.kinema.nn.Module;
import io.kinema.nn.Parameter;
import io.kinema.tensor.DType;
import io.kinema.tensor.Device;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.distributed.ProcessGroup;
import io.kinema.tensor.grad.GradMode;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/**
 * Data-parallel training's exchange for one replica (the core of PyTorch's {@code
 * DistributedDataParallel}, without wrapping the model): {@link #broadcastParameters} makes every
 * replica start from rank 0's weights, and {@link #averageGradients} — called by every rank after
 * its backward, before the optimizer step — replaces each gradient by its mean over the ranks, so
 * identical replicas that each saw a shard of the batch take the step one replica would take on the
 * whole batch (when each rank's loss is the mean over an equal shard).
 *
 * <p>Parameters are packed into buckets of at most {@code bucketBytes} (consecutive parameters of
 * one dtype; a larger parameter gets a bucket alone): each bucket's values are copied into one flat
 * buffer, all buckets are reduced in one call, and the means copied back, so one collective moves
 * many small tensors. The buffers are allocated on first use and kept until {@link #close()}.
 *
 * <p>Every rank must build its {@code GradientSync} over the same parameters in the same order.
 */
public final class GradientSync implements AutoCloseable {
  /** PyTorch's default {@code bucket_cap_mb}: 25 MiB. */
  public static final long DEFAULT_BUCKET_BYTES = 25L << 20;

  /** Consecutive parameters of one dtype, packed at element offsets of one flat buffer. */
  private static final class Bucket {
    final DType dtype;
    final List<Parameter> params = new ArrayList<>();
    final List<String> names = new ArrayList<>();
    long elements;
    Tensor buffer;

    Bucket(DType dtype) {
      this.dtype = dtype;
    }
  }

  private final ProcessGroup group;
  private final List<Bucket> buckets = new ArrayList<>();

  /** {@link #GradientSync(List, List, ProcessGroup, long)} with names "0", "1", ... */
  public GradientSync(List<Parameter> parameters, ProcessGroup group) {
    this(numbers(parameters.size()), parameters, group, DEFAULT_BUCKET_BYTES);
  }

  /**
   * @param names the parameters' names, for messages (e.g. a module's state-dict keys)
   * @param parameters the replica's parameters, on the group's device
   * @param bucketBytes the most bytes of parameters per bucket (> 0)
   */
  public GradientSync(
      List<String> names, List<Parameter> parameters, ProcessGroup group, long bucketBytes) {
    if (names.size() != parameters.size()) {
      throw new IllegalArgumentException(
          "GradientSync: " + names.size() + " names for " + parameters.size() + " parameters");
    }
    if (bucketBytes <= 0) {
      throw new IllegalArgumentException("GradientSync: bucketBytes must be > 0: " + bucketBytes);
    }
    this.group = group;
    Bucket current = null;
    for (int i = 0; i < parameters.size(); i++) {
      Parameter p = parameters.get(i);
      Tensor t = p.data();
      if (!t.device().equals(group.device())) {
        throw new IllegalArgumentException(
            "GradientSync: parameter "
                + names.get(i)
                + " "
                + t.describe()
                + " is not on rank "
                + group.rank()
                + "'s device "
                + group.device());
      }
      long bytes = t.numel() * t.dtype().byteSize();
      boolean fits =
          current != null
              && current.dtype == t.dtype()
              && (current.elements * t.dtype().byteSize() + bytes) <= bucketBytes;
      if (!fits) buckets.add(current = new Bucket(t.dtype()));
      current.params.add(p);
      current.names.add(names.get(i));
      current.elements += t.numel();
    }
  }

  /**
   * The exchange of {@code model}'s trainable parameters (those requiring grad now), named by their
   * state-dict keys, in buckets of {@link #DEFAULT_BUCKET_BYTES}.
   */
  public static GradientSync of(Module model, ProcessGroup group) {
    List<String> names = new ArrayList<>();
    List<Parameter> params = new ArrayList<>();
    for (var e : model.namedParameters().entrySet()) {
      if (e.getValue().requiresGrad()) {
        names.add(e.getKey());
        params.add(e.getValue());
      }
    }
    return new GradientSync(names, params, group, DEFAULT_BUCKET_BYTES);
  }

  private static List<String> numbers(int n) {
    List<String> names = new ArrayList<>();
    for (int i = 0; i < n; i++) names.add(Integer.toString(i));
    return names;
  }

  /** The group this replica exchanges with. */
  public ProcessGroup group() {
    return group;
  }

  /** How many buckets (collectives per exchange) the parameters make. */
  public int bucketCount() {
    return buckets.size();
  }

  /**
   * Overwrites every rank's parameter values with rank {@code root}'s (call it once, on every rank,
   * before training). With one rank nothing happens.
   */
  public void broadcastParameters(int root) {
    if (group.worldSize() == 1) return;
    try (var ng = GradMode.noGrad();
        var s = Scope.open()) {
      for (Bucket b : buckets) {
        pack(b, Parameter::data);
        group.broadcast(b.buffer, root);
        unpack(b, Parameter::data);
      }
    }
  }

  /**
   * Replaces every parameter's gradient by its mean over the ranks, in place. Every parameter must
   * have a gradient on every rank (as PyTorch's default: a parameter that took no part in this
   * rank's loss would otherwise leave the replicas' updates different). With one rank nothing
   * happens, so single-device training is unchanged bit for bit.
   *
   * @throws IllegalStateException naming the first parameter without a gradient
   */
  public void averageGradients() {
    if (group.worldSize() == 1) return;
    try (var ng = GradMode.noGrad();
        var s = Scope.open()) {
      List<Tensor> buffers = new ArrayList<>();
      for (Bucket b : buckets) {
        for (int i = 0; i < b.params.size(); i++) {
          if (b.params.get(i).grad() == null) {
            throw new IllegalStateException(
                "GradientSync: parameter "
                    + b.names.get(i)
                    + " has no gradient on rank "
                    + group.rank()
                    + " of "
                    + group.worldSize()
                    + ": every trainable parameter must take part in every rank's loss");
          }
        }
        pack(b, Parameter::grad);
        buffers.add(b.buffer);
      }
      group.allReduce(buffers, ProcessGroup.ReduceOp.AVG);
      for (Bucket b : buckets) unpack(b, Parameter::grad);
    }
  }

  /** Copies each parameter's {@code part} (values or gradient) into its slice of the buffer. */
  private void pack(Bucket b, Function<Parameter, Tensor> part) {
    if (b.buffer == null) b.buffer = unscoped(b.dtype, group.device(), b.elements);
    long offset = 0;
    for (Parameter p : b.params) {
      Tensor t = part.apply(p);
      b.buffer.narrow(0, offset, t.numel()).view(t.shape()).copyFrom(t);
      offset += t.numel();
    }
  }

  /** Copies each parameter's slice of the buffer back into its {@code part}. */
  private static void unpack(Bucket b, Function<Parameter, Tensor> part) {
    long offset = 0;
    for (Parameter p : b.params) {
      Tensor t = part.apply(p);
      t.copyFrom(b.buffer.narrow(0, offset, t.numel()).view(t.shape()));
      offset += t.numel();
    }
  }

  /** A buffer that belongs to this object, not to the caller's scope. */
  private static Tensor unscoped(DType dtype, Device device, long n) {
    try (Tensor t = Tensor.empty(dtype, device, n)) {
      return t.share();
    }
  }

  /** Frees the buckets' buffers (the group is the caller's). */
  @Override
  public void close() {
    for (Bucket b : buckets) {
      if (b.buffer != null) b.buffer.close();
      b.buffer = null;
    }
  }
}
