package io.kinema.tensor.cuda;

import static io.kinema.tensor.cuda.DeviceTensors.address;

import io.kinema.ffi.cuda.Cudnn;
import io.kinema.ffi.cuda.Cudnn.AlgoPerf;
import io.kinema.ffi.cuda.Cudnn.ConvolutionMode;
import io.kinema.ffi.cuda.Cudnn.DataType;
import io.kinema.ffi.cuda.Cudnn.MathType;
import io.kinema.ffi.cuda.Cudnn.TensorFormat;
import io.kinema.ffi.cuda.CudnnException;
import io.kinema.tensor.DType;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.backend.BinaryOp;
import io.kinema.tensor.backend.ComposedConv3d;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.IntToLongFunction;

/**
 * 3-d convolutions through cuDNN's convolution API: forward, backward data (the input's gradient)
 * and backward filter (the weight's), on NCDHW tensors (operands in another layout are copied
 * dense; the channels-last output of the front-end is written through a dense scratch) in F32,
 * BF16, F16 and F64. 16-bit types compute in f32 with tensor cores allowed; F32 uses FMA kernels
 * only, or TF32 tensor cores with {@code -Dkinema.cuda.tf32=true} (the matmul setting); F64
 * computes in f64. The bias is added by the elementwise kernel.
 *
 * <p>Per shape a {@link Plan} keeps the descriptors and, per direction, the algorithm cuDNN's
 * heuristics ({@code cudnnGet*Algorithm_v7}) rank first among the deterministic ones, with its
 * workspace size; the workspace comes from the caching allocator on each call. Where cuDNN is not
 * installed, is turned off ({@code -Dkinema.cuda.cudnn=false}), offers no deterministic algorithm,
 * or a tensor has more elements than its 32-bit sizes take, the convolution runs {@link
 * ComposedConv3d} on the device instead (im2col and cuBLAS). The handle is created on first use and
 * works in the backend's stream.
 */
final class CudaConv {
  /** Plans kept (the least recently used is dropped with its descriptors). */
  private static final int PLANS = 64;

  /** Algorithms of each kind cuDNN 9 has (CUDNN_CONVOLUTION_*_ALGO_COUNT). */
  private static final int FWD_ALGOS = 8, BWD_DATA_ALGOS = 6, BWD_FILTER_ALGOS = 7;

  /**
   * Whether {@code status} is CUDNN_STATUS_NOT_SUPPORTED: 3000 to 3999 in cuDNN 9, 9 in cuDNN 8.
   */
  private static boolean notSupported(int status) {
    return (status >= 3000 && status < 4000) || (status == 9 && Cudnn.getVersion() < 9000);
  }

  private final CudaDevice device;
  private final CudaElementwise elementwise;
  private MemorySegment handle;
  private long cudnnCalls;

  private final Map<Key, Plan> plans =
      new LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<Key, Plan> eldest) {
          if (size() <= PLANS) return false;
          eldest.getValue().destroy();
          return true;
        }
      };

  CudaConv(CudaDevice device, CudaElementwise elementwise) {
    this.device = device;
    this.elementwise = elementwise;
  }

  /** Whether convolutions may use cuDNN: installed, and not turned off. */
  static boolean cudnnEnabled() {
    return !"false".equalsIgnoreCase(System.getProperty("kinema.cuda.cudnn"))
        && Cudnn.isAvailable();
  }

  /** How many convolutions cuDNN has run on this device (tests check the path taken). */
  synchronized long cudnnCalls() {
    return cudnnCalls;
  }

  void forward(Tensor x, Tensor w, Tensor bias, long[] stride, long[] padding, Tensor out) {
    if (!runForward(x, w, bias, stride, padding, out)) {
      ComposedConv3d.forward(x, w, bias, stride, padding, out);
    }
  }

  void backwardInput(Tensor gradOut, Tensor w, long[] stride, long[] padding, Tensor gradInput) {
    if (!runBackwardData(gradOut, w, stride, padding, gradInput)) {
      ComposedConv3d.backwardInput(gradOut, w, stride, padding, gradInput);
    }
  }

  void backwardWeight(Tensor x, Tensor gradOut, long[] stride, long[] padding, Tensor gradWeight) {
    if (!runBackwardFilter(x, gradOut, stride, padding, gradWeight)) {
      ComposedConv3d.backwardWeight(x, gradOut, stride, padding, gradWeight);
    }
  }

  // ---------------------------------------------------------------- the three convolutions

  private synchronized boolean runForward(
      Tensor x, Tensor w, Tensor bias, long[] stride, long[] padding, Tensor out) {
    Plan p = plan(x.dtype(), x.shape(), w.shape(), out.shape(), stride, padding);
    Algo algo = p == null ? null : p.forward();
    if (algo == null) return false;
    try (Tensor xd = dense(x);
        Tensor wd = dense(w);
        Tensor y =
            out.isContiguous() ? same(out) : DeviceTensors.empty(out.dtype(), out, out.shape());
        Tensor ws = algo.workspace(out);
        Arena arena = Arena.ofConfined()) {
      Cudnn.convolutionForward(
          handle,
          one(arena, x.dtype()),
          p.x,
          address(xd),
          p.w,
          address(wd),
          p.conv,
          algo.algo(),
          address(ws),
          algo.workspaceBytes(),
          zero(arena, x.dtype()),
          p.y,
          address(y));
      cudnnCalls++;
      if (bias != null) {
        long[] perChannel = {0, bias.stride(0), 0, 0, 0};
        try (Tensor b = DeviceTensors.view(bias, y.shape(), perChannel, bias.offset())) {
          elementwise.binary(BinaryOp.ADD, y, b, y);
        }
      }
      if (y.storage() != out.storage()) elementwise.copy(y, out);
    }
    return true;
  }

  private synchronized boolean runBackwardData(
      Tensor gradOut, Tensor w, long[] stride, long[] padding, Tensor gradInput) {
    Plan p = plan(w.dtype(), gradInput.shape(), w.shape(), gradOut.shape(), stride, padding);
    Algo algo = p == null ? null : p.backwardData();
    if (algo == null) return false;
    try (Tensor wd = dense(w);
        Tensor dy = dense(gradOut);
        Tensor ws = algo.workspace(gradInput);
        Arena arena = Arena.ofConfined()) {
      Cudnn.convolutionBackwardData(
          handle,
          one(arena, w.dtype()),
          p.w,
          address(wd),
          p.y,
          address(dy),
          p.conv,
          algo.algo(),
          address(ws),
          algo.workspaceBytes(),
          zero(arena, w.dtype()),
          p.x,
          address(gradInput));
      cudnnCalls++;
    }
    return true;
  }

  private synchronized boolean runBackwardFilter(
      Tensor x, Tensor gradOut, long[] stride, long[] padding, Tensor gradWeight) {
    Plan p = plan(x.dtype(), x.shape(), gradWeight.shape(), gradOut.shape(), stride, padding);
    Algo algo = p == null ? null : p.backwardFilter();
    if (algo == null) return false;
    try (Tensor xd = dense(x);
        Tensor dy = dense(gradOut);
        Tensor ws = algo.workspace(gradWeight);
        Arena arena = Arena.ofConfined()) {
      Cudnn.convolutionBackwardFilter(
          handle,
          one(arena, x.dtype()),
          p.x,
          address(xd),
          p.y,
          address(dy),
          p.conv,
          algo.algo(),
          address(ws),
          algo.workspaceBytes(),
          zero(arena, x.dtype()),
          p.w,
          address(gradWeight));
      cudnnCalls++;
    }
    return true;
  }

  /** {@code t} itself (a new reference) when it is dense NCDHW, else a dense copy. */
  private Tensor dense(Tensor t) {
    if (t.isContiguous()) return same(t);
    Tensor d = DeviceTensors.empty(t.dtype(), t, t.shape());
    elementwise.copy(t, d);
    return d;
  }

  /** A new reference to {@code t}'s view. */
  private static Tensor same(Tensor t) {
    return DeviceTensors.view(t, t.shape(), t.strides(), t.offset());
  }

  private static MemorySegment one(Arena arena, DType dt) {
    return dt == DType.F64
        ? arena.allocateFrom(ValueLayout.JAVA_DOUBLE, 1.0)
        : arena.allocateFrom(ValueLayout.JAVA_FLOAT, 1f);
  }

  private static MemorySegment zero(Arena arena, DType dt) {
    return dt == DType.F64
        ? arena.allocateFrom(ValueLayout.JAVA_DOUBLE, 0.0)
        : arena.allocateFrom(ValueLayout.JAVA_FLOAT, 0f);
  }

  // ---------------------------------------------------------------- plans

  /** What a plan is keyed by: the dtype and the three 5-d shapes' geometry. */
  private record Key(DType dtype, List<Long> x, List<Long> w, List<Long> stride, List<Long> pad) {
    static Key of(DType dt, long[] x, long[] w, long[] stride, long[] pad) {
      return new Key(dt, list(x), list(w), list(stride), list(pad));
    }

    private static List<Long> list(long[] a) {
      return Arrays.stream(a).boxed().toList();
    }
  }

  /**
   * The plan for these shapes, made on first use; null where cuDNN is off or missing, or a tensor
   * is too large for cuDNN's 32-bit sizes.
   */
  private Plan plan(DType dt, long[] x, long[] w, long[] y, long[] stride, long[] padding) {
    if (!cudnnEnabled()) return null;
    for (long[] shape : new long[][] {x, w, y}) {
      if (DeviceTensors.product(shape, 0, shape.length) > Integer.MAX_VALUE) return null;
    }
    Key key = Key.of(dt, x, w, stride, padding);
    Plan p = plans.get(key);
    if (p == null) {
      p = new Plan(handle(), dt, x, w, y, stride, padding);
      plans.put(key, p);
    }
    return p;
  }

  private MemorySegment handle() {
    if (handle == null) {
      MemorySegment h = Cudnn.create();
      Cudnn.setStream(h, device.stream().handle());
      handle = h;
    }
    return handle;
  }

  /** An algorithm and the workspace bytes it needs. */
  private record Algo(int algo, long workspaceBytes) {
    /** A workspace on {@code like}'s device (null for none; the caller closes it). */
    Tensor workspace(Tensor like) {
      return workspaceBytes == 0 ? null : DeviceTensors.empty(DType.U8, like, workspaceBytes);
    }
  }

  /** The descriptors of one convolution geometry and the algorithms chosen for it. */
  private static final class Plan {
    private final MemorySegment handle;
    final MemorySegment x, y, w, conv;

    /** Null until chosen; empty when cuDNN offers no usable algorithm. */
    private Optional<Algo> forward, backwardData, backwardFilter;

    Plan(
        MemorySegment handle,
        DType dt,
        long[] xs,
        long[] ws,
        long[] ys,
        long[] stride,
        long[] padding) {
      this.handle = handle;
      DataType type = dataType(dt);
      x = tensor(type, xs);
      y = tensor(type, ys);
      w = Cudnn.createFilterDescriptor();
      Cudnn.setFilterNdDescriptor(w, type, TensorFormat.NCHW, ints(ws));
      conv = Cudnn.createConvolutionDescriptor();
      Cudnn.setConvolutionNdDescriptor(
          conv,
          ints(padding),
          ints(stride),
          new int[] {1, 1, 1},
          ConvolutionMode.CROSS_CORRELATION,
          dt == DType.F64 ? DataType.DOUBLE : DataType.FLOAT);
      Cudnn.setConvolutionMathType(conv, mathType(dt));
    }

    Algo forward() {
      if (forward == null) {
        forward =
            choose(
                Cudnn.getConvolutionForwardAlgorithm(handle, x, w, conv, y, FWD_ALGOS),
                algo -> Cudnn.getConvolutionForwardWorkspaceSize(handle, x, w, conv, y, algo));
      }
      return forward.orElse(null);
    }

    Algo backwardData() {
      if (backwardData == null) {
        backwardData =
            choose(
                Cudnn.getConvolutionBackwardDataAlgorithm(handle, w, y, conv, x, BWD_DATA_ALGOS),
                algo -> Cudnn.getConvolutionBackwardDataWorkspaceSize(handle, w, y, conv, x, algo));
      }
      return backwardData.orElse(null);
    }

    Algo backwardFilter() {
      if (backwardFilter == null) {
        backwardFilter =
            choose(
                Cudnn.getConvolutionBackwardFilterAlgorithm(
                    handle, x, y, conv, w, BWD_FILTER_ALGOS),
                algo ->
                    Cudnn.getConvolutionBackwardFilterWorkspaceSize(handle, x, y, conv, w, algo));
      }
      return backwardFilter.orElse(null);
    }

    /**
     * The heuristics' best algorithm whose results are reproducible (some backward algorithms add
     * with atomics) and that takes these descriptors, with its workspace size; empty if none.
     */
    private static Optional<Algo> choose(List<AlgoPerf> ranked, IntToLongFunction workspace) {
      for (AlgoPerf a : ranked) {
        if (!a.deterministic()) continue;
        try {
          return Optional.of(new Algo(a.algo(), workspace.applyAsLong(a.algo())));
        } catch (CudnnException e) {
          if (!notSupported(e.status())) throw e;
          // CUDNN_STATUS_NOT_SUPPORTED*: this algorithm declines the shapes; try the next.
        }
      }
      return Optional.empty();
    }

    void destroy() {
      Cudnn.destroyTensorDescriptor(x);
      Cudnn.destroyTensorDescriptor(y);
      Cudnn.destroyFilterDescriptor(w);
      Cudnn.destroyConvolutionDescriptor(conv);
    }

    private static MemorySegment tensor(DataType type, long[] shape) {
      MemorySegment d = Cudnn.createTensorDescriptor();
      Cudnn.setTensorNdDescriptor(
          d, type, ints(shape), ints(DeviceTensors.contiguousStrides(shape)));
      return d;
    }

    private static int[] ints(long[] a) {
      int[] r = new int[a.length];
      for (int i = 0; i < a.length; i++) r[i] = Math.toIntExact(a[i]);
      return r;
    }

    private static DataType dataType(DType dt) {
      return switch (dt) {
        case F32 -> DataType.FLOAT;
        case F64 -> DataType.DOUBLE;
        case F16 -> DataType.HALF;
        case BF16 -> DataType.BFLOAT16;
        default -> throw new IllegalArgumentException("conv3d: no cuDNN type for " + dt);
      };
    }

    /** Tensor cores for the 16-bit types; for F32 only as TF32 when the TF32 setting is on. */
    private static MathType mathType(DType dt) {
      return switch (dt) {
        case F16, BF16 -> MathType.TENSOR_OP_MATH;
        case F32 -> CudaMatmul.TF32 ? MathType.DEFAULT_MATH : MathType.FMA_MATH;
        default -> MathType.DEFAULT_MATH;
      };
    }
  }
}
