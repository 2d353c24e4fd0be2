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
 * {@code linear} ({@code epilogue(x @ W^T + bias)}) through cuBLASLt, with the bias and GELU in the
 * matmul's epilogue ({@code CUBLASLT_EPILOGUE_BIAS}, {@code GELU_BIAS}, {@code GELU}). The product
 * is laid out as {@link GemmPlan} lays out {@code x @ W^T} for cuBLAS (column-major {@code out^T =
 * W x^T}: cuBLASLt's A is the weight, its rows are the output features, so the bias runs along D's
 * rows as cuBLASLt wants it). F32 accumulates in f32 (TF32 with {@code -Dkinema.cuda.tf32=true}),
 * BF16/F16 in f32 with one rounding of the biased, activated result. F64, a machine without
 * cuBLASLt, a shape cuBLASLt offers no algorithm for, and {@code -Dkinema.cuda.cublaslt=false} take
 * the composed path: the cuBLAS matmul, then the bias add and the activation as elementwise
 * kernels.
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

  /** Workspace offered to cuBLASLt's algorithms (what NVIDIA recommends for Hopper). */
  private static final long WORKSPACE_BYTES = 32L << 20;

  private final CudaDevice device;
  private final CudaElementwise elementwise;
  private final CudaAllocator allocator;
  private final CudaMatmul matmul;
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
      CudaDevice device, CudaElementwise elementwise, CudaAllocator allocator, CudaMatmul matmul) {
    this.device = device;
    this.elementwise = elementwise;
    this.allocator = allocator;
    this.matmul = matmul;
  }

  /** {@code out[..., M, N] = epilogue(x[..., M, K] @ weight[N, K]^T + bias[N])}. */
  synchronized void linear(Tensor x, Tensor weight, Tensor bias, Epilogue epilogue, Tensor out) {
    if (out.numel() == 0) return;
    long k = x.size(-1);
    if (k == 0 || !fusable(out.dtype()) || !fused(x, weight, bias, epilogue, out)) {
      composed(x, weight, bias, epilogue, out);
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

  /** The cuBLAS matmul, then the bias add and the activation as kernels, in place in out. */
  private void composed(Tensor x, Tensor weight, Tensor bias, Epilogue epilogue, Tensor out) {
    int r = out.dim();
    long[] wShape = out.shape(), wStrides = new long[r];
    wShape[r - 2] = x.size(-1);
    wStrides[r - 2] = weight.stride(1);
    wStrides[r - 1] = weight.stride(0);
    try (Tensor wt = DeviceTensors.view(weight, wShape, wStrides, weight.offset())) {
      matmul.matmul(x, wt, out);
    }
    if (bias != null) {
      long[] bStrides = new long[r];
      bStrides[r - 1] = bias.stride(0);
      try (Tensor be = DeviceTensors.view(bias, out.shape(), bStrides, bias.offset())) {
        elementwise.binary(BinaryOp.ADD, out, be, out);
      }
    }
    if (epilogue == Epilogue.GELU_TANH) elementwise.unary(UnaryOp.GELU_TANH, out, out, 0, 0);
  }

  /** Runs the fused cuBLASLt matmul; false (nothing queued) when cuBLASLt has no algorithm. */
  private boolean fused(Tensor x, Tensor weight, Tensor bias, Epilogue epilogue, Tensor out) {
    int r = out.dim();
    long[] shape = out.shape();
    long m = shape[r - 2], n = shape[r - 1], k = x.size(-1);
    long[] batch = Arrays.copyOf(shape, r - 2);
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
        Tensor scratch =
            CudaMatmul.writable(out, m, n) ? null : DeviceTensors.empty(out.dtype(), out, shape)) {
      Tensor target = scratch == null ? out : scratch;
      if (bd != null) elementwise.copy(bias, bd);
      long biasAddress = bias == null ? 0 : address(bd != null ? bd : bias);
      GemmPlan p = GemmPlan.of(batch, m, n, k, xd.strides(), wd.strides(), target.strides());
      CublasLt.Epilogue code = epilogueCode(bias != null, epilogue);
      List<GemmPlan.Call> calls = p.calls();
      Plan[] chosen = new Plan[calls.size()];
      for (int i = 0; i < chosen.length; i++) {
        GemmPlan.Call c = calls.get(i);
        boolean batched = c.batch() > 1;
        PlanKey key =
            new PlanKey(
                out.dtype(),
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
                alignment(address(wd, c.offsetA())),
                alignment(address(xd, c.offsetB())),
                alignment(address(target, c.offsetC())),
                alignment(biasAddress));
        chosen[i] = plan(key, biasAddress);
        if (chosen[i].algo() == null) return false; // nothing queued yet
      }
      MemorySegment stream = device.stream().handle();
      for (int i = 0; i < chosen.length; i++) {
        GemmPlan.Call c = calls.get(i);
        chosen[i].run(
            handle,
            biasAddress,
            address(wd, c.offsetA()),
            address(xd, c.offsetB()),
            address(target, c.offsetC()),
            workspace,
            stream);
      }
      if (scratch != null) elementwise.copy(scratch, out);
    }
    return true;
  }

  private static CublasLt.Epilogue epilogueCode(boolean bias, Epilogue epilogue) {
    return switch (epilogue) {
      case NONE -> bias ? CublasLt.Epilogue.BIAS : CublasLt.Epilogue.DEFAULT;
      case GELU_TANH -> bias ? CublasLt.Epilogue.GELU_BIAS : CublasLt.Epilogue.GELU;
    };
  }

  /** The largest power of two (at most 256) dividing a device address, as cuBLASLt asks for. */
  private static int alignment(long address) {
    if (address == 0) return 256;
    return (int) Math.min(256, Long.lowestOneBit(address));
  }

  /** The cached plan for {@code key}, made on first use. */
  private Plan plan(PlanKey key, long biasAddress) {
    Plan plan = plans.get(key);
    if (plan != null) return plan;
    plan = Plan.create(handle(), key, biasAddress);
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

  /** What one cuBLASLt call's descriptors depend on (pointers enter only by their alignment). */
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
      int alignBias) {}

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

    static Plan create(MemorySegment handle, PlanKey key, long biasAddress) {
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

    /** Queues {@code D = epilogue(A B + bias)} on {@code stream}. */
    void run(
        MemorySegment handle,
        long bias,
        long a,
        long b,
        long d,
        Storage workspace,
        MemorySegment stream) {
      if (bias != 0) {
        // The bias pointer is part of the descriptor: set it for this call's tensor.
        CublasLt.matmulDescSetAttribute(desc, MatmulDescAttribute.BIAS_POINTER, bias);
      }
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
