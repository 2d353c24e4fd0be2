package io.kinema.tensor.cpu;

import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import java.util.Random;
import java.util.function.Function;

/**
 * Quick ns-per-element check of the f32 transcendental kernels and of row kernels on short rows
 * (where the per-row lane sum shows), on one thread (not a test; the JMH benchmarks live in {@code
 * bench}). Run from the repo root after {@code ./kinema mvn -q -pl tensor -am test-compile}:
 *
 * <pre>
 * ./kinema java -Dkinema.threads=1 \
 *     -cp tensor/target/classes:tensor/target/test-classes:ffi-bindings/target/classes \
 *     io.kinema.tensor.cpu.ElementwiseBench
 * </pre>
 *
 * Prints the best of several timed repetitions per op (CPU time of the calling thread, which does
 * all the work with one thread) in the last of {@code args[0]} (default 3) rounds over all ops (or
 * those whose name contains {@code args[1]}), and the bytes allocated per element (more than a few
 * tenths means vectors are being boxed: some kernel was not compiled the way it was written for).
 */
public final class ElementwiseBench {
  private ElementwiseBench() {}

  private static final com.sun.management.ThreadMXBean THREAD =
      (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();

  /** This thread's CPU time in ns: steadier than wall time on a shared machine. */
  private static long cpuTime() {
    return THREAD.getCurrentThreadCpuTime();
  }

  private record Op(String name, long[] shape, double lo, double hi, Function<Tensor, Tensor> f) {}

  public static void main(String[] args) {
    long[] flat = {1 << 16};
    long[] rows16 = {1 << 12, 16}, rows77 = {1 << 10, 77}, rows1536 = {64, 1536};
    Op[] ops = {
      new Op("exp", flat, -10, 10, Tensor::exp),
      new Op("log", flat, 1e-3, 1e3, Tensor::log),
      new Op("sin", flat, -10, 10, Tensor::sin),
      new Op("cos", flat, -10, 10, Tensor::cos),
      new Op("tanh", flat, -5, 5, Tensor::tanh),
      new Op("sigmoid", flat, -10, 10, Tensor::sigmoid),
      new Op("silu", flat, -10, 10, Tensor::silu),
      new Op("gelu", flat, -5, 5, Tensor::gelu),
      new Op("gelu_tanh", flat, -5, 5, Tensor::geluTanh),
      new Op("erf", flat, -3, 3, Tensor::erf),
      new Op("pow(x, 1.7)", flat, 0, 10, x -> x.pow(1.7)),
      new Op("pow(x, y)", flat, 0, 10, x -> x.pow(x.mul(-0.3))),
      new Op("sum rows of 16", rows16, -1, 1, x -> x.sum(-1)),
      new Op("sum rows of 77", rows77, -1, 1, x -> x.sum(-1)),
      new Op("var rows of 77", rows77, -1, 1, x -> x.var(new int[] {-1}, 1, false)),
      new Op("softmax rows of 16", rows16, -5, 5, x -> x.softmax(-1)),
      new Op("softmax rows of 77", rows77, -5, 5, x -> x.softmax(-1)),
      new Op("softmax rows of 1536", rows1536, -5, 5, x -> x.softmax(-1)),
      new Op("log_softmax rows of 77", rows77, -5, 5, x -> x.logSoftmax(-1)),
      new Op(
          "layer_norm rows of 77",
          rows77,
          -5,
          5,
          x -> x.layerNorm(new long[] {77}, null, null, 1e-5)),
      new Op(
          "rms_norm rows of 1536", rows1536, -5, 5, x -> x.rmsNorm(new long[] {1536}, null, 1e-5)),
    };
    int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 3;
    String only = args.length > 1 ? args[1] : ""; // ops whose name contains it
    Random r = new Random(1);
    for (int round = 0; round < rounds; round++) { // the first rounds warm every kernel up
      for (Op op : ops) {
        if (!op.name.contains(only)) continue;
        try (var s = Scope.open()) {
          long n = 1;
          for (long d : op.shape) n *= d;
          float[] v = new float[(int) n];
          for (int i = 0; i < v.length; i++)
            v[i] = (float) (op.lo + (op.hi - op.lo) * r.nextDouble());
          Tensor x = Tensor.of(v, op.shape);
          double best = Double.MAX_VALUE, allocated = 0;
          for (int rep = 0; rep < (round < rounds - 1 ? 3 : 7); rep++) {
            long t0 = cpuTime(), a0 = THREAD.getCurrentThreadAllocatedBytes(), calls = 0;
            do {
              op.f.apply(x).close();
              calls++;
            } while (cpuTime() - t0 < 100_000_000);
            best = Math.min(best, (cpuTime() - t0) / (double) calls / n);
            allocated = (THREAD.getCurrentThreadAllocatedBytes() - a0) / (double) calls / n;
          }
          if (round == rounds - 1) {
            System.out.printf("%-26s %7.3f ns/element %6.2f B/element%n", op.name, best, allocated);
          }
        }
      }
    }
  }
}
