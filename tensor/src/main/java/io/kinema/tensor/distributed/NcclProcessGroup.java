package io.kinema.tensor.distributed;

import io.kinema.ffi.cuda.Nccl;
import io.kinema.tensor.Backends;
import io.kinema.tensor.DType;
import io.kinema.tensor.Device;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.cuda.CudaBackend;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * A rank of a group of CUDA devices in this process, through NCCL: {@code ncclCommInitAll} makes
 * one communicator per device, and each rank enqueues its collectives on its device's stream (the
 * one the CUDA backend runs everything on), so they are ordered with the rank's other ops without
 * events. Calls return once queued; NCCL brings the ranks together on the GPUs. The ranks' calls
 * come from their own threads; calls on several tensors at once are one NCCL group. {@link #abort}
 * aborts every rank's communicator, since a GPU waiting for a rank that failed would otherwise wait
 * forever, and with it the host thread that synchronizes with that GPU.
 */
final class NcclProcessGroup implements ProcessGroup {
  /**
   * What the ranks of one {@code ncclCommInitAll} share: the communicators, and whether aborted.
   */
  private static final class Clique {
    final MemorySegment[] comms;
    volatile String abortedBy;

    Clique(MemorySegment[] comms) {
      this.comms = comms;
    }

    synchronized void abort(String reason) {
      if (abortedBy != null) return;
      abortedBy = reason;
      for (MemorySegment c : comms) Nccl.commAbort(c);
    }
  }

  private final int rank;
  private final int worldSize;
  private final Device device;
  private final CudaBackend backend;
  private final Clique clique;
  private final MemorySegment comm;
  private final Tensor barrierScratch;
  private boolean closed;

  private NcclProcessGroup(int rank, Device device, Clique clique) {
    this.rank = rank;
    this.worldSize = clique.comms.length;
    this.device = device;
    this.backend = (CudaBackend) Backends.of(device);
    this.clique = clique;
    this.comm = clique.comms[rank];
    try (Tensor scratch = Tensor.zeros(DType.F32, device, 1)) {
      this.barrierScratch = scratch.share(); // the group's own, in no caller's scope
    }
  }

  /** One communicator per device (distinct CUDA devices), element i rank i's. */
  static List<ProcessGroup> create(List<Device> devices) {
    if (!Nccl.isAvailable()) {
      throw new IllegalStateException(
          "cannot make a process group of "
              + devices
              + ": NCCL is not available: "
              + Nccl.library().shortReason());
    }
    int[] ordinals = new int[devices.size()];
    for (int i = 0; i < ordinals.length; i++) {
      Backends.of(devices.get(i)); // fails clearly when the device is not usable
      ordinals[i] = devices.get(i).index();
    }
    Clique clique = new Clique(Nccl.commInitAll(ordinals));
    List<ProcessGroup> ranks = new ArrayList<>();
    for (int i = 0; i < devices.size(); i++) {
      ranks.add(new NcclProcessGroup(i, devices.get(i), clique));
    }
    return List.copyOf(ranks);
  }

  @Override
  public int rank() {
    return rank;
  }

  @Override
  public int worldSize() {
    return worldSize;
  }

  @Override
  public Device device() {
    return device;
  }

  @Override
  public void allReduce(Tensor tensor, ReduceOp op) {
    allReduce(List.of(tensor), op);
  }

  @Override
  public void allReduce(List<Tensor> tensors, ReduceOp op) {
    String call = "allReduce";
    ensureOpen(call);
    for (Tensor t : tensors) {
      Collectives.tensor(call, this, "tensor", t);
      Collectives.reducible(call, this, t, op);
    }
    boolean group = tensors.size() > 1;
    if (group) Nccl.groupStart();
    try {
      for (Tensor t : tensors) {
        long p = address(t);
        Nccl.allReduce(p, p, t.numel(), dataType(t), redOp(op), comm, stream());
      }
    } finally {
      if (group) Nccl.groupEnd();
    }
    bumpVersions(tensors);
  }

  @Override
  public void broadcast(Tensor tensor, int root) {
    String call = "broadcast";
    ensureOpen(call);
    Collectives.tensor(call, this, "tensor", tensor);
    Collectives.root(call, this, root);
    long p = address(tensor);
    Nccl.broadcast(p, p, tensor.numel(), dataType(tensor), root, comm, stream());
    bumpVersions(List.of(tensor));
  }

  @Override
  public void allGather(Tensor input, Tensor output) {
    String call = "allGather";
    ensureOpen(call);
    Collectives.tensor(call, this, "input", input);
    Collectives.tensor(call, this, "output", output);
    Collectives.worldSized(call, this, input, output, "output");
    Nccl.allGather(address(input), address(output), input.numel(), dataType(input), comm, stream());
    bumpVersions(List.of(output));
  }

  @Override
  public void reduceScatter(Tensor input, Tensor output, ReduceOp op) {
    String call = "reduceScatter";
    ensureOpen(call);
    Collectives.tensor(call, this, "input", input);
    Collectives.tensor(call, this, "output", output);
    Collectives.worldSized(call, this, output, input, "input");
    Collectives.reducible(call, this, input, op);
    Nccl.reduceScatter(
        address(input),
        address(output),
        output.numel(),
        dataType(input),
        redOp(op),
        comm,
        stream());
    bumpVersions(List.of(output));
  }

  /**
   * NCCL has no barrier: a one-element all-reduce, then this rank's stream is drained (and an abort
   * meanwhile is reported, since the all-reduce was then abandoned).
   */
  @Override
  public void barrier() {
    allReduce(barrierScratch, ReduceOp.SUM);
    backend.synchronize();
    ensureOpen("barrier");
  }

  @Override
  public void abort(String reason) {
    clique.abort(reason);
  }

  /**
   * Waits for this rank's queued work, then destroys its communicator (which an abort already
   * freed).
   */
  @Override
  public void close() {
    if (closed) return;
    closed = true;
    try {
      backend.synchronize();
    } finally {
      barrierScratch.close();
      synchronized (clique) {
        if (clique.abortedBy == null) Nccl.commDestroy(comm);
      }
    }
  }

  @Override
  public String toString() {
    return "NcclProcessGroup(rank " + rank + " of " + worldSize + ", " + device + ")";
  }

  // ---------------------------------------------------------------- helpers

  private MemorySegment stream() {
    return backend.stream().handle();
  }

  private void ensureOpen(String call) {
    if (closed) throw new IllegalStateException(call + " (rank " + rank + "): the group is closed");
    String reason = clique.abortedBy;
    if (reason != null) {
      throw new IllegalStateException(
          call + " (rank " + rank + "): the process group was aborted (" + reason + ")");
    }
  }

  /** The device address of {@code t}'s first element. */
  private static long address(Tensor t) {
    return t.storage().segment().address() + t.offset() * t.dtype().byteSize();
  }

  /**
   * Collectives write the tensors behind autograd's back: mark them changed, as in-place ops do.
   */
  private static void bumpVersions(List<Tensor> ts) {
    for (Tensor t : ts) t.storage().bumpVersion();
  }

  private static Nccl.DataType dataType(Tensor t) {
    return switch (t.dtype()) {
      case F64 -> Nccl.DataType.FLOAT64;
      case F32 -> Nccl.DataType.FLOAT32;
      case F16 -> Nccl.DataType.FLOAT16;
      case BF16 -> Nccl.DataType.BFLOAT16;
      case I64 -> Nccl.DataType.INT64;
      case I32 -> Nccl.DataType.INT32;
      case U8, BOOL -> Nccl.DataType.UINT8;
    };
  }

  private static Nccl.RedOp redOp(ReduceOp op) {
    return switch (op) {
      case SUM -> Nccl.RedOp.SUM;
      case AVG -> Nccl.RedOp.AVG;
    };
  }
}
