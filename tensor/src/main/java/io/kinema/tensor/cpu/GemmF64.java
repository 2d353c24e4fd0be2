package io.kinema.tensor.cpu;

import io.kinema.tensor.cpu.CpuMatmul.Mat;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;
import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Double-precision GEMM: the reference path (gradient checks, parity tests), correct for any
 * strides and reasonably fast rather than tuned. B is packed in KC x NC blocks of dense rows (L2).
 * Rows of C are computed four at a time by a small register-blocked kernel (4 rows x 2 vectors, A
 * packed k-major); leftover rows and columns accumulate a row buffer as a sum of scaled B rows.
 * Every element is summed in order of k either way.
 */
final class GemmF64 {
  private static final VectorSpecies<Double> S = DoubleVector.SPECIES_PREFERRED;
  private static final int V = S.length();
  private static final ByteOrder NATIVE = ByteOrder.nativeOrder();
  static final int KC = 128;
  static final int NC = 512;

  /** Rows and columns of the kernel's tile. */
  private static final int MR = 4, NR = 2 * V;

  private static final class Buffers {
    final double[] b = new double[KC * NC];
    final double[] a = new double[MR * KC];
    final double[] tile = new double[MR * NR];
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
    double[] bp = buf.b, ap = buf.a;
    MemorySegment as = a.seg(), bs = b.seg();
    long ars = a.rs(), acs = a.cs(), brs = b.rs(), bcs = b.cs();
    for (int jc = n0; jc < n1; jc += NC) {
      int nc = Math.min(NC, n1 - jc);
      int ncTiles = nc / NR * NR;
      for (int pc = 0; pc < k; pc += KC) {
        int kc = Math.min(KC, k - pc);
        boolean add = pc > 0;
        // Pack B[pc:pc+kc, jc:jc+nc] as dense rows of nc.
        for (int p = 0; p < kc; p++) {
          long src = bOff + (pc + p) * brs + jc * bcs;
          if (bcs == 1) {
            MemorySegment.copy(bs, ValueLayout.JAVA_DOUBLE, 8 * src, bp, p * nc, nc);
          } else {
            for (int j = 0; j < nc; j++) {
              bp[p * nc + j] = bs.getAtIndex(ValueLayout.JAVA_DOUBLE, src + j * bcs);
            }
          }
        }
        int i = m0;
        for (; i + MR <= m1 && ncTiles > 0; i += MR) {
          for (int p = 0; p < kc; p++) {
            long src = aOff + i * ars + (pc + p) * acs;
            for (int r = 0; r < MR; r++) {
              ap[p * MR + r] = as.getAtIndex(ValueLayout.JAVA_DOUBLE, src + r * ars);
            }
          }
          long crow = co + (i - m0) * ldc + (jc - n0);
          for (int j = 0; j < ncTiles; j += NR) {
            tile(ap, bp, nc, j, kc, buf.tile);
            for (int r = 0; r < MR; r++) {
              for (int q = 0; q < NR; q += V) {
                DoubleVector v = DoubleVector.fromArray(S, buf.tile, r * NR + q);
                long o = 8 * (crow + r * ldc + j + q);
                if (add) v = v.add(DoubleVector.fromMemorySegment(S, c, o, NATIVE));
                v.intoMemorySegment(c, o, NATIVE);
              }
            }
          }
          for (int r = 0; r < MR; r++) {
            rowUpdate(
                as,
                aOff + (i + r) * ars + pc * acs,
                acs,
                bp,
                nc,
                ncTiles,
                nc,
                kc,
                buf.row,
                c,
                crow + r * ldc,
                add);
          }
        }
        for (; i < m1; i++) {
          rowUpdate(
              as,
              aOff + i * ars + pc * acs,
              acs,
              bp,
              nc,
              0,
              nc,
              kc,
              buf.row,
              c,
              co + (i - m0) * ldc + (jc - n0),
              add);
        }
      }
    }
  }

  /** One MR x NR tile: rows of A packed k-major in {@code ap}, B block rows of {@code nc}. */
  private static void tile(double[] ap, double[] bp, int nc, int j, int kc, double[] tile) {
    DoubleVector c00 = DoubleVector.zero(S), c01 = DoubleVector.zero(S);
    DoubleVector c10 = DoubleVector.zero(S), c11 = DoubleVector.zero(S);
    DoubleVector c20 = DoubleVector.zero(S), c21 = DoubleVector.zero(S);
    DoubleVector c30 = DoubleVector.zero(S), c31 = DoubleVector.zero(S);
    for (int p = 0, bi = j; p < kc; p++, bi += nc) {
      DoubleVector b0 = DoubleVector.fromArray(S, bp, bi);
      DoubleVector b1 = DoubleVector.fromArray(S, bp, bi + V);
      DoubleVector a = DoubleVector.broadcast(S, ap[p * MR]);
      c00 = a.fma(b0, c00);
      c01 = a.fma(b1, c01);
      a = DoubleVector.broadcast(S, ap[p * MR + 1]);
      c10 = a.fma(b0, c10);
      c11 = a.fma(b1, c11);
      a = DoubleVector.broadcast(S, ap[p * MR + 2]);
      c20 = a.fma(b0, c20);
      c21 = a.fma(b1, c21);
      a = DoubleVector.broadcast(S, ap[p * MR + 3]);
      c30 = a.fma(b0, c30);
      c31 = a.fma(b1, c31);
    }
    c00.intoArray(tile, 0);
    c01.intoArray(tile, V);
    c10.intoArray(tile, NR);
    c11.intoArray(tile, NR + V);
    c20.intoArray(tile, 2 * NR);
    c21.intoArray(tile, 2 * NR + V);
    c30.intoArray(tile, 3 * NR);
    c31.intoArray(tile, 3 * NR + V);
  }

  /**
   * Columns [j0, j1) of one row of C: {@code row = sum_p A[p] * B[p, j0:j1]} (A element p at {@code
   * ao + p * acs}), stored to or added into C at element {@code crow}.
   */
  private static void rowUpdate(
      MemorySegment as,
      long ao,
      long acs,
      double[] bp,
      int nc,
      int j0,
      int j1,
      int kc,
      double[] row,
      MemorySegment c,
      long crow,
      boolean add) {
    int len = j1 - j0;
    if (len == 0) return;
    Arrays.fill(row, 0, len, 0.0);
    int nv = S.loopBound(len);
    for (int p = 0; p < kc; p++) {
      double av = as.getAtIndex(ValueLayout.JAVA_DOUBLE, ao + p * acs);
      DoubleVector va = DoubleVector.broadcast(S, av);
      int bo = p * nc + j0, j = 0;
      for (; j < nv; j += V) {
        va.fma(DoubleVector.fromArray(S, bp, bo + j), DoubleVector.fromArray(S, row, j))
            .intoArray(row, j);
      }
      for (; j < len; j++) row[j] = Math.fma(av, bp[bo + j], row[j]);
    }
    for (int j = 0; j < len; j++) {
      long o = crow + j0 + j;
      double v = row[j];
      if (add) v += c.getAtIndex(ValueLayout.JAVA_DOUBLE, o);
      c.setAtIndex(ValueLayout.JAVA_DOUBLE, o, v);
    }
  }
}
