package io.kinema.bench;

import io.kinema.ffi.cuda.CudaDevices;
import io.kinema.ffi.cuda.CudaLibrary;
import io.kinema.tensor.AttentionMask;
import io.kinema.tensor.Backends;
import io.kinema.tensor.DType;
import io.kinema.tensor.Device;
import io.kinema.tensor.Generator;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.cuda.CudaBackend;
import io.kinema.tensor.grad.GradMode;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The CUDA backend on GPU 0, each op followed by a device synchronize so the time is the GPU's:
 *
 * <ul>
 *   <li>{@code gemmBf16}: {@code [4096, 4096] @ [4096, 4096]} in BF16 (cuBLAS, f32 accumulation):
 *       {@code 2 * 4096^3} = 137.4 GFLOP per op;
 *   <li>{@code flashAttentionBf16}: forward, q/k/v {@code [1, 16, 8192, 128]} BF16, no mask: {@code
 *       4 * 16 * 8192^2 * 128} = 549.8 GFLOP per op;
 *   <li>{@code flashAttentionFwdBwdBf16}: forward and backward through autograd, same shapes: the
 *       forward's two products and the backward's five (one recomputes the scores), 3.5 times the
 *       forward's work, 1924.4 GFLOP per op;
 *   <li>{@code mulF32} and {@code copyF32}: {@code x * y} against a device-to-device copy on 64 Mi
 *       F32 elements: 768 MiB and 512 MiB moved per op (bandwidth = bytes / time).
 * </ul>
 *
 * {@code bench/python/torch_peer.py cuda} measures the same with PyTorch. Without a usable GPU the
 * setup prints why and every benchmark returns at once (so its scores mean nothing).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(
    value = 1,
    jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
public class CudaBench {
  private static final Device GPU = Device.cuda(0);

  private CudaBackend backend;
  private Tensor a, b, q, k, v, x, y, gradOut;

  @Setup(Level.Trial)
  public void setup() {
    String why =
        !CudaDevices.available()
            ? CudaDevices.unavailableReason()
            : !CudaLibrary.CUBLAS.isAvailable() ? CudaLibrary.CUBLAS.shortReason() : null;
    if (why != null) {
      System.out.println("CudaBench skipped: " + why);
      return;
    }
    backend = (CudaBackend) Backends.of(GPU);
    System.out.println(
        "CudaBench on " + backend.deviceInfo() + ", " + CudaDevices.count() + " device(s)");
    Generator g = new Generator(1);
    a = Tensor.randn(g, DType.BF16, GPU, 4096, 4096);
    b = Tensor.randn(g, DType.BF16, GPU, 4096, 4096);
    q = Tensor.randn(g, DType.BF16, GPU, 1, 16, 8192, 128).requiresGrad(true);
    k = Tensor.randn(g, DType.BF16, GPU, 1, 16, 8192, 128).requiresGrad(true);
    v = Tensor.randn(g, DType.BF16, GPU, 1, 16, 8192, 128).requiresGrad(true);
    gradOut = Tensor.randn(g, DType.BF16, GPU, 1, 16, 8192, 128);
    x = Tensor.randn(g, DType.F32, GPU, 64L << 20);
    y = Tensor.randn(g, DType.F32, GPU, 64L << 20);
    backend.synchronize();
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    for (Tensor t : new Tensor[] {a, b, q, k, v, x, y, gradOut}) {
      if (t != null) t.close();
    }
  }

  @Benchmark
  public void gemmBf16() {
    if (backend == null) return;
    try (Tensor c = a.matmul(b)) {
      backend.synchronize();
    }
  }

  @Benchmark
  public void flashAttentionBf16() {
    if (backend == null) return;
    try (var ng = GradMode.noGrad();
        Tensor o = Tensor.scaledDotProductAttention(q, k, v, AttentionMask.NONE)) {
      backend.synchronize();
    }
  }

  @Benchmark
  public void flashAttentionFwdBwdBf16() {
    if (backend == null) return;
    try (var s = io.kinema.tensor.Scope.open()) {
      Tensor.scaledDotProductAttention(q, k, v, AttentionMask.NONE).backward(gradOut);
      backend.synchronize();
    }
    for (Tensor t : new Tensor[] {q, k, v}) t.zeroGrad(); // as set_to_none: no accumulation
  }

  @Benchmark
  public void mulF32() {
    if (backend == null) return;
    try (Tensor z = x.mul(y)) {
      backend.synchronize();
    }
  }

  @Benchmark
  public void copyF32() {
    if (backend == null) return;
    try (Tensor z = x.copy()) {
      backend.synchronize();
    }
  }
}
