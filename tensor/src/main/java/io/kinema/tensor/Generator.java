package io.kinema.tensor;

/**
 * A counter-based random stream (Philox4x32-10): every draw is a pure function of (seed, counter
 * offset), so the generator's whole state is two longs that can be checkpointed and restored to
 * replay a run exactly, on any backend. Each draw reserves a range of counters and advances the
 * offset past it.
 */
public final class Generator {
  /** The complete, serializable state. */
  public record State(long seed, long offset) {}

  private final long seed;
  private long offset;

  public Generator(long seed) {
    this.seed = seed;
  }

  public Generator(State state) {
    this.seed = state.seed();
    this.offset = state.offset();
  }

  public long seed() {
    return seed;
  }

  public synchronized long offset() {
    return offset;
  }

  public synchronized State state() {
    return new State(seed, offset);
  }

  /** Jumps to {@code offset} (e.g. when restoring a checkpoint). */
  public synchronized void setOffset(long offset) {
    this.offset = offset;
  }

  @Override
  public synchronized String toString() {
    return "Generator(seed=" + seed + ", offset=" + offset + ")";
  }

  /** Reserves {@code counters} counters; returns the first one. */
  public synchronized long reserve(long counters) {
    if (counters < 0) throw new IllegalArgumentException("negative counter count: " + counters);
    long start = offset;
    offset = Math.addExact(offset, counters);
    return start;
  }
}
