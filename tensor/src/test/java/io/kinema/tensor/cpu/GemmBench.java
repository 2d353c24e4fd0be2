package io.kinema.tensor.cpu;

import io.kinema.tensor.DType;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import java.util.Random;

/**
 * Quick GFLOP/s check of the CPU matmul (not a test; the JMH benchmarks live in {@code bench}). Run
 * from the repo root after {@code ./kinema mvn -q -pl tensor -am test-compile}:
 *
 * <pre>
 * ./kinema java -cp tensor/target/classes:tensor/target/test-classes:ffi-bindings/target/classes \
 *     io.kinema.tensor.cpu.GemmBench [F32|BF16|F16|F64] [t] SIZE...
 * </pre>
 *
 * SIZE is n (square), MxNxK, or BxMxNxK (a batch); {@code t} multiplies by a transposed view of B.
 * {@code -Dkinema.threads=1} measures one core. Prints the best of several runs per size, as wall
 * GFLOP/s and as GFLOP per busy core-second (steadier on a shared machine).
 */
public final class GemmBench {
  private static final com.sun.management.ThreadMXBean THREADS =
      (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();

  /** CPU time of all live threads, in ns (precise, unlike the process CPU time's 10 ms ticks). */
  private static long cpuTime() {
    long sum = 0;
    for (long t : THREADS.getThreadCpuTime(THREADS.getAllThreadIds())) sum += Math.max(0, t);
    return sum;
  }

  private GemmBench() {}

  public static void main(String[] args) {
    DType dtype = DType.F32;
    boolean transB = false;
    int i = 0;
    for (; i < args.length && !Character.isDigit(args[i].charAt(0)); i++) {
      if (args[i].equals("t")) transB = true;
      else dtype = DType.valueOf(args[i]);
    }
    warmUp(dtype, transB);
    for (; i < args.length; i++) {
      String[] dims = args[i].split("x"); // n, MxNxK or BxMxNxK (a batch of B products)
      int at = dims.length == 4 ? 1 : 0;
      int batch = dims.length == 4 ? Integer.parseInt(dims[0]) : 1;
      int m = Integer.parseInt(dims[at]);
      int n = dims.length > 1 ? Integer.parseInt(dims[at + 1]) : m;
      int k = dims.length > 2 ? Integer.parseInt(dims[at + 2]) : m;
      try (var s = Scope.open()) {
        Tensor a = random(batch * m, k, 1).to(dtype).view(batch, m, k);
        Tensor b0 =
            transB
                ? random(batch * n, k, 2).to(dtype).view(batch, n, k)
                : random(batch * k, n, 2).to(dtype).view(batch, k, n);
        Tensor b = transB ? b0.mT() : b0;
        double flop = 2.0 * batch * m * n * k;
        int reps = (int) Math.max(5, Math.min(50, 4e10 / flop));
        double best = Double.MAX_VALUE, bestCpu = Double.MAX_VALUE;
        for (int r = 0; r < reps; r++) {
          long c = cpuTime();
          long t = System.nanoTime();
          a.matmul(b).close();
          best = Math.min(best, (System.nanoTime() - t) * 1e-9);
          bestCpu = Math.min(bestCpu, (cpuTime() - c) * 1e-9);
        }
        // CPU time is the fairer measure on a shared machine: GFLOP per busy core-second.
        System.out.printf(
            "%s%s %s: %.1f GFLOP/s wall (%.3f ms, best of %d), %.1f GFLOP/s per busy core%n",
            dtype,
            transB ? " B^T" : "",
            args[i],
            flop / best / 1e9,
            best * 1e3,
            reps,
            flop / bestCpu / 1e9);
      }
    }
  }

  /**
   * Runs products with edge tiles (sizes not multiples of the micro-tile) and without, until C2 has
   * compiled every path of the packing loops and the micro-kernel.
   */
  private static void warmUp(DType dtype, boolean transB) {
    try (var s = Scope.open()) {
      for (int n : new int[] {383, 384, 100}) {
        Tensor a = random(n, n, 3).to(dtype);
        Tensor b = random(n, n, 4).to(dtype);
        Tensor bb = transB ? b.mT() : b;
        for (int r = 0; r < (n < 200 ? 2000 : 100); r++) a.matmul(bb).close();
      }
    }
  }

  private static Tensor random(int r, int c, long seed) {
    Random rnd = new Random(seed);
    float[] d = new float[r * c];
    for (int j = 0; j < d.length; j++) d[j] = rnd.nextFloat() * 2 - 1;
    return Tensor.of(d, r, c);
  }
}
