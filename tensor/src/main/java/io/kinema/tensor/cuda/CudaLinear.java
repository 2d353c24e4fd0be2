package io.kinema.tensor.cuda;

import static io.kinema.tensor.cuda.DeviceTensors.address;

import io.kinema.ffi.cuda.Cublas.ComputeType;
import io.kinema.ffi.cuda.CublasException;
import io.kinema.ffi.cuda.CublasLt;
import io.kinema.ffi.cuda.CublasLt.Heuristic;
import io.kinema.ffi.cuda.CublasLt.MatmulDescAttribute;
import io.kinema.ffi.cuda.CublasLt.MatrixLayoutAttribute;
import io.kinema.ffi.cuda.CublasLt.PreferenceAttribute;
import io.kinema.ffi.cuda.CudaDataType;
import io.kinema.tensor.DType;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.backend.BinaryOp;
import io.kinema.tensor.backend.Epilogue;
import io.kinema.tensor.backend.ReduceOp;
import io.kinema.tensor.backend.Storage;
import io.kinema.tensor.backend.UnaryOp;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code linear} ({@code epilogue(x @ W^T + bias)}) and its weight gradient through cuBLASLt, with
 * the bias, the GELU and the bias gradient in the matmul's epilogue. The product is laid out as
 * {@link GemmPlan} lays out {@code x @ W^T} for cuBLAS (column-major {@code out^T = W x^T}:
 * cuBLASLt's A is the weight, its rows are the output features, so the bias runs along D's rows as
 * cuBLASLt wants it). Forward epilogues: {@code BIAS}, {@code GELU_BIAS}, {@code GELU}, and, when
 * the pre-activation is kept for the backward, {@code GELU_AUX_BIAS} / {@code GELU_AUX} writing it
 * to the auxiliary buffer (leading dimension and batch stride those of D; cuBLASLt wants the
 * leading dimension a multiple of 8). The weight gradient {@code dW = g^T x} is laid out as {@code
 * dW^T = x^T g} (A: x read as x^T, B: g), so {@code BGRADB}, which sums op(B) over the GEMM's k
 * (the tokens) into a vector as long as D's columns, is the bias gradient.
 *
 * <p>F32 accumulates in f32 (TF32 with {@code -Dkinema.cuda.tf32=true}), BF16/F16 in f32 with one
 * rounding of the biased, activated result. F64, a machine without cuBLASLt, a shape cuBLASLt
 * offers no algorithm for, an auxiliary leading dimension it does not take, and {@code
 * -Dkinema.cuda.cublaslt=false} take the composed path: the cuBLAS matmul, then the bias add and
 * the activation as elementwise kernels, and the bias gradient as a reduction kernel.
 *
 * <p>Descriptors, layouts and the chosen algorithm are cached per shape (at most {@value
 * #MAX_PLANS}, least recently used evicted and destroyed at once); the workspace comes from the
 * backend's allocator.
 */
final class CudaLinear {
  /** Whether cuBLASLt is used when present ({@code -Dkinema.cuda.cublaslt=false}: never). */
  static volatile boolean useCublasLt =
      !"false".equalsIgnoreCase(System.getProperty("kinema.cuda.cublaslt"));

  /** Cached plans (descriptor sets); each is a few host objects inside cuBLASLt. */
  static final int MAX_PLANS = 64;

  /** {@code CUBLAS_STATUS_NOT_SUPPORTED}: what the heuristic returns when it has no algorithm. */
  private static final int STATUS_NOT_SUPPORTED = 15;

  /** What cuBLASLt wants the GELU auxiliary matrix's leading dimension to be a multiple of. */
  private static final int AUX_LD_MULTIPLE = 8;

  /** Workspace offered to cuBLASLt's algorithms (what NVIDIA recommends for Hopper). */
  private static final long WORKSPACE_BYTES = 32L << 20;

  private final CudaDevice device;
  private final CudaElementwise elementwise;
  private final CudaAllocator allocator;
  private final CudaMatmul matmul;
  private final CudaReduce reduce;
  private final Map<PlanKey, Plan> plans =
      new LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<PlanKey, Plan> eldest) {
          if (size() <= MAX_PLANS) return false;
          eldest.getValue().destroy();
          return true;
        }
      };
  private MemorySegment handle;
  private Storage workspace;
  private long plansMade;

  CudaLinear(
      CudaDevice device,
      CudaElementwise elementwise,
      CudaAllocator allocator,
      CudaMatmul matmul,
      CudaReduce reduce) {
    this.device = device;
    this.elementwise = elementwise;
    this.allocator = allocator;
    this.matmul = matmul;
    this.reduce = reduce;
  }

  /**
   * {@code out[..., M, N] = epilogue(x[..., M, K] @ weight[N, K]^T + bias[N])}, the activation's
   * input kept in {@code pre} (nullable; out's shape) when there is an activation.
   */
  synchronized void linear(
      Tensor x, Tensor weight, Tensor bias, Epilogue epilogue, Tensor out, Tensor pre) {
    if (out.numel() == 0) return;
    if (epilogue == Epilogue.NONE) pre = null;
    long k = x.size(-1);
    if (k == 0 || !fusable(out.dtype()) || !fused(x, weight, bias, epilogue, out, pre)) {
      composed(x, weight, bias, epilogue, out, pre);
    }
  }

  /** {@code gradWeight[N, K] = g[M, N]^T x[M, K]}, {@code gradBias[N] = Σ_M g} (nullable). */
  synchronized void backwardWeight(Tensor g, Tensor x, Tensor gradWeight, Tensor gradBias) {
    if (gradWeight.numel() == 0 && (gradBias == null || gradBias.numel() == 0)) return;
    // Without a bias gradient cuBLASLt brings nothing over the plain cuBLAS matmul.
    boolean epilogueHelps = gradBias != null && g.size(0) > 0 && gradWeight.numel() > 0;
    if (!epilogueHelps || !fusable(g.dtype()) || !fusedWeightGrad(g, x, gradWeight, gradBias)) {
      composedWeightGrad(g, x, gradWeight, gradBias);
    }
  }

  /** Plans held now (for tests of the bound). */
  synchronized int cachedPlans() {
    return plans.size();
  }

  /** Plans made so far, evicted ones included (for tests: the fused path was taken). */
  synchronized long plansMade() {
    return plansMade;
  }

  private static boolean fusable(DType t) {
    return t != DType.F64 && useCublasLt && CublasLt.isAvailable();
  }

  /**
   * The cuBLAS matmul, then the bias add (in place in out, or in pre when it is kept) and the
   * activation as kernels.
   */
  private void composed(
      Tensor x, Tensor weight, Tensor bias, Epilogue epilogue, Tensor out, Tensor pre) {
    Tensor target = pre != null ? pre : out;
    int r = out.dim();
    long[] wShape = out.shape(), wStrides = new long[r];
    wShape[r - 2] = x.size(-1);
    wStrides[r - 2] = weight.stride(1);
    wStrides[r - 1] = weight.stride(0);
    try (Tensor wt = DeviceTensors.view(weight, wShape, wStrides, weight.offset())) {
      matmul.matmul(x, wt, target);
    }
    if (bias != null) {
      long[] bStrides = new long[r];
      bStrides[r - 1] = bias.stride(0);
      try (Tensor be = DeviceTensors.view(bias, out.shape(), bStrides, bias.offset())) {
        elementwise.binary(BinaryOp.ADD, target, be, target);
      }
    }
    if (epilogue == Epilogue.GELU_TANH) elementwise.unary(UnaryOp.GELU_TANH, target, out, 0, 0);
  }

  /** The cuBLAS matmul {@code g^T x} and, when asked, the bias gradient as a reduction kernel. */
  private void composedWeightGrad(Tensor g, Tensor x, Tensor gradWeight, Tensor gradBias) {
    try (Tensor gt = transposed(g)) {
      matmul.matmul(gt, x, gradWeight);
    }
    if (gradBias == null) return;
    long n = gradBias.size(0);
    try (Tensor row =
        DeviceTensors.view(gradBias, new long[] {1, n}, new long[] {n, 1}, gradBias.offset())) {
      reduce.reduce(ReduceOp.SUM, g, new int[] {0}, 0, row);
    }
  }

  /** A 2-d tensor's transposed view. */
  private static Tensor transposed(Tensor t) {
    return DeviceTensors.view(
        t, new long[] {t.size(1), t.size(0)}, new long[] {t.stride(1), t.stride(0)}, t.offset());
  }

  /**
   * Runs the fused cuBLASLt forward; false (nothing queued) when cuBLASLt has no algorithm or the
   * kept pre-activation cannot be its auxiliary output (laid out unlike D, or a leading dimension
   * cuBLASLt does not take).
   */
  private boolean fused(
      Tensor x, Tensor weight, Tensor bias, Epilogue epilogue, Tensor out, Tensor pre) {
    int r = out.dim();
    long[] shape = out.shape();
    long m = shape[r - 2], n = shape[r - 1], k = x.size(-1);
    long[] batch = Arrays.copyOf(shape, r - 2);
    boolean writable = CudaMatmul.writable(out, m, n);
    if (pre != null && (!writable || !Arrays.equals(pre.strides(), out.strides()))) return false;
    long[] wShape = shape.clone(), wStrides = new long[r];
    wShape[r - 2] = k;
    wStrides[r - 2] = weight.stride(1);
    wStrides[r - 1] = weight.stride(0);
    try (Tensor wt = DeviceTensors.view(weight, wShape, wStrides, weight.offset());
        Tensor xd = matmul.readable(x, m, k);
        Tensor wd = matmul.readable(wt, k, n);
        Tensor bd =
            bias == null || bias.stride(0) == 1
                ? null
                : DeviceTensors.empty(bias.dtype(), bias, n);
        Tensor scratch = writable ? null : DeviceTensors.empty(out.dtype(), out, shape)) {
      Tensor target = scratch == null ? out : scratch;
      GemmPlan p = GemmPlan.of(batch, m, n, k, xd.strides(), wd.strides(), target.strides());
      if (pre != null && p.ldc() % AUX_LD_MULTIPLE != 0) return false;
      if (bd != null) elementwise.copy(bias, bd);
      long biasAddress = bias == null ? 0 : address(bd != null ? bd : bias);
      CublasLt.Epilogue code = epilogueCode(bias != null, epilogue, pre != null);
      if (!run(p, code, out.dtype(), wd, xd, target, biasAddress, pre)) return false;
      if (scratch != null) elementwise.copy(scratch, out);
    }
    return true;
  }

  /**
   * Runs {@code dW^T = x^T g} with the {@code BGRADB} epilogue writing the bias gradient; false
   * (nothing queued) when cuBLASLt has no algorithm.
   */
  private boolean fusedWeightGrad(Tensor g, Tensor x, Tensor gradWeight, Tensor gradBias) {
    long m = g.size(1), n = x.size(1), k = g.size(0); // dW [m, n] = g^T [m, k] @ x [k, n]
    try (Tensor gt = transposed(g);
        Tensor gd = matmul.readable(gt, m, k);
        Tensor xd = matmul.readable(x, k, n)) {
      GemmPlan p =
          GemmPlan.of(new long[0], m, n, k, gd.strides(), xd.strides(), gradWeight.strides());
      return run(
          p, CublasLt.Epilogue.BGRADB, g.dtype(), xd, gd, gradWeight, address(gradBias), null);
    }
  }

  /**
   * Queues the plan's calls ({@code a}, {@code b}: cuBLASLt's A and B; {@code bias}: the bias or
   * bias-gradient address, 0 for none; {@code aux}: the auxiliary matrix, laid out as {@code d}, or
   * null); false (nothing queued) when cuBLASLt has no algorithm for one of them.
   */
  private boolean run(
      GemmPlan p,
      CublasLt.Epilogue code,
      DType dtype,
      Tensor a,
      Tensor b,
      Tensor d,
      long bias,
      Tensor aux) {
    List<GemmPlan.Call> calls = p.calls();
    Plan[] chosen = new Plan[calls.size()];
    for (int i = 0; i < chosen.length; i++) {
      GemmPlan.Call c = calls.get(i);
      boolean batched = c.batch() > 1;
      long auxAddress = aux == null ? 0 : address(aux, c.offsetC());
      PlanKey key =
          new PlanKey(
              dtype,
              code,
              p.transA(),
              p.transB(),
              p.m(),
              p.n(),
              p.k(),
              p.lda(),
              p.ldb(),
              p.ldc(),
              batched ? p.strideA() : 0,
              batched ? p.strideB() : 0,
              batched ? p.strideC() : 0,
              c.batch(),
              alignment(address(a, c.offsetA())),
              alignment(address(b, c.offsetB())),
              alignment(address(d, c.offsetC())),
              alignment(bias),
              aux != null,
              alignment(auxAddress));
      chosen[i] = plan(key, bias, auxAddress);
      if (chosen[i].algo() == null) return false; // nothing queued yet
    }
    MemorySegment stream = device.stream().handle();
    for (int i = 0; i < chosen.length; i++) {
      GemmPlan.Call c = calls.get(i);
      chosen[i].run(
          handle,
          bias,
          aux == null ? 0 : address(aux, c.offsetC()),
          address(a, c.offsetA()),
          address(b, c.offsetB()),
          address(d, c.offsetC()),
          workspace,
          stream);
    }
    return true;
  }

  private static CublasLt.Epilogue epilogueCode(boolean bias, Epilogue epilogue, boolean aux) {
    return switch (epilogue) {
      case NONE -> bias ? CublasLt.Epilogue.BIAS : CublasLt.Epilogue.DEFAULT;
      case GELU_TANH ->
          aux
              ? (bias ? CublasLt.Epilogue.GELU_AUX_BIAS : CublasLt.Epilogue.GELU_AUX)
              : (bias ? CublasLt.Epilogue.GELU_BIAS : CublasLt.Epilogue.GELU);
    };
  }

  /** The largest power of two (at most 256) dividing a device address, as cuBLASLt asks for. */
  private static int alignment(long address) {
    if (address == 0) return 256;
    return (int) Math.min(256, Long.lowestOneBit(address));
  }

  /** The cached plan for {@code key}, made on first use. */
  private Plan plan(PlanKey key, long biasAddress, long auxAddress) {
    Plan plan = plans.get(key);
    if (plan != null) return plan;
    plan = Plan.create(handle(), key, biasAddress, auxAddress);
    plansMade++;
    plans.put(key, plan);
    return plan;
  }

  /** The cuBLASLt handle and workspace, made on first use. */
  private MemorySegment handle() {
    if (handle == null) {
      MemorySegment h = CublasLt.create();
      workspace = allocator.allocate(WORKSPACE_BYTES, device.stream());
      handle = h;
    }
    return handle;
  }

  /**
   * What one cuBLASLt call's descriptors depend on (pointers enter only by their alignment; the
   * auxiliary matrix, when there is one, has D's leading dimension and batch stride).
   */
  record PlanKey(
      DType dtype,
      CublasLt.Epilogue epilogue,
      boolean transA,
      boolean transB,
      int m,
      int n,
      int k,
      int lda,
      int ldb,
      int ldc,
      long strideA,
      long strideB,
      long strideC,
      int batch,
      int alignA,
      int alignB,
      int alignD,
      int alignBias,
      boolean aux,
      int alignAux) {}

  /**
   * The descriptors of one cached shape and the algorithm cuBLASLt chose for it. {@code algo} is
   * null when the heuristic offered none (remembered, so the shape is not asked about again).
   */
  private record Plan(
      Arena arena,
      MemorySegment desc,
      MemorySegment aLayout,
      MemorySegment bLayout,
      MemorySegment dLayout,
      MemorySegment algo) {

    static Plan create(MemorySegment handle, PlanKey key, long biasAddress, long auxAddress) {
      DType dt = key.dtype();
      ComputeType compute =
          dt == DType.F32 && CudaMatmul.TF32
              ? ComputeType.COMPUTE_32F_FAST_TF32
              : ComputeType.COMPUTE_32F;
      CudaDataType type = CudaMatmul.dataType(dt);
      Arena arena = Arena.ofShared();
      MemorySegment desc = null, a = null, b = null, d = null, pref = null;
      try {
        desc = CublasLt.matmulDescCreate(compute, compute.scaleType());
        CublasLt.matmulDescSetAttribute(desc, MatmulDescAttribute.TRANSA, key.transA() ? 1 : 0);
        CublasLt.matmulDescSetAttribute(desc, MatmulDescAttribute.TRANSB, key.transB() ? 1 : 0);
        CublasLt.matmulDescSetAttribute(desc, MatmulDescAttribute.EPILOGUE, key.epilogue().code());
        if (biasAddress != 0) {
          CublasLt.matmulDescSetAttribute(desc, MatmulDescAttribute.BIAS_POINTER, biasAddress);
        }
        if (key.aux()) {
          // The heuristic reads the pointer's alignment; the call sets the pointer it writes.
          CublasLt.matmulDescSetAttribute(
              desc, MatmulDescAttribute.EPILOGUE_AUX_POINTER, auxAddress);
          CublasLt.matmulDescSetAttribute(
              desc, MatmulDescAttribute.EPILOGUE_AUX_LD, (long) key.ldc());
          if (key.batch() > 1) {
            CublasLt.matmulDescSetAttribute(
                desc, MatmulDescAttribute.EPILOGUE_AUX_BATCH_STRIDE, key.strideC());
          }
        }
        a =
            layout(
                type,
                key.transA() ? key.k() : key.m(),
                key.transA() ? key.m() : key.k(),
                key.lda(),
                key.batch(),
                key.strideA());
        b =
            layout(
                type,
                key.transB() ? key.n() : key.k(),
                key.transB() ? key.k() : key.n(),
                key.ldb(),
                key.batch(),
                key.strideB());
        d = layout(type, key.m(), key.n(), key.ldc(), key.batch(), key.strideC());
        pref = CublasLt.matmulPreferenceCreate();
        CublasLt.matmulPreferenceSetAttribute(
            pref, PreferenceAttribute.MAX_WORKSPACE_BYTES, WORKSPACE_BYTES);
        CublasLt.matmulPreferenceSetAttribute(
            pref, PreferenceAttribute.MIN_ALIGNMENT_A_BYTES, key.alignA());
        CublasLt.matmulPreferenceSetAttribute(
            pref, PreferenceAttribute.MIN_ALIGNMENT_B_BYTES, key.alignB());
        CublasLt.matmulPreferenceSetAttribute(
            pref, PreferenceAttribute.MIN_ALIGNMENT_C_BYTES, key.alignD());
        CublasLt.matmulPreferenceSetAttribute(
            pref, PreferenceAttribute.MIN_ALIGNMENT_D_BYTES, key.alignD());
        List<Heuristic> found;
        try {
          found = CublasLt.matmulAlgoGetHeuristic(handle, desc, a, b, d, d, pref, 1, arena);
        } catch (CublasException e) {
          // cuBLASLt answers "no algorithm" with CUBLAS_STATUS_NOT_SUPPORTED.
          if (e.status() != STATUS_NOT_SUPPORTED) throw e;
          found = List.of();
        }
        Heuristic best = found.isEmpty() ? null : found.getFirst();
        return new Plan(arena, desc, a, b, d, best == null ? null : best.algo());
      } catch (RuntimeException e) {
        for (MemorySegment l : new MemorySegment[] {a, b, d}) {
          if (l != null) CublasLt.matrixLayoutDestroy(l);
        }
        if (desc != null) CublasLt.matmulDescDestroy(desc);
        arena.close();
        throw e;
      } finally {
        if (pref != null) CublasLt.matmulPreferenceDestroy(pref);
      }
    }

    private static MemorySegment layout(
        CudaDataType type, long rows, long cols, long ld, int batch, long stride) {
      MemorySegment l = CublasLt.matrixLayoutCreate(type, rows, cols, ld);
      if (batch > 1) {
        CublasLt.matrixLayoutSetAttribute(l, MatrixLayoutAttribute.BATCH_COUNT, batch);
        CublasLt.matrixLayoutSetAttribute(l, MatrixLayoutAttribute.STRIDED_BATCH_OFFSET, stride);
      }
      return l;
    }

    /** Queues {@code D = epilogue(A B + bias)} (aux: the epilogue's auxiliary output) on stream. */
    void run(
        MemorySegment handle,
        long bias,
        long aux,
        long a,
        long b,
        long d,
        Storage workspace,
        MemorySegment stream) {
      if (bias != 0) {
        // The bias pointer is part of the descriptor: set it for this call's tensor.
        CublasLt.matmulDescSetAttribute(desc, MatmulDescAttribute.BIAS_POINTER, bias);
      }
      if (aux != 0)
        CublasLt.matmulDescSetAttribute(desc, MatmulDescAttribute.EPILOGUE_AUX_POINTER, aux);
      try (Arena call = Arena.ofConfined()) {
        MemorySegment alpha = call.allocateFrom(ValueLayout.JAVA_FLOAT, 1f);
        MemorySegment beta = call.allocateFrom(ValueLayout.JAVA_FLOAT, 0f);
        CublasLt.matmul(
            handle,
            desc,
            alpha,
            a,
            aLayout,
            b,
            bLayout,
            beta,
            d,
            dLayout,
            d,
            dLayout,
            algo,
            workspace.segment().address(),
            workspace.byteSize(),
            stream);
      }
    }

    void destroy() {
      CublasLt.matrixLayoutDestroy(aLayout);
      CublasLt.matrixLayoutDestroy(bLayout);
      CublasLt.matrixLayoutDestroy(dLayout);
      CublasLt.matmulDescDestroy(desc);
      arena.close();
    }
  }
}
