package io.kinema.tensor.distributed;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.kinema.ffi.cuda.CudaDevices;
import io.kinema.ffi.cuda.CudaLibrary;
import io.kinema.ffi.cuda.NcclException;
import io.kinema.ffi.cuda.junit.RequiresCuda;
import io.kinema.tensor.DType;
import io.kinema.tensor.Device;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.distributed.ProcessGroup.ReduceOp;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The NCCL process group over the CUDA devices of this machine (two where there are two or more,
 * else one), one thread per rank, against CPU references.
 */
@RequiresCuda(CudaLibrary.NCCL)
class NcclProcessGroupTest {
  private List<ProcessGroup> groups;

  @BeforeEach
  void open() {
    List<Device> devices = new ArrayList<>();
    for (int i = 0; i < Math.min(2, CudaDevices.count()); i++) devices.add(Device.cuda(i));
    groups = ProcessGroups.create(devices);
  }

  @AfterEach
  void close() {
    Ranks.run(
        groups,
        g -> {
          g.close();
          return 0;
        });
  }

  private int world() {
    return groups.size();
  }

  private static float[] values(long seed, int rank, int n) {
    Random r = new Random(seed * 31 + rank);
    float[] v = new float[n];
    for (int i = 0; i < n; i++) v[i] = (float) r.nextGaussian();
    return v;
  }

  @Test
  void allReduceSumAndAverage() {
    int n = 3000;
    for (ReduceOp op : ReduceOp.values()) {
      List<float[]> got =
          Ranks.run(
              groups,
              pg -> {
                try (var s = Scope.open()) {
                  Tensor t = Tensor.of(values(1, pg.rank(), n), 30, 100).to(pg.device());
                  pg.allReduce(t, op);
                  return t.toFloatArray();
                }
              });
      float[] want = new float[n];
      for (int i = 0; i < n; i++) {
        float acc = 0;
        for (int r = 0; r < world(); r++) acc += values(1, r, n)[i];
        want[i] = op == ReduceOp.AVG ? acc / world() : acc;
      }
      for (int r = 0; r < world(); r++) {
        assertArrayEquals(want, got.get(r), 1e-5f, op + " rank " + r);
        assertArrayEquals(got.getFirst(), got.get(r), 0f, op + ": the same bits on every rank");
      }
    }
  }

  @Test
  void allReduceOfSeveralTensorsIsOneGroup() {
    List<List<double[]>> got =
        Ranks.run(
            groups,
            pg -> {
              try (var s = Scope.open()) {
                Tensor a = Tensor.of(values(2, pg.rank(), 40), 40).to(DType.F64).to(pg.device());
                Tensor b = Tensor.of(values(3, pg.rank(), 9), 3, 3).to(DType.BF16).to(pg.device());
                pg.allReduce(List.of(a, b), ReduceOp.SUM);
                return List.of(a.toDoubleArray(), b.toDoubleArray());
              }
            });
    for (int i = 0; i < 40; i++) {
      double want = 0;
      for (int r = 0; r < world(); r++) want += values(2, r, 40)[i];
      for (int r = 0; r < world(); r++) assertEqualsTol(want, got.get(r).get(0)[i], 1e-12);
    }
    for (int i = 0; i < 9; i++) {
      double want = 0;
      for (int r = 0; r < world(); r++) want += values(3, r, 9)[i];
      for (int r = 0; r < world(); r++) assertEqualsTol(want, got.get(r).get(1)[i], 0.03);
    }
  }

  private static void assertEqualsTol(double want, double got, double tol) {
    assertTrue(Math.abs(want - got) <= tol * (1 + Math.abs(want)), want + " vs " + got);
  }

  @Test
  void broadcastAllGatherReduceScatterAndBarrier() {
    int n = 50;
    List<List<float[]>> got =
        Ranks.run(
            groups,
            pg -> {
              try (var s = Scope.open()) {
                Device d = pg.device();
                Tensor b = Tensor.of(values(4, pg.rank(), n), n).to(d);
                pg.broadcast(b, world() - 1);
                Tensor in = Tensor.of(values(5, pg.rank(), n), n).to(d);
                Tensor gathered = Tensor.zeros(DType.F32, d, (long) world() * n);
                pg.allGather(in, gathered);
                Tensor big = Tensor.of(values(6, pg.rank(), world() * n), world() * n).to(d);
                Tensor block = Tensor.zeros(DType.F32, d, n);
                pg.reduceScatter(big, block, ReduceOp.SUM);
                pg.barrier();
                return List.of(b.toFloatArray(), gathered.toFloatArray(), block.toFloatArray());
              }
            });
    for (int r = 0; r < world(); r++) {
      assertArrayEquals(values(4, world() - 1, n), got.get(r).get(0), "broadcast, rank " + r);
      float[] gathered = new float[world() * n];
      for (int q = 0; q < world(); q++) System.arraycopy(values(5, q, n), 0, gathered, q * n, n);
      assertArrayEquals(gathered, got.get(r).get(1), "allGather, rank " + r);
      float[] block = new float[n];
      for (int i = 0; i < n; i++) {
        for (int q = 0; q < world(); q++) block[i] += values(6, q, world() * n)[r * n + i];
      }
      assertArrayEquals(block, got.get(r).get(2), 1e-5f, "reduceScatter, rank " + r);
    }
  }

  @Test
  void aTensorOnAnotherDeviceIsRejected() {
    try (var s = Scope.open()) {
      Tensor host = Tensor.zeros(DType.F32, 4);
      var e =
          assertThrows(
              IllegalArgumentException.class,
              () -> groups.getFirst().allReduce(host, ReduceOp.SUM));
      assertTrue(e.getMessage().contains("is not on cuda:0"), e.getMessage());
    }
  }

  /**
   * A rank that fails aborts the group: the rank waiting for it in a collective (on its thread in
   * the emulation, on its GPU in real NCCL) is released and fails naming the cause, instead of
   * waiting forever.
   */
  @Test
  void aRankThatFailsAbortsTheGroupAndReleasesTheOthers() {
    assumeTrue(world() == 2, "needs two devices");
    long start = System.nanoTime();
    var e =
        assertThrows(
            IllegalStateException.class,
            () ->
                Ranks.run(
                    groups,
                    pg -> {
                      if (pg.rank() == 1) {
                        sleep(1000); // rank 0 is waiting in its collective by then
                        throw new IllegalStateException("rank 1 crashed");
                      }
                      try (var s = Scope.open()) {
                        pg.allReduce(Tensor.ones(DType.F32, pg.device(), 1024), ReduceOp.SUM);
                        pg.barrier();
                        return 0;
                      }
                    }));
    // rank 0's failure comes first (by rank): released, it found the group aborted
    assertTrue(e.getMessage().contains("aborted (rank 1 failed: rank 1 crashed)"), e.getMessage());
    assertTrue(System.nanoTime() - start < 30e9, "released by the abort, not by a timeout");
  }

  private static void sleep(long ms) {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  /** Real NCCL would hang on this; the emulated one reports it on every rank. */
  @Test
  void ranksThatDisagreeFailOnTheEmulator() {
    assumeTrue(CudaDevices.info(0).name().contains("emulated") && world() == 2);
    var e =
        assertThrows(
            NcclException.class,
            () ->
                Ranks.run(
                    groups,
                    pg -> {
                      try (var s = Scope.open()) {
                        Tensor t = Tensor.zeros(DType.F32, pg.device(), 4 + pg.rank());
                        pg.allReduce(t, ReduceOp.SUM);
                        return 0;
                      }
                    }));
    assertTrue(e.getMessage().contains("ncclInvalidUsage"), e.getMessage());
  }
}
