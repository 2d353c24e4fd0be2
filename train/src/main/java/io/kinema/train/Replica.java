package io.kinema.train;

import io.kinema.nn.optim.LRScheduler;
import io.kinema.nn.optim.Optimizer;
import io.kinema.nn.parallel.GradientSync;
import io.kinema.tensor.Device;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import io.kinema.train.callbacks.TrainingCallback;
import io.kinema.train.data.Batch;
import io.kinema.train.method.StepLosses;
import io.kinema.train.method.TrainBatch;
import io.kinema.train.method.TrainingMethod;
import io.kinema.train.model.LatentNormalization;
import io.kinema.train.model.RoleModel;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * One data-parallel replica: a copy of the method's roles on one device, its method (optimizers,
 * schedules, the random stream) and its step callbacks, and the exchange of its gradients with the
 * other replicas. {@link #step} is one optimizer step on this replica's rows of the global batches.
 *
 * <p>Every replica starts from the same weights, draws the same random numbers (for the global
 * batch, keeping its rows), gets the same averaged gradients and steps its optimizers identically,
 * so the replicas stay identical without sending weights around; rank 0's state is what is logged,
 * validated and checkpointed. With one replica there is nothing to exchange and the step is the
 * single-device step.
 */
final class Replica implements AutoCloseable {
  private final int rank;
  private final int worldSize;
  private final Device device;
  private final TrainingMethod method;
  private final List<TrainingCallback> callbacks;
  private final LatentNormalization normalization;
  private final List<GradientSync> syncs;

  /**
   * @param syncs one exchange per trainable role (empty with one replica)
   */
  Replica(
      int rank,
      int worldSize,
      Device device,
      TrainingMethod method,
      List<TrainingCallback> callbacks,
      LatentNormalization normalization,
      List<GradientSync> syncs) {
    this.rank = rank;
    this.worldSize = worldSize;
    this.device = device;
    this.method = method;
    this.callbacks = List.copyOf(callbacks);
    this.normalization = normalization;
    this.syncs = List.copyOf(syncs);
  }

  int rank() {
    return rank;
  }

  Device device() {
    return device;
  }

  TrainingMethod method() {
    return method;
  }

  List<TrainingCallback> callbacks() {
    return callbacks;
  }

  /**
   * A replica's metrics of one step, in log order, and which of them depend on its rows (the loss
   * and the method's logs: the trainer averages those over the replicas; the rest — learning rates,
   * gradient norms of the averaged gradients — are the same on every replica).
   */
  record StepMetrics(Map<String, Double> values, Set<String> perRows) {}

  /** Makes every replica's trainable weights rank 0's (call on every rank's thread). */
  void broadcastParameters() {
    for (GradientSync s : syncs) s.broadcastParameters(0);
  }

  /**
   * One optimizer step: for each accumulation round, this replica's rows of the round's global
   * batch through {@code singleTrainStep} and backward; then the gradients averaged over the
   * replicas, the callbacks before the optimizer step (clipping), each optimizer's and schedule's
   * step, and the callbacks after it (EMA). Returns this replica's metrics: {@code loss} (the mean
   * over its rows and the rounds), what the callbacks report, the learning rates and the method's
   * logs.
   */
  StepMetrics step(List<Batch> rounds, long step) {
    int accum = rounds.size();
    Map<String, Double> m = new LinkedHashMap<>();
    double loss = 0;
    Map<String, Double> extra = new LinkedHashMap<>();
    for (Batch batch : rounds) {
      try (var s = Scope.open();
          TrainBatch tb = toDevice(batch, shard(batch.size()))) {
        StepLosses l = method.singleTrainStep(tb, step);
        (accum == 1 ? l.loss() : l.loss().div(accum)).backward();
        loss += l.loss().item() / accum;
        l.logs().forEach((k, v) -> extra.merge(k, v / accum, Double::sum));
      }
    }
    m.put("loss", loss);
    for (GradientSync s : syncs) s.averageGradients();
    for (TrainingCallback c : callbacks) c.onBeforeOptimizerStep(method, step, m);
    for (var e : method.optimizers().entrySet()) {
      Optimizer opt = e.getValue();
      LRScheduler sched = method.schedulers().get(e.getKey());
      m.put(
          e.getKey().equals("student") ? "lr" : "lr/" + e.getKey(),
          opt.paramGroups().getFirst().lr());
      opt.step();
      sched.step();
      opt.zeroGrad();
    }
    for (TrainingCallback c : callbacks) {
      try {
        c.onTrainingStepEnd(method, step, m);
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
    m.putAll(extra);
    Set<String> perRows = new HashSet<>(extra.keySet());
    perRows.add("loss");
    return new StepMetrics(m, perRows);
  }

  /** This replica's rows of a global batch of {@code size}: consecutive, by rank. */
  private TrainBatch.Shard shard(int size) {
    int rows = size / worldSize;
    return new TrainBatch.Shard(rank * rows, rows, size);
  }

  /** The shard's rows of the loader's host arrays as tensors on the device, latents normalized. */
  private TrainBatch toDevice(Batch b, TrainBatch.Shard shard) {
    try (var s = Scope.open()) {
      Tensor raw =
          Tensor.of(rows(b.latents(), b.latentShape(), shard), rowsShape(b.latentShape(), shard))
              .to(device);
      Tensor latents = normalization.normalize(raw);
      long[] textShape = rowsShape(b.textShape(), shard);
      Tensor context =
          Tensor.of(rows(b.textEmbeddings(), b.textShape(), shard), textShape).to(device);
      Tensor mask =
          Tensor.of(rows(b.textMask(), b.textShape(), shard), textShape[0], textShape[1])
              .to(device);
      s.keep(latents);
      s.keep(context);
      s.keep(mask);
      return new TrainBatch(latents, context, mask, shard.of(b.rowIndices(), 1), shard);
    }
  }

  /** The shard's samples of {@code values}, an array over {@code shape} (dim 0: the batch). */
  private static float[] rows(float[] values, long[] shape, TrainBatch.Shard shard) {
    return shard.of(values, Math.toIntExact(values.length / shape[0]));
  }

  private static long[] rowsShape(long[] shape, TrainBatch.Shard shard) {
    long[] s = shape.clone();
    s[0] = shard.size();
    return s;
  }

  /** The roles of this replica. */
  Map<String, RoleModel> roles() {
    return method.roles();
  }

  /** Frees the exchange buffers, the callbacks, the method's state and the roles. */
  @Override
  public void close() {
    for (GradientSync s : syncs) s.close();
    for (TrainingCallback c : callbacks) c.close();
    Map<String, RoleModel> roles = method.roles();
    method.close();
    roles.values().forEach(RoleModel::close);
  }
}
