package io.kinema.ffi.cuda;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kinema.ffi.cuda.CublasLt.Epilogue;
import io.kinema.ffi.cuda.CublasLt.Heuristic;
import io.kinema.ffi.cuda.CublasLt.MatmulDescAttribute;
import io.kinema.ffi.cuda.CublasLt.PreferenceAttribute;
import io.kinema.ffi.cuda.junit.RequiresCuda;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * cuBLASLt's training epilogues against a CPU loop, F32, column-major {@code D[m, n] = A[m, k] B[k,
 * n]}: {@code GELU_AUX_BIAS} (D = gelu(AB + bias), the auxiliary matrix = AB + bias, its leading
 * dimension above D's rows), {@code DGELU_BGRAD} (D = AB gelu'(aux), the bias pointer = D's row
 * sums) and {@code BGRADB} (the bias pointer = B's column sums over k); and an auxiliary leading
 * dimension NVIDIA's documentation rules out (below D's rows, not a multiple of 8) refused.
 */
@RequiresCuda(CudaLibrary.CUBLASLT)
class CublasLtBackwardEpiloguesGpuTest {
  private static final long WORKSPACE = 32 << 20;
  private static final int M = 13, N = 6, K = 9, AUX_LD = 16;

  private final Random rnd = new Random(17);
  private MemorySegment handle, stream;
  private long workspace;

  @BeforeEach
  void handle() {
    Gpu.use();
    handle = CublasLt.create();
    stream = CudaDriver.streamCreate(CudaDriver.STREAM_NON_BLOCKING);
    workspace = CudaDriver.memAlloc(WORKSPACE);
  }

  @AfterEach
  void destroy() {
    CudaDriver.streamSynchronize(stream);
    CublasLt.destroy(handle);
    CudaDriver.streamDestroy(stream);
    CudaDriver.memFree(workspace);
  }

  /** Operands on the host (column-major) and on the device. */
  private record Operands(float[] a, float[] b, long da, long db, long dd) {}

  private Operands operands() {
    float[] a = Gpu.random(rnd, M * K), b = Gpu.random(rnd, K * N);
    return new Operands(a, b, Gpu.upload(a), Gpu.upload(b), Gpu.zeros(4L * M * N));
  }

  private static double product(Operands o, int i, int j) {
    double s = 0;
    for (int l = 0; l < K; l++) s += o.a()[i + l * M] * (double) o.b()[l + j * K];
    return s;
  }

  private static double scale(Operands o, int i, int j) {
    double s = 0;
    for (int l = 0; l < K; l++) s += Math.abs(o.a()[i + l * M] * (double) o.b()[l + j * K]);
    return s;
  }

  @Test
  void geluAuxBiasKeepsThePreActivation() {
    Operands o = operands();
    float[] bias = Gpu.random(rnd, M);
    long dbias = Gpu.upload(bias), daux = Gpu.zeros(4L * AUX_LD * N);
    try {
      assertTrue(matmul(o, Epilogue.GELU_AUX_BIAS, dbias, daux, AUX_LD), "no algorithm");
      float[] d = Gpu.download(o.dd(), M * N), aux = Gpu.download(daux, AUX_LD * N);
      double[] wantD = new double[M * N], wantPre = new double[M * N], sc = new double[M * N];
      float[] pre = new float[M * N];
      for (int j = 0; j < N; j++) {
        for (int i = 0; i < M; i++) {
          double v = product(o, i, j) + bias[i];
          wantPre[i + j * M] = v;
          wantD[i + j * M] = gelu(v);
          sc[i + j * M] = scale(o, i, j) + Math.abs(bias[i]);
          pre[i + j * M] = aux[i + j * AUX_LD];
        }
      }
      double rtol = (K + 2) * 0x1p-23;
      Gpu.assertClose(wantPre, sc, pre, rtol, 0, "auxiliary matrix");
      Gpu.assertClose(wantD, sc, d, rtol, 5e-4, "GELU output");
    } finally {
      Gpu.free(o.da(), o.db(), o.dd(), dbias, daux);
    }
  }

  @Test
  void dgeluBgradMultipliesByTheDerivativeAndSumsRows() {
    Operands o = operands();
    float[] pre = Gpu.random(rnd, AUX_LD * N);
    long daux = Gpu.upload(pre), dgrad = Gpu.zeros(4L * M);
    try {
      assertTrue(matmul(o, Epilogue.DGELU_BGRAD, dgrad, daux, AUX_LD), "no algorithm");
      float[] d = Gpu.download(o.dd(), M * N), db = Gpu.download(dgrad, M);
      double[] wantD = new double[M * N], sc = new double[M * N];
      double[] wantDb = new double[M], scDb = new double[M];
      for (int j = 0; j < N; j++) {
        for (int i = 0; i < M; i++) {
          double grad = geluGrad(pre[i + j * AUX_LD]);
          wantD[i + j * M] = product(o, i, j) * grad;
          sc[i + j * M] = scale(o, i, j) * Math.abs(grad);
          wantDb[i] += wantD[i + j * M];
          scDb[i] += sc[i + j * M];
        }
      }
      double rtol = (K + N + 2) * 0x1p-23;
      Gpu.assertClose(wantD, sc, d, rtol, 5e-4, "DGELU output");
      Gpu.assertClose(wantDb, scDb, db, rtol, 5e-4 * N, "bias gradient (row sums)");
    } finally {
      Gpu.free(o.da(), o.db(), o.dd(), daux, dgrad);
    }
  }

  @Test
  void bgradbSumsBOverK() {
    Operands o = operands();
    long dgrad = Gpu.zeros(4L * N);
    try {
      assertTrue(matmul(o, Epilogue.BGRADB, dgrad, 0, 0), "no algorithm");
      float[] d = Gpu.download(o.dd(), M * N), db = Gpu.download(dgrad, N);
      double[] wantD = new double[M * N], sc = new double[M * N];
      double[] wantDb = new double[N], scDb = new double[N];
      for (int j = 0; j < N; j++) {
        for (int i = 0; i < M; i++) {
          wantD[i + j * M] = product(o, i, j);
          sc[i + j * M] = scale(o, i, j);
        }
        for (int l = 0; l < K; l++) {
          wantDb[j] += o.b()[l + j * K];
          scDb[j] += Math.abs(o.b()[l + j * K]);
        }
      }
      Gpu.assertClose(wantD, sc, d, (K + 2) * 0x1p-23, 0, "product");
      Gpu.assertClose(wantDb, scDb, db, (K + 2) * 0x1p-23, 0, "bias gradient (B's columns)");
    } finally {
      Gpu.free(o.da(), o.db(), o.dd(), dgrad);
    }
  }

  @Test
  void auxiliaryLeadingDimensionsOutsideTheDocumentedRulesAreRefused() {
    for (int ld : new int[] {8, M}) { // below D's 13 rows; 13 rows but not a multiple of 8
      Operands o = operands();
      long dbias = Gpu.upload(Gpu.random(rnd, M)), daux = Gpu.zeros(4L * AUX_LD * N);
      try {
        boolean ran;
        try {
          ran = matmul(o, Epilogue.GELU_AUX_BIAS, dbias, daux, ld);
        } catch (CublasException e) {
          ran = false;
        }
        assertFalse(ran, "GELU_AUX_BIAS ran with an auxiliary leading dimension of " + ld);
      } finally {
        Gpu.free(o.da(), o.db(), o.dd(), dbias, daux);
      }
    }
  }

  /**
   * Runs {@code D = epilogue(A B)} with the bias (or bias-gradient) pointer and, when {@code aux}
   * is not 0, the auxiliary matrix; false when the heuristic offers no algorithm.
   */
  private boolean matmul(Operands o, Epilogue epilogue, long bias, long aux, long auxLd) {
    MemorySegment desc =
        CublasLt.matmulDescCreate(Cublas.ComputeType.COMPUTE_32F, CudaDataType.R_32F);
    MemorySegment pref = CublasLt.matmulPreferenceCreate();
    MemorySegment la = CublasLt.matrixLayoutCreate(CudaDataType.R_32F, M, K, M);
    MemorySegment lb = CublasLt.matrixLayoutCreate(CudaDataType.R_32F, K, N, K);
    MemorySegment ld = CublasLt.matrixLayoutCreate(CudaDataType.R_32F, M, N, M);
    try (Arena arena = Arena.ofConfined()) {
      CublasLt.matmulDescSetAttribute(desc, MatmulDescAttribute.EPILOGUE, epilogue.code());
      CublasLt.matmulDescSetAttribute(desc, MatmulDescAttribute.BIAS_POINTER, bias);
      if (aux != 0) {
        CublasLt.matmulDescSetAttribute(desc, MatmulDescAttribute.EPILOGUE_AUX_POINTER, aux);
        CublasLt.matmulDescSetAttribute(desc, MatmulDescAttribute.EPILOGUE_AUX_LD, auxLd);
      }
      CublasLt.matmulPreferenceSetAttribute(
          pref, PreferenceAttribute.MAX_WORKSPACE_BYTES, WORKSPACE);
      List<Heuristic> algos =
          CublasLt.matmulAlgoGetHeuristic(handle, desc, la, lb, ld, ld, pref, 1, arena);
      if (algos.isEmpty()) return false;
      CublasLt.matmul(
          handle,
          desc,
          Gpu.f32(arena, 1f),
          o.da(),
          la,
          o.db(),
          lb,
          Gpu.f32(arena, 0f),
          o.dd(),
          ld,
          o.dd(),
          ld,
          algos.get(0).algo(),
          workspace,
          WORKSPACE,
          stream);
      CudaDriver.streamSynchronize(stream);
      return true;
    } finally {
      for (MemorySegment l : new MemorySegment[] {la, lb, ld}) CublasLt.matrixLayoutDestroy(l);
      CublasLt.matmulPreferenceDestroy(pref);
      CublasLt.matmulDescDestroy(desc);
    }
  }

  private static double gelu(double x) {
    return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
  }

  private static double geluGrad(double x) {
    double c = Math.sqrt(2 / Math.PI), t = Math.tanh(c * (x + 0.044715 * x * x * x));
    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + 3 * 0.044715 * x * x);
  }
}
