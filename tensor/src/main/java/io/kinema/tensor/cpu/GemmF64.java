package io.kinema.tensor.cpu;

import io.kinema.tensor.cpu.CpuMatmul.Mat;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Double-precision GEMM: the reference path (gradient checks, parity tests), correct for any
 * strides and reasonably fast rather than tuned. B is packed in KC x NC blocks (dense rows, in L2);
 * each row of C is then accumulated in a row buffer (in L1) as a sum of scaled rows of the block,
 * with DoubleVector FMAs, in order of k.
 */
final class GemmF64 {
  private static final VectorSpecies<Double> S = DoubleVector.SPECIES_PREFERRED;
  static final int KC = 128;
  static final int NC = 512;

  private static final class Buffers {
    final double[] b = new double[KC * NC];
    final double[] row = new double[NC];
  }

  private static final ThreadLocal<Buffers> BUFFERS = ThreadLocal.withInitial(Buffers::new);

  private GemmF64() {}

  /**
   * Computes rows [m0, m1) x columns [n0, n1) of one F64 product into C, where element (m0 + i, n0
   * + j) is element {@code co + i * ldc + j} of {@code c}.
   */
  static void region(
      Mat a,
      long aOff,
      Mat b,
      long bOff,
      int k,
      int m0,
      int m1,
      int n0,
      int n1,
      MemorySegment c,
      long co,
      long ldc) {
    Buffers buf = BUFFERS.get();
    double[] bp = buf.b, row = buf.row;
    MemorySegment as = a.seg(), bs = b.seg();
    long ars = a.rs(), acs = a.cs(), brs = b.rs(), bcs = b.cs();
    for (int jc = n0; jc < n1; jc += NC) {
      int nc = Math.min(NC, n1 - jc);
      int nv = S.loopBound(nc);
      for (int pc = 0; pc < k; pc += KC) {
        int kc = Math.min(KC, k - pc);
        // Pack B[pc:pc+kc, jc:jc+nc] as dense rows of nc.
        for (int p = 0; p < kc; p++) {
          long src = bOff + (pc + p) * brs + jc * bcs;
          if (bcs == 1) {
            MemorySegment.copy(bs, ValueLayout.JAVA_DOUBLE, 8 * src, bp, p * nc, nc);
          } else {
            for (int j = 0; j < nc; j++)
              bp[p * nc + j] = bs.getAtIndex(ValueLayout.JAVA_DOUBLE, src + j * bcs);
          }
        }
        for (int i = m0; i < m1; i++) {
          long crow = 8 * (co + (i - m0) * ldc + (jc - n0));
          if (pc == 0) {
            java.util.Arrays.fill(row, 0, nc, 0.0);
          } else {
            MemorySegment.copy(c, ValueLayout.JAVA_DOUBLE, crow, row, 0, nc);
          }
          long asrc = aOff + i * ars + pc * acs;
          for (int p = 0; p < kc; p++) {
            double av = as.getAtIndex(ValueLayout.JAVA_DOUBLE, asrc + p * acs);
            DoubleVector va = DoubleVector.broadcast(S, av);
            int bo = p * nc, j = 0;
            for (; j < nv; j += S.length()) {
              va.fma(DoubleVector.fromArray(S, bp, bo + j), DoubleVector.fromArray(S, row, j))
                  .intoArray(row, j);
            }
            for (; j < nc; j++) row[j] = Math.fma(av, bp[bo + j], row[j]);
          }
          MemorySegment.copy(row, 0, c, ValueLayout.JAVA_DOUBLE, crow, nc);
        }
      }
    }
  }
}
