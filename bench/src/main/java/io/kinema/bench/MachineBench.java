package io.kinema.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.TimeUnit;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
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
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;

/**
 * This machine's limits, measured the same way as the kernels: the f32 FMA peak of one thread
 * (twelve independent 16-lane FMA chains, no memory traffic) and the memory bandwidth of a 256 MiB
 * copy. Run with {@code -t 2} (or {@code ./kinema bench MachineBench -t 2}) for both cores.
 *
 * <ul>
 *   <li>{@code fmaPeak}: 12 * 16 lanes * 2 flops * ITERATIONS flops per call.
 *   <li>{@code copy256MiB}: 2 * 256 MiB moved per call (read + write).
 * </ul>
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(
    value = 1,
    jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
public class MachineBench {
  static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;

  /** FMAs per chain per call. */
  public static final int ITERATIONS = 100_000;

  static final long COPY_BYTES = 256L << 20;

  private Arena arena;
  private MemorySegment src;
  private MemorySegment dst;
  private float[] seed;

  @Setup(Level.Trial)
  public void setUp() {
    arena = Arena.ofShared();
    src = arena.allocate(COPY_BYTES, 64);
    dst = arena.allocate(COPY_BYTES, 64);
    src.fill((byte) 1);
    dst.fill((byte) 0);
    seed = new float[S.length()];
    for (int i = 0; i < seed.length; i++) seed[i] = 1f + i * 1e-7f;
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    arena.close();
  }

  @Benchmark
  @Threads(1)
  public float fmaPeak() {
    FloatVector a = FloatVector.fromArray(S, seed, 0);
    FloatVector b = FloatVector.broadcast(S, 0.999999f);
    FloatVector c0 = a, c1 = a.add(1), c2 = a.add(2), c3 = a.add(3), c4 = a.add(4), c5 = a.add(5);
    FloatVector c6 = a.add(6), c7 = a.add(7), c8 = a.add(8), c9 = a.add(9), c10 = a.add(10);
    FloatVector c11 = a.add(11);
    for (int i = 0; i < ITERATIONS; i++) {
      c0 = c0.fma(b, a);
      c1 = c1.fma(b, a);
      c2 = c2.fma(b, a);
      c3 = c3.fma(b, a);
      c4 = c4.fma(b, a);
      c5 = c5.fma(b, a);
      c6 = c6.fma(b, a);
      c7 = c7.fma(b, a);
      c8 = c8.fma(b, a);
      c9 = c9.fma(b, a);
      c10 = c10.fma(b, a);
      c11 = c11.fma(b, a);
    }
    FloatVector s = c0.add(c1).add(c2).add(c3).add(c4).add(c5);
    s = s.add(c6).add(c7).add(c8).add(c9).add(c10).add(c11);
    return s.reduceLanes(jdk.incubator.vector.VectorOperators.ADD);
  }

  @Benchmark
  @Threads(1)
  public void copy256MiB() {
    MemorySegment.copy(src, 0, dst, 0, COPY_BYTES);
  }
}
