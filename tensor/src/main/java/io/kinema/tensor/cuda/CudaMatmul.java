package io.kinema.tensor.cuda;

import static io.kinema.tensor.cuda.DeviceTensors.address;
import static java.lang.foreign.ValueLayout.JAVA_DOUBLE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import io.kinema.ffi.cuda.Cublas;
import io.kinema.ffi.cuda.Cublas.ComputeType;
import io.kinema.ffi.cuda.CudaDataType;
import io.kinema.ffi.cuda.CudaLibrary;
import io.kinema.tensor.DType;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.backend.Storage;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * Batched matmul through cuBLAS ({@code cublasGemmEx} / {@code cublasGemmStridedBatchedEx}), as
 * {@link GemmPlan} lays it out. F32 accumulates in f32 (TF32 tensor cores only with {@code
 * -Dkinema.cuda.tf32=true}), BF16/F16 take 16-bit operands and output with f32 accumulation (no
 * reduced-precision split-K reductions), F64 runs in f64. An operand cuBLAS cannot read in place is
 * copied dense first. The cuBLAS handle works in the backend's stream, with a workspace taken from
 * the backend's allocator.
 */
final class CudaMatmul {
  /** Whether F32 GEMMs may use TF32 tensor cores ({@code -Dkinema.cuda.tf32=true}). */
  static final boolean TF32 = Boolean.getBoolean("kinema.cuda.tf32");

  /** cuBLAS workspace (what cuBLAS recommends for Hopper). */
  private static final long WORKSPACE_BYTES = 32L << 20;

  /**
   * The host scalars alpha = 1 and beta = 0 in the compute type's width, made once: cuBLAS reads
   * host scalars during the call (the default {@code CUBLAS_POINTER_MODE_HOST}), never after.
   */
  private static final MemorySegment ONE_F32 = Arena.global().allocateFrom(JAVA_FLOAT, 1f);

  private static final MemorySegment ZERO_F32 = Arena.global().allocateFrom(JAVA_FLOAT, 0f);
  private static final MemorySegment ONE_F64 = Arena.global().allocateFrom(JAVA_DOUBLE, 1.0);
  private static final MemorySegment ZERO_F64 = Arena.global().allocateFrom(JAVA_DOUBLE, 0.0);

  private final CudaDevice device;
  private final CudaElementwise elementwise;
  private final CudaAllocator allocator;
  private MemorySegment handle;
  private Storage workspace;

  CudaMatmul(CudaDevice device, CudaElementwise elementwise, CudaAllocator allocator) {
    this.device = device;
    this.elementwise = elementwise;
    this.allocator = allocator;
  }

  /** The handle, created on first use (so a machine without cuBLAS can run everything else). */
  private MemorySegment handle() {
    if (handle == null) {
      if (!Cublas.isAvailable()) {
        throw new UnsupportedOperationException(
            "matmul on " + device.device() + " needs cuBLAS: " + CudaLibrary.CUBLAS.shortReason());
      }
      MemorySegment h = Cublas.create();
      Cublas.setStream(h, device.stream().handle());
      // After setStream, which resets the workspace to cuBLAS's own.
      workspace = allocator.allocate(WORKSPACE_BYTES, device.stream());
      Cublas.setWorkspace(h, workspace.segment().address(), workspace.byteSize());
      Cublas.setMathMode(
          h,
          (TF32 ? Cublas.TF32_TENSOR_OP_MATH : Cublas.DEFAULT_MATH)
              | Cublas.MATH_DISALLOW_REDUCED_PRECISION_REDUCTION);
      handle = h;
    }
    return handle;
  }

  /** {@code out[..., M, N] = a[..., M, K] @ b[..., K, N]} (batch dims already broadcast). */
  synchronized void matmul(Tensor a, Tensor b, Tensor out) {
    int r = out.dim();
    long[] shape = out.shape();
    long m = shape[r - 2], n = shape[r - 1], k = a.size(-1);
    long[] batch = Arrays.copyOf(shape, r - 2);
    if (out.numel() == 0) return;
    if (k == 0) {
      elementwise.fill(out, 0);
      return;
    }
    try (Tensor ad = readable(a, m, k);
        Tensor bd = readable(b, k, n);
        Tensor scratch =
            writable(out, m, n) ? null : DeviceTensors.empty(out.dtype(), out, shape)) {
      Tensor target = scratch == null ? out : scratch;
      GemmPlan plan = GemmPlan.of(batch, m, n, k, ad.strides(), bd.strides(), target.strides());
      run(plan, ad, bd, target);
      if (scratch != null) elementwise.copy(scratch, out);
    }
  }

  private void run(GemmPlan p, Tensor a, Tensor b, Tensor out) {
    MemorySegment h = handle();
    DType dt = out.dtype();
    CudaDataType type = dataType(dt);
    ComputeType compute =
        switch (dt) {
          case F64 -> ComputeType.COMPUTE_64F;
          case F32 -> TF32 ? ComputeType.COMPUTE_32F_FAST_TF32 : ComputeType.COMPUTE_32F;
          default -> ComputeType.COMPUTE_32F;
        };
    MemorySegment alpha = dt == DType.F64 ? ONE_F64 : ONE_F32;
    MemorySegment beta = dt == DType.F64 ? ZERO_F64 : ZERO_F32;
    for (GemmPlan.Call c : p.calls()) {
      long pa = address(b, c.offsetA()), pb = address(a, c.offsetB());
      long pc = address(out, c.offsetC());
      if (c.batch() == 1) {
        Cublas.gemmEx(
            h,
            p.transA(),
            p.transB(),
            p.m(),
            p.n(),
            p.k(),
            alpha,
            pa,
            type,
            p.lda(),
            pb,
            type,
            p.ldb(),
            beta,
            pc,
            type,
            p.ldc(),
            compute,
            Cublas.GEMM_DEFAULT);
      } else {
        Cublas.gemmStridedBatchedEx(
            h,
            p.transA(),
            p.transB(),
            p.m(),
            p.n(),
            p.k(),
            alpha,
            pa,
            type,
            p.lda(),
            p.strideA(),
            pb,
            type,
            p.ldb(),
            p.strideB(),
            beta,
            pc,
            type,
            p.ldc(),
            p.strideC(),
            c.batch(),
            compute,
            Cublas.GEMM_DEFAULT);
      }
    }
  }

  /** {@code t} itself when cuBLAS can read its matrices in place, else a dense copy. */
  Tensor readable(Tensor t, long rows, long cols) {
    if (GemmPlan.matrix(rows, cols, t.stride(-2), t.stride(-1)) != null) {
      return t.share(); // a handle of our own, in no Scope
    }
    Tensor d = DeviceTensors.empty(t.dtype(), t, t.shape());
    elementwise.copy(t, d);
    return d;
  }

  /** Whether cuBLAS can write {@code out}'s matrices row major in place. */
  static boolean writable(Tensor out, long rows, long cols) {
    GemmPlan.Matrix mc = GemmPlan.matrix(rows, cols, out.stride(-2), out.stride(-1));
    return mc != null && mc.rowMajor();
  }

  static CudaDataType dataType(DType t) {
    return switch (t) {
      case F64 -> CudaDataType.R_64F;
      case F32 -> CudaDataType.R_32F;
      case BF16 -> CudaDataType.R_16BF;
      case F16 -> CudaDataType.R_16F;
      default -> throw new IllegalArgumentException("matmul: no cuBLAS type for " + t);
    };
  }
}
