package io.kinema.bench;

import io.kinema.ffi.openblas.OpenBlas;
import io.kinema.tensor.DType;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.cpu.Half;
import io.kinema.tensor.cpu.Parallel;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Square GEMM, {@code C[n, n] = A[n, n] @ B[n, n]}, ours against OpenBLAS on the same sizes and
 * thread count. Providers:
 *
 * <ul>
 *   <li>{@code kinema-f32}, {@code kinema-bf16}: {@link Tensor#matmul} (includes taking the output
 *       from the CPU allocator's cache and returning it, which is cheap);
 *   <li>{@code openblas-f32}: {@code cblas_sgemm}; {@code openblas-bf16}: {@code cblas_sbgemm}
 *       (bf16 inputs, f32 output), only where the installed OpenBLAS exports it.
 * </ul>
 *
 * OpenBLAS gets as many threads as Kinema's pool ({@code -Dkinema.threads}, default all cores).
 * OpenBLAS picks its kernels when it loads, from the CPU and from {@code OPENBLAS_CORETYPE}; the
 * setup prints what it picked. Run through {@link BenchReport} for a GFLOP/s table.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@State(Scope.Benchmark)
@Fork(
    value = 1,
    jvmArgsAppend = {
      "--add-modules=jdk.incubator.vector",
      "--enable-native-access=ALL-UNNAMED",
      "--sun-misc-unsafe-memory-access=allow"
    })
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
public class GemmBench {
  /** Providers, as {@code -p provider=...} values. */
  public static final String KINEMA_F32 = "kinema-f32",
      KINEMA_BF16 = "kinema-bf16",
      OPENBLAS_F32 = "openblas-f32",
      OPENBLAS_BF16 = "openblas-bf16";

  /** Environment variables that override OpenBLAS's own CPU detection when it loads. */
  static final String[] OPENBLAS_OVERRIDES = {"OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"};

  @Param({"256", "512", "1024", "2048", "4096"})
  public int n;

  @Param({KINEMA_F32, KINEMA_BF16, OPENBLAS_F32, OPENBLAS_BF16})
  public String provider;

  private Tensor a, b;
  private Arena arena;
  private MemorySegment sa, sb, sc;

  private static boolean printed;

  @Setup(Level.Trial)
  public void setup() {
    printEnvironmentOnce();
    Random rnd = new Random(1234);
    float[] x = new float[n * n], y = new float[n * n];
    for (int i = 0; i < x.length; i++) {
      x[i] = rnd.nextFloat() * 2 - 1;
      y[i] = rnd.nextFloat() * 2 - 1;
    }
    switch (provider) {
      case KINEMA_F32, KINEMA_BF16 -> {
        DType dt = provider.equals(KINEMA_F32) ? DType.F32 : DType.BF16;
        try (Tensor xa = Tensor.of(x, n, n);
            Tensor yb = Tensor.of(y, n, n)) {
          a = xa.to(dt); // a new view (F32) or a contiguous copy (BF16): ours to close
          b = yb.to(dt);
        }
      }
      case OPENBLAS_F32, OPENBLAS_BF16 -> {
        if (!OpenBlas.isAvailable()) {
          throw new IllegalStateException(provider + ": " + OpenBlas.unavailableReason());
        }
        if (provider.equals(OPENBLAS_BF16) && !OpenBlas.hasSbgemm()) {
          throw new IllegalStateException(provider + ": " + OpenBlas.sbgemmUnavailableReason());
        }
        OpenBlas.setNumThreads(Parallel.threads());
        arena = Arena.ofShared();
        boolean bf16 = provider.equals(OPENBLAS_BF16);
        long elemBytes = bf16 ? 2 : 4;
        sa = arena.allocate(elemBytes * n * n, 64);
        sb = arena.allocate(elemBytes * n * n, 64);
        sc = arena.allocate(4L * n * n, 64);
        for (int i = 0; i < x.length; i++) {
          if (bf16) {
            sa.setAtIndex(ValueLayout.JAVA_SHORT, i, Half.floatToBf16(x[i]));
            sb.setAtIndex(ValueLayout.JAVA_SHORT, i, Half.floatToBf16(y[i]));
          } else {
            sa.setAtIndex(ValueLayout.JAVA_FLOAT, i, x[i]);
            sb.setAtIndex(ValueLayout.JAVA_FLOAT, i, y[i]);
          }
        }
      }
      default -> throw new IllegalArgumentException("unknown provider " + provider);
    }
  }

  @Benchmark
  public Object gemm() {
    switch (provider) {
      case OPENBLAS_F32 -> {
        OpenBlas.sgemm(false, false, n, n, n, 1f, sa, n, sb, n, 0f, sc, n);
        return sc;
      }
      case OPENBLAS_BF16 -> {
        OpenBlas.sbgemm(false, false, n, n, n, 1f, sa, n, sb, n, 0f, sc, n);
        return sc;
      }
      default -> {
        Tensor c = a.matmul(b);
        c.close(); // back to the allocator's cache for the next call
        return c;
      }
    }
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    if (a != null) a.close();
    if (b != null) b.close();
    if (arena != null) arena.close();
    a = b = null;
    arena = null;
  }

  /** One line per fork: which kernels OpenBLAS chose, and what could have forced them. */
  private static synchronized void printEnvironmentOnce() {
    if (printed) return;
    printed = true;
    System.out.println();
    System.out.println("[GemmBench] " + describeEnvironment());
  }

  /** OpenBLAS's core and config, thread counts, and any OPENBLAS_* overrides in the environment. */
  static String describeEnvironment() {
    var sb = new StringBuilder("kinema threads=").append(Parallel.threads());
    if (OpenBlas.isAvailable()) {
      sb.append("; OpenBLAS core=")
          .append(OpenBlas.corename())
          .append(" (")
          .append(OpenBlas.config())
          .append(") from ")
          .append(OpenBlas.library().location().orElse("?"))
          .append(", sbgemm ")
          .append(OpenBlas.hasSbgemm() ? "exported" : "not exported");
    } else {
      sb.append("; OpenBLAS unavailable");
    }
    for (String v : OPENBLAS_OVERRIDES) {
      String value = System.getenv(v);
      if (value != null) {
        sb.append("; WARNING ")
            .append(v)
            .append('=')
            .append(value)
            .append(" is set: it overrides OpenBLAS's CPU detection");
      }
    }
    return sb.toString();
  }
}
