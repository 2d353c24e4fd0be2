package io.kinema.nn.parallel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kinema.nn.GELU;
import io.kinema.nn.Linear;
import io.kinema.nn.Parameter;
import io.kinema.nn.Sequential;
import io.kinema.tensor.DType;
import io.kinema.tensor.Device;
import io.kinema.tensor.Generator;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.distributed.ProcessGroup;
import io.kinema.tensor.distributed.ProcessGroups;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/**
 * Replicas that each see a shard of the batch and average their gradients get the gradient of one
 * model on the whole batch.
 */
class GradientSyncTest {
  private static final int BATCH = 12, IN = 5, HIDDEN = 7, OUT = 3;

  private static Sequential model(DType dtype, long seed) {
    Generator g = new Generator(seed);
    return new Sequential(
        new Linear(IN, HIDDEN, true, dtype, g),
        new GELU(),
        new Linear(HIDDEN, OUT, true, dtype, g));
  }

  /** Mean squared error of the model on rows [from, from + n) of the fixed data. */
  private static Tensor loss(Sequential m, DType dtype, int from, int n) {
    Random r = new Random(42);
    double[] x = new double[BATCH * IN], y = new double[BATCH * OUT];
    for (int i = 0; i < x.length; i++) x[i] = r.nextGaussian();
    for (int i = 0; i < y.length; i++) y[i] = r.nextGaussian();
    Tensor xs = Tensor.of(x, BATCH, IN).to(dtype).narrow(0, from, n);
    Tensor ys = Tensor.of(y, BATCH, OUT).to(dtype).narrow(0, from, n);
    return m.forward(xs).sub(ys).square().mean();
  }

  private static List<double[]> grads(Sequential m) {
    return m.trainableParameters().stream().map(p -> p.grad().toDoubleArray()).toList();
  }

  /** Runs {@code body} on each rank's own thread; results by rank. */
  private static <T> List<T> onRanks(List<ProcessGroup> groups, Function<ProcessGroup, T> body)
      throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(groups.size());
    try {
      List<Future<T>> fs = new ArrayList<>();
      for (ProcessGroup g : groups) {
        fs.add(
            pool.submit(
                () -> {
                  try {
                    return body.apply(g);
                  } catch (RuntimeException e) {
                    g.close(); // release the other ranks
                    throw e;
                  }
                }));
      }
      List<T> out = new ArrayList<>();
      for (Future<T> f : fs) out.add(f.get());
      return out;
    } finally {
      pool.shutdownNow();
    }
  }

  /** Each rank builds its model from another seed; rank 0's weights are broadcast first. */
  private static List<List<double[]>> dataParallelGrads(DType dtype, int world, long bucketBytes)
      throws Exception {
    List<ProcessGroup> groups = ProcessGroups.create(Collections.nCopies(world, Device.CPU));
    int shard = BATCH / world;
    return onRanks(
        groups,
        pg -> {
          try (Sequential m = model(dtype, 100 + pg.rank());
              var s = Scope.open()) {
            var names = new ArrayList<>(m.namedParameters().keySet());
            try (GradientSync sync =
                new GradientSync(names, m.trainableParameters(), pg, bucketBytes)) {
              sync.broadcastParameters(0);
              loss(m, dtype, pg.rank() * shard, shard).backward();
              sync.averageGradients();
              return grads(m);
            } finally {
              pg.close();
            }
          }
        });
  }

  private static List<double[]> wholeBatchGrads(DType dtype) {
    try (Sequential m = model(dtype, 100);
        var s = Scope.open()) {
      loss(m, dtype, 0, BATCH).backward();
      return grads(m);
    }
  }

  @Test
  void shardsAveragedEqualTheWholeBatchInF64() throws Exception {
    List<double[]> want = wholeBatchGrads(DType.F64);
    for (int world : new int[] {2, 3, 4}) {
      List<List<double[]>> got = dataParallelGrads(DType.F64, world, 64);
      for (int r = 0; r < world; r++) {
        for (int i = 0; i < want.size(); i++) {
          assertArrayEquals(want.get(i), got.get(r).get(i), 1e-14, "world " + world + " rank " + r);
          assertArrayEquals(got.getFirst().get(i), got.get(r).get(i), 0.0, "identical on ranks");
        }
      }
    }
  }

  @Test
  void shardsAveragedEqualTheWholeBatchInF32WithOneBucket() throws Exception {
    List<double[]> want = wholeBatchGrads(DType.F32);
    List<List<double[]>> got = dataParallelGrads(DType.F32, 2, GradientSync.DEFAULT_BUCKET_BYTES);
    for (int r = 0; r < 2; r++) {
      for (int i = 0; i < want.size(); i++) {
        assertArrayEquals(want.get(i), got.get(r).get(i), 1e-6, "rank " + r + " parameter " + i);
      }
    }
  }

  @Test
  void bucketsHoldConsecutiveParametersUpToTheCap() {
    ProcessGroup pg = ProcessGroups.create(List.of(Device.CPU)).getFirst();
    try (Sequential m = model(DType.F64, 1)) {
      // weights 35 and 21 values, biases 7 and 3: 8 bytes each
      assertEquals(1, GradientSync.of(m, pg).bucketCount());
      var names = new ArrayList<>(m.namedParameters().keySet());
      // 0.weight + 0.bias fill 42 values exactly; 2.weight + 2.bias make the second bucket
      assertEquals(2, new GradientSync(names, m.trainableParameters(), pg, 8 * 42).bucketCount());
      assertEquals(4, new GradientSync(names, m.trainableParameters(), pg, 8).bucketCount());
    }
  }

  @Test
  void oneRankLeavesGradientsUntouched() {
    ProcessGroup pg = ProcessGroups.create(List.of(Device.CPU)).getFirst();
    try (Sequential m = model(DType.F32, 3);
        var s = Scope.open();
        GradientSync sync = GradientSync.of(m, pg)) {
      loss(m, DType.F32, 0, BATCH).backward();
      Parameter w = m.trainableParameters().getFirst();
      Tensor g = w.grad();
      double[] before = g.toDoubleArray();
      sync.averageGradients();
      assertSame(g, w.grad());
      assertArrayEquals(before, w.grad().toDoubleArray(), 0.0);
    }
  }

  @Test
  void aParameterWithoutGradientIsNamed() throws Exception {
    List<ProcessGroup> groups = ProcessGroups.create(List.of(Device.CPU, Device.CPU));
    var e =
        assertThrows(
            ExecutionException.class,
            () ->
                onRanks(
                    groups,
                    pg -> {
                      try (Sequential m = model(DType.F32, 5);
                          var s = Scope.open();
                          GradientSync sync = GradientSync.of(m, pg)) {
                        loss(m, DType.F32, 0, 2).backward();
                        if (pg.rank() == 0) m.trainableParameters().get(3).data().zeroGrad();
                        sync.averageGradients();
                        return 0;
                      }
                    }));
    String msg = e.getCause().getMessage();
    assertTrue(msg.contains("parameter 2.bias has no gradient on rank 0 of 2"), msg);
  }
}
