package io.kinema.ffi.cuda;

import static java.lang.foreign.MemoryLayout.sequenceLayout;
import static java.lang.foreign.MemoryLayout.structLayout;
import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import io.kinema.ffi.CTypes;
import io.kinema.ffi.Downcall;
import io.kinema.ffi.NativeLibrary;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.invoke.MethodHandle;
import java.util.Arrays;

/**
 * NCCL ({@code libnccl.so.2}) through FFM: communicators and the collectives data-parallel and
 * sharded training use (all-reduce, reduce-scatter, all-gather, broadcast), with group calls.
 * Optional: see {@link CudaLibrary#NCCL}; without it every call throws {@link
 * UnsupportedOperationException} with the reason. A non-zero {@code ncclResult_t} throws {@link
 * NcclException}.
 *
 * <p>Buffers are device addresses, counts are elements of the {@link DataType}; communicators and
 * streams are opaque handles. Collectives are enqueued on the stream and return at once. One
 * process driving several GPUs must bracket the per-GPU calls with {@link #groupStart()} / {@link
 * #groupEnd()}.
 */
public final class Nccl {
  private Nccl() {}

  /** {@code ncclUniqueId}: 128 opaque bytes, made by rank 0 and sent to the others. */
  public static final StructLayout UNIQUE_ID =
      structLayout(sequenceLayout(128, JAVA_BYTE).withName("internal")).withName("ncclUniqueId");

  /** {@code ncclDataType_t} ({@code nccl<Name>}). */
  public enum DataType {
    INT8(0),
    UINT8(1),
    INT32(2),
    UINT32(3),
    INT64(4),
    UINT64(5),
    FLOAT16(6),
    FLOAT32(7),
    FLOAT64(8),
    /** NCCL 2.10 and later. */
    BFLOAT16(9),
    /** NCCL 2.24 and later, on Hopper and later GPUs. */
    FLOAT8E4M3(10),
    /** NCCL 2.24 and later, on Hopper and later GPUs. */
    FLOAT8E5M2(11);

    private final int code;

    DataType(int code) {
      this.code = code;
    }

    /** The C enum value. */
    public int code() {
      return code;
    }
  }

  /** {@code ncclRedOp_t} ({@code nccl<Name>}). */
  public enum RedOp {
    SUM(0),
    PROD(1),
    MAX(2),
    MIN(3),
    /** Sum divided by the number of ranks (NCCL 2.10 and later). */
    AVG(4);

    private final int code;

    RedOp(int code) {
      this.code = code;
    }

    /** The C enum value. */
    public int code() {
      return code;
    }
  }

  /** {@code ncclResult_t} names, by value (NCCL has no function for them). */
  private static final String[] RESULT_NAMES = {
    "ncclSuccess",
    "ncclUnhandledCudaError",
    "ncclSystemError",
    "ncclInternalError",
    "ncclInvalidArgument",
    "ncclInvalidUsage",
    "ncclRemoteError",
    "ncclInProgress",
    "ncclTimeout"
  };

  private static final NativeLibrary LIBRARY = CudaLibrary.NCCL.library();

  private static final CTypes C =
      CTypes.standard()
          .ints("ncclResult_t", "ncclDataType_t", "ncclRedOp_t")
          .pointers("ncclComm_t", "cudaStream_t")
          .struct("ncclUniqueId", UNIQUE_ID);

  private static Downcall fn(String prototype) {
    return LIBRARY.downcall(C, prototype);
  }

  private static final Downcall GET_VERSION = fn("ncclResult_t ncclGetVersion(int *version)");
  private static final Downcall GET_UNIQUE_ID =
      fn("ncclResult_t ncclGetUniqueId(ncclUniqueId* uniqueId)");
  private static final Downcall COMM_INIT_RANK =
      fn(
          "ncclResult_t ncclCommInitRank(ncclComm_t* comm, int nranks, ncclUniqueId commId,"
              + " int rank)");
  private static final Downcall COMM_INIT_ALL =
      fn("ncclResult_t ncclCommInitAll(ncclComm_t* comm, int ndev, const int* devlist)");
  private static final Downcall COMM_DESTROY = fn("ncclResult_t ncclCommDestroy(ncclComm_t comm)");
  private static final Downcall COMM_ABORT = fn("ncclResult_t ncclCommAbort(ncclComm_t comm)");
  private static final Downcall ALL_REDUCE =
      fn(
          "ncclResult_t ncclAllReduce(const void* sendbuff, void* recvbuff, size_t count,"
              + " ncclDataType_t datatype, ncclRedOp_t op, ncclComm_t comm, cudaStream_t stream)");
  private static final Downcall REDUCE_SCATTER =
      fn(
          "ncclResult_t ncclReduceScatter(const void* sendbuff, void* recvbuff,"
              + " size_t recvcount, ncclDataType_t datatype, ncclRedOp_t op, ncclComm_t comm,"
              + " cudaStream_t stream)");
  private static final Downcall ALL_GATHER =
      fn(
          "ncclResult_t ncclAllGather(const void* sendbuff, void* recvbuff, size_t sendcount,"
              + " ncclDataType_t datatype, ncclComm_t comm, cudaStream_t stream)");
  private static final Downcall BROADCAST =
      fn(
          "ncclResult_t ncclBroadcast(const void* sendbuff, void* recvbuff, size_t count,"
              + " ncclDataType_t datatype, int root, ncclComm_t comm, cudaStream_t stream)");
  private static final Downcall GROUP_START = fn("ncclResult_t ncclGroupStart()");
  private static final Downcall GROUP_END = fn("ncclResult_t ncclGroupEnd()");
  private static final Downcall GET_ERROR_STRING =
      fn("const char* ncclGetErrorString(ncclResult_t result)");
  // NCCL 2.13 and later.
  private static final Downcall GET_LAST_ERROR =
      fn("const char* ncclGetLastError(ncclComm_t comm)");

  /** The library description (search order, where it was loaded from). */
  public static NativeLibrary library() {
    return LIBRARY;
  }

  /** Whether NCCL was found and loaded (searches on the first call). */
  public static boolean isAvailable() {
    return LIBRARY.isAvailable();
  }

  /** What was looked for where, when NCCL is unavailable; null when it is available. */
  public static String unavailableReason() {
    return LIBRARY.unavailableReason();
  }

  /** {@code ncclGetVersion}: e.g. 22703 for 2.27.3. */
  public static int getVersion() {
    MethodHandle h = GET_VERSION.handle();
    try (Arena a = Arena.ofConfined()) {
      MemorySegment out = a.allocate(JAVA_INT);
      check((int) h.invokeExact(out), "ncclGetVersion");
      return out.get(JAVA_INT, 0);
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
  }

  /** {@code ncclGetUniqueId}: a new id, in {@code arena}, for {@link #commInitRank}. */
  public static MemorySegment getUniqueId(Arena arena) {
    MethodHandle h = GET_UNIQUE_ID.handle();
    MemorySegment id = arena.allocate(UNIQUE_ID);
    int status;
    try {
      status = (int) h.invokeExact(id);
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
    check(status, "ncclGetUniqueId");
    return id;
  }

  /**
   * {@code ncclCommInitRank}: joins rank {@code rank} of {@code nranks} to the communicator {@code
   * uniqueId} names, on the current context's device. Blocks until all ranks have joined.
   */
  public static MemorySegment commInitRank(int nranks, MemorySegment uniqueId, int rank) {
    String call = "ncclCommInitRank(nranks " + nranks + ", rank " + rank + ")";
    Ffi.hostBuffer(call, "unique id", uniqueId, UNIQUE_ID.byteSize());
    MethodHandle h = COMM_INIT_RANK.handle();
    try (Arena a = Arena.ofConfined()) {
      MemorySegment out = a.allocate(ADDRESS);
      MemorySegment id = uniqueId.asSlice(0, UNIQUE_ID.byteSize());
      check((int) h.invokeExact(out, nranks, id, rank), call);
      return out.get(ADDRESS, 0);
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
  }

  /**
   * {@code ncclCommInitAll}: one communicator per device of {@code devices} (CUDA ordinals) for a
   * single process driving them all; element i is rank i's.
   */
  public static MemorySegment[] commInitAll(int... devices) {
    String call = "ncclCommInitAll(devices " + Arrays.toString(devices) + ")";
    if (devices.length == 0) throw new IllegalArgumentException(call + ": no devices");
    MethodHandle h = COMM_INIT_ALL.handle();
    try (Arena a = Arena.ofConfined()) {
      MemorySegment comms = a.allocate(ADDRESS, devices.length);
      int status = (int) h.invokeExact(comms, devices.length, a.allocateFrom(JAVA_INT, devices));
      check(status, call);
      var out = new MemorySegment[devices.length];
      for (int i = 0; i < out.length; i++) out[i] = comms.getAtIndex(ADDRESS, i);
      return out;
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
  }

  /** {@code ncclCommDestroy}: frees the communicator once its pending operations are done. */
  public static void commDestroy(MemorySegment comm) {
    Ffi.handle("ncclCommDestroy", "communicator", comm);
    MethodHandle h = COMM_DESTROY.handle();
    int status;
    try {
      status = (int) h.invokeExact(comm);
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
    check(status, "ncclCommDestroy");
  }

  /**
   * {@code ncclCommAbort}: frees the communicator at once, abandoning its uncompleted operations (a
   * GPU waiting in a collective for a rank that will never join stops waiting). May be called from
   * another thread than the one using the communicator; the handle is invalid afterwards.
   */
  public static void commAbort(MemorySegment comm) {
    Ffi.handle("ncclCommAbort", "communicator", comm);
    MethodHandle h = COMM_ABORT.handle();
    int status;
    try {
      status = (int) h.invokeExact(comm);
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
    check(status, "ncclCommAbort");
  }

  /**
   * {@code ncclAllReduce}: every rank's {@code recv} gets the reduction of all ranks' {@code send}
   * ({@code count} elements; in place when {@code send == recv}).
   */
  public static void allReduce(
      long send,
      long recv,
      long count,
      DataType type,
      RedOp op,
      MemorySegment comm,
      MemorySegment stream) {
    String call = "ncclAllReduce";
    collective(call, comm, count);
    MethodHandle h = ALL_REDUCE.handle();
    int status;
    try {
      status =
          (int)
              h.invokeExact(
                  Ffi.device(send), Ffi.device(recv), count, type.code(), op.code(), comm, stream);
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
    if (status != 0) throw error(status, describe(call, count, type, op), comm);
  }

  /**
   * {@code ncclReduceScatter}: rank i's {@code recv} gets block i ({@code recvCount} elements) of
   * the reduction of all ranks' {@code send} ({@code nranks * recvCount} elements).
   */
  public static void reduceScatter(
      long send,
      long recv,
      long recvCount,
      DataType type,
      RedOp op,
      MemorySegment comm,
      MemorySegment stream) {
    String call = "ncclReduceScatter";
    collective(call, comm, recvCount);
    MethodHandle h = REDUCE_SCATTER.handle();
    int status;
    try {
      status =
          (int)
              h.invokeExact(
                  Ffi.device(send),
                  Ffi.device(recv),
                  recvCount,
                  type.code(),
                  op.code(),
                  comm,
                  stream);
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
    if (status != 0) throw error(status, describe(call, recvCount, type, op), comm);
  }

  /**
   * {@code ncclAllGather}: every rank's {@code recv} gets all ranks' {@code send} ({@code
   * sendCount} elements each), rank i's at element {@code i * sendCount}.
   */
  public static void allGather(
      long send,
      long recv,
      long sendCount,
      DataType type,
      MemorySegment comm,
      MemorySegment stream) {
    String call = "ncclAllGather";
    collective(call, comm, sendCount);
    MethodHandle h = ALL_GATHER.handle();
    int status;
    try {
      status =
          (int)
              h.invokeExact(
                  Ffi.device(send), Ffi.device(recv), sendCount, type.code(), comm, stream);
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
    if (status != 0) throw error(status, describe(call, sendCount, type, null), comm);
  }

  /** {@code ncclBroadcast}: every rank's {@code recv} gets rank {@code root}'s {@code send}. */
  public static void broadcast(
      long send,
      long recv,
      long count,
      DataType type,
      int root,
      MemorySegment comm,
      MemorySegment stream) {
    String call = "ncclBroadcast";
    collective(call, comm, count);
    MethodHandle h = BROADCAST.handle();
    int status;
    try {
      status =
          (int)
              h.invokeExact(
                  Ffi.device(send), Ffi.device(recv), count, type.code(), root, comm, stream);
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
    if (status != 0) {
      String what = describe(call, count, type, null);
      throw error(status, what.substring(0, what.length() - 1) + ", root " + root + ")", comm);
    }
  }

  /** {@code ncclGroupStart}: collect the following calls into one launch. */
  public static void groupStart() {
    MethodHandle h = GROUP_START.handle();
    int status;
    try {
      status = (int) h.invokeExact();
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
    check(status, "ncclGroupStart");
  }

  /** {@code ncclGroupEnd}: launch the calls since {@link #groupStart()}. */
  public static void groupEnd() {
    MethodHandle h = GROUP_END.handle();
    int status;
    try {
      status = (int) h.invokeExact();
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
    check(status, "ncclGroupEnd");
  }

  /** {@code ncclGetErrorString}: the status's description. */
  public static String getErrorString(int status) {
    MethodHandle h = GET_ERROR_STRING.handle();
    try {
      return Ffi.string((MemorySegment) h.invokeExact(status));
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
  }

  /**
   * {@code ncclGetLastError}: a human-readable message of the last error ({@code comm} may be
   * NULL); "" when there is none or NCCL is older than 2.13.
   */
  public static String getLastError(MemorySegment comm) {
    if (!GET_LAST_ERROR.isPresent()) return "";
    MethodHandle h = GET_LAST_ERROR.handle();
    try {
      return Ffi.string((MemorySegment) h.invokeExact(comm)).strip();
    } catch (Throwable t) {
      throw Ffi.rethrow(t);
    }
  }

  /** The C name of an {@code ncclResult_t}, e.g. {@code "ncclInvalidArgument"}. */
  public static String resultName(int status) {
    return status >= 0 && status < RESULT_NAMES.length
        ? RESULT_NAMES[status]
        : "ncclResult_t " + status;
  }

  // ----------------------------------------------------------------------------- helpers

  private static void collective(String call, MemorySegment comm, long count) {
    Ffi.handle(call, "communicator", comm);
    Ffi.nonNegative(call, "count", count);
  }

  private static String describe(String call, long count, DataType type, RedOp op) {
    return call + "(" + count + " x " + type + (op == null ? "" : ", " + op) + ")";
  }

  private static void check(int status, String call) {
    if (status != 0) throw error(status, call, MemorySegment.NULL);
  }

  /** The exception for {@code status}: NCCL's description plus its last-error detail. */
  static NcclException error(int status, String call, MemorySegment comm) {
    String text = getErrorString(status);
    String detail = getLastError(comm);
    if (!detail.isEmpty() && !detail.equals(text)) text = text + ": " + detail;
    return new NcclException(call, status, resultName(status), text);
  }
}
