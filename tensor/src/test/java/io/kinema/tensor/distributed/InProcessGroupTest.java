package io.kinema.tensor.distributed;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kinema.tensor.DType;
import io.kinema.tensor.Device;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.distributed.ProcessGroup.ReduceOp;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** The in-process group's collectives against references, on several threads. */
class InProcessGroupTest {
  private static final int WORLD = 3;

  /** Rank r's random values (the same for a given seed and rank). */
  private static double[] values(long seed, int rank, int n) {
    Random r = new Random(seed * 31 + rank);
    double[] v = new double[n];
    for (int i = 0; i < n; i++) v[i] = r.nextGaussian();
    return v;
  }

  private static float[] floats(double[] v) {
    float[] f = new float[v.length];
    for (int i = 0; i < v.length; i++) f[i] = (float) v[i];
    return f;
  }

  private static List<ProcessGroup> group() {
    return ProcessGroups.create(List.of(Device.CPU, Device.CPU, Device.CPU));
  }

  @Test
  void allReduceSumsInRankOrderOnEveryRank() {
    int n = 1000;
    List<ProcessGroup> g = group();
    List<float[]> got =
        Ranks.run(
            g,
            pg -> {
              try (var s = Scope.open()) {
                Tensor t = Tensor.of(floats(values(1, pg.rank(), n)), 10, 100);
                pg.allReduce(t, ReduceOp.SUM);
                return t.toFloatArray();
              }
            });
    float[] want = new float[n];
    for (int i = 0; i < n; i++) {
      float acc = (float) values(1, 0, n)[i];
      for (int r = 1; r < WORLD; r++) acc += (float) values(1, r, n)[i];
      want[i] = acc;
    }
    for (int r = 0; r < WORLD; r++) assertArrayEquals(want, got.get(r), "rank " + r);
  }

  @Test
  void allReduceAverageInF64IsReproducible() {
    int n = 777;
    double[] want = new double[n];
    for (int i = 0; i < n; i++) {
      double acc = values(2, 0, n)[i];
      for (int r = 1; r < WORLD; r++) acc += values(2, r, n)[i];
      want[i] = acc / WORLD;
    }
    for (int run = 0; run < 2; run++) {
      List<double[]> got =
          Ranks.run(
              group(),
              pg -> {
                try (var s = Scope.open()) {
                  Tensor t = Tensor.of(values(2, pg.rank(), n), n);
                  pg.allReduce(t, ReduceOp.AVG);
                  return t.toDoubleArray();
                }
              });
      for (int r = 0; r < WORLD; r++) {
        assertArrayEquals(got.getFirst(), got.get(r), 0.0, "identical on every rank");
        assertArrayEquals(want, got.get(r), 1e-15, "rank " + r);
      }
    }
  }

  @Test
  void allReduceOfSeveralTensorsReducesEachOne() {
    List<List<double[]>> got =
        Ranks.run(
            group(),
            pg -> {
              try (var s = Scope.open()) {
                Tensor a = Tensor.of(values(3, pg.rank(), 12), 3, 4);
                Tensor b = Tensor.of(floats(values(4, pg.rank(), 5)), 5).to(DType.BF16);
                Tensor c = Tensor.of(new long[] {pg.rank(), 10L * pg.rank()}, 2);
                pg.allReduce(List.of(a, b, c), ReduceOp.SUM);
                return List.of(a.toDoubleArray(), b.toDoubleArray(), c.toDoubleArray());
              }
            });
    double[] sumA = new double[12];
    for (int r = 0; r < WORLD; r++) {
      for (int i = 0; i < 12; i++) sumA[i] += values(3, r, 12)[i];
    }
    for (int r = 0; r < WORLD; r++) {
      assertArrayEquals(sumA, got.get(r).get(0), 1e-14);
      assertArrayEquals(got.getFirst().get(1), got.get(r).get(1), 0.0);
      assertArrayEquals(new double[] {3, 30}, got.get(r).get(2), 0.0);
    }
    // bf16 rounds after each addition: close to the exact sum
    for (int i = 0; i < 5; i++) {
      double exact = 0;
      for (int r = 0; r < WORLD; r++) exact += values(4, r, 5)[i];
      assertEquals(exact, got.getFirst().get(1)[i], 0.05 * (1 + Math.abs(exact)));
    }
  }

  @Test
  void broadcastCopiesTheRootsTensor() {
    List<float[]> got =
        Ranks.run(
            group(),
            pg -> {
              try (var s = Scope.open()) {
                Tensor t = Tensor.of(floats(values(5, pg.rank(), 64)), 8, 8);
                pg.broadcast(t, 1);
                return t.toFloatArray();
              }
            });
    for (int r = 0; r < WORLD; r++) assertArrayEquals(floats(values(5, 1, 64)), got.get(r));
  }

  @Test
  void allGatherConcatenatesInRankOrder() {
    List<float[]> got =
        Ranks.run(
            group(),
            pg -> {
              try (var s = Scope.open()) {
                Tensor in = Tensor.of(floats(values(6, pg.rank(), 10)), 2, 5);
                Tensor out = Tensor.zeros(DType.F32, WORLD * 2, 5);
                pg.allGather(in, out);
                return out.toFloatArray();
              }
            });
    float[] want = new float[WORLD * 10];
    for (int r = 0; r < WORLD; r++) {
      System.arraycopy(floats(values(6, r, 10)), 0, want, r * 10, 10);
    }
    for (int r = 0; r < WORLD; r++) assertArrayEquals(want, got.get(r));
  }

  @Test
  void reduceScatterGivesEachRankItsBlockOfTheSum() {
    int block = 7;
    List<double[]> got =
        Ranks.run(
            group(),
            pg -> {
              try (var s = Scope.open()) {
                Tensor in = Tensor.of(values(7, pg.rank(), WORLD * block), WORLD * block);
                Tensor out = Tensor.zeros(DType.F64, block);
                pg.reduceScatter(in, out, ReduceOp.SUM);
                return out.toDoubleArray();
              }
            });
    for (int r = 0; r < WORLD; r++) {
      double[] want = new double[block];
      for (int i = 0; i < block; i++) {
        double acc = values(7, 0, WORLD * block)[r * block + i];
        for (int q = 1; q < WORLD; q++) acc += values(7, q, WORLD * block)[r * block + i];
        want[i] = acc;
      }
      assertArrayEquals(want, got.get(r), 0.0, "rank " + r);
    }
  }

  @Test
  void barrierWaitsForEveryRank() {
    AtomicInteger arrived = new AtomicInteger();
    List<Integer> seen =
        Ranks.run(
            group(),
            pg -> {
              arrived.incrementAndGet();
              pg.barrier();
              return arrived.get();
            });
    for (int s : seen) assertEquals(WORLD, s);
  }

  @Test
  void ranksThatDisagreeAllFail() {
    var e =
        assertThrows(
            IllegalStateException.class,
            () ->
                Ranks.run(
                    group(),
                    pg -> {
                      try (var s = Scope.open()) {
                        pg.allReduce(
                            Tensor.zeros(DType.F32, 4 + (pg.rank() == 2 ? 1 : 0)), ReduceOp.SUM);
                        return 0;
                      }
                    }));
    assertTrue(e.getMessage().contains("ranks disagree"), e.getMessage());
    assertTrue(e.getMessage().contains("rank 2"), e.getMessage());
  }

  @Test
  void aRankThatClosesReleasesTheWaitingOnes() {
    var e =
        assertThrows(
            IllegalStateException.class,
            () ->
                Ranks.run(
                    group(),
                    pg -> {
                      if (pg.rank() == 1) throw new IllegalStateException("rank 1 crashed");
                      try (var s = Scope.open()) {
                        pg.allReduce(Tensor.zeros(DType.F32, 4), ReduceOp.SUM);
                      }
                      return 0;
                    }));
    // rank 0's failure comes first: it was released by rank 1 aborting the group
    assertTrue(e.getMessage().contains("ended (rank 1 failed: rank 1 crashed)"), e.getMessage());
  }

  @Test
  void badArgumentsAreRejectedBeforeAnyExchange() {
    ProcessGroup pg = ProcessGroups.create(List.of(Device.CPU)).getFirst();
    try (var s = Scope.open()) {
      Tensor strided = Tensor.zeros(DType.F32, 4, 4).transpose(0, 1);
      var e1 =
          assertThrows(IllegalArgumentException.class, () -> pg.allReduce(strided, ReduceOp.SUM));
      assertTrue(e1.getMessage().contains("must be contiguous"), e1.getMessage());
      Tensor ints = Tensor.of(new long[] {1, 2}, 2);
      var e2 = assertThrows(IllegalArgumentException.class, () -> pg.allReduce(ints, ReduceOp.AVG));
      assertTrue(e2.getMessage().contains("cannot AVG"), e2.getMessage());
      var e3 =
          assertThrows(
              IllegalArgumentException.class,
              () -> pg.allGather(Tensor.zeros(DType.F32, 3), Tensor.zeros(DType.F32, 4)));
      assertTrue(e3.getMessage().contains("world size 1 x 3"), e3.getMessage());
      assertThrows(IllegalArgumentException.class, () -> pg.broadcast(ints, 1));
    }
    pg.close();
    assertThrows(IllegalStateException.class, pg::barrier);
  }

  @Test
  void groupsOfMixedOrRepeatedCudaDevicesAreRejected() {
    assertThrows(IllegalArgumentException.class, () -> ProcessGroups.create(List.of()));
    var mixed =
        assertThrows(
            IllegalArgumentException.class,
            () -> ProcessGroups.create(List.of(Device.CPU, Device.cuda(0))));
    assertTrue(mixed.getMessage().contains("all be cpu or all cuda"), mixed.getMessage());
    var twice =
        assertThrows(
            IllegalArgumentException.class,
            () -> ProcessGroups.create(List.of(Device.cuda(0), Device.cuda(0))));
    assertTrue(twice.getMessage().contains("one rank"), twice.getMessage());
  }
}
