package io.kinema.tensor.cpu;

import io.kinema.tensor.Tensor;
import io.kinema.tensor.backend.RandomKind;

/** Fills tensors from the Philox4x32-10 stream. */
final class CpuRandom {
  private CpuRandom() {}

  static void random(RandomKind kind, long seed, long offset, double a, double b, Tensor out) {
    throw new UnsupportedOperationException("not implemented yet");
  }
}
