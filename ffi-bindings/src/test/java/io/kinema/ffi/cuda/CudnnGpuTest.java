package io.kinema.ffi.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kinema.ffi.cuda.Cudnn.AlgoPerf;
import io.kinema.ffi.cuda.Cudnn.ConvolutionMode;
import io.kinema.ffi.cuda.Cudnn.DataType;
import io.kinema.ffi.cuda.Cudnn.MathType;
import io.kinema.ffi.cuda.Cudnn.TensorFormat;
import io.kinema.ffi.cuda.junit.RequiresCuda;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A 3-D convolution (N, C, D, H, W) with uneven padding, stride and dilation per axis: forward,
 * backward data and backward filter against CPU loops in double.
 */
@RequiresCuda(CudaLibrary.CUDNN)
class CudnnGpuTest {
  private static final int N = 2, C = 3, K = 4;
  private static final int[] IN = {5, 6, 7}, KERNEL = {3, 3, 3};
  private static final int[] PAD = {1, 0, 2}, STRIDE = {1, 2, 1}, DILATION = {1, 1, 2};

  /** Loose enough for every algorithm (FFT and Winograd included), tight enough for layouts. */
  private static final double RTOL = 1e-4;

  private final Random rnd = new Random(17);
  private final int[] out = new int[3];
  private MemorySegment handle, stream, xDesc, yDesc, wDesc, conv;

  @BeforeEach
  void descriptors() {
    Gpu.use();
    assertTrue(Cudnn.getVersion() >= 8000, "cuDNN " + Cudnn.getVersion());
    handle = Cudnn.create();
    stream = CudaDriver.streamCreate(CudaDriver.STREAM_NON_BLOCKING);
    Cudnn.setStream(handle, stream);
    for (int i = 0; i < 3; i++) {
      out[i] = (IN[i] + 2 * PAD[i] - DILATION[i] * (KERNEL[i] - 1) - 1) / STRIDE[i] + 1;
    }
    xDesc = tensor(N, C, IN);
    yDesc = tensor(N, K, out);
    wDesc = Cudnn.createFilterDescriptor();
    Cudnn.setFilterNdDescriptor(
        wDesc,
        DataType.FLOAT,
        TensorFormat.NCHW,
        new int[] {K, C, KERNEL[0], KERNEL[1], KERNEL[2]});
    conv = Cudnn.createConvolutionDescriptor();
    Cudnn.setConvolutionNdDescriptor(
        conv, PAD, STRIDE, DILATION, ConvolutionMode.CROSS_CORRELATION, DataType.FLOAT);
    // FMA only: on Ampere and later the default allows TF32 tensor cores for float data.
    Cudnn.setConvolutionMathType(conv, MathType.FMA_MATH);
    Cudnn.setConvolutionGroupCount(conv, 1);
  }

  @AfterEach
  void destroy() {
    CudaDriver.streamSynchronize(stream);
    Cudnn.destroyConvolutionDescriptor(conv);
    Cudnn.destroyFilterDescriptor(wDesc);
    Cudnn.destroyTensorDescriptor(xDesc);
    Cudnn.destroyTensorDescriptor(yDesc);
    Cudnn.destroy(handle);
    CudaDriver.streamDestroy(stream);
  }

  private static MemorySegment tensor(int n, int c, int[] spatial) {
    int[] dims = {n, c, spatial[0], spatial[1], spatial[2]};
    int[] strides = new int[5];
    strides[4] = 1;
    for (int i = 3; i >= 0; i--) strides[i] = strides[i + 1] * dims[i + 1];
    MemorySegment d = Cudnn.createTensorDescriptor();
    Cudnn.setTensorNdDescriptor(d, DataType.FLOAT, dims, strides);
    return d;
  }

  private static int size(int n, int c, int[] s) {
    return n * c * s[0] * s[1] * s[2];
  }

  /** Visits every (n, k, c, output position, kernel position) pair that touches the input. */
  private interface Visit {
    void at(int xIndex, int wIndex, int yIndex);
  }

  private void forEachTap(Visit v) {
    for (int n = 0; n < N; n++)
      for (int k = 0; k < K; k++)
        for (int c = 0; c < C; c++)
          for (int od = 0; od < out[0]; od++)
            for (int oh = 0; oh < out[1]; oh++)
              for (int ow = 0; ow < out[2]; ow++)
                for (int kd = 0; kd < KERNEL[0]; kd++)
                  for (int kh = 0; kh < KERNEL[1]; kh++)
                    for (int kw = 0; kw < KERNEL[2]; kw++) {
                      int id = od * STRIDE[0] - PAD[0] + kd * DILATION[0];
                      int ih = oh * STRIDE[1] - PAD[1] + kh * DILATION[1];
                      int iw = ow * STRIDE[2] - PAD[2] + kw * DILATION[2];
                      if (id < 0 || ih < 0 || iw < 0 || id >= IN[0] || ih >= IN[1] || iw >= IN[2])
                        continue;
                      int x = (((n * C + c) * IN[0] + id) * IN[1] + ih) * IN[2] + iw;
                      int w = (((k * C + c) * KERNEL[0] + kd) * KERNEL[1] + kh) * KERNEL[2] + kw;
                      int y = (((n * K + k) * out[0] + od) * out[1] + oh) * out[2] + ow;
                      v.at(x, w, y);
                    }
  }

  @Test
  void outputShapeFollowsPaddingStrideAndDilation() {
    assertArrayEquals(
        new int[] {N, K, out[0], out[1], out[2]},
        Cudnn.getConvolutionNdForwardOutputDim(conv, xDesc, wDesc, 5));
  }

  @Test
  void forwardMatchesTheCpuLoop() {
    float[] x = Gpu.random(rnd, size(N, C, IN)), w = Gpu.random(rnd, K * C * 27);
    var expected = new double[size(N, K, out)];
    var scale = new double[expected.length];
    forEachTap(
        (xi, wi, yi) -> {
          expected[yi] += (double) x[xi] * w[wi];
          scale[yi] += Math.abs((double) x[xi] * w[wi]);
        });
    long dx = Gpu.upload(x), dw = Gpu.upload(w), dy = Gpu.zeros(4L * expected.length);
    List<AlgoPerf> algos =
        Cudnn.findConvolutionForwardAlgorithm(handle, xDesc, wDesc, conv, yDesc, 8);
    assertFalse(algos.isEmpty());
    assertFalse(
        Cudnn.getConvolutionForwardAlgorithm(handle, xDesc, wDesc, conv, yDesc, 8).isEmpty());
    int algo = algos.get(0).algo();
    long ws = Cudnn.getConvolutionForwardWorkspaceSize(handle, xDesc, wDesc, conv, yDesc, algo);
    long dws = CudaDriver.memAlloc(Math.max(1, ws));
    try (Arena a = Arena.ofConfined()) {
      Cudnn.convolutionForward(
          handle,
          Gpu.f32(a, 1f),
          xDesc,
          dx,
          wDesc,
          dw,
          conv,
          algo,
          dws,
          ws,
          Gpu.f32(a, 0f),
          yDesc,
          dy);
      CudaDriver.streamSynchronize(stream);
      Gpu.assertClose(expected, scale, Gpu.download(dy, expected.length), RTOL, 0, "conv3d y");
    } finally {
      Gpu.free(dx, dw, dy, dws);
    }
  }

  @Test
  void backwardDataMatchesTheCpuLoop() {
    float[] dyv = Gpu.random(rnd, size(N, K, out)), w = Gpu.random(rnd, K * C * 27);
    float[] dx0 = Gpu.random(rnd, size(N, C, IN));
    float beta = 0.5f;
    var expected = new double[dx0.length];
    var scale = new double[dx0.length];
    for (int i = 0; i < dx0.length; i++) {
      expected[i] = beta * dx0[i];
      scale[i] = Math.abs(beta * dx0[i]);
    }
    forEachTap(
        (xi, wi, yi) -> {
          expected[xi] += (double) dyv[yi] * w[wi];
          scale[xi] += Math.abs((double) dyv[yi] * w[wi]);
        });
    long ddy = Gpu.upload(dyv), dw = Gpu.upload(w), ddx = Gpu.upload(dx0);
    List<AlgoPerf> algos =
        Cudnn.findConvolutionBackwardDataAlgorithm(handle, wDesc, yDesc, conv, xDesc, 8);
    assertFalse(algos.isEmpty());
    assertFalse(
        Cudnn.getConvolutionBackwardDataAlgorithm(handle, wDesc, yDesc, conv, xDesc, 8).isEmpty());
    int algo = algos.get(0).algo();
    long ws =
        Cudnn.getConvolutionBackwardDataWorkspaceSize(handle, wDesc, yDesc, conv, xDesc, algo);
    long dws = CudaDriver.memAlloc(Math.max(1, ws));
    try (Arena a = Arena.ofConfined()) {
      Cudnn.convolutionBackwardData(
          handle,
          Gpu.f32(a, 1f),
          wDesc,
          dw,
          yDesc,
          ddy,
          conv,
          algo,
          dws,
          ws,
          Gpu.f32(a, beta),
          xDesc,
          ddx);
      CudaDriver.streamSynchronize(stream);
      Gpu.assertClose(expected, scale, Gpu.download(ddx, dx0.length), RTOL, 0, "conv3d dx");
    } finally {
      Gpu.free(ddy, dw, ddx, dws);
    }
  }

  @Test
  void backwardFilterMatchesTheCpuLoop() {
    float[] x = Gpu.random(rnd, size(N, C, IN)), dyv = Gpu.random(rnd, size(N, K, out));
    var expected = new double[K * C * 27];
    var scale = new double[expected.length];
    forEachTap(
        (xi, wi, yi) -> {
          expected[wi] += (double) x[xi] * dyv[yi];
          scale[wi] += Math.abs((double) x[xi] * dyv[yi]);
        });
    long dx = Gpu.upload(x), ddy = Gpu.upload(dyv), ddw = Gpu.zeros(4L * expected.length);
    // Heuristics here (the _v7 query), measured search in the other two tests.
    List<AlgoPerf> algos =
        Cudnn.getConvolutionBackwardFilterAlgorithm(handle, xDesc, yDesc, conv, wDesc, 8);
    assertFalse(algos.isEmpty());
    assertFalse(
        Cudnn.findConvolutionBackwardFilterAlgorithm(handle, xDesc, yDesc, conv, wDesc, 8)
            .isEmpty());
    int algo = algos.get(0).algo();
    long ws =
        Cudnn.getConvolutionBackwardFilterWorkspaceSize(handle, xDesc, yDesc, conv, wDesc, algo);
    long dws = CudaDriver.memAlloc(Math.max(1, ws));
    try (Arena a = Arena.ofConfined()) {
      Cudnn.convolutionBackwardFilter(
          handle,
          Gpu.f32(a, 1f),
          xDesc,
          dx,
          yDesc,
          ddy,
          conv,
          algo,
          dws,
          ws,
          Gpu.f32(a, 0f),
          wDesc,
          ddw);
      CudaDriver.streamSynchronize(stream);
      Gpu.assertClose(expected, scale, Gpu.download(ddw, expected.length), RTOL, 0, "conv3d dw");
    } finally {
      Gpu.free(dx, ddy, ddw, dws);
    }
  }

  @Test
  void badDescriptorsComeBackAsCudnnExceptions() {
    MemorySegment d = Cudnn.createTensorDescriptor();
    try {
      var e =
          assertThrows(
              CudnnException.class,
              () ->
                  Cudnn.setTensorNdDescriptor(
                      d,
                      DataType.FLOAT,
                      new int[] {1, -3, 4, 4, 4},
                      new int[] {192, 64, 16, 4, 1}));
      assertTrue(e.statusName().startsWith("CUDNN_STATUS_BAD_PARAM"), e.getMessage());
      assertTrue(e.call().startsWith("cudnnSetTensorNdDescriptor(FLOAT, dims [1, -3"), e.call());
    } finally {
      Cudnn.destroyTensorDescriptor(d);
    }
  }
}
