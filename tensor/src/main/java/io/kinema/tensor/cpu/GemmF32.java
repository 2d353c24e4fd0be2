package io.kinema.tensor.cpu;

import static io.kinema.tensor.cpu.GemmKernel.MR;
import static io.kinema.tensor.cpu.GemmKernel.NR;

import io.kinema.tensor.DType;
import io.kinema.tensor.cpu.CpuMatmul.Mat;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * Single-precision GEMM in the GotoBLAS/BLIS structure, for F32, BF16 and F16 operands (computed in
 * f32): {@code C[m0:m1, n0:n1] = A[m0:m1, :] @ B[:, n0:n1]} for one matrix of a batch.
 *
 * <pre>
 * for jc over N in NC columns            B panel kc x nc (L3), packed once per pc, used for all M
 *   for pc over K in KC                  one rank-kc update of the C block (stores, then adds)
 *     pack B[pc:pc+kc, jc:jc+nc] into NR-wide micro-panels
 *     for ic over M in MC rows           A block mc x kc (L2)
 *       pack A[ic:ic+mc, pc:pc+kc] into MR-tall micro-panels
 *       for jr over nc in NR             B micro-panel kc x NR (L2), reused MC/MR times
 *         for ir over mc in MR           micro-kernel: MR x NR tile of C in registers
 * </pre>
 *
 * Packing reads any strides (a transposed operand just swaps its strides) and converts BF16/F16 to
 * f32, so the micro-kernel only ever sees dense f32 panels: row-major B and transposed A are vector
 * copies, row-major A goes through an in-register 8 x 16 transpose, transposed B is staged a column
 * at a time. C is an f32 destination; half outputs are accumulated in an f32 scratch block by the
 * caller and rounded once at the end.
 *
 * <p>Blocking (measured on a Zen 4 EPYC: 32 KiB L1d and 1 MiB L2 per core, 32 MiB L3; system
 * properties {@code kinema.gemm.kc/mc/nc} override it for tuning): KC = 1024, MC = 48, NC = 2048.
 * The micro-kernel needs only 160 bytes of packed data per 16 FMAs, so it runs at the FMA peak even
 * with its B micro-panel (128 KiB) in L2. A long KC pays because every pass over K loads and stores
 * each C tile once more: on one core, KC = 256 reached 92% of the FMA peak, KC = 1024 97%. MC made
 * no measurable difference between 16 and 64 rows.
 */
final class GemmF32 {
  static final int KC = Math.max(1, Integer.getInteger("kinema.gemm.kc", 1024));
  static final int MC = roundUp(Math.max(1, Integer.getInteger("kinema.gemm.mc", 48)), MR);
  static final int NC = roundUp(Math.max(1, Integer.getInteger("kinema.gemm.nc", 2048)), NR);

  private static final VectorSpecies<Float> S = GemmKernel.S;
  private static final VectorSpecies<Short> S_HALF =
      VectorSpecies.of(short.class, VectorShape.forBitSize(S.vectorBitSize() / 2));
  private static final VectorSpecies<Integer> S_INT = VectorSpecies.of(int.class, S.vectorShape());
  private static final VectorMask<Float> MR_MASK = S.indexInRange(0, MR);

  /** Exactly MR lanes, when a vector shape has them: full panels load unmasked. */
  private static final VectorSpecies<Float> S_MR =
      MR * Float.SIZE <= S.vectorBitSize()
          ? VectorSpecies.of(float.class, VectorShape.forBitSize(MR * Float.SIZE))
          : null;

  private static final ByteOrder NATIVE = ByteOrder.nativeOrder();
  private static final int V = S.length();

  /** Per-thread packing buffers, reused across calls (never allocated per tile). */
  static final class Buffers {
    float[] a = new float[0];
    float[] b = new float[0];
    float[] line = new float[0]; // one row or column of an operand, staged as f32
    final float[] tile = new float[MR * NR];

    /** Grows the panels to what a k x n product needs (at most MC x KC and KC x NC). */
    void reserve(int k, int n) {
      int kc = Math.min(KC, k);
      int na = MC * kc, nb = kc * Math.min(NC, roundUp(n, NR));
      if (a.length < na) a = new float[na];
      if (b.length < nb) b = new float[nb];
      if (line.length < Math.max(kc, 16 * V)) line = new float[Math.max(kc, 16 * V)];
    }
  }

  private static final ThreadLocal<Buffers> BUFFERS = ThreadLocal.withInitial(Buffers::new);

  private GemmF32() {}

  static Buffers buffers() {
    return BUFFERS.get();
  }

  /**
   * Computes rows [m0, m1) x columns [n0, n1) of one product into f32 C, where element (m0 + i, n0
   * + j) lives at byte {@code cb + i * ldc + 4 * j} of {@code c}. {@code aOff}/{@code bOff} are the
   * element offsets of this batch entry's A[0, 0] and B[0, 0]. {@code bias[n]} (f32, indexed by the
   * product's column; null for none) is added to each element of column n when the last k block is
   * stored: after the finished sum is rounded, so the result has the bits of the product followed
   * by a separate f32 bias add.
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
      long cb,
      long ldc,
      float[] bias,
      Buffers buf) {
    buf.reserve(k, n1 - n0);
    for (int jc = n0; jc < n1; jc += NC) {
      int nc = Math.min(NC, n1 - jc);
      for (int pc = 0; pc < k; pc += KC) {
        int kc = Math.min(KC, k - pc);
        boolean add = pc > 0;
        float[] epilogueBias = pc + kc >= k ? bias : null;
        packB(b, bOff, pc, kc, jc, nc, buf.b, buf.line);
        for (int ic = m0; ic < m1; ic += MC) {
          int mc = Math.min(MC, m1 - ic);
          packA(a, aOff, ic, mc, pc, kc, buf.a, buf.line);
          for (int jr = 0; jr < nc; jr += NR) {
            int nr = Math.min(NR, nc - jr);
            for (int ir = 0; ir < mc; ir += MR) {
              int mr = Math.min(MR, mc - ir);
              long at = cb + (long) (ic - m0 + ir) * ldc + 4L * (jc - n0 + jr);
              int col = jc + jr; // the product's column of the tile's first column
              if (nr <= V) {
                GemmKernel.narrowTile(buf.a, ir * kc, buf.b, jr * kc, kc, buf.tile);
                mergeEdge(buf.tile, c, at, ldc, mr, nr, add, epilogueBias, col);
              } else {
                GemmKernel.tile(buf.a, ir * kc, buf.b, jr * kc, kc, buf.tile);
                if (mr == MR && nr == NR) mergeTile(buf.tile, c, at, ldc, add, epilogueBias, col);
                else mergeEdge(buf.tile, c, at, ldc, mr, nr, add, epilogueBias, col);
              }
            }
          }
        }
      }
    }
  }

  /**
   * Writes (or adds) a full MR x NR tile into C at byte {@code at}, rows {@code ldc} apart, then
   * adds {@code bias[col ...]} when it is non-null (each step rounds, as separate ops would).
   */
  private static void mergeTile(
      float[] tile, MemorySegment c, long at, long ldc, boolean add, float[] bias, int col) {
    for (int i = 0; i < MR; i++, at += ldc) {
      for (int j = 0; j < NR; j += V) {
        FloatVector v = FloatVector.fromArray(S, tile, i * NR + j);
        long o = at + 4L * j;
        if (add) v = v.add(FloatVector.fromMemorySegment(S, c, o, NATIVE));
        if (bias != null) v = v.add(FloatVector.fromArray(S, bias, col + j));
        v.intoMemorySegment(c, o, NATIVE);
      }
    }
  }

  /** Writes (or adds) the valid mr x nr corner of a tile, then its bias as {@link #mergeTile}. */
  private static void mergeEdge(
      float[] tile,
      MemorySegment c,
      long at,
      long ldc,
      int mr,
      int nr,
      boolean add,
      float[] bias,
      int col) {
    for (int i = 0; i < mr; i++, at += ldc) {
      for (int j = 0; j < nr; j += V) {
        VectorMask<Float> m = S.indexInRange(j, nr);
        FloatVector v = FloatVector.fromArray(S, tile, i * NR + j, m);
        long o = at + 4L * j;
        if (add) v = v.add(FloatVector.fromMemorySegment(S, c, o, NATIVE, m));
        if (bias != null) v = v.add(FloatVector.fromArray(S, bias, col + j, m));
        v.intoMemorySegment(c, o, NATIVE, m);
      }
    }
  }

  // ---------------------------------------------------------------- packing

  /**
   * Packs A[ic:ic+mc, pc:pc+kc] into MR-tall micro-panels: panel r (rows ic + r*MR ...) starts at
   * {@code r * MR * kc} and holds {@code ap[p * MR + i] = A[ic + r*MR + i, pc + p]}, zero-padded
   * past mc. {@code row} is scratch of at least kc floats.
   */
  static void packA(Mat a, long off, int ic, int mc, int pc, int kc, float[] ap, float[] row) {
    MemorySegment s = a.seg();
    DType t = a.dtype();
    long rs = a.rs(), cs = a.cs();
    for (int ir = 0; ir < mc; ir += MR) {
      int mr = Math.min(MR, mc - ir);
      int dst = ir * kc;
      long base = off + (ic + ir) * rs + pc * cs;
      if (cs == 1 && TRANSPOSE && t != DType.F16) {
        // Row-major A: transpose 8 x 16 blocks in registers, scalar for the last kc % 16 steps.
        int p = 0;
        for (; p + V <= kc; p += V)
          transpose8x16(s, t == DType.BF16, base + p, rs, mr, ap, dst + p * MR);
        for (; p < kc; p++) {
          for (int i = 0; i < MR; i++) {
            ap[dst + p * MR + i] = i < mr ? load(s, t, base + i * rs + p) : 0f;
          }
        }
      } else if (cs == 1) {
        // Row-major A: stage each row as f32 (vector copy or conversion), then spread it into
        // the panel with stride MR.
        for (int i = 0; i < mr; i++) {
          loadRun(s, t, base + i * rs, row, 0, kc);
          for (int p = 0; p < kc; p++) ap[dst + p * MR + i] = row[p];
        }
        for (int i = mr; i < MR; i++) {
          for (int p = 0; p < kc; p++) ap[dst + p * MR + i] = 0f;
        }
      } else if (rs == 1 && t == DType.F32) {
        // Transposed A (M contiguous): each k step is one masked vector of MR rows; the masked
        // lanes load as zeros, which is the padding.
        if (mr == MR && S_MR != null) {
          // A masked segment load is far slower than a plain one of the exact width.
          for (int p = 0; p < kc; p++) {
            FloatVector.fromMemorySegment(S_MR, s, 4 * (base + p * cs), NATIVE)
                .intoArray(ap, dst + p * MR);
          }
        } else {
          VectorMask<Float> m = mr == MR ? MR_MASK : S.indexInRange(0, mr);
          for (int p = 0; p < kc; p++) {
            FloatVector.fromMemorySegment(S, s, 4 * (base + p * cs), NATIVE, m)
                .intoArray(ap, dst + p * MR, MR_MASK);
          }
        }
      } else {
        for (int p = 0; p < kc; p++) {
          int d = dst + p * MR;
          long src = base + p * cs;
          if (rs == 1) loadRun(s, t, src, ap, d, mr);
          else for (int i = 0; i < mr; i++) ap[d + i] = load(s, t, src + i * rs);
          for (int i = mr; i < MR; i++) ap[d + i] = 0f;
        }
      }
    }
  }

  /**
   * Packs B[pc:pc+kc, jc:jc+nc] into NR-wide micro-panels: panel q (columns jc + q*NR ...) starts
   * at {@code q * NR * kc} and holds {@code bp[p * NR + j] = B[pc + p, jc + q*NR + j]}, zero-padded
   * past nc. {@code col} is scratch of at least max(kc, 16 * V) floats.
   */
  static void packB(Mat b, long off, int pc, int kc, int jc, int nc, float[] bp, float[] col) {
    MemorySegment s = b.seg();
    DType t = b.dtype();
    long rs = b.rs(), cs = b.cs();
    for (int jr = 0; jr < nc; jr += NR) {
      int nr = Math.min(NR, nc - jr);
      int dst = jr * kc;
      long base = off + pc * rs + (jc + jr) * cs;
      if (cs == 1 && nr == NR && t == DType.F32) {
        for (int p = 0; p < kc; p++) {
          long src = 4 * (base + p * rs);
          FloatVector.fromMemorySegment(S, s, src, NATIVE).intoArray(bp, dst + p * NR);
          FloatVector.fromMemorySegment(S, s, src + 4L * V, NATIVE).intoArray(bp, dst + p * NR + V);
        }
      } else if (cs == 1) {
        for (int p = 0; p < kc; p++) {
          int d = dst + p * NR;
          loadRun(s, t, base + p * rs, bp, d, nr);
          for (int j = nr; j < NR; j++) bp[d + j] = 0f;
        }
      } else if (rs == 1 && TRANSPOSE && t != DType.F16) {
        // Transposed B (K contiguous, as in x @ W^T): its columns are rows in memory, so each
        // 16 x 16 block is two 8 x 16 transposes plus a final round joining their halves.
        int p = 0;
        for (; p + V <= kc; p += V) {
          for (int g = 0; g < NR; g += V) {
            long e = base + g * cs + p;
            int rows = Math.min(V, nr - g);
            transpose8x16(s, t == DType.BF16, e, cs, Math.min(8, rows), col, 0);
            transpose8x16(s, t == DType.BF16, e + 8 * cs, cs, Math.max(0, rows - 8), col, 8 * V);
            for (int v = 0; v < 8; v++) {
              FloatVector lo = FloatVector.fromArray(S, col, v * V);
              FloatVector hi = FloatVector.fromArray(S, col, (8 + v) * V);
              T4_LO.selectFrom(lo, hi).intoArray(bp, dst + (p + 2 * v) * NR + g);
              T4_HI.selectFrom(lo, hi).intoArray(bp, dst + (p + 2 * v + 1) * NR + g);
            }
          }
        }
        for (; p < kc; p++) {
          for (int j = 0; j < NR; j++)
            bp[dst + p * NR + j] = j < nr ? load(s, t, base + j * cs + p) : 0f;
        }
      } else {
        // Transposed (K contiguous) or strided B: one column at a time, spread with stride NR.
        for (int j = 0; j < NR; j++) {
          if (j >= nr) {
            for (int p = 0; p < kc; p++) bp[dst + p * NR + j] = 0f;
          } else if (rs == 1) {
            loadRun(s, t, base + j * cs, col, 0, kc);
            for (int p = 0; p < kc; p++) bp[dst + p * NR + j] = col[p];
          } else {
            long src = base + j * cs;
            for (int p = 0; p < kc; p++) bp[dst + p * NR + j] = load(s, t, src + p * rs);
          }
        }
      }
    }
  }

  // The 8 x 16 transpose: three rounds of two-table lane selects (vpermi2ps), interleaving rows
  // in pairs, then pairs of pairs, then quads: row i lane p ends at lane 8 * (p % 2) + i of output
  // vector p / 2. Index vectors: lane l of the result takes lane idx[l] of (first ++ second).
  private static final boolean TRANSPOSE = V == 16 && MR == 8;
  private static final FloatVector T1_LO = selectIndex(2, false), T1_HI = selectIndex(2, true);
  private static final FloatVector T2_LO = selectIndex(4, false), T2_HI = selectIndex(4, true);
  private static final FloatVector T3_LO = selectIndex(8, false), T3_HI = selectIndex(8, true);
  private static final FloatVector T4_LO = selectIndex(16, false), T4_HI = selectIndex(16, true);

  /**
   * Index vector of one round. Its inputs hold h = g/2 rows per k (lane h*k + j); its result holds
   * g rows per k (lane g*k + q), rows q < h from the first input and the rest from the second, for
   * the low or high half of the inputs' k range.
   */
  private static FloatVector selectIndex(int g, boolean high) {
    float[] idx = new float[V];
    int h = g / 2, k0 = high ? V / g : 0;
    for (int l = 0; l < V; l++) {
      int k = k0 + l / g, q = l % g;
      idx[l] = q < h ? h * k + q : V + h * k + q - h;
    }
    return FloatVector.fromArray(S, idx, 0);
  }

  /**
   * Packs 16 k steps of up to 8 rows (rows {@code >= mr} are zero) starting at element {@code e},
   * rows {@code rs} apart, into {@code ap[d ... d + 128)}, k-major.
   */
  private static void transpose8x16(
      MemorySegment s, boolean bf16, long e, long rs, int mr, float[] ap, int d) {
    FloatVector r0 = rowVector(s, bf16, e, 0 < mr);
    FloatVector r1 = rowVector(s, bf16, e + rs, 1 < mr);
    FloatVector r2 = rowVector(s, bf16, e + 2 * rs, 2 < mr);
    FloatVector r3 = rowVector(s, bf16, e + 3 * rs, 3 < mr);
    FloatVector r4 = rowVector(s, bf16, e + 4 * rs, 4 < mr);
    FloatVector r5 = rowVector(s, bf16, e + 5 * rs, 5 < mr);
    FloatVector r6 = rowVector(s, bf16, e + 6 * rs, 6 < mr);
    FloatVector r7 = rowVector(s, bf16, e + 7 * rs, 7 < mr);
    // Pairs of rows, k 0..7 (lo) and 8..15 (hi).
    FloatVector a01 = T1_LO.selectFrom(r0, r1), b01 = T1_HI.selectFrom(r0, r1);
    FloatVector a23 = T1_LO.selectFrom(r2, r3), b23 = T1_HI.selectFrom(r2, r3);
    FloatVector a45 = T1_LO.selectFrom(r4, r5), b45 = T1_HI.selectFrom(r4, r5);
    FloatVector a67 = T1_LO.selectFrom(r6, r7), b67 = T1_HI.selectFrom(r6, r7);
    // Quads of rows, k in four groups of 4.
    FloatVector q0 = T2_LO.selectFrom(a01, a23), q1 = T2_HI.selectFrom(a01, a23);
    FloatVector q2 = T2_LO.selectFrom(b01, b23), q3 = T2_HI.selectFrom(b01, b23);
    FloatVector w0 = T2_LO.selectFrom(a45, a67), w1 = T2_HI.selectFrom(a45, a67);
    FloatVector w2 = T2_LO.selectFrom(b45, b67), w3 = T2_HI.selectFrom(b45, b67);
    // All 8 rows, two k per vector.
    T3_LO.selectFrom(q0, w0).intoArray(ap, d);
    T3_HI.selectFrom(q0, w0).intoArray(ap, d + V);
    T3_LO.selectFrom(q1, w1).intoArray(ap, d + 2 * V);
    T3_HI.selectFrom(q1, w1).intoArray(ap, d + 3 * V);
    T3_LO.selectFrom(q2, w2).intoArray(ap, d + 4 * V);
    T3_HI.selectFrom(q2, w2).intoArray(ap, d + 5 * V);
    T3_LO.selectFrom(q3, w3).intoArray(ap, d + 6 * V);
    T3_HI.selectFrom(q3, w3).intoArray(ap, d + 7 * V);
  }

  /** 16 contiguous values from element {@code e} as f32, or zeros for a padding row. */
  private static FloatVector rowVector(MemorySegment s, boolean bf16, long e, boolean valid) {
    if (!valid) return FloatVector.zero(S);
    return bf16 ? bf16ToF32(s, 2 * e) : FloatVector.fromMemorySegment(S, s, 4 * e, NATIVE);
  }

  /**
   * Converts {@code len} contiguous elements starting at element {@code e} into {@code dst[d...]}.
   */
  private static void loadRun(MemorySegment s, DType t, long e, float[] dst, int d, int len) {
    switch (t) {
      case F32 -> {
        // Vector copies rather than MemorySegment.copy, whose fixed cost dominates short runs.
        int i = 0;
        for (int n = S.loopBound(len); i < n; i += V) {
          FloatVector.fromMemorySegment(S, s, 4 * (e + i), NATIVE).intoArray(dst, d + i);
        }
        if (i < len) {
          VectorMask<Float> m = S.indexInRange(i, len);
          FloatVector.fromMemorySegment(S, s, 4 * (e + i), NATIVE, m).intoArray(dst, d + i, m);
        }
      }
      case BF16 -> {
        int i = 0;
        for (int n = S.loopBound(len); i < n; i += V)
          bf16ToF32(s, 2 * (e + i)).intoArray(dst, d + i);
        for (; i < len; i++)
          dst[d + i] = Half.bf16ToFloat(s.getAtIndex(ValueLayout.JAVA_SHORT, e + i));
      }
      default -> {
        for (int i = 0; i < len; i++) dst[d + i] = load(s, t, e + i);
      }
    }
  }

  /** V bf16 values at byte offset {@code at}, widened to f32 (bf16 is the high half of an f32). */
  private static FloatVector bf16ToF32(MemorySegment s, long at) {
    return ((IntVector)
            ShortVector.fromMemorySegment(S_HALF, s, at, NATIVE)
                .convertShape(VectorOperators.S2I, S_INT, 0))
        .lanewise(VectorOperators.LSHL, 16)
        .reinterpretAsFloats();
  }

  /** Element {@code i} of a floating segment as f32 (cold paths and strided packing). */
  private static float load(MemorySegment s, DType t, long i) {
    return switch (t) {
      case F32 -> s.getAtIndex(ValueLayout.JAVA_FLOAT, i);
      case BF16 -> Half.bf16ToFloat(s.getAtIndex(ValueLayout.JAVA_SHORT, i));
      case F16 -> Half.f16ToFloat(s.getAtIndex(ValueLayout.JAVA_SHORT, i));
      default -> (float) s.getAtIndex(ValueLayout.JAVA_DOUBLE, i);
    };
  }

  /**
   * Rounds an f32 block (rows of {@code cols} floats, {@code ldc} bytes apart, at {@code cb}) into
   * a half-precision destination of row stride {@code ldo} elements starting at element {@code o}.
   */
  static void storeHalf(
      MemorySegment c,
      long cb,
      long ldc,
      int rows,
      int cols,
      MemorySegment out,
      DType t,
      long o,
      long ldo) {
    for (int i = 0; i < rows; i++) {
      long src = cb + i * ldc, dst = o + i * ldo;
      if (t == DType.BF16) {
        int j = 0;
        for (int n = S.loopBound(cols); j < n; j += V) {
          toBf16(FloatVector.fromMemorySegment(S, c, src + 4L * j, NATIVE))
              .intoMemorySegment(out, 2 * (dst + j), NATIVE);
        }
        for (; j < cols; j++) {
          float v = c.get(ValueLayout.JAVA_FLOAT, src + 4L * j);
          out.setAtIndex(ValueLayout.JAVA_SHORT, dst + j, Half.floatToBf16(v));
        }
      } else {
        for (int j = 0; j < cols; j++) {
          float v = c.get(ValueLayout.JAVA_FLOAT, src + 4L * j);
          out.setAtIndex(ValueLayout.JAVA_SHORT, dst + j, Half.floatToF16(v));
        }
      }
    }
  }

  /** {@link Half#floatToBf16} on V lanes: round to nearest even, NaN stays a quiet NaN. */
  private static ShortVector toBf16(FloatVector f) {
    IntVector bits = f.reinterpretAsInts();
    IntVector high = bits.lanewise(VectorOperators.LSHR, 16);
    IntVector rounded = bits.add(high.and(1)).add(0x7fff).lanewise(VectorOperators.LSHR, 16);
    IntVector quietNan = high.or(0x0040);
    IntVector r = rounded.blend(quietNan, f.test(VectorOperators.IS_NAN).cast(S_INT));
    return (ShortVector) r.convertShape(VectorOperators.I2S, S_HALF, 0);
  }

  static int roundUp(int x, int unit) {
    return (x + unit - 1) / unit * unit;
  }
}
