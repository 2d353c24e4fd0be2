package io.kinema.tensor.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The f32 GEMM micro-kernel: {@code C[MR x NR] (+)= Ap[MR x kc] * Bp[kc x NR]} on packed panels.
 *
 * <p>Ap holds MR rows of A stored k-major ({@code ap[p * MR + i] = A[i, p]}), Bp NR columns of B
 * stored k-major ({@code bp[p * NR + j] = B[p, j]}), both padded with zeros to full MR / NR, so the
 * kernel never branches inside its loop. Each k step loads two B vectors, broadcasts MR values of A
 * and issues 2 * MR FMAs into accumulators held in local variables: 24 accumulators + 2 B vectors +
 * a broadcast fit in the 32 zmm registers, so C2 keeps the whole tile in registers and the loop is
 * bound by the FMA units alone (measured at the core's FMA peak on this machine).
 */
final class GemmKernel {
  static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;

  /** Rows of a micro-tile (broadcast values of A). */
  static final int MR = 12;

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
    FloatVector c80 = FloatVector.zero(S), c81 = FloatVector.zero(S);
    FloatVector c90 = FloatVector.zero(S), c91 = FloatVector.zero(S);
    FloatVector ca0 = FloatVector.zero(S), ca1 = FloatVector.zero(S);
    FloatVector cb0 = FloatVector.zero(S), cb1 = FloatVector.zero(S);
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
      a = FloatVector.broadcast(S, ap[ai + 8]);
      c80 = a.fma(b0, c80);
      c81 = a.fma(b1, c81);
      a = FloatVector.broadcast(S, ap[ai + 9]);
      c90 = a.fma(b0, c90);
      c91 = a.fma(b1, c91);
      a = FloatVector.broadcast(S, ap[ai + 10]);
      ca0 = a.fma(b0, ca0);
      ca1 = a.fma(b1, ca1);
      a = FloatVector.broadcast(S, ap[ai + 11]);
      cb0 = a.fma(b0, cb0);
      cb1 = a.fma(b1, cb1);
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
    c80.intoArray(tile, 8 * NR);
    c81.intoArray(tile, 8 * NR + V);
    c90.intoArray(tile, 9 * NR);
    c91.intoArray(tile, 9 * NR + V);
    ca0.intoArray(tile, 10 * NR);
    ca1.intoArray(tile, 10 * NR + V);
    cb0.intoArray(tile, 11 * NR);
    cb1.intoArray(tile, 11 * NR + V);
  }
}
