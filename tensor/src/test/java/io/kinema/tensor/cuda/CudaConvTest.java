package io.kinema.tensor.cuda;

import static io.kinema.tensor.cuda.CudaTesting.GPU;
import static io.kinema.tensor.cuda.CudaTesting.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.kinema.ffi.cuda.CudaLibrary;
import io.kinema.ffi.cuda.junit.RequiresCuda;
import io.kinema.tensor.Backends;
import io.kinema.tensor.Convolution;
import io.kinema.tensor.DType;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * conv3d and its two gradients on the GPU against the CPU, through cuDNN and, with {@code
 * -Dkinema.cuda.cudnn=false}, through the composed im2col path: every float dtype, kernel == stride
 * with remainders (Wan's patch embedding), overlapping windows with strides and padding, unbatched,
 * non-contiguous operands, with and without bias.
 */
@RequiresCuda(CudaLibrary.CUDNN)
class CudaConvTest {
  /** A geometry: 5-d (or 4-d, unbatched) input shape, weight shape, stride, padding. */
  private record Case(String name, long[] x, long[] w, long[] stride, long[] padding) {}

  private static final Case[] CASES = {
    new Case(
        "patchify",
        new long[] {2, 4, 3, 9, 8},
        new long[] {6, 4, 1, 2, 2},
        new long[] {1, 2, 2},
        new long[3]),
    new Case(
        "overlapping",
        new long[] {2, 3, 5, 6, 4},
        new long[] {4, 3, 3, 2, 3},
        new long[] {1, 2, 1},
        new long[] {1, 0, 2}),
    new Case(
        "strided 3x3x3",
        new long[] {1, 2, 6, 7, 5},
        new long[] {3, 2, 3, 3, 3},
        new long[] {2, 2, 1},
        new long[] {1, 1, 1}),
    new Case(
        "unbatched",
        new long[] {3, 4, 5, 4},
        new long[] {2, 3, 2, 2, 2},
        new long[] {1, 1, 2},
        new long[] {0, 1, 1}),
  };

  private static CudaBackend backend() {
    return (CudaBackend) Backends.of(GPU);
  }

  @Test
  void cudnnMatchesTheCpu() {
    Random r = new Random(81);
    for (DType dt : new DType[] {DType.F32, DType.BF16, DType.F16, DType.F64}) {
      for (Case c : CASES) {
        long before = backend().cudnnConvolutions();
        check(r, dt, c, true, c.name().equals("overlapping"));
        check(r, dt, c, false, false);
        // forward, backward data and backward filter of both calls
        assertEquals(before + 6, backend().cudnnConvolutions(), c.name() + " " + dt + " via cuDNN");
      }
    }
  }

  /** cuDNN's backward passes may add with atomics; the backend picks algorithms that do not. */
  @Test
  void gradientsAreTheSameBitsEveryRun() {
    Random r = new Random(83);
    Case c = CASES[1];
    try (Scope s = Scope.open()) {
      Tensor x = CudaTesting.randn(r, DType.F32, c.x()).to(GPU);
      Tensor w = CudaTesting.randn(r, DType.F32, c.w()).to(GPU);
      long[] ys = x.conv3d(w, null, c.stride(), c.padding()).shape();
      Tensor g = CudaTesting.randn(r, DType.F32, ys).to(GPU);
      for (int run = 0; run < 2; run++) {
        CudaTesting.assertSame(
            Convolution.conv3dInput(c.x(), w, g, c.stride(), c.padding()),
            Convolution.conv3dInput(c.x(), w, g, c.stride(), c.padding()),
            "input gradient, run " + run);
        CudaTesting.assertSame(
            Convolution.conv3dWeight(x, c.w(), g, c.stride(), c.padding()),
            Convolution.conv3dWeight(x, c.w(), g, c.stride(), c.padding()),
            "weight gradient, run " + run);
      }
    }
  }

  @Test
  void composedWhenCudnnIsTurnedOff() {
    Random r = new Random(82);
    String key = "kinema.cuda.cudnn";
    System.setProperty(key, "false");
    try {
      long before = backend().cudnnConvolutions();
      for (DType dt : new DType[] {DType.F32, DType.BF16}) {
        for (Case c : CASES) check(r, dt, c, true, c.name().equals("patchify"));
      }
      check(r, DType.F64, CASES[1], false, true);
      assertEquals(before, backend().cudnnConvolutions(), "no cuDNN call");
    } finally {
      System.clearProperty(key);
    }
  }

  /** Forward, input gradient and weight gradient on both devices; strided operands if asked. */
  private static void check(Random r, DType dt, Case c, boolean bias, boolean strided) {
    String what = c.name() + " " + dt + (bias ? " with bias" : "") + (strided ? " strided" : "");
    try (Scope s = Scope.open()) {
      Tensor x =
          strided
              ? reversed(CudaTesting.randn(r, dt, reverse(c.x())), c.x().length)
              : CudaTesting.randn(r, dt, c.x());
      Tensor w = CudaTesting.randn(r, dt, c.w());
      Tensor b = bias ? CudaTesting.randn(r, dt, c.w()[0]) : null;
      Tensor want = x.conv3d(w, b, c.stride(), c.padding());
      Tensor got =
          x.to(GPU).conv3d(w.to(GPU), b == null ? null : b.to(GPU), c.stride(), c.padding());
      assertArrayEquals(want.strides(), got.strides(), what + ": channels-last output");
      assertClose(want, got, what + " forward");

      long[] ys = want.shape();
      Tensor g =
          strided
              ? reversed(CudaTesting.randn(r, dt, reverse(ys)), ys.length)
              : CudaTesting.randn(r, dt, ys);
      assertClose(
          Convolution.conv3dInput(c.x(), w, g, c.stride(), c.padding()),
          Convolution.conv3dInput(c.x(), w.to(GPU), g.to(GPU), c.stride(), c.padding()),
          what + " input gradient");
      assertClose(
          Convolution.conv3dWeight(x, c.w(), g, c.stride(), c.padding()),
          Convolution.conv3dWeight(x.to(GPU), c.w(), g.to(GPU), c.stride(), c.padding()),
          what + " weight gradient");
    }
  }

  private static long[] reverse(long[] shape) {
    long[] r = new long[shape.length];
    for (int i = 0; i < shape.length; i++) r[i] = shape[shape.length - 1 - i];
    return r;
  }

  /** A tensor stored with its dims reversed, seen in the original order (all strides non-unit). */
  private static Tensor reversed(Tensor t, int rank) {
    int[] order = new int[rank];
    for (int i = 0; i < rank; i++) order[i] = rank - 1 - i;
    return t.permute(order);
  }
}
