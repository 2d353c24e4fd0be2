package io.kinema.tensor.distributed;

import io.kinema.tensor.Device;
import io.kinema.tensor.Tensor;
import java.util.List;

/**
 * One rank's handle on a group of replicas that exchange tensors (PyTorch's {@code
 * torch.distributed} process group, for one JVM driving several devices): rank {@code r} of {@link
 * #worldSize()} calls the collectives on its own thread with tensors on its own {@link #device()}.
 * Every rank must call the same collectives in the same order with tensors of the same dtype and
 * size; a collective returns once this rank's part is done (on CUDA: once it is queued on the
 * device's stream, ordered with the backend's other work).
 *
 * <p>Tensors must be contiguous. Results are the same bits on every rank. Get the handles of a
 * group with {@link ProcessGroups#create}: in-process rendezvous for CPU replicas, NCCL for CUDA
 * devices. A replica that fails calls {@link #abort}: the other ranks stop waiting for it, in the
 * host threads and on the GPUs, and fail instead of hanging.
 */
public interface ProcessGroup extends AutoCloseable {
  /** How {@link #allReduce} and {@link #reduceScatter} combine the ranks' values. */
  enum ReduceOp {
    /** Elementwise sum. */
    SUM,
    /** Elementwise sum divided by the world size (floating-point dtypes only). */
    AVG
  }

  /** This handle's rank, {@code 0 <= rank < worldSize}. */
  int rank();

  /** The number of ranks. */
  int worldSize();

  /** The device of this rank's tensors. */
  Device device();

  /** In place: every rank's {@code tensor} becomes the reduction of all ranks' tensors. */
  void allReduce(Tensor tensor, ReduceOp op);

  /**
   * {@link #allReduce(Tensor, ReduceOp)} of several tensors in one exchange (one NCCL group):
   * cheaper than separate calls.
   */
  void allReduce(List<Tensor> tensors, ReduceOp op);

  /** In place: every rank's {@code tensor} becomes rank {@code root}'s. */
  void broadcast(Tensor tensor, int root);

  /**
   * Every rank's {@code output} ({@code worldSize} times {@code input}'s elements) receives all
   * ranks' inputs, rank {@code i}'s at element {@code i * input.numel()}.
   */
  void allGather(Tensor input, Tensor output);

  /**
   * Rank {@code i}'s {@code output} receives block {@code i} ({@code output.numel()} elements) of
   * the reduction of all ranks' {@code input} ({@code worldSize} times as many elements).
   */
  void reduceScatter(Tensor input, Tensor output, ReduceOp op);

  /** Returns once every rank has called it (and, on CUDA, the rank's queued work is done). */
  void barrier();

  /**
   * Ends the group on every rank at once, for a rank that failed: collectives in flight on the
   * other ranks are abandoned (NCCL: {@code ncclCommAbort} on every rank's communicator, so GPUs
   * waiting for the failed rank stop waiting, leaving those collectives' outputs undefined) and
   * every later collective on any rank throws {@link IllegalStateException} naming {@code reason}.
   * Each handle must still be closed. Any thread may call it, more than once (the first reason is
   * kept).
   */
  void abort(String reason);

  /**
   * Leaves the group. In-process groups also release the ranks still waiting in a collective (they
   * fail); on CUDA it waits for this rank's queued work, so a rank that failed must {@link #abort}
   * first.
   */
  @Override
  void close();
}
