package io.kinema.tensor.cuda;

import io.kinema.tensor.DType;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.backend.Backend;
import io.kinema.tensor.backend.RandomKind;

/**
 * Philox fills ({@code random.cu}): the same stream as the CPU's {@code CpuRandom}, bit for bit,
 * for the same (seed, offset). One thread per Philox block: {@code kinema_random_32} for 1-, 2- and
 * 4-byte dtypes (four elements per counter), {@code kinema_random_64} for F64 and I64 (two).
 */
final class CudaRandom {
  private final CudaKernels kernels;

  CudaRandom(CudaKernels kernels) {
    this.kernels = kernels;
  }

  /** {@link Backend#random} into contiguous {@code out}. */
  void random(RandomKind kind, long seed, long offset, double a, double b, Tensor out) {
    long n = out.numel();
    if (n == 0) return;
    DType dt = out.dtype();
    if (kind != RandomKind.INTEGERS && !dt.isFloatingPoint()) {
      throw new IllegalArgumentException("random: " + kind + " needs a floating dtype, got " + dt);
    }
    if (!out.isContiguous()) {
      throw new IllegalArgumentException("random: out must be contiguous, got " + out.describe());
    }
    long blocks = Backend.randomCounters(n, dt);
    String kernel = dt.byteSize() == 8 ? "kinema_random_64" : "kinema_random_32";
    kernels.launch(
        kernel,
        Math.ceilDiv(blocks, CudaKernels.BLOCK),
        kind.ordinal(),
        seed,
        offset,
        a,
        b,
        DeviceTensors.address(out),
        dt.ordinal(),
        n);
  }
}
