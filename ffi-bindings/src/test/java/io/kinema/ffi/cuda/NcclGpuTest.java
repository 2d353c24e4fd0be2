package io.kinema.ffi.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kinema.ffi.cuda.Nccl.DataType;
import io.kinema.ffi.cuda.Nccl.RedOp;
import io.kinema.ffi.cuda.junit.RequiresCuda;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * NCCL on one GPU: a single-rank communicator (from {@code ncclCommInitAll} and from a unique id
 * passed by value to {@code ncclCommInitRank}), whose collectives copy their input.
 */
@RequiresCuda(CudaLibrary.NCCL)
class NcclGpuTest {
  private final Random rnd = new Random(19);

  @Test
  void singleRankCollectivesCopyTheirInput() {
    Gpu.use();
    assertTrue(Nccl.getVersion() >= 20000, "NCCL " + Nccl.getVersion());
    MemorySegment comm = Nccl.commInitAll(0)[0];
    MemorySegment stream = CudaDriver.streamCreate(CudaDriver.STREAM_NON_BLOCKING);
    int n = 4099;
    float[] v = Gpu.random(rnd, n);
    long send = Gpu.upload(v), recv = Gpu.zeros(4L * n);
    try {
      Nccl.allReduce(send, recv, n, DataType.FLOAT32, RedOp.SUM, comm, stream);
      assertArrayEquals(v, sync(recv, n, stream), "allReduce");

      Nccl.groupStart();
      Nccl.allReduce(recv, recv, n, DataType.FLOAT32, RedOp.AVG, comm, stream); // in place
      Nccl.groupEnd();
      assertArrayEquals(v, sync(recv, n, stream), "grouped in-place allReduce AVG");

      CudaDriver.memsetD8Async(recv, (byte) 0, 4L * n, stream);
      Nccl.reduceScatter(send, recv, n, DataType.FLOAT32, RedOp.MAX, comm, stream);
      assertArrayEquals(v, sync(recv, n, stream), "reduceScatter");

      CudaDriver.memsetD8Async(recv, (byte) 0, 4L * n, stream);
      Nccl.allGather(send, recv, n, DataType.FLOAT32, comm, stream);
      assertArrayEquals(v, sync(recv, n, stream), "allGather");

      CudaDriver.memsetD8Async(recv, (byte) 0, 4L * n, stream);
      Nccl.broadcast(send, recv, n, DataType.FLOAT32, 0, comm, stream);
      assertArrayEquals(v, sync(recv, n, stream), "broadcast");
    } finally {
      Gpu.free(send, recv);
      Nccl.commDestroy(comm);
      CudaDriver.streamDestroy(stream);
    }
  }

  private static float[] sync(long d, int n, MemorySegment stream) {
    CudaDriver.streamSynchronize(stream);
    return Gpu.download(d, n);
  }

  @Test
  void uniqueIdIsPassedByValueToCommInitRank() {
    Gpu.use();
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment id = Nccl.getUniqueId(arena);
      assertEquals(128, id.byteSize());
      MemorySegment comm = Nccl.commInitRank(1, id, 0);
      long buf = Gpu.upload(new float[] {1f, 2f, 3f});
      try {
        Nccl.allReduce(buf, buf, 3, DataType.FLOAT32, RedOp.SUM, comm, MemorySegment.NULL);
        CudaDriver.streamSynchronize(MemorySegment.NULL);
        assertArrayEquals(new float[] {1f, 2f, 3f}, Gpu.download(buf, 3));
      } finally {
        Gpu.free(buf);
        Nccl.commDestroy(comm);
      }
    }
    // Two ranks on one GPU: NCCL refuses (ncclInvalidUsage, "Duplicate GPU detected").
    var e = assertThrows(NcclException.class, () -> Nccl.commInitAll(0, 0));
    assertEquals(Nccl.resultName(e.status()), e.statusName());
    assertTrue(e.call().startsWith("ncclCommInitAll(devices [0, 0])"), e.call());
  }
}
