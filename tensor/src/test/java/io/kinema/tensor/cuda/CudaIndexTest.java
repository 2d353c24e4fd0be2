package io.kinema.tensor.cuda;

import static io.kinema.tensor.cuda.CudaTesting.GPU;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.kinema.ffi.cuda.junit.RequiresCuda;
import io.kinema.tensor.DType;
import io.kinema.tensor.Device;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.Random;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;

/**
 * index_select, gather and scatter_add on the GPU ({@code index.cu}) give the CPU's bits: every
 * dtype, I64 and I32 indices, random shapes of rank 1 to 4 with any dim, contiguous, permuted,
 * strided and expanded operands, empty results, ranks beyond the kernels' 8 dims, the embedding
 * backward's shape with many repeated indices, and the CPU's out-of-range errors.
 */
@RequiresCuda
class CudaIndexTest {
  private static final DType[] INDEX_TYPES = {DType.I64, DType.I32};

  /** How an operand is laid out in memory; each keeps the logical shape. */
  private enum Layout {
    CONTIGUOUS,
    PERMUTED,
    STRIDED,
    EXPANDED
  }

  @Test
  void indexSelectMatchesCpu() {
    Random r = new Random(31);
    for (DType dt : DType.values()) {
      for (DType it : INDEX_TYPES) {
        for (int trial = 0; trial < 3; trial++) {
          try (Scope s = Scope.open()) {
            long[] shape = randomShape(r);
            int dim = r.nextInt(shape.length);
            long n = r.nextInt(7);
            Operand x = operand(r, values(r, dt, shape), randomLayout(r, true));
            Layout il = new Layout[] {Layout.CONTIGUOUS, Layout.STRIDED, Layout.EXPANDED}[trial];
            Operand idx = operand(r, indices(r, it, shape[dim], n), il);
            String what = "indexSelect dim " + dim + " of " + x.cpu.describe() + " by " + idx;
            assertBits(x.cpu.indexSelect(dim, idx.cpu), x.gpu.indexSelect(dim, idx.gpu), what);
          }
        }
      }
    }
  }

  @Test
  void gatherMatchesCpu() {
    Random r = new Random(32);
    for (DType dt : DType.values()) {
      for (DType it : INDEX_TYPES) {
        for (int trial = 0; trial < 3; trial++) {
          try (Scope s = Scope.open()) {
            long[] shape = randomShape(r);
            int dim = r.nextInt(shape.length);
            long[] ishape = new long[shape.length];
            for (int d = 0; d < shape.length; d++) {
              ishape[d] = d == dim ? r.nextInt(6) : r.nextInt((int) shape[d] + 1);
            }
            Operand x = operand(r, values(r, dt, shape), randomLayout(r, true));
            Operand idx = operand(r, indices(r, it, shape[dim], ishape), randomLayout(r, true));
            String what = "gather dim " + dim + " of " + x + " by " + idx;
            assertBits(x.cpu.gather(dim, idx.cpu), x.gpu.gather(dim, idx.gpu), what);
          }
        }
      }
    }
  }

  @Test
  void scatterAddMatchesCpuBitForBit() {
    Random r = new Random(33);
    for (DType dt : DType.values()) {
      for (DType it : INDEX_TYPES) {
        for (int trial = 0; trial < 3; trial++) {
          try (Scope s = Scope.open()) {
            long[] shape = randomShape(r);
            int dim = r.nextInt(shape.length);
            long[] ishape = new long[shape.length], sshape = new long[shape.length];
            for (int d = 0; d < shape.length; d++) {
              ishape[d] = d == dim ? r.nextInt(9) : r.nextInt((int) shape[d] + 1);
              sshape[d] = ishape[d] + r.nextInt(2); // src may be larger than the index
            }
            Operand self = operand(r, values(r, dt, shape), randomLayout(r, false));
            Operand idx = operand(r, indices(r, it, shape[dim], ishape), randomLayout(r, true));
            Operand src = operand(r, values(r, dt, sshape), randomLayout(r, true));
            String what = "scatterAdd dim " + dim + " into " + self + " by " + idx + " of " + src;
            Tensor want = self.cpu.scatterAdd(dim, idx.cpu, src.cpu);
            assertBits(want, self.gpu.scatterAdd(dim, idx.gpu, src.gpu), what);
            self.gpu.scatterAddInPlace(dim, idx.gpu, src.gpu); // into self's own strides
            assertBits(want, self.gpu, "in place " + what);
          }
        }
      }
    }
  }

  /**
   * The embedding backward: a [N, D] gradient added into a [V, D] table along dim 0 through an
   * index expanded from [N, 1], so every row of the table sums dozens of values of very different
   * magnitudes: only the CPU's order gives the CPU's bits (checked: the reverse order does not).
   */
  @Test
  void embeddingBackwardIsTheCpusSumInOrder() {
    Random r = new Random(34);
    long v = 7, d = 300, n = 200;
    for (DType dt : new DType[] {DType.F32, DType.F64, DType.BF16}) {
      for (DType it : INDEX_TYPES) {
        try (Scope s = Scope.open()) {
          Tensor ids = indices(r, it, v, n, 1), grad = values(r, dt, n, d);
          Tensor table = Tensor.zeros(dt, v, d);
          Tensor want = table.scatterAdd(0, ids.expand(n, d), grad);
          Tensor got =
              table.to(GPU).scatterAdd(0, ids.to(GPU).expand(n, d), grad.to(GPU)); // lines = d
          assertBits(want, got, "embedding backward " + dt + " " + it);
          if (dt != DType.BF16) {
            Tensor rev = Tensor.arange(n - 1, -1, -1, DType.I64, Device.CPU);
            Tensor reversed =
                table.scatterAdd(0, ids.indexSelect(0, rev).expand(n, d), grad.indexSelect(0, rev));
            assertFalse(
                Arrays.equals(bits(want), bits(reversed)), "the test data is order-sensitive");
          }
        }
      }
    }
  }

  /** More than the kernels' 8 dims after fusing: a host loop of launches over the leading dims. */
  @Test
  void ranksBeyondEightDims() {
    Random r = new Random(35);
    try (Scope s = Scope.open()) {
      long[] shape = {2, 3, 2, 2, 3, 2, 2, 2, 3, 2};
      Operand x = operand(r, values(r, DType.F32, shape), Layout.PERMUTED);
      long[] ishape = shape.clone();
      ishape[4] = 4;
      Operand idx = operand(r, indices(r, DType.I64, 3, ishape), Layout.PERMUTED);
      assertBits(x.cpu.gather(4, idx.cpu), x.gpu.gather(4, idx.gpu), "rank-10 gather");
      Operand src = operand(r, values(r, DType.F32, ishape), Layout.PERMUTED);
      assertBits(
          x.cpu.scatterAdd(4, idx.cpu, src.cpu),
          x.gpu.scatterAdd(4, idx.gpu, src.gpu),
          "rank-10 scatterAdd");
      Operand sel = operand(r, indices(r, DType.I32, 2, 5), Layout.CONTIGUOUS);
      assertBits(x.cpu.indexSelect(7, sel.cpu), x.gpu.indexSelect(7, sel.gpu), "rank-10 select");
    }
  }

  @Test
  void emptyOperands() {
    Random r = new Random(36);
    try (Scope s = Scope.open()) {
      Operand x = operand(r, values(r, DType.F32, 3, 0, 4), Layout.CONTIGUOUS);
      Tensor idx = indices(r, DType.I64, 3, 2);
      assertBits(x.cpu.indexSelect(0, idx), x.gpu.indexSelect(0, idx.to(GPU)), "select, 0 rows");
      Operand y = operand(r, values(r, DType.F32, 3, 4), Layout.PERMUTED);
      Tensor none = indices(r, DType.I32, 3, 0);
      assertBits(y.cpu.indexSelect(0, none), y.gpu.indexSelect(0, none.to(GPU)), "no index");
      Tensor empty = indices(r, DType.I64, 3, 0, 4);
      assertBits(y.cpu.gather(0, empty), y.gpu.gather(0, empty.to(GPU)), "gather, no index");
      Tensor src = values(r, DType.F32, 0, 4);
      assertBits(
          y.cpu.scatterAdd(0, empty, src),
          y.gpu.scatterAdd(0, empty.to(GPU), src.to(GPU)),
          "scatterAdd, no index");
    }
  }

  /** A bad index gives the CPU's exception and message, and scatter_add writes nothing. */
  @Test
  void outOfRangeIndicesFailAsOnTheCpu() {
    Random r = new Random(37);
    for (DType it : INDEX_TYPES) {
      for (long bad : new long[] {5, -1, 1L << 40}) {
        if (it == DType.I32 && bad > Integer.MAX_VALUE) continue;
        try (Scope s = Scope.open()) {
          Operand x = operand(r, values(r, DType.F32, 4, 5, 3), Layout.PERMUTED);
          long[] iv = {1, 4, bad, 0, bad == 5 ? 0 : 5}; // a second bad value after the first
          Tensor idx = Tensor.of(iv).to(it);
          sameError(() -> x.cpu.indexSelect(1, idx), () -> x.gpu.indexSelect(1, idx.to(GPU)));

          Tensor gi = indices(r, it, 5, 4, 2, 3).reshape(-1);
          gi = setElement(gi, 13, bad).reshape(4, 2, 3);
          Tensor gidx = gi;
          sameError(() -> x.cpu.gather(1, gidx), () -> x.gpu.gather(1, gidx.to(GPU)));

          Tensor src = values(r, DType.F32, 4, 2, 3);
          Tensor before = x.gpu.copy();
          sameError(
              () -> x.cpu.scatterAdd(1, gidx, src),
              () -> x.gpu.scatterAdd(1, gidx.to(GPU), src.to(GPU)));
          sameError(
              () -> x.cpu.copy().scatterAddInPlace(1, gidx, src),
              () -> x.gpu.scatterAddInPlace(1, gidx.to(GPU), src.to(GPU)));
          assertBits(before, x.gpu, "self after a failed scatterAddInPlace");
        }
      }
    }
  }

  // ---------------------------------------------------------------- helpers

  /** The same tensor on the CPU and the GPU, with the same memory layout on both. */
  private record Operand(Tensor cpu, Tensor gpu, Layout layout) {
    @Override
    public String toString() {
      return layout + " " + cpu.describe();
    }
  }

  /** {@code t} (contiguous, CPU) laid out as {@code layout} on both devices, values unchanged. */
  private static Operand operand(Random r, Tensor t, Layout layout) {
    long[] shape = t.shape();
    int rank = shape.length;
    if (rank == 0 || t.numel() == 0) layout = Layout.CONTIGUOUS;
    int[] reverse = new int[rank];
    for (int d = 0; d < rank; d++) reverse[d] = rank - 1 - d;
    return switch (layout) {
      case CONTIGUOUS -> new Operand(t, t.to(GPU), layout);
      case PERMUTED -> {
        // Stored in reverse dim order, seen through a permutation.
        Tensor stored = t.permute(reverse).contiguous();
        yield new Operand(
            stored.permute(reverse), stored.to(GPU).permute(reverse), layout); // logical shape
      }
      case STRIDED -> {
        // Every other element of a twice-as-long last dim.
        long[] wide = shape.clone();
        wide[rank - 1] *= 2;
        Tensor stored = Tensor.zeros(t.dtype(), wide);
        UnaryOperator<Tensor> view = w -> w.slice(rank - 1, 0, wide[rank - 1], 2);
        view.apply(stored).copyFrom(t);
        yield new Operand(view.apply(stored), view.apply(stored.to(GPU)), layout);
      }
      case EXPANDED -> {
        // One slice along a random dim, repeated with stride 0.
        int d = r.nextInt(rank);
        Tensor one = t.narrow(d, 0, 1).contiguous();
        yield new Operand(one.expand(shape), one.to(GPU).expand(shape), layout);
      }
    };
  }

  private static Layout randomLayout(Random r, boolean expandable) {
    Layout[] all = Layout.values();
    return all[r.nextInt(expandable ? all.length : all.length - 1)];
  }

  /** Rank 1 to 4, sizes 1 to 5. */
  private static long[] randomShape(Random r) {
    long[] shape = new long[1 + r.nextInt(4)];
    for (int d = 0; d < shape.length; d++) shape[d] = 1 + r.nextInt(5);
    return shape;
  }

  /**
   * Values of {@code dt} that exercise its arithmetic: floats of magnitudes 1e-3 to 1e3 (sums round
   * differently in another order), integers over the whole range (sums wrap).
   */
  private static Tensor values(Random r, DType dt, long... shape) {
    int n = Math.toIntExact(Arrays.stream(shape).reduce(1, Math::multiplyExact));
    if (dt == DType.I64) {
      long[] v = new long[n];
      for (int i = 0; i < n; i++) v[i] = r.nextLong();
      return Tensor.of(v, shape);
    }
    double[] v = new double[n];
    for (int i = 0; i < n; i++) {
      v[i] =
          switch (dt) {
            case I32 -> r.nextInt();
            case U8 -> r.nextInt(256);
            case BOOL -> r.nextInt(3) == 0 ? 1 : 0;
            default -> r.nextGaussian() * Math.pow(10, r.nextInt(7) - 3);
          };
    }
    try (Tensor f = Tensor.of(v, shape)) {
      return f.to(dt);
    }
  }

  /** An index tensor of {@code it} with values uniform in [0, bound). */
  private static Tensor indices(Random r, DType it, long bound, long... shape) {
    int n = Math.toIntExact(Arrays.stream(shape).reduce(1, Math::multiplyExact));
    long[] v = new long[n];
    for (int i = 0; i < n; i++) v[i] = bound == 0 ? 0 : (long) (r.nextDouble() * bound);
    try (Tensor t = Tensor.of(v, shape)) {
      return t.to(it);
    }
  }

  /** A copy of 1-d {@code t} with element {@code i} set to {@code value}. */
  private static Tensor setElement(Tensor t, int i, long value) {
    long[] v = t.toLongArray();
    v[i] = value;
    try (Tensor l = Tensor.of(v, t.shape())) {
      return l.to(t.dtype());
    }
  }

  /** Both throw an {@link IndexOutOfBoundsException} with the same message. */
  private static void sameError(Runnable cpu, Runnable gpu) {
    var want = assertThrows(IndexOutOfBoundsException.class, cpu::run);
    var got = assertThrows(IndexOutOfBoundsException.class, gpu::run);
    assertEquals(want.getMessage(), got.getMessage());
  }

  /** The same dtype, shape and element bits (every dtype; -0 differs from +0). */
  private static void assertBits(Tensor cpu, Tensor gpu, String what) {
    assertEquals(cpu.dtype(), gpu.dtype(), what + ": dtype");
    assertArrayEquals(cpu.shape(), gpu.shape(), what + ": shape");
    long[] want = bits(cpu), got = bits(gpu);
    for (int i = 0; i < want.length; i++) {
      if (want[i] != got[i]) {
        assertEquals(
            cpu.toDoubleArray()[i],
            gpu.toDoubleArray()[i],
            what + ": element " + i + " differs (bits " + want[i] + " vs " + got[i] + ")");
        assertEquals(want[i], got[i], what + ": element " + i + " differs in its bits");
      }
    }
  }

  /**
   * Each element's stored bits, read raw from a dense host copy (BOOL bytes other than 0/1 too).
   */
  private static long[] bits(Tensor t) {
    try (Tensor host = t.to(Device.CPU).contiguous()) {
      MemorySegment m = host.storage().segment();
      long[] out = new long[Math.toIntExact(host.numel())];
      for (int i = 0; i < out.length; i++) {
        long at = host.offset() + i;
        out[i] =
            switch (host.dtype().byteSize()) {
              case 8 -> m.getAtIndex(ValueLayout.JAVA_LONG, at);
              case 4 -> m.getAtIndex(ValueLayout.JAVA_INT, at);
              case 2 -> m.getAtIndex(ValueLayout.JAVA_SHORT, at);
              default -> m.get(ValueLayout.JAVA_BYTE, at);
            };
      }
      return out;
    }
  }
}
