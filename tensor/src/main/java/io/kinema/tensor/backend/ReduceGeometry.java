package io.kinema.tensor.backend;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

/**
 * How a reduction walks x (the CPU's {@code CpuReduce} and the geometry {@code reduce.cu}
 * documents): x's dims split into kept dims (one output each) and reduced dims, size-1 dims
 * dropped, each group sorted outer to inner by x stride and fused where contiguous. Output {@code
 * o} (row-major over the kept shape) reduces the {@code n} elements {@code r} (row-major over the
 * reduced shape) at {@code x + offset(o, keptX) + offset(r, redX)} and is stored at {@code
 * offset(o, keptOut)}. The reduced group always has at least one dim.
 *
 * @param keptShape sizes of the kept dims
 * @param keptX x's strides along them
 * @param keptOut out's strides along them
 * @param redShape sizes of the reduced dims ({@code [1]} when nothing is reduced)
 * @param redX x's strides along them
 */
public record ReduceGeometry(
    long[] keptShape, long[] keptX, long[] keptOut, long[] redShape, long[] redX) {

  /** The geometry of reducing {@code dims} of x ({@code shape}, {@code xStrides}) into out. */
  public static ReduceGeometry of(long[] shape, long[] xStrides, long[] outStrides, int[] dims) {
    boolean[] reduced = new boolean[shape.length];
    for (int d : dims) reduced[d] = true;
    List<long[]> kept = new ArrayList<>(), red = new ArrayList<>();
    for (int d = 0; d < shape.length; d++) {
      if (shape[d] == 1) continue;
      if (reduced[d]) red.add(new long[] {shape[d], xStrides[d]});
      else kept.add(new long[] {shape[d], xStrides[d], outStrides[d]});
    }
    Comparator<long[]> outerFirst = (a, b) -> Long.compare(Math.abs(b[1]), Math.abs(a[1]));
    kept.sort(outerFirst);
    red.sort(outerFirst);
    kept = fuse(kept);
    red = fuse(red);
    if (red.isEmpty()) red.add(new long[] {1, 0});
    return new ReduceGeometry(
        column(kept, 0), column(kept, 1), column(kept, 2), column(red, 0), column(red, 1));
  }

  /** Fuses neighbours whose strides (all of them) say they are one contiguous dim. */
  private static List<long[]> fuse(List<long[]> dims) {
    List<long[]> out = new ArrayList<>();
    for (long[] d : dims) {
      if (!out.isEmpty()) {
        long[] prev = out.getLast();
        boolean fusable = true;
        for (int i = 1; i < d.length; i++) fusable &= prev[i] == d[i] * d[0];
        if (fusable) {
          prev[0] *= d[0];
          for (int i = 1; i < d.length; i++) prev[i] = d[i];
          continue;
        }
      }
      out.add(d.clone());
    }
    return out;
  }

  private static long[] column(List<long[]> dims, int i) {
    long[] c = new long[dims.size()];
    for (int k = 0; k < c.length; k++) c[k] = dims.get(k)[i];
    return c;
  }

  /** Elements each output reduces. */
  public long n() {
    long c = 1;
    for (long s : redShape) c *= s;
    return c;
  }

  /** Number of outputs. */
  public long numOut() {
    long c = 1;
    for (long s : keptShape) c *= s;
    return c;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof ReduceGeometry g
        && Arrays.equals(keptShape, g.keptShape)
        && Arrays.equals(keptX, g.keptX)
        && Arrays.equals(keptOut, g.keptOut)
        && Arrays.equals(redShape, g.redShape)
        && Arrays.equals(redX, g.redX);
  }

  @Override
  public int hashCode() {
    return Arrays.hashCode(keptShape) * 31 + Arrays.hashCode(redShape);
  }

  @Override
  public String toString() {
    return "ReduceGeometry[kept "
        + Arrays.toString(keptShape)
        + " x "
        + Arrays.toString(keptX)
        + " out "
        + Arrays.toString(keptOut)
        + ", reduced "
        + Arrays.toString(redShape)
        + " x "
        + Arrays.toString(redX)
        + "]";
  }
}
