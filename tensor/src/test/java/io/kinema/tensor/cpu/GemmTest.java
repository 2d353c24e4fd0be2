package io.kinema.tensor.cpu;

import static io.kinema.tensor.cpu.GemmKernel.MR;
import static io.kinema.tensor.cpu.GemmKernel.NR;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.kinema.tensor.DType;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.cpu.CpuMatmul.Mat;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The GEMM kernels below the front-end: micro-kernel, packing layouts, blocking boundaries. */
class GemmTest {
  private static float[] randomFloats(Random r, int n) {
    float[] f = new float[n];
    for (int i = 0; i < n; i++) f[i] = r.nextFloat() * 2 - 1;
    return f;
  }

  @Test
  void microKernelsComputeOneTile() {
    Random r = new Random(1);
    int kc = 37;
    float[] ap = randomFloats(r, MR * kc + 5), bp = randomFloats(r, NR * kc + 3);
    float[] tile = new float[MR * NR], narrow = new float[MR * NR];
    GemmKernel.tile(ap, 5, bp, 3, kc, tile);
    GemmKernel.narrowTile(ap, 5, bp, 3, kc, narrow);
    for (int i = 0; i < MR; i++) {
      for (int j = 0; j < NR; j++) {
        double want = 0, mag = 0;
        for (int p = 0; p < kc; p++) {
          want += (double) ap[5 + p * MR + i] * bp[3 + p * NR + j];
          mag += Math.abs((double) ap[5 + p * MR + i] * bp[3 + p * NR + j]);
        }
        assertEquals(want, tile[i * NR + j], 1e-6 * mag, "tile[" + i + ", " + j + "]");
        if (j < GemmKernel.V) {
          assertEquals(want, narrow[i * NR + j], 1e-6 * mag, "narrow[" + i + ", " + j + "]");
        }
      }
    }
  }

  @Test
  void packingLayoutsAndZeroPadding() {
    Random r = new Random(2);
    try (var s = Scope.open()) {
      int rows = 2 * MR + 5, cols = 2 * NR + 7;
      for (DType t : new DType[] {DType.F32, DType.BF16, DType.F16}) {
        Tensor x = Tensor.of(randomFloats(r, rows * cols), rows, cols).to(t);
        double[] v = x.toDoubleArray();
        for (Tensor view : new Tensor[] {x, x.mT().contiguous().mT()}) {
          Mat m = new Mat(view.storage().segment(), t, view.stride(0), view.stride(1));
          // A block rows [3, rows) x cols [4, 4 + kc): panels of MR rows, k-major, padded.
          int ic = 3, mc = rows - 3, pc = 4, kc = 19;
          float[] ap = new float[GemmF32.roundUp(mc, MR) * kc];
          java.util.Arrays.fill(ap, Float.NaN);
          GemmF32.packA(m, view.offset(), ic, mc, pc, kc, ap, new float[kc]);
          for (int i = 0; i < GemmF32.roundUp(mc, MR); i++) {
            for (int p = 0; p < kc; p++) {
              float got = ap[(i / MR) * MR * kc + p * MR + i % MR];
              double want = i < mc ? v[(ic + i) * cols + pc + p] : 0;
              assertEquals(want, got, 0, t + " packA row " + i + " k " + p);
            }
          }
          // B block rows (k) [2, 2 + kc) x cols [5, cols): panels of NR columns, padded.
          int jc = 5, nc = cols - 5;
          pc = 2;
          float[] bp = new float[GemmF32.roundUp(nc, NR) * kc];
          java.util.Arrays.fill(bp, Float.NaN);
          GemmF32.packB(m, view.offset(), pc, kc, jc, nc, bp, new float[16 * GemmKernel.V + kc]);
          for (int j = 0; j < GemmF32.roundUp(nc, NR); j++) {
            for (int p = 0; p < kc; p++) {
              float got = bp[(j / NR) * NR * kc + p * NR + j % NR];
              double want = j < nc ? v[(pc + p) * cols + jc + j] : 0;
              assertEquals(want, got, 0, t + " packB col " + j + " k " + p);
            }
          }
        }
      }
    }
  }

  /** One product through {@link GemmF32#region} on a sub-block, checked against doubles. */
  private static void checkRegion(int m, int n, int k, int m0, int m1, int n0, int n1, long seed) {
    Random r = new Random(seed);
    try (var s = Scope.open()) {
      Tensor a = Tensor.of(randomFloats(r, m * k), m, k);
      Tensor b = Tensor.of(randomFloats(r, n * k), n, k).mT(); // transposed B
      float[] av = a.toFloatArray(), bv = b.toFloatArray();
      int rows = m1 - m0, cols = n1 - n0;
      long ldc = 4L * (cols + 3); // C rows padded: the region must not touch the gap
      Tensor cBuf = Tensor.full(7, DType.F32, (long) rows * (cols + 3) + 5);
      MemorySegment c = cBuf.storage().segment();
      GemmF32.region(
          new Mat(a.storage().segment(), DType.F32, a.stride(0), a.stride(1)),
          a.offset(),
          new Mat(b.storage().segment(), DType.F32, b.stride(0), b.stride(1)),
          b.offset(),
          k,
          m0,
          m1,
          n0,
          n1,
          c,
          20,
          ldc,
          null,
          GemmF32.buffers());
      for (int i = 0; i < rows; i++) {
        for (int j = 0; j < cols + 3; j++) {
          float got = c.get(ValueLayout.JAVA_FLOAT, 20 + i * ldc + 4L * j);
          if (j >= cols) {
            assertEquals(7f, got, "gap after row " + i);
            continue;
          }
          double want = 0, mag = 0;
          for (int p = 0; p < k; p++) {
            double x = (double) av[(m0 + i) * k + p] * bv[p * n + n0 + j];
            want += x;
            mag += Math.abs(x);
          }
          assertEquals(want, got, 2e-5 * mag + 1e-30, "C[" + (m0 + i) + ", " + (n0 + j) + "]");
        }
      }
      assertEquals(7f, c.get(ValueLayout.JAVA_FLOAT, 0)); // before the region
    }
  }

  @Test
  void blockingBoundaries() {
    int kc = GemmF32.KC, mc = GemmF32.MC;
    checkRegion(mc + 1, 70, kc + 1, 0, mc + 1, 0, 70, 3); // one row and one k past a block
    checkRegion(mc - 1, 33, 2 * kc + 3, 0, mc - 1, 0, 33, 4); // three k blocks
    checkRegion(2 * mc + MR + 1, 3 * NR, kc, 0, 2 * mc + MR + 1, 0, 3 * NR, 5); // exact K block
    checkRegion(50, 90, 60, 13, 41, 17, 83, 6); // an interior sub-block, edges on both sides
    checkRegion(MR, NR, 1, 0, MR, 0, NR, 7); // exactly one tile, K = 1
  }

  @Test
  void panelWiderThanNc() {
    int n = GemmF32.NC + NR + 3;
    checkRegion(MR + 2, n, 9, 0, MR + 2, 0, n, 8);
  }

  @Test
  void halfOutputsRoundExactlyLikeHalf() {
    Random r = new Random(9);
    int rows = 3, cols = 37; // two vectors and a scalar tail per row
    float[] v = new float[rows * cols];
    for (int i = 0; i < v.length; i++) {
      v[i] =
          switch (i % 9) {
            case 0 -> Float.NaN;
            case 1 -> Float.POSITIVE_INFINITY;
            case 2 -> -Float.MAX_VALUE;
            case 3 -> Float.intBitsToFloat(0x3f808000); // tie, even: rounds down
            case 4 -> Float.intBitsToFloat(0x3f818000); // tie, odd: rounds up
            case 5 -> Float.MIN_VALUE;
            case 6 -> -0f;
            case 7 -> Float.intBitsToFloat(0x7f7fffff); // rounds up to infinity
            default -> (r.nextFloat() - 0.5f) * 1e5f;
          };
    }
    try (var s = Scope.open()) {
      Tensor src = Tensor.of(v, rows, cols);
      for (DType t : new DType[] {DType.BF16, DType.F16}) {
        Tensor out = Tensor.zeros(t, rows, cols + 2); // row stride differs from the block's
        MemorySegment o = out.storage().segment();
        GemmF32.storeHalf(src.storage().segment(), 0, 4L * cols, rows, cols, o, t, 1, cols + 2);
        for (int i = 0; i < rows; i++) {
          for (int j = 0; j < cols; j++) {
            float x = v[i * cols + j];
            short want = t == DType.BF16 ? Half.floatToBf16(x) : Half.floatToF16(x);
            short got = o.getAtIndex(ValueLayout.JAVA_SHORT, 1 + i * (cols + 2) + j);
            assertEquals(want, got, t + " of " + x);
          }
        }
      }
    }
  }

  @Test
  void operandsAreReadInPlaceNotCopied() {
    Random r = new Random(10);
    try (var s = Scope.open()) {
      // Transposed, stepped and broadcast operands: only the output may be allocated.
      Tensor a = Tensor.of(randomFloats(r, 200 * 300), 200, 300).mT(); // [300, 200]
      Tensor b =
          Tensor.of(randomFloats(r, 400 * 400), 400, 400).slice(0, 0, 400, 2).expand(3, 200, 400);
      CpuAllocator alloc = CpuAllocator.get();
      long before = alloc.stats().allocated();
      alloc.resetPeak();
      Tensor out = a.matmul(b);
      long outBytes = CpuAllocator.sizeClass(4L * 3 * 300 * 400);
      assertEquals(outBytes, alloc.stats().peakAllocated() - before);
      assertEquals(outBytes, alloc.stats().allocated() - before);
      double[] av = a.toDoubleArray(), bv = b.toDoubleArray(), got = out.toDoubleArray();
      for (int bi = 0; bi < 3; bi++) {
        for (int i = 0; i < 300; i += 37) {
          for (int j = 0; j < 400; j += 41) {
            double want = 0, mag = 0;
            for (int p = 0; p < 200; p++) {
              double x = av[i * 200 + p] * bv[(bi * 200 + p) * 400 + j];
              want += x;
              mag += Math.abs(x);
            }
            assertEquals(want, got[(bi * 300 + i) * 400 + j], 2e-5 * mag);
          }
        }
      }
    }
  }
}
