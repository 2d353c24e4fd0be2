package io.kinema.train;

/**
 * Independent seeds derived from the run's one seed ({@code training.data.seed}) for each consumer
 * of randomness — model initialization, LoRA factors, noise and timesteps, data order — so that no
 * two counter-based streams start from the same key by accident.
 */
public final class Seeds {
  private Seeds() {}

  /** SplitMix64 of the seed mixed with the purpose's hash: stable across runs and JVMs. */
  public static long derive(long seed, String purpose) {
    long z = seed ^ (0x9E3779B97F4A7C15L * (purpose.hashCode() + 1L));
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return z ^ (z >>> 31);
  }
}
