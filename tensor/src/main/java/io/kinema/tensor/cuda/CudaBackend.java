package io.kinema.tensor.cuda;

import io.kinema.ffi.cuda.CudaDevices;
import io.kinema.tensor.AttentionMask;
import io.kinema.tensor.DType;
import io.kinema.tensor.Device;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.backend.AdamwScalars;
import io.kinema.tensor.backend.Backend;
import io.kinema.tensor.backend.BinaryOp;
import io.kinema.tensor.backend.Epilogue;
import io.kinema.tensor.backend.MemoryStats;
import io.kinema.tensor.backend.RandomKind;
import io.kinema.tensor.backend.ReduceOp;
import io.kinema.tensor.backend.Storage;
import io.kinema.tensor.backend.UnaryOp;

/**
 * The CUDA backend of one GPU: Kinema's PTX kernels for the elementwise, reduction, norm, rotary,
 * random and attention primitives, cuBLAS for matmul, a caching allocator, and pinned staging
 * buffers for host copies. Every primitive is queued on the device's one stream and returns without
 * waiting, except copies to the host ({@link #transfer} into a CPU tensor), which return with the
 * data — so {@code item()} and {@code toFloatArray()} see every earlier op. Each primitive has the
 * CPU backend's semantics; what the GPU cannot do yet says so ({@code docs/GPU.md}, "The CUDA
 * backend"). This class only routes; each family lives in its own class.
 *
 * <p>Obtain it with {@code Backends.of(Device.cuda(n))}; {@link CudaProvider} builds it.
 */
public final class CudaBackend implements Backend {
  private final CudaDevice device;
  private final CudaAllocator allocator;
  private final PinnedStaging staging;
  private final CudaElementwise elementwise;
  private final CudaReduce reduce;
  private final CudaNorm norm;
  private final CudaRandom random;
  private final CudaMatmul matmul;
  private final CudaLinear linear;
  private final CudaAttention attention;
  private final CudaIndex indexing;
  private final CudaConv conv;
  private final CudaKernels kernels;

  CudaBackend(CudaDevice device) {
    this.device = device;
    this.kernels = new CudaKernels(device);
    this.allocator = new CudaAllocator(device);
    this.staging = new PinnedStaging(device);
    this.elementwise = new CudaElementwise(kernels, device);
    this.reduce = new CudaReduce(kernels, elementwise);
    this.norm = new CudaNorm(kernels, elementwise);
    this.random = new CudaRandom(kernels);
    this.matmul = new CudaMatmul(device, elementwise, allocator);
    this.linear = new CudaLinear(device, elementwise, allocator, matmul, reduce);
    this.attention = new CudaAttention(kernels, elementwise);
    this.indexing = new CudaIndex(kernels, device, staging);
    this.conv = new CudaConv(device, elementwise);
  }

  @Override
  public Device device() {
    return device.device();
  }

  /** The GPU's name and properties. */
  public CudaDevices.Info deviceInfo() {
    return device.info();
  }

  /**
   * The stream all of this device's work runs on, for libraries that enqueue their own (NCCL): work
   * queued on it is ordered with the backend's ops.
   */
  public CudaStream stream() {
    return device.stream();
  }

  /** Blocks until every op queued on this device so far has finished. */
  public void synchronize() {
    device.synchronize();
  }

  @Override
  public Storage allocate(long bytes) {
    return allocator.allocate(bytes, device.stream());
  }

  @Override
  public MemoryStats memoryStats() {
    return allocator.stats();
  }

  /** Starts a new peak: {@code memoryStats().peakAllocated()} becomes the current allocation. */
  public void resetPeakMemory() {
    allocator.resetPeak();
  }

  /** Blocks the allocator ever took from the driver (a cache hit takes none). */
  public long driverAllocations() {
    return allocator.driverAllocations();
  }

  @Override
  public void emptyCache() {
    allocator.emptyCache();
  }

  @Override
  public void copy(Tensor src, Tensor dst) {
    device.bind();
    elementwise.copy(src, dst);
  }

  @Override
  public void transfer(Tensor src, Tensor dst) {
    long bytes = src.numel() * src.dtype().byteSize();
    boolean fromDevice = src.device().kind() == Device.Kind.CUDA;
    boolean toDevice = dst.device().kind() == Device.Kind.CUDA;
    if (fromDevice && toDevice) {
      copy(src, dst);
    } else if (fromDevice) {
      long offset = dst.offset() * dst.dtype().byteSize();
      staging.toHost(DeviceTensors.address(src), dst.storage().segment(), offset, bytes);
    } else {
      long offset = src.offset() * src.dtype().byteSize();
      staging.toDevice(src.storage().segment(), offset, DeviceTensors.address(dst), bytes);
    }
  }

  @Override
  public void fill(Tensor dst, double value) {
    device.bind();
    elementwise.fill(dst, value);
  }

  @Override
  public void unary(UnaryOp op, Tensor x, Tensor out, double p1, double p2) {
    device.bind();
    elementwise.unary(op, x, out, p1, p2);
  }

  @Override
  public void binary(BinaryOp op, Tensor a, Tensor b, Tensor out) {
    device.bind();
    elementwise.binary(op, a, b, out);
  }

  @Override
  public void where(Tensor cond, Tensor a, Tensor b, Tensor out) {
    device.bind();
    elementwise.where(cond, a, b, out);
  }

  @Override
  public void reduce(ReduceOp op, Tensor x, int[] dims, double param, Tensor out) {
    device.bind();
    reduce.reduce(op, x, dims, param, out);
  }

  @Override
  public void argReduce(boolean max, Tensor x, int dim, Tensor out) {
    device.bind();
    reduce.argReduce(max, x, dim, out);
  }

  @Override
  public void matmul(Tensor a, Tensor b, Tensor out) {
    device.bind();
    matmul.matmul(a, b, out);
  }

  @Override
  public void linear(
      Tensor x, Tensor weight, Tensor bias, Epilogue epilogue, Tensor out, Tensor preActivation) {
    device.bind();
    linear.linear(x, weight, bias, epilogue, out, preActivation);
  }

  @Override
  public void linearBackwardWeight(Tensor g, Tensor x, Tensor gradWeight, Tensor gradBias) {
    device.bind();
    linear.backwardWeight(g, x, gradWeight, gradBias);
  }

  /** The fused linear's cuBLASLt part (tests check its plan cache). */
  CudaLinear linearOps() {
    return linear;
  }

  @Override
  public void softmax(Tensor x, int dim, boolean log, Tensor out) {
    device.bind();
    norm.softmax(x, dim, log, out);
  }

  @Override
  public void layerNorm(
      Tensor x,
      int normalizedDims,
      Tensor weight,
      Tensor bias,
      double eps,
      Tensor out,
      Tensor meanOut,
      Tensor rstdOut) {
    device.bind();
    norm.layerNorm(x, normalizedDims, weight, bias, eps, out, meanOut, rstdOut);
  }

  @Override
  public void rmsNorm(
      Tensor x, int normalizedDims, Tensor weight, double eps, Tensor out, Tensor rstdOut) {
    device.bind();
    norm.rmsNorm(x, normalizedDims, weight, eps, out, rstdOut);
  }

  @Override
  public void geluTanhBackward(Tensor gradOut, Tensor x, Tensor gradX) {
    device.bind();
    elementwise.geluTanhBackward(gradOut, x, gradX);
  }

  @Override
  public void softmaxBackward(Tensor y, Tensor gradOut, int dim, boolean log, Tensor gradX) {
    device.bind();
    norm.softmaxBackward(y, gradOut, dim, log, gradX);
  }

  @Override
  public void layerNormBackward(
      Tensor gradOut,
      Tensor x,
      int normalizedDims,
      Tensor weight,
      Tensor mean,
      Tensor rstd,
      Tensor gradX,
      Tensor gradWeight,
      Tensor gradBias) {
    device.bind();
    norm.normBackward(gradOut, x, normalizedDims, weight, mean, rstd, gradX, gradWeight, gradBias);
  }

  @Override
  public void rmsNormBackward(
      Tensor gradOut,
      Tensor x,
      int normalizedDims,
      Tensor weight,
      Tensor rstd,
      Tensor gradX,
      Tensor gradWeight) {
    device.bind();
    norm.normBackward(gradOut, x, normalizedDims, weight, null, rstd, gradX, gradWeight, null);
  }

  @Override
  public void rotary(Tensor x, Tensor cos, Tensor sin, boolean interleaved, Tensor out) {
    device.bind();
    norm.rotary(x, cos, sin, interleaved, out);
  }

  /** The fused {@code kinema_adamw} kernel on dense F32 operands (the optimizer's F32 work). */
  @Override
  public boolean adamwStep(
      Tensor param, Tensor grad, Tensor expAvg, Tensor expAvgSq, AdamwScalars s) {
    for (Tensor t : new Tensor[] {param, grad, expAvg, expAvgSq}) {
      if (t.dtype() != DType.F32
          || !t.isContiguous()
          || !java.util.Arrays.equals(t.shape(), param.shape())) return false;
    }
    long n = param.numel();
    int f32 = DType.F32.ordinal();
    kernels.launch(
        "kinema_adamw",
        kernels.gridStride(n),
        DeviceTensors.address(param),
        f32,
        0L, // no master: the optimizer hands over the F32 master itself
        DeviceTensors.address(grad),
        f32,
        DeviceTensors.address(expAvg),
        DeviceTensors.address(expAvgSq),
        f32,
        n,
        s.decay(),
        s.beta1(),
        s.oneMinusBeta1(),
        s.beta2(),
        s.oneMinusBeta2(),
        s.negStep(),
        s.bc2Sqrt(),
        s.eps(),
        s.maximize() ? 1 : 0);
    return true;
  }

  @Override
  public void attention(
      Tensor q, Tensor k, Tensor v, AttentionMask mask, double scale, Tensor out, Tensor lseOut) {
    device.bind();
    attention.forward(q, k, v, mask, scale, out, lseOut);
  }

  @Override
  public void attentionBackward(
      Tensor q,
      Tensor k,
      Tensor v,
      Tensor out,
      Tensor lse,
      Tensor gradOut,
      AttentionMask mask,
      double scale,
      Tensor gradQ,
      Tensor gradK,
      Tensor gradV) {
    device.bind();
    attention.backward(q, k, v, out, lse, gradOut, mask, scale, gradQ, gradK, gradV);
  }

  // The index ops wait for the queued work: they read their index range check back (CudaIndex).
  @Override
  public void conv3d(
      Tensor x, Tensor weight, Tensor bias, long[] stride, long[] padding, Tensor out) {
    device.bind();
    conv.forward(x, weight, bias, stride, padding, out);
  }

  @Override
  public void conv3dBackwardInput(
      Tensor gradOut, Tensor weight, long[] stride, long[] padding, Tensor gradInput) {
    device.bind();
    conv.backwardInput(gradOut, weight, stride, padding, gradInput);
  }

  @Override
  public void conv3dBackwardWeight(
      Tensor x, Tensor gradOut, long[] stride, long[] padding, Tensor gradWeight) {
    device.bind();
    conv.backwardWeight(x, gradOut, stride, padding, gradWeight);
  }

  /** Convolutions cuDNN has run on this device (the rest ran composed). */
  long cudnnConvolutions() {
    return conv.cudnnCalls();
  }

  @Override
  public void indexSelect(Tensor x, int dim, Tensor index, Tensor out) {
    device.bind();
    indexing.indexSelect(x, dim, index, out);
  }

  @Override
  public void gather(Tensor x, int dim, Tensor index, Tensor out) {
    device.bind();
    indexing.gather(x, dim, index, out);
  }

  @Override
  public void scatterAdd(Tensor self, int dim, Tensor index, Tensor src) {
    device.bind();
    indexing.scatterAdd(self, dim, index, src);
  }

  @Override
  public void random(RandomKind kind, long seed, long offset, double a, double b, Tensor out) {
    device.bind();
    random.random(kind, seed, offset, a, b, out);
  }

  @Override
  public String toString() {
    return "CudaBackend(" + device + ")";
  }
}
