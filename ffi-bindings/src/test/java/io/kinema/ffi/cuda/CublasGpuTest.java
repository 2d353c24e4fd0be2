package io.kinema.ffi.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kinema.ffi.cuda.Cublas.ComputeType;
import io.kinema.ffi.cuda.junit.RequiresCuda;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** cublasGemmEx and its strided-batched form against a double-precision CPU reference. */
@RequiresCuda(CudaLibrary.CUBLAS)
class CublasGpuTest {
  /** (m, n, k, transA, transB): vectors, odd sizes, every transpose combination. */
  private static final Object[][] SHAPES = {
    {37, 29, 53, false, false},
    {16, 1, 300, true, false},
    {5, 64, 7, false, true},
    {1, 1, 1, true, true},
    {65, 33, 129, true, true},
  };

  private final Random rnd = new Random(11);
  private MemorySegment handle;
  private MemorySegment stream;
  private long workspace;

  @BeforeEach
  void handle() {
    Gpu.use();
    handle = Cublas.create();
    stream = CudaDriver.streamCreate(CudaDriver.STREAM_NON_BLOCKING);
    Cublas.setStream(handle, stream);
    workspace = CudaDriver.memAlloc(4 << 20);
    Cublas.setWorkspace(handle, workspace, 4 << 20);
    // Pedantic f32 comes from the compute type (COMPUTE_32F_PEDANTIC); the mode stays default.
    Cublas.setMathMode(handle, Cublas.DEFAULT_MATH);
  }

  @AfterEach
  void destroy() {
    CudaDriver.streamSynchronize(stream);
    Cublas.destroy(handle);
    CudaDriver.streamDestroy(stream);
    CudaDriver.memFree(workspace);
  }

  /** A column-major matrix stored rows x cols with leading dimension ld >= rows. */
  private record Mat(int rows, int cols, int ld, float[] v) {
    double at(int r, int c) {
      return v[r + c * ld];
    }
  }

  private Mat random(int rows, int cols) {
    int ld = rows + 3;
    return new Mat(rows, cols, ld, Gpu.random(rnd, ld * (cols - 1) + rows));
  }

  /** alpha op(A) op(B) + beta C0, and the magnitudes rounding errors scale with. */
  private static double[][] reference(
      boolean ta, boolean tb, int m, int n, int k, double alpha, Mat a, Mat b, double beta, Mat c) {
    var out = new double[c.v.length];
    var mag = new double[c.v.length];
    for (int i = 0; i < c.v.length; i++) out[i] = c.v[i]; // padding rows stay as they were
    for (int j = 0; j < n; j++) {
      for (int i = 0; i < m; i++) {
        double s = 0, abs = 0;
        for (int p = 0; p < k; p++) {
          double x = ta ? a.at(p, i) : a.at(i, p);
          double y = tb ? b.at(j, p) : b.at(p, j);
          s += x * y;
          abs += Math.abs(x * y);
        }
        out[i + j * c.ld] = alpha * s + beta * c.at(i, j);
        mag[i + j * c.ld] = Math.abs(alpha) * abs + Math.abs(beta * c.at(i, j));
      }
    }
    for (int i = 0; i < mag.length; i++) mag[i] = Math.max(mag[i], Math.abs(out[i]));
    return new double[][] {out, mag};
  }

  @Test
  void gemmExF32MatchesTheReference() {
    for (Object[] s : SHAPES) gemmCase(s, false);
  }

  @Test
  void gemmExBf16InputsAccumulateInF32() {
    for (Object[] s : SHAPES) gemmCase(s, true);
  }

  private void gemmCase(Object[] shape, boolean bf16) {
    int m = (int) shape[0], n = (int) shape[1], k = (int) shape[2];
    boolean ta = (boolean) shape[3], tb = (boolean) shape[4];
    Mat a = ta ? random(k, m) : random(m, k);
    Mat b = tb ? random(n, k) : random(k, n);
    Mat c = random(m, n);
    if (bf16) {
      a = new Mat(a.rows, a.cols, a.ld, Gpu.bf16(a.v));
      b = new Mat(b.rows, b.cols, b.ld, Gpu.bf16(b.v));
    }
    float alpha = 0.75f, beta = -0.5f;
    CudaDataType in = bf16 ? CudaDataType.R_16BF : CudaDataType.R_32F;
    long da = bf16 ? Gpu.uploadBf16(a.v) : Gpu.upload(a.v);
    long db = bf16 ? Gpu.uploadBf16(b.v) : Gpu.upload(b.v);
    long dc = Gpu.upload(c.v);
    try (Arena arena = Arena.ofConfined()) {
      ComputeType type = bf16 ? ComputeType.COMPUTE_32F : ComputeType.COMPUTE_32F_PEDANTIC;
      Cublas.gemmEx(
          handle,
          ta,
          tb,
          m,
          n,
          k,
          Gpu.f32(arena, alpha),
          da,
          in,
          a.ld,
          db,
          in,
          b.ld,
          Gpu.f32(arena, beta),
          dc,
          CudaDataType.R_32F,
          c.ld,
          type,
          Cublas.GEMM_DEFAULT);
      CudaDriver.streamSynchronize(stream);
      double[][] ref = reference(ta, tb, m, n, k, alpha, a, b, beta, c);
      String what = (bf16 ? "bf16" : "f32") + " gemm " + m + "x" + n + "x" + k + " " + ta + tb;
      Gpu.assertClose(ref[0], ref[1], Gpu.download(dc, c.v.length), (k + 2) * 0x1p-23, 0, what);
    } finally {
      Gpu.free(da, db, dc);
    }
  }

  @Test
  void stridedBatchedGemmComputesEachEntry() {
    int m = 19, n = 23, k = 31, batch = 3;
    boolean ta = true, tb = false;
    Mat[] as = new Mat[batch], bs = new Mat[batch], cs = new Mat[batch];
    for (int i = 0; i < batch; i++) {
      as[i] = random(k, m);
      bs[i] = random(k, n);
      cs[i] = random(m, n);
    }
    int strideA = as[0].v.length + 5, strideB = bs[0].v.length + 1, strideC = cs[0].v.length + 2;
    long da = Gpu.upload(concat(as, strideA));
    long db = Gpu.upload(concat(bs, strideB));
    long dc = Gpu.upload(concat(cs, strideC));
    try (Arena arena = Arena.ofConfined()) {
      float alpha = -1.25f, beta = 2f;
      Cublas.gemmStridedBatchedEx(
          handle,
          ta,
          tb,
          m,
          n,
          k,
          Gpu.f32(arena, alpha),
          da,
          CudaDataType.R_32F,
          as[0].ld,
          strideA,
          db,
          CudaDataType.R_32F,
          bs[0].ld,
          strideB,
          Gpu.f32(arena, beta),
          dc,
          CudaDataType.R_32F,
          cs[0].ld,
          strideC,
          batch,
          ComputeType.COMPUTE_32F_PEDANTIC,
          Cublas.GEMM_DEFAULT);
      CudaDriver.streamSynchronize(stream);
      float[] out = Gpu.download(dc, batch * strideC);
      for (int i = 0; i < batch; i++) {
        double[][] ref = reference(ta, tb, m, n, k, alpha, as[i], bs[i], beta, cs[i]);
        float[] got = java.util.Arrays.copyOfRange(out, i * strideC, i * strideC + cs[i].v.length);
        Gpu.assertClose(ref[0], ref[1], got, (k + 2) * 0x1p-23, 0, "batch entry " + i);
      }
    } finally {
      Gpu.free(da, db, dc);
    }
  }

  private static float[] concat(Mat[] ms, int stride) {
    var out = new float[stride * ms.length];
    for (int i = 0; i < ms.length; i++)
      System.arraycopy(ms[i].v, 0, out, i * stride, ms[i].v.length);
    return out;
  }

  @Test
  void invalidArgumentsComeBackAsCublasExceptions() {
    assertTrue(Cublas.version().matches("\\d+\\.\\d+\\.\\d+"), Cublas.version());
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment one = Gpu.f32(arena, 1f);
      var e =
          assertThrows(
              CublasException.class,
              () ->
                  Cublas.gemmEx(
                      handle,
                      false,
                      false,
                      8,
                      8,
                      8,
                      one,
                      0,
                      CudaDataType.R_32F,
                      4,
                      0,
                      CudaDataType.R_32F,
                      8,
                      one,
                      0,
                      CudaDataType.R_32F,
                      8,
                      ComputeType.COMPUTE_32F,
                      Cublas.GEMM_DEFAULT));
      assertEquals("CUBLAS_STATUS_INVALID_VALUE", e.statusName());
      assertEquals(Cublas.getStatusString(e.status()), e.statusString());
      assertTrue(e.call().startsWith("cublasGemmEx(NN, m=8, n=8, k=8, A R_32F lda=4"), e.call());
    }
  }
}
