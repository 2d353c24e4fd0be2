package io.kinema.tensor.cpu;

import io.kinema.tensor.DType;
import io.kinema.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The tanh GELU's backward, {@code dx = dy gelu_tanh'(x)}, in one pass: each chunk of x and dy is
 * loaded into {@link Scratch}'s f32 buffers (f64 arrays for F64), the derivative is computed there
 * and dx stored rounded once.
 *
 * <p>The arithmetic is, operation for operation, what the composed tensor ops of autograd's former
 * rule did (each op one IEEE rounding in the compute type, the Java-double constants rounded to it
 * as the front-end rounds a scalar operand, tanh from {@link VectorMath#tanh}):
 *
 * <pre>
 * t     = tanh(((x^3 a) + x) c)                        a = 0.044715, c = sqrt(2/pi)
 * inner = ((x^2 (3a)) + 1) c
 * dx    = dy (((t + 1) 0.5) + ((x 0.5)(-(t^2) + 1)) inner)
 * </pre>
 *
 * where x^3 is {@code (x x) x} in f32 (CpuElementwise's POW special case) and {@code Math.pow(x,
 * 3)} in f64. So F32 and F64 results are the same bits as those ops, and BF16/F16 the bits of the
 * ops on the inputs widened to F32, rounded at the end.
 */
final class CpuGeluBackward {
  private CpuGeluBackward() {}

  private static final VectorSpecies<Float> FS = FloatVector.SPECIES_PREFERRED;
  private static final int L = FS.length();
  private static final long VB = FS.vectorByteSize();
  private static final ByteOrder NO = ByteOrder.nativeOrder();
  private static final int CHUNK = Scratch.CHUNK;

  private static final double A = 0.044715;
  private static final double C = Math.sqrt(2 / Math.PI);

  /** {@code dx = dy gelu_tanh'(x)}; all three of one shape and floating dtype, any strides. */
  static void geluTanh(Tensor dy, Tensor x, Tensor dx) {
    MemorySegment gm = dy.storage().segment(), xm = x.storage().segment();
    MemorySegment om = dx.storage().segment();
    DType t = dx.dtype();
    boolean f64 = t == DType.F64;
    StridedLoop.forEach(
        dx.shape(),
        new long[][] {dy.strides(), x.strides(), dx.strides()},
        new long[] {dy.offset(), x.offset(), dx.offset()},
        (offs, st, n) -> {
          Scratch s = Scratch.get();
          for (long c = 0; c < n; c += CHUNK) {
            int len = (int) Math.min(CHUNK, n - c);
            long gi = offs[0] + c * st[0], xi = offs[1] + c * st[1], oi = offs[2] + c * st[2];
            if (f64) {
              Casts.loadF64(gm, gi, st[0], s.d[0], len);
              Casts.loadF64(xm, xi, st[1], s.d[1], len);
              chunkF64(s.d[0], s.d[1], s.d[2], len);
              Casts.storeF64(s.d[2], len, t, om, oi, st[2]);
            } else {
              Casts.loadF32(t, gm, gi, st[0], s.fs[0], len);
              Casts.loadF32(t, xm, xi, st[1], s.fs[1], len);
              chunkF32(s.fs[0], s.fs[1], s.fs[2], (len + L - 1) / L * VB);
              Casts.storeF32(s.fs[2], len, t, om, oi, st[2]);
            }
          }
        });
  }

  /**
   * One f32 chunk of {@code bytes} (whole vectors; lanes past the data hold leftovers, harmless as
   * every lane is computed alone): the tanh argument into {@code o}, tanh in place, then dx over
   * it. Three loops, as in CpuElementwise, so VectorMath's loop is compiled on its own.
   */
  private static void chunkF32(MemorySegment g, MemorySegment x, MemorySegment o, long bytes) {
    float a = (float) A, c = (float) C, a3 = (float) (3 * A);
    for (long i = 0; i < bytes; i += VB) {
      FloatVector v = ld(x, i);
      st(o, i, v.add(v.mul(v).mul(v).mul(a)).mul(c));
    }
    VectorMath.tanh(o, 0, o, 0, bytes);
    for (long i = 0; i < bytes; i += VB) {
      FloatVector v = ld(x, i), t = ld(o, i);
      FloatVector inner = v.mul(v).mul(a3).add(1f).mul(c);
      FloatVector sech2 = t.mul(t).neg().add(1f);
      FloatVector d = t.add(1f).mul(0.5f).add(v.mul(0.5f).mul(sech2).mul(inner));
      st(o, i, ld(g, i).mul(d));
    }
  }

  private static void chunkF64(double[] g, double[] x, double[] o, int n) {
    double a3 = 3 * A;
    for (int i = 0; i < n; i++) {
      double v = x[i];
      double t = Math.tanh((v + Math.pow(v, 3) * A) * C);
      double inner = (v * v * a3 + 1) * C;
      o[i] = g[i] * ((t + 1) * 0.5 + v * 0.5 * (-(t * t) + 1) * inner);
    }
  }

  private static FloatVector ld(MemorySegment s, long byteOffset) {
    return FloatVector.fromMemorySegment(FS, s, byteOffset, NO);
  }

  private static void st(MemorySegment s, long byteOffset, FloatVector v) {
    v.intoMemorySegment(s, byteOffset, NO);
  }
}
