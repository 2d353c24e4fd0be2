package io.kinema.tensor.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The f32 GEMM micro-kernel: {@code C[MR x NR] = Ap[MR x kc] * Bp[kc x NR]} on packed panels.
 *
 * <p>Ap holds MR rows of A stored k-major ({@code ap[p * MR + i] = A[i, p]}), Bp NR columns of B
 * stored k-major ({@code bp[p * NR + j] = B[p, j]}), both zero-padded to full MR / NR, so the
 * kernel never branches inside its loop. Each k step loads two B vectors, broadcasts MR values of A
 * and issues 2 * MR FMAs into accumulators held in local variables (16, plus 2 B vectors and a
 * broadcast: well inside the 32 zmm registers, so C2 keeps the tile in registers and the loop is
 * bound by the FMA unit alone — measured at the core's FMA peak here, with Ap and Bp in L2).
 *
 * <p>MR = 8 rather than 12 (which also reaches the peak): sizes in models are mostly multiples of
 * 8, so the zero-padded rows of the last panel rarely cost anything, and 16 accumulators still hide
 * the FMA latency (4 cycles at one 512-bit FMA per cycle needs 4 independent chains).
 */
final class GemmKernel {
  static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;

  /** Rows of a micro-tile (broadcast values of A). */
  static final int MR = 8;

  /** Columns of a micro-tile (two vectors of B; 32 with 512-bit vectors). */
  static final int NR = 2 * S.length();

  static final int V = S.length();

  private GemmKernel() {}

  /**
   * Computes one MR x NR tile from the micro-panels at {@code ap[ai...]} and {@code bp[bi...]} and
   * stores it row-major into {@code tile}. Writing to a small array instead of C keeps this method
   * free of calls that take vectors (which C2 would have to box when it runs out of inlining
   * budget); the caller merges the tile into C, which costs 2 * MR vector loads and stores per kc
   * steps of 2 * MR FMAs each.
   */
  static void tile(float[] ap, int ai, float[] bp, int bi, int kc, float[] tile) {
    FloatVector c00 = FloatVector.zero(S), c01 = FloatVector.zero(S);
    FloatVector c10 = FloatVector.zero(S), c11 = FloatVector.zero(S);
    FloatVector c20 = FloatVector.zero(S), c21 = FloatVector.zero(S);
    FloatVector c30 = FloatVector.zero(S), c31 = FloatVector.zero(S);
    FloatVector c40 = FloatVector.zero(S), c41 = FloatVector.zero(S);
    FloatVector c50 = FloatVector.zero(S), c51 = FloatVector.zero(S);
    FloatVector c60 = FloatVector.zero(S), c61 = FloatVector.zero(S);
    FloatVector c70 = FloatVector.zero(S), c71 = FloatVector.zero(S);
    for (int p = 0; p < kc; p++, ai += MR, bi += NR) {
      FloatVector b0 = FloatVector.fromArray(S, bp, bi);
      FloatVector b1 = FloatVector.fromArray(S, bp, bi + V);
      FloatVector a = FloatVector.broadcast(S, ap[ai]);
      c00 = a.fma(b0, c00);
      c01 = a.fma(b1, c01);
      a = FloatVector.broadcast(S, ap[ai + 1]);
      c10 = a.fma(b0, c10);
      c11 = a.fma(b1, c11);
      a = FloatVector.broadcast(S, ap[ai + 2]);
      c20 = a.fma(b0, c20);
      c21 = a.fma(b1, c21);
      a = FloatVector.broadcast(S, ap[ai + 3]);
      c30 = a.fma(b0, c30);
      c31 = a.fma(b1, c31);
      a = FloatVector.broadcast(S, ap[ai + 4]);
      c40 = a.fma(b0, c40);
      c41 = a.fma(b1, c41);
      a = FloatVector.broadcast(S, ap[ai + 5]);
      c50 = a.fma(b0, c50);
      c51 = a.fma(b1, c51);
      a = FloatVector.broadcast(S, ap[ai + 6]);
      c60 = a.fma(b0, c60);
      c61 = a.fma(b1, c61);
      a = FloatVector.broadcast(S, ap[ai + 7]);
      c70 = a.fma(b0, c70);
      c71 = a.fma(b1, c71);
    }
    c00.intoArray(tile, 0);
    c01.intoArray(tile, V);
    c10.intoArray(tile, NR);
    c11.intoArray(tile, NR + V);
    c20.intoArray(tile, 2 * NR);
    c21.intoArray(tile, 2 * NR + V);
    c30.intoArray(tile, 3 * NR);
    c31.intoArray(tile, 3 * NR + V);
    c40.intoArray(tile, 4 * NR);
    c41.intoArray(tile, 4 * NR + V);
    c50.intoArray(tile, 5 * NR);
    c51.intoArray(tile, 5 * NR + V);
    c60.intoArray(tile, 6 * NR);
    c61.intoArray(tile, 6 * NR + V);
    c70.intoArray(tile, 7 * NR);
    c71.intoArray(tile, 7 * NR + V);
  }

  /**
   * As {@link #tile}, for a B micro-panel with at most V valid columns (a narrow edge of N): only
   * the first vector of each packed row is read, so the padding costs no FMAs. Writes the left MR x
   * V of {@code tile}.
   */
  static void narrowTile(float[] ap, int ai, float[] bp, int bi, int kc, float[] tile) {
    FloatVector c00 = FloatVector.zero(S);
    FloatVector c10 = FloatVector.zero(S);
    FloatVector c20 = FloatVector.zero(S);
    FloatVector c30 = FloatVector.zero(S);
    FloatVector c40 = FloatVector.zero(S);
    FloatVector c50 = FloatVector.zero(S);
    FloatVector c60 = FloatVector.zero(S);
    FloatVector c70 = FloatVector.zero(S);
    for (int p = 0; p < kc; p++, ai += MR, bi += NR) {
      FloatVector b0 = FloatVector.fromArray(S, bp, bi);
      FloatVector a = FloatVector.broadcast(S, ap[ai]);
      c00 = a.fma(b0, c00);
      a = FloatVector.broadcast(S, ap[ai + 1]);
      c10 = a.fma(b0, c10);
      a = FloatVector.broadcast(S, ap[ai + 2]);
      c20 = a.fma(b0, c20);
      a = FloatVector.broadcast(S, ap[ai + 3]);
      c30 = a.fma(b0, c30);
      a = FloatVector.broadcast(S, ap[ai + 4]);
      c40 = a.fma(b0, c40);
      a = FloatVector.broadcast(S, ap[ai + 5]);
      c50 = a.fma(b0, c50);
      a = FloatVector.broadcast(S, ap[ai + 6]);
      c60 = a.fma(b0, c60);
      a = FloatVector.broadcast(S, ap[ai + 7]);
      c70 = a.fma(b0, c70);
    }
    c00.intoArray(tile, 0);
    c10.intoArray(tile, NR);
    c20.intoArray(tile, 2 * NR);
    c30.intoArray(tile, 3 * NR);
    c40.intoArray(tile, 4 * NR);
    c50.intoArray(tile, 5 * NR);
    c60.intoArray(tile, 6 * NR);
    c70.intoArray(tile, 7 * NR);
  }
}
