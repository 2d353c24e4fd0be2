package io.kinema.ffi.cuda;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kinema.ffi.cuda.CublasLt.Epilogue;
import io.kinema.ffi.cuda.CublasLt.Heuristic;
import io.kinema.ffi.cuda.CublasLt.MatmulDescAttribute;
import io.kinema.ffi.cuda.CublasLt.MatrixLayoutAttribute;
import io.kinema.ffi.cuda.CublasLt.PreferenceAttribute;
import io.kinema.ffi.cuda.junit.RequiresCuda;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** cuBLASLt matmuls with bias and GELU epilogues, transposed and batched, against a CPU loop. */
@RequiresCuda(CudaLibrary.CUBLASLT)
class CublasLtGpuTest {
  private static final long WORKSPACE = 32 << 20;

  private final Random rnd = new Random(13);
  private final List<MemorySegment> layouts = new ArrayList<>();
  private MemorySegment handle;
  private MemorySegment stream;
  private long workspace;

  @BeforeEach
  void handle() {
    Gpu.use();
    handle = CublasLt.create();
    stream = CudaDriver.streamCreate(CudaDriver.STREAM_NON_BLOCKING);
    workspace = CudaDriver.memAlloc(WORKSPACE);
    assertTrue(CublasLt.getVersion() >= 110000, "cuBLASLt " + CublasLt.getVersion());
  }

  @AfterEach
  void destroy() {
    CudaDriver.streamSynchronize(stream);
    for (MemorySegment l : layouts) CublasLt.matrixLayoutDestroy(l);
    CublasLt.destroy(handle);
    CudaDriver.streamDestroy(stream);
    CudaDriver.memFree(workspace);
  }

  private MemorySegment layout(int rows, int cols, int batch, long stride) {
    MemorySegment l = CublasLt.matrixLayoutCreate(CudaDataType.R_32F, rows, cols, rows);
    layouts.add(l);
    if (batch > 1) {
      CublasLt.matrixLayoutSetAttribute(l, MatrixLayoutAttribute.BATCH_COUNT, batch);
      CublasLt.matrixLayoutSetAttribute(l, MatrixLayoutAttribute.STRIDED_BATCH_OFFSET, stride);
    }
    return l;
  }

  @Test
  void biasEpilogueWithTransposedABatched() {
    run(37, 21, 45, 2, Epilogue.BIAS);
  }

  @Test
  void geluBiasEpilogue() {
    run(64, 17, 33, 1, Epilogue.GELU_BIAS);
  }

  /**
   * D = epilogue(op(A) B + bias) for {@code batch} entries, op(A) = A^T (A stored k x m), all
   * column-major, bias of length m shared by the batch.
   */
  private void run(int m, int n, int k, int batch, Epilogue epilogue) {
    int sa = k * m, sb = k * n, sd = m * n;
    float[] a = Gpu.random(rnd, sa * batch), b = Gpu.random(rnd, sb * batch);
    float[] bias = Gpu.random(rnd, m);
    long da = Gpu.upload(a), db = Gpu.upload(b), dbias = Gpu.upload(bias);
    long dd = Gpu.zeros(4L * sd * batch);
    MemorySegment desc =
        CublasLt.matmulDescCreate(Cublas.ComputeType.COMPUTE_32F, CudaDataType.R_32F);
    MemorySegment pref = CublasLt.matmulPreferenceCreate();
    try (Arena arena = Arena.ofConfined()) {
      CublasLt.matmulDescSetAttribute(desc, MatmulDescAttribute.TRANSA, 1);
      CublasLt.matmulDescSetAttribute(desc, MatmulDescAttribute.TRANSB, 0);
      CublasLt.matmulDescSetAttribute(desc, MatmulDescAttribute.EPILOGUE, epilogue.code());
      CublasLt.matmulDescSetAttribute(desc, MatmulDescAttribute.BIAS_POINTER, dbias);
      MemorySegment la = layout(k, m, batch, sa), lb = layout(k, n, batch, sb);
      MemorySegment ld = layout(m, n, batch, sd);
      CublasLt.matmulPreferenceSetAttribute(
          pref, PreferenceAttribute.MAX_WORKSPACE_BYTES, WORKSPACE);
      List<Heuristic> algos =
          CublasLt.matmulAlgoGetHeuristic(handle, desc, la, lb, ld, ld, pref, 8, arena);
      assertFalse(algos.isEmpty(), "no algorithm for " + epilogue);
      Heuristic best = algos.get(0);
      assertTrue(best.workspaceSize() <= WORKSPACE);
      CublasLt.matmul(
          handle,
          desc,
          Gpu.f32(arena, 1f),
          da,
          la,
          db,
          lb,
          Gpu.f32(arena, 0f),
          dd,
          ld,
          dd,
          ld,
          best.algo(),
          workspace,
          WORKSPACE,
          stream);
      CudaDriver.streamSynchronize(stream);
      float[] d = Gpu.download(dd, sd * batch);

      var expected = new double[sd * batch];
      var scale = new double[sd * batch];
      for (int e = 0; e < batch; e++) {
        for (int j = 0; j < n; j++) {
          for (int i = 0; i < m; i++) {
            double s = bias[i], abs = Math.abs(bias[i]);
            for (int p = 0; p < k; p++) {
              double x = a[e * sa + p + i * k] * (double) b[e * sb + p + j * k];
              s += x;
              abs += Math.abs(x);
            }
            int at = e * sd + i + j * m;
            expected[at] = epilogue == Epilogue.GELU_BIAS ? geluTanh(s) : s;
            scale[at] = abs;
          }
        }
      }
      // cuBLASLt's GELU may be the erf form or the tanh approximation: they differ by < 5e-4.
      double atol = epilogue == Epilogue.GELU_BIAS ? 5e-4 : 0;
      Gpu.assertClose(expected, scale, d, (k + 2) * 0x1p-23, atol, epilogue + " matmul");
    } finally {
      CublasLt.matmulPreferenceDestroy(pref);
      CublasLt.matmulDescDestroy(desc);
      Gpu.free(da, db, dbias, dd);
    }
  }

  private static double geluTanh(double x) {
    return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
  }
}
