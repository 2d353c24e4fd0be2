package io.kinema.tensor.cuda;

import io.kinema.ffi.cuda.CudaDevices;
import io.kinema.ffi.cuda.CudaDriver;
import io.kinema.ffi.cuda.CudaLibrary;
import io.kinema.ffi.cuda.KernelParams;
import io.kinema.tensor.Backends;
import io.kinema.tensor.DType;
import io.kinema.tensor.Device;
import io.kinema.tensor.Generator;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.backend.UnaryOp;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
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
 * The host's cost of one small op on {@code cuda:0}: everything from the front-end call to the
 * driver's return (shape checks, the caching allocator, kernel lookup, argument encoding, the
 * {@code cuLaunchKernel} downcall), with no synchronize. Shapes are those of small models, where
 * the GPU would finish each kernel in a few microseconds and the host's time per op is the limit:
 *
 * <ul>
 *   <li>{@code addF32}: {@code a + b}, two {@code [64]} F32 tensors (one kernel, one allocation);
 *   <li>{@code softmaxF32}: {@code softmax(x, -1)} of {@code [8, 64]};
 *   <li>{@code rmsNormF32}: {@code rms_norm(x, [64], weight)} of {@code [8, 64]};
 *   <li>{@code matmulF32}: {@code [64, 64] @ [64, 64]} (one cuBLAS call);
 *   <li>{@code launch}: {@link CudaKernels#launch} of {@code kinema_unary_contig_f32} on 64
 *       elements, without the front-end or the allocator;
 *   <li>{@code launchKernelDowncall}: the bare {@link CudaDriver#launchKernel} of that kernel with
 *       a prepared parameter array: the FFM downcall and the driver alone.
 * </ul>
 *
 * <p>Meant for the emulated driver with {@code KINEMA_EMU_SKIP_KERNELS=1} (launches and GEMMs are
 * checked but not run, so what is timed is the Java host path plus a cheap driver call); {@code
 * docs/PERFORMANCE.md} ("CUDA host overhead per op") has the command. On a real GPU nothing waits
 * for the kernels, so once the driver's launch queue is full the scores become the GPU's time per
 * kernel. It lives in the backend's package to reach {@link CudaKernels}. Without a usable driver
 * the setup prints why and every benchmark returns at once.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(
    value = 1,
    jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
public class CudaHostOverheadBench {
  private static final Device GPU = Device.cuda(0);
  private static final String TRIVIAL = "kinema_unary_contig_f32";

  private boolean skipped = true;
  private Tensor a, b, rows, weight, m1, m2;
  private CudaKernels kernels;
  private long x, y;
  private MemorySegment function, stream, params;
  private Arena arena;

  @Setup(Level.Trial)
  public void setup() {
    String why =
        !CudaDevices.available()
            ? CudaDevices.unavailableReason()
            : !CudaLibrary.CUBLAS.isAvailable() ? CudaLibrary.CUBLAS.shortReason() : null;
    if (why != null) {
      System.out.println("CudaHostOverheadBench skipped: " + why);
      return;
    }
    skipped = false;
    CudaBackend backend = (CudaBackend) Backends.of(GPU);
    System.out.println(
        "CudaHostOverheadBench on "
            + backend.deviceInfo()
            + (System.getenv("KINEMA_EMU_SKIP_KERNELS") != null
                ? ", KINEMA_EMU_SKIP_KERNELS=" + System.getenv("KINEMA_EMU_SKIP_KERNELS")
                : ""));
    Generator g = new Generator(1);
    a = Tensor.randn(g, DType.F32, GPU, 64);
    b = Tensor.randn(g, DType.F32, GPU, 64);
    rows = Tensor.randn(g, DType.F32, GPU, 8, 64);
    weight = Tensor.randn(g, DType.F32, GPU, 64);
    m1 = Tensor.randn(g, DType.F32, GPU, 64, 64);
    m2 = Tensor.randn(g, DType.F32, GPU, 64, 64);
    x = DeviceTensors.address(a);
    y = DeviceTensors.address(b);

    // A launcher of our own on the same device (context and stream of the backend's kind).
    CudaDevice device = CudaDevice.open(GPU);
    kernels = new CudaKernels(device);
    kernels.launch(TRIVIAL, 1, UnaryOp.NEG.ordinal(), x, y, 64L, 0f, 0f); // loads the module
    stream = device.stream().handle();
    function = kernels.function(TRIVIAL);
    arena = Arena.ofShared();
    params =
        new KernelParams(arena)
            .i32(UnaryOp.NEG.ordinal())
            .pointer(x)
            .pointer(y)
            .i64(64)
            .f32(0f)
            .f32(0f)
            .build();
    backend.synchronize();
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    for (Tensor t : new Tensor[] {a, b, rows, weight, m1, m2}) {
      if (t != null) t.close();
    }
    if (arena != null) arena.close();
  }

  @Benchmark
  public void addF32() {
    if (skipped) return;
    try (Tensor z = a.add(b)) {}
  }

  @Benchmark
  public void softmaxF32() {
    if (skipped) return;
    try (Tensor z = rows.softmax(-1)) {}
  }

  @Benchmark
  public void rmsNormF32() {
    if (skipped) return;
    try (Tensor z = rows.rmsNorm(new long[] {64}, weight, 1e-6)) {}
  }

  @Benchmark
  public void matmulF32() {
    if (skipped) return;
    try (Tensor z = m1.matmul(m2)) {}
  }

  @Benchmark
  public void launch() {
    if (skipped) return;
    kernels.launch(TRIVIAL, 1, UnaryOp.NEG.ordinal(), x, y, 64L, 0f, 0f);
  }

  @Benchmark
  public void launchKernelDowncall() {
    if (skipped) return;
    CudaDriver.launchKernel(function, 1, 1, 1, 256, 1, 1, 0, stream, params);
  }
}
