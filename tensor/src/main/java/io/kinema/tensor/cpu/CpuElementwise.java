package io.kinema.tensor.cpu;

import io.kinema.tensor.DType;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.backend.BinaryOp;
import io.kinema.tensor.backend.UnaryOp;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * Elementwise kernels: copy/cast, fill, unary, binary, where.
 *
 * <p>Every kernel walks its operands with {@link StridedLoop} and handles one run (a 1-d strip with
 * per-operand strides) at a time, in chunks of at most {@link Scratch#CHUNK} elements, by compute
 * type:
 *
 * <ul>
 *   <li>f32 (F32, BF16, F16): Vector API loops. A contiguous F32 operand is read in place, a
 *       broadcast (stride-0) one from a vector holding its value in every lane, anything else
 *       (strided, 16-bit) is first converted into an f32 buffer; results go straight to a
 *       contiguous F32 output or through a buffer that is stored rounded. A run's last partial
 *       vector is computed in the buffers, so each op is a single loop over whole vectors, and an
 *       element's result does not depend on where it falls in a vector, a run or a thread's share.
 *       Transcendentals come from {@link VectorMath}, never the Vector API's lanewise EXP, TANH,
 *       ..., whose bits depend on whether C2 has compiled the loop yet.
 *   <li>f64 (F64) and long (integers, BOOL): load into a Java array, a plain loop per op, store.
 * </ul>
 *
 * <p>The op switch is outside the element loops (one loop per op). For BF16/F16 outputs an operand
 * of {@link #binary} may be F32: the front-end uses that to keep a Java scalar at f32 precision.
 */
final class CpuElementwise {
  private CpuElementwise() {}

  private static final VectorSpecies<Float> FS = FloatVector.SPECIES_PREFERRED;
  private static final int L = FS.length();
  private static final long VB = FS.vectorByteSize();
  private static final VectorSpecies<Integer> IS = VectorSpecies.of(int.class, FS.vectorShape());

  /**
   * Bytes with one lane per f32 lane (null if no such shape, then masks are stored lane by lane).
   */
  private static final VectorSpecies<Byte> BS =
      L >= 8 ? VectorSpecies.of(byte.class, VectorShape.forBitSize(L * 8)) : null;

  private static final ByteOrder NO = ByteOrder.nativeOrder();
  private static final int CHUNK = Scratch.CHUNK;

  // ---------------------------------------------------------------- copy, fill

  static void copy(Tensor src, Tensor dst) {
    MemorySegment s = src.storage().segment(), d = dst.storage().segment();
    DType st = src.dtype(), dt = dst.dtype();
    StridedLoop.forEach(
        dst.shape(),
        new long[][] {src.strides(), dst.strides()},
        new long[] {src.offset(), dst.offset()},
        (offs, strides, n) -> {
          if (st == dt) {
            Casts.copyRaw(st.byteSize(), s, offs[0], strides[0], d, offs[1], strides[1], n);
          } else {
            Casts.convert(st, s, offs[0], strides[0], dt, d, offs[1], strides[1], n, Scratch.get());
          }
        });
  }

  static void fill(Tensor dst, double value) {
    MemorySegment d = dst.storage().segment();
    int size = dst.dtype().byteSize();
    long bits = Casts.bitsOf(dst.dtype(), value);
    StridedLoop.forEach(
        dst.shape(),
        new long[][] {dst.strides()},
        new long[] {dst.offset()},
        (offs, strides, n) -> Casts.fillRaw(size, bits, d, offs[0], strides[0], n));
  }

  // ---------------------------------------------------------------- unary

  static void unary(UnaryOp op, Tensor x, Tensor out, double p1, double p2) {
    if (op == UnaryOp.NOT) {
      logical(null, x, null, out);
      return;
    }
    switch (out.dtype()) {
      case F32, BF16, F16 -> unaryFloat(op, x, out, (float) p1, (float) p2);
      case F64 -> unaryDouble(op, x, out, p1, p2);
      default -> unaryLong(op, x, out, p1, p2);
    }
  }

  private static void unaryFloat(UnaryOp op, Tensor x, Tensor out, float p1, float p2) {
    MemorySegment xm = x.storage().segment(), om = out.storage().segment();
    DType xt = x.dtype(), ot = out.dtype();
    F32Unary kernel = F32_UNARY[op.ordinal()];
    StridedLoop.forEach(
        out.shape(),
        new long[][] {x.strides(), out.strides()},
        new long[] {x.offset(), out.offset()},
        (offs, st, n) -> {
          Scratch s = Scratch.get();
          // Unary kernels read contiguous vectors only: no broadcast buffer.
          Operand a = new Operand(xt, xm, st[0], s.fs[0], null, offs[0]);
          for (long c = 0, len; c < n; c += len) {
            len = chunk(n - c);
            boolean whole = len % L == 0;
            a.at(c, (int) len, whole);
            long oi = offs[1] + c * st[1];
            boolean direct = whole && ot == DType.F32 && st[1] == 1;
            MemorySegment o = direct ? om : s.fs[2];
            kernel.run(a.seg, a.off, o, direct ? oi * 4 : 0, roundUp(len) * 4, p1, p2);
            if (!direct) Casts.storeF32(s.fs[2], (int) len, ot, om, oi, st[1]);
          }
        });
  }

  /**
   * One f32 unary op over whole vectors: {@code y = op(x)} for {@code bytes} (a multiple of the
   * vector size) at byte offsets xb and yb. Each op is its own method, reached through this table
   * once per chunk, so the JIT compiles each loop alone and inlines all of its vector code (one
   * method holding every op would exceed the inlining budget and box vectors).
   */
  @FunctionalInterface
  private interface F32Unary {
    void run(MemorySegment x, long xb, MemorySegment y, long yb, long bytes, float p1, float p2);
  }

  private static final F32Unary[] F32_UNARY = new F32Unary[UnaryOp.values().length];

  static {
    F32_UNARY[UnaryOp.NEG.ordinal()] = CpuElementwise::negF32;
    F32_UNARY[UnaryOp.ABS.ordinal()] = CpuElementwise::absF32;
    F32_UNARY[UnaryOp.EXP.ordinal()] =
        (x, xb, y, yb, n, p1, p2) -> VectorMath.exp(x, xb, y, yb, n, 1, 0);
    F32_UNARY[UnaryOp.LOG.ordinal()] = (x, xb, y, yb, n, p1, p2) -> VectorMath.log(x, xb, y, yb, n);
    F32_UNARY[UnaryOp.SQRT.ordinal()] = CpuElementwise::sqrtF32;
    F32_UNARY[UnaryOp.RSQRT.ordinal()] = CpuElementwise::rsqrtF32;
    F32_UNARY[UnaryOp.SIN.ordinal()] = (x, xb, y, yb, n, p1, p2) -> VectorMath.sin(x, xb, y, yb, n);
    F32_UNARY[UnaryOp.COS.ordinal()] = (x, xb, y, yb, n, p1, p2) -> VectorMath.cos(x, xb, y, yb, n);
    F32_UNARY[UnaryOp.TANH.ordinal()] =
        (x, xb, y, yb, n, p1, p2) -> VectorMath.tanh(x, xb, y, yb, n);
    F32_UNARY[UnaryOp.SIGMOID.ordinal()] = CpuElementwise::sigmoidF32;
    F32_UNARY[UnaryOp.RELU.ordinal()] = CpuElementwise::reluF32;
    F32_UNARY[UnaryOp.GELU.ordinal()] =
        (x, xb, y, yb, n, p1, p2) -> VectorMath.gelu(x, xb, y, yb, n);
    F32_UNARY[UnaryOp.GELU_TANH.ordinal()] = CpuElementwise::geluTanhF32;
    F32_UNARY[UnaryOp.SILU.ordinal()] = CpuElementwise::siluF32;
    F32_UNARY[UnaryOp.SQUARE.ordinal()] = CpuElementwise::squareF32;
    F32_UNARY[UnaryOp.RECIPROCAL.ordinal()] = CpuElementwise::reciprocalF32;
    F32_UNARY[UnaryOp.ERF.ordinal()] = (x, xb, y, yb, n, p1, p2) -> VectorMath.erf(x, xb, y, yb, n);
    F32_UNARY[UnaryOp.SIGN.ordinal()] = CpuElementwise::signF32;
    F32_UNARY[UnaryOp.POW.ordinal()] = CpuElementwise::powF32;
    F32_UNARY[UnaryOp.CLAMP.ordinal()] = CpuElementwise::clampF32;
  }

  private static void negF32(
      MemorySegment x, long xb, MemorySegment y, long yb, long bytes, float p1, float p2) {
    for (long i = 0; i < bytes; i += VB) st(y, yb + i, ld(x, xb + i).neg());
  }

  private static void absF32(
      MemorySegment x, long xb, MemorySegment y, long yb, long bytes, float p1, float p2) {
    for (long i = 0; i < bytes; i += VB) st(y, yb + i, ld(x, xb + i).abs());
  }

  private static void sqrtF32(
      MemorySegment x, long xb, MemorySegment y, long yb, long bytes, float p1, float p2) {
    for (long i = 0; i < bytes; i += VB) st(y, yb + i, ld(x, xb + i).sqrt());
  }

  private static void rsqrtF32(
      MemorySegment x, long xb, MemorySegment y, long yb, long bytes, float p1, float p2) {
    FloatVector one = FloatVector.broadcast(FS, 1f);
    for (long i = 0; i < bytes; i += VB) st(y, yb + i, one.div(ld(x, xb + i).sqrt()));
  }

  // Ops built on exp or tanh run VectorMath's loop as a pass of their own over the chunk (y, which
  // never aliases x), then finish in a second loop: fusing them would put a vector function inside
  // another loop, which C2 may then not inline (see VectorMath).

  /** {@code 1 / (1 + e^-x)}. */
  private static void sigmoidF32(
      MemorySegment x, long xb, MemorySegment y, long yb, long bytes, float p1, float p2) {
    VectorMath.exp(x, xb, y, yb, bytes, -1, 0);
    FloatVector one = FloatVector.broadcast(FS, 1f);
    for (long i = 0; i < bytes; i += VB) st(y, yb + i, one.div(ld(y, yb + i).add(one)));
  }

  private static void reluF32(
      MemorySegment x, long xb, MemorySegment y, long yb, long bytes, float p1, float p2) {
    for (long i = 0; i < bytes; i += VB) st(y, yb + i, ld(x, xb + i).max(0f));
  }

  /** {@code x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))}. */
  private static void geluTanhF32(
      MemorySegment x, long xb, MemorySegment y, long yb, long bytes, float p1, float p2) {
    float k = (float) Math.sqrt(2 / Math.PI);
    for (long i = 0; i < bytes; i += VB) {
      FloatVector v = ld(x, xb + i);
      st(y, yb + i, v.mul(v).fma(k * 0.044715f, k).mul(v));
    }
    VectorMath.tanh(y, yb, y, yb, bytes);
    for (long i = 0; i < bytes; i += VB) {
      st(y, yb + i, ld(x, xb + i).mul(0.5f).mul(ld(y, yb + i).add(1f)));
    }
  }

  /**
   * {@link UnaryOp#GELU_TANH} in place over an f32 block of {@code rows} rows of {@code cols}
   * values, {@code ldc} bytes apart (the fused epilogue of {@code CpuMatmul.linear}): the same
   * kernel as {@link #unary}, so the same bits.
   */
  static void geluTanhRows(MemorySegment c, long cb, long ldc, int rows, int cols) {
    Scratch s = Scratch.get();
    MemorySegment x = s.fs[0], y = s.fs[1];
    for (int i = 0; i < rows; i++) {
      long row = cb + i * ldc;
      for (int j = 0; j < cols; j += CHUNK) {
        int len = Math.min(CHUNK, cols - j);
        MemorySegment.copy(c, row + 4L * j, x, 0, 4L * len);
        geluTanhF32(x, 0, y, 0, roundUp(len) * 4, 0, 0);
        MemorySegment.copy(y, 0, c, row + 4L * j, 4L * len);
      }
    }
  }

  /** {@code x / (1 + e^-x)}. */
  private static void siluF32(
      MemorySegment x, long xb, MemorySegment y, long yb, long bytes, float p1, float p2) {
    VectorMath.exp(x, xb, y, yb, bytes, -1, 0);
    for (long i = 0; i < bytes; i += VB) st(y, yb + i, ld(x, xb + i).div(ld(y, yb + i).add(1f)));
  }

  private static void squareF32(
      MemorySegment x, long xb, MemorySegment y, long yb, long bytes, float p1, float p2) {
    for (long i = 0; i < bytes; i += VB) {
      FloatVector v = ld(x, xb + i);
      st(y, yb + i, v.mul(v));
    }
  }

  private static void reciprocalF32(
      MemorySegment x, long xb, MemorySegment y, long yb, long bytes, float p1, float p2) {
    FloatVector one = FloatVector.broadcast(FS, 1f);
    for (long i = 0; i < bytes; i += VB) st(y, yb + i, one.div(ld(x, xb + i)));
  }

  /** As {@link Math#signum}: -1, 1, and zeros and NaN unchanged. */
  private static void signF32(
      MemorySegment x, long xb, MemorySegment y, long yb, long bytes, float p1, float p2) {
    FloatVector one = FloatVector.broadcast(FS, 1f);
    for (long i = 0; i < bytes; i += VB) {
      FloatVector v = ld(x, xb + i);
      FloatVector r = one.blend(-1f, v.compare(VectorOperators.LT, 0f));
      st(
          y,
          yb + i,
          r.blend(v, v.compare(VectorOperators.EQ, 0f).or(v.test(VectorOperators.IS_NAN))));
    }
  }

  /** min(max(x, lo), hi), NaN bounds meaning none: NaN inputs stay NaN, lo > hi gives hi. */
  private static void clampF32(
      MemorySegment x, long xb, MemorySegment y, long yb, long bytes, float p1, float p2) {
    float lo = Float.isNaN(p1) ? Float.NEGATIVE_INFINITY : p1;
    float hi = Float.isNaN(p2) ? Float.POSITIVE_INFINITY : p2;
    for (long i = 0; i < bytes; i += VB) st(y, yb + i, ld(x, xb + i).max(lo).min(hi));
  }

  /** x^p, with the common exponents as plain arithmetic (exact and much cheaper than pow). */
  private static void powF32(
      MemorySegment x, long xb, MemorySegment y, long yb, long bytes, float p, float unused) {
    if (p == 2f) squareF32(x, xb, y, yb, bytes, 0, 0);
    else if (p == 0.5f) sqrtF32(x, xb, y, yb, bytes, 0, 0);
    else if (p == -1f) reciprocalF32(x, xb, y, yb, bytes, 0, 0);
    else if (p == -0.5f) rsqrtF32(x, xb, y, yb, bytes, 0, 0);
    else if (p == 1f) MemorySegment.copy(x, xb, y, yb, bytes);
    else if (p == 0f) {
      FloatVector one = FloatVector.broadcast(FS, 1f); // pow(x, 0) = 1, even for NaN
      for (long i = 0; i < bytes; i += VB) st(y, yb + i, one);
    } else if (p == 3f) {
      for (long i = 0; i < bytes; i += VB) {
        FloatVector v = ld(x, xb + i);
        st(y, yb + i, v.mul(v).mul(v));
      }
    } else {
      VectorMath.pow(x, xb, y, yb, bytes, p);
    }
  }

  private static void unaryDouble(UnaryOp op, Tensor x, Tensor out, double p1, double p2) {
    MemorySegment xm = x.storage().segment(), om = out.storage().segment();
    StridedLoop.forEach(
        out.shape(),
        new long[][] {x.strides(), out.strides()},
        new long[] {x.offset(), out.offset()},
        (offs, st, n) -> {
          Scratch s = Scratch.get();
          for (long c = 0; c < n; c += CHUNK) {
            int len = (int) Math.min(CHUNK, n - c);
            Casts.loadF64(xm, offs[0] + c * st[0], st[0], s.d[0], len);
            unaryF64(op, s.d[0], s.d[1], len, p1, p2);
            Casts.storeF64(s.d[1], len, DType.F64, om, offs[1] + c * st[1], st[1]);
          }
        });
  }

  private static void unaryF64(UnaryOp op, double[] x, double[] y, int n, double p1, double p2) {
    switch (op) {
      case NEG -> {
        for (int i = 0; i < n; i++) y[i] = -x[i];
      }
      case ABS -> {
        for (int i = 0; i < n; i++) y[i] = Math.abs(x[i]);
      }
      case EXP -> {
        for (int i = 0; i < n; i++) y[i] = Math.exp(x[i]);
      }
      case LOG -> {
        for (int i = 0; i < n; i++) y[i] = Math.log(x[i]);
      }
      case SQRT -> {
        for (int i = 0; i < n; i++) y[i] = Math.sqrt(x[i]);
      }
      case RSQRT -> {
        for (int i = 0; i < n; i++) y[i] = 1 / Math.sqrt(x[i]);
      }
      case SIN -> {
        for (int i = 0; i < n; i++) y[i] = Math.sin(x[i]);
      }
      case COS -> {
        for (int i = 0; i < n; i++) y[i] = Math.cos(x[i]);
      }
      case TANH -> {
        for (int i = 0; i < n; i++) y[i] = Math.tanh(x[i]);
      }
      case SIGMOID -> {
        for (int i = 0; i < n; i++) y[i] = 1 / (1 + Math.exp(-x[i]));
      }
      case RELU -> {
        for (int i = 0; i < n; i++) y[i] = Math.max(x[i], 0.0);
      }
      case GELU -> {
        for (int i = 0; i < n; i++) y[i] = VectorMath.gelu(x[i]);
      }
      case GELU_TANH -> {
        double k = Math.sqrt(2 / Math.PI);
        for (int i = 0; i < n; i++) {
          double v = x[i];
          y[i] = 0.5 * v * (1 + Math.tanh(k * (v + 0.044715 * v * v * v)));
        }
      }
      case SILU -> {
        for (int i = 0; i < n; i++) y[i] = x[i] / (1 + Math.exp(-x[i]));
      }
      case SQUARE -> {
        for (int i = 0; i < n; i++) y[i] = x[i] * x[i];
      }
      case RECIPROCAL -> {
        for (int i = 0; i < n; i++) y[i] = 1 / x[i];
      }
      case ERF -> {
        for (int i = 0; i < n; i++) y[i] = VectorMath.erf(x[i]);
      }
      case SIGN -> {
        for (int i = 0; i < n; i++) y[i] = Math.signum(x[i]);
      }
      case POW -> {
        if (p1 == 2) for (int i = 0; i < n; i++) y[i] = x[i] * x[i];
        else if (p1 == 0.5) for (int i = 0; i < n; i++) y[i] = Math.sqrt(x[i]);
        else for (int i = 0; i < n; i++) y[i] = Math.pow(x[i], p1);
      }
      case CLAMP -> {
        double lo = Double.isNaN(p1) ? Double.NEGATIVE_INFINITY : p1;
        double hi = Double.isNaN(p2) ? Double.POSITIVE_INFINITY : p2;
        for (int i = 0; i < n; i++) y[i] = Math.min(Math.max(x[i], lo), hi);
      }
      case NOT -> throw new IllegalStateException("NOT is not an f64 op");
    }
  }

  private static void unaryLong(UnaryOp op, Tensor x, Tensor out, double p1, double p2) {
    MemorySegment xm = x.storage().segment(), om = out.storage().segment();
    DType t = out.dtype();
    StridedLoop.forEach(
        out.shape(),
        new long[][] {x.strides(), out.strides()},
        new long[] {x.offset(), out.offset()},
        (offs, st, n) -> {
          Scratch s = Scratch.get();
          for (long c = 0; c < n; c += CHUNK) {
            int len = (int) Math.min(CHUNK, n - c);
            Casts.loadLong(t, xm, offs[0] + c * st[0], st[0], s.l[0], len);
            unaryI64(op, s.l[0], s.l[1], len, p1, p2);
            Casts.storeLong(s.l[1], len, t, om, offs[1] + c * st[1], st[1]);
          }
        });
  }

  /** Integer ops in 64-bit arithmetic; the store wraps to the dtype's width. */
  private static void unaryI64(UnaryOp op, long[] x, long[] y, int n, double p1, double p2) {
    switch (op) {
      case NEG -> {
        for (int i = 0; i < n; i++) y[i] = -x[i];
      }
      case ABS -> {
        for (int i = 0; i < n; i++) y[i] = Math.abs(x[i]);
      }
      case SQUARE -> {
        for (int i = 0; i < n; i++) y[i] = x[i] * x[i];
      }
      case SIGN -> {
        for (int i = 0; i < n; i++) y[i] = Long.signum(x[i]);
      }
      case RELU -> {
        for (int i = 0; i < n; i++) y[i] = Math.max(x[i], 0);
      }
      case CLAMP -> {
        long lo = Double.isNaN(p1) ? Long.MIN_VALUE : (long) p1;
        long hi = Double.isNaN(p2) ? Long.MAX_VALUE : (long) p2;
        for (int i = 0; i < n; i++) y[i] = Math.min(Math.max(x[i], lo), hi);
      }
      case POW -> {
        long e = (long) p1;
        for (int i = 0; i < n; i++) y[i] = ipow(x[i], e);
      }
      default -> throw new IllegalStateException("unary " + op + " has no integer kernel");
    }
  }

  /** Integer power by squaring (wrapping), with PyTorch's rule for negative exponents. */
  private static long ipow(long base, long e) {
    if (e < 0) {
      if (base == 1) return 1;
      if (base == -1) return (e & 1) == 0 ? 1 : -1;
      return 0;
    }
    long r = 1;
    while (e != 0) {
      if ((e & 1) != 0) r *= base;
      base *= base;
      e >>>= 1;
    }
    return r;
  }

  // ---------------------------------------------------------------- binary

  static void binary(BinaryOp op, Tensor a, Tensor b, Tensor out) {
    if (op == BinaryOp.AND || op == BinaryOp.OR) {
      logical(op, a, b, out);
      return;
    }
    switch (a.dtype()) {
      case F32, BF16, F16 -> binaryFloat(op, a, b, out);
      case F64 -> binaryDouble(op, a, b, out);
      default -> binaryLong(op, a, b, out);
    }
  }

  private static void binaryFloat(BinaryOp op, Tensor a, Tensor b, Tensor out) {
    MemorySegment am = a.storage().segment(), bm = b.storage().segment();
    MemorySegment om = out.storage().segment();
    DType at = a.dtype(), bt = b.dtype(), ot = out.dtype();
    boolean compare = op.isComparison();
    StridedLoop.forEach(
        out.shape(),
        new long[][] {a.strides(), b.strides(), out.strides()},
        new long[] {a.offset(), b.offset(), out.offset()},
        (offs, st, n) -> {
          Scratch s = Scratch.get();
          Operand x = new Operand(at, am, st[0], s.fs[0], s.bcast[0], offs[0]);
          Operand y = new Operand(bt, bm, st[1], s.fs[1], s.bcast[1], offs[1]);
          for (long c = 0, len; c < n; c += len) {
            len = chunk(n - c);
            boolean whole = len % L == 0;
            x.at(c, (int) len, whole);
            y.at(c, (int) len, whole);
            long oi = offs[2] + c * st[2];
            long nv = roundUp(len) / L;
            if (compare) {
              boolean direct = whole && st[2] == 1;
              MemorySegment o = direct ? om : s.bytes;
              compareF32(op, x, y, o, direct ? oi : 0, nv);
              if (!direct) Casts.copyRaw(1, s.bytes, 0, 1, om, oi, st[2], len);
            } else {
              boolean direct = whole && ot == DType.F32 && st[2] == 1;
              MemorySegment o = direct ? om : s.fs[2];
              binaryF32(op, x, y, o, direct ? oi * 4 : 0, nv);
              if (!direct) Casts.storeF32(s.fs[2], (int) len, ot, om, oi, st[2]);
            }
          }
        });
  }

  /** {@code o = a op b} for {@code nv} vectors; o is contiguous f32 from byte offset ob. */
  private static void binaryF32(
      BinaryOp op, Operand a, Operand b, MemorySegment o, long ob, long nv) {
    MemorySegment as = a.seg, bs = b.seg;
    long ao = a.off, bo = b.off, ast = a.step, bst = b.step;
    switch (op) {
      case ADD -> {
        for (long k = 0; k < nv; k++)
          st(o, ob + k * VB, ld(as, ao + k * ast).add(ld(bs, bo + k * bst)));
      }
      case SUB -> {
        for (long k = 0; k < nv; k++)
          st(o, ob + k * VB, ld(as, ao + k * ast).sub(ld(bs, bo + k * bst)));
      }
      case MUL -> {
        for (long k = 0; k < nv; k++)
          st(o, ob + k * VB, ld(as, ao + k * ast).mul(ld(bs, bo + k * bst)));
      }
      case DIV -> {
        for (long k = 0; k < nv; k++)
          st(o, ob + k * VB, ld(as, ao + k * ast).div(ld(bs, bo + k * bst)));
      }
      case POW -> VectorMath.pow(as, ao, ast, bs, bo, bst, o, ob, nv);
      case MAXIMUM -> {
        for (long k = 0; k < nv; k++)
          st(o, ob + k * VB, ld(as, ao + k * ast).max(ld(bs, bo + k * bst)));
      }
      case MINIMUM -> {
        for (long k = 0; k < nv; k++)
          st(o, ob + k * VB, ld(as, ao + k * ast).min(ld(bs, bo + k * bst)));
      }
      default -> throw new IllegalStateException(op + " is not an arithmetic op");
    }
  }

  /** {@code o = a op b} as BOOL bytes for {@code nv} vectors, from byte offset ob. */
  private static void compareF32(
      BinaryOp op, Operand a, Operand b, MemorySegment o, long ob, long nv) {
    MemorySegment as = a.seg, bs = b.seg;
    long ao = a.off, bo = b.off, ast = a.step, bst = b.step;
    for (long k = 0; k < nv; k++) {
      FloatVector x = ld(as, ao + k * ast), y = ld(bs, bo + k * bst);
      // The comparison must be a constant at each call for the intrinsic: a switch per vector.
      VectorMask<Float> m =
          switch (op) {
            case EQ -> x.compare(VectorOperators.EQ, y);
            case NE -> x.compare(VectorOperators.NE, y);
            case LT -> x.compare(VectorOperators.LT, y);
            case LE -> x.compare(VectorOperators.LE, y);
            case GT -> x.compare(VectorOperators.GT, y);
            case GE -> x.compare(VectorOperators.GE, y);
            default -> throw new IllegalStateException(op + " is not a comparison");
          };
      storeMask(m, o, ob + k * L);
    }
  }

  /** Writes a mask as L bytes of 0/1. */
  private static void storeMask(VectorMask<Float> m, MemorySegment o, long off) {
    if (BS != null) {
      ByteVector.zero(BS).blend((byte) 1, m.cast(BS)).intoMemorySegment(o, off, NO);
    } else {
      for (int j = 0; j < L; j++)
        o.set(ValueLayout.JAVA_BYTE, off + j, (byte) (m.laneIsSet(j) ? 1 : 0));
    }
  }

  private static void binaryDouble(BinaryOp op, Tensor a, Tensor b, Tensor out) {
    MemorySegment am = a.storage().segment(), bm = b.storage().segment();
    MemorySegment om = out.storage().segment();
    boolean compare = op.isComparison();
    StridedLoop.forEach(
        out.shape(),
        new long[][] {a.strides(), b.strides(), out.strides()},
        new long[] {a.offset(), b.offset(), out.offset()},
        (offs, st, n) -> {
          Scratch s = Scratch.get();
          double[] x = s.d[0], y = s.d[1];
          for (long c = 0; c < n; c += CHUNK) {
            int len = (int) Math.min(CHUNK, n - c);
            Casts.loadF64(am, offs[0] + c * st[0], st[0], x, len);
            Casts.loadF64(bm, offs[1] + c * st[1], st[1], y, len);
            long oi = offs[2] + c * st[2];
            if (compare) {
              compareF64(op, x, y, s.l[2], len);
              Casts.storeLong(s.l[2], len, DType.BOOL, om, oi, st[2]);
            } else {
              binaryF64(op, x, y, s.d[2], len);
              Casts.storeF64(s.d[2], len, DType.F64, om, oi, st[2]);
            }
          }
        });
  }

  private static void binaryF64(BinaryOp op, double[] a, double[] b, double[] o, int n) {
    switch (op) {
      case ADD -> {
        for (int i = 0; i < n; i++) o[i] = a[i] + b[i];
      }
      case SUB -> {
        for (int i = 0; i < n; i++) o[i] = a[i] - b[i];
      }
      case MUL -> {
        for (int i = 0; i < n; i++) o[i] = a[i] * b[i];
      }
      case DIV -> {
        for (int i = 0; i < n; i++) o[i] = a[i] / b[i];
      }
      case POW -> {
        for (int i = 0; i < n; i++) o[i] = Math.pow(a[i], b[i]);
      }
      case MAXIMUM -> {
        for (int i = 0; i < n; i++) o[i] = Math.max(a[i], b[i]);
      }
      case MINIMUM -> {
        for (int i = 0; i < n; i++) o[i] = Math.min(a[i], b[i]);
      }
      default -> throw new IllegalStateException(op + " is not an arithmetic op");
    }
  }

  private static void compareF64(BinaryOp op, double[] a, double[] b, long[] o, int n) {
    switch (op) {
      case EQ -> {
        for (int i = 0; i < n; i++) o[i] = a[i] == b[i] ? 1 : 0;
      }
      case NE -> {
        for (int i = 0; i < n; i++) o[i] = a[i] != b[i] ? 1 : 0;
      }
      case LT -> {
        for (int i = 0; i < n; i++) o[i] = a[i] < b[i] ? 1 : 0;
      }
      case LE -> {
        for (int i = 0; i < n; i++) o[i] = a[i] <= b[i] ? 1 : 0;
      }
      case GT -> {
        for (int i = 0; i < n; i++) o[i] = a[i] > b[i] ? 1 : 0;
      }
      case GE -> {
        for (int i = 0; i < n; i++) o[i] = a[i] >= b[i] ? 1 : 0;
      }
      default -> throw new IllegalStateException(op + " is not a comparison");
    }
  }

  private static void binaryLong(BinaryOp op, Tensor a, Tensor b, Tensor out) {
    MemorySegment am = a.storage().segment(), bm = b.storage().segment();
    MemorySegment om = out.storage().segment();
    DType t = a.dtype(), ot = out.dtype();
    boolean compare = op.isComparison();
    StridedLoop.forEach(
        out.shape(),
        new long[][] {a.strides(), b.strides(), out.strides()},
        new long[] {a.offset(), b.offset(), out.offset()},
        (offs, st, n) -> {
          Scratch s = Scratch.get();
          long[] x = s.l[0], y = s.l[1], r = s.l[2];
          for (long c = 0; c < n; c += CHUNK) {
            int len = (int) Math.min(CHUNK, n - c);
            Casts.loadLong(t, am, offs[0] + c * st[0], st[0], x, len);
            Casts.loadLong(t, bm, offs[1] + c * st[1], st[1], y, len);
            if (compare) compareI64(op, x, y, r, len);
            else binaryI64(op, x, y, r, len);
            Casts.storeLong(r, len, ot, om, offs[2] + c * st[2], st[2]);
          }
        });
  }

  /** Integer ops in 64-bit arithmetic; the store wraps to the dtype's width. */
  private static void binaryI64(BinaryOp op, long[] a, long[] b, long[] o, int n) {
    switch (op) {
      case ADD -> {
        for (int i = 0; i < n; i++) o[i] = a[i] + b[i];
      }
      case SUB -> {
        for (int i = 0; i < n; i++) o[i] = a[i] - b[i];
      }
      case MUL -> {
        for (int i = 0; i < n; i++) o[i] = a[i] * b[i];
      }
      case POW -> {
        for (int i = 0; i < n; i++) o[i] = ipow(a[i], b[i]);
      }
      case MAXIMUM -> {
        for (int i = 0; i < n; i++) o[i] = Math.max(a[i], b[i]);
      }
      case MINIMUM -> {
        for (int i = 0; i < n; i++) o[i] = Math.min(a[i], b[i]);
      }
      default -> throw new IllegalStateException(op + " has no integer kernel");
    }
  }

  private static void compareI64(BinaryOp op, long[] a, long[] b, long[] o, int n) {
    switch (op) {
      case EQ -> {
        for (int i = 0; i < n; i++) o[i] = a[i] == b[i] ? 1 : 0;
      }
      case NE -> {
        for (int i = 0; i < n; i++) o[i] = a[i] != b[i] ? 1 : 0;
      }
      case LT -> {
        for (int i = 0; i < n; i++) o[i] = a[i] < b[i] ? 1 : 0;
      }
      case LE -> {
        for (int i = 0; i < n; i++) o[i] = a[i] <= b[i] ? 1 : 0;
      }
      case GT -> {
        for (int i = 0; i < n; i++) o[i] = a[i] > b[i] ? 1 : 0;
      }
      case GE -> {
        for (int i = 0; i < n; i++) o[i] = a[i] >= b[i] ? 1 : 0;
      }
      default -> throw new IllegalStateException(op + " is not a comparison");
    }
  }

  /**
   * Logical ops on truth values ({@code x != 0}, NaN is true) of any dtype, writing BOOL: {@code op
   * == null} is NOT of {@code a}; AND/OR combine {@code a} and {@code b}.
   */
  private static void logical(BinaryOp op, Tensor a, Tensor b, Tensor out) {
    MemorySegment am = a.storage().segment(), om = out.storage().segment();
    MemorySegment bm = b == null ? am : b.storage().segment();
    DType at = a.dtype(), bt = b == null ? at : b.dtype();
    long[] bStrides = b == null ? a.strides() : b.strides();
    long bOff = b == null ? a.offset() : b.offset();
    StridedLoop.forEach(
        out.shape(),
        new long[][] {a.strides(), bStrides, out.strides()},
        new long[] {a.offset(), bOff, out.offset()},
        (offs, st, n) -> {
          Scratch s = Scratch.get();
          long[] x = s.l[0], y = s.l[1], r = s.l[2];
          for (long c = 0; c < n; c += CHUNK) {
            int len = (int) Math.min(CHUNK, n - c);
            truth(at, am, offs[0] + c * st[0], st[0], x, len, s);
            if (op == null) {
              for (int i = 0; i < len; i++) r[i] = 1 - x[i];
            } else {
              truth(bt, bm, offs[1] + c * st[1], st[1], y, len, s);
              if (op == BinaryOp.AND) for (int i = 0; i < len; i++) r[i] = x[i] & y[i];
              else for (int i = 0; i < len; i++) r[i] = x[i] | y[i];
            }
            Casts.storeLong(r, len, DType.BOOL, om, offs[2] + c * st[2], st[2]);
          }
        });
  }

  /** {@code buf[i] = run[i] != 0 ? 1 : 0} for a run of any dtype. */
  private static void truth(
      DType t, MemorySegment m, long off, long stride, long[] buf, int n, Scratch s) {
    switch (t) {
      case BOOL -> Casts.loadLong(t, m, off, stride, buf, n);
      case F32, BF16, F16 -> {
        Casts.loadF32(t, m, off, stride, s.fs[0], n);
        for (int i = 0; i < n; i++)
          buf[i] = s.fs[0].getAtIndex(ValueLayout.JAVA_FLOAT, i) != 0 ? 1 : 0;
      }
      case F64 -> {
        Casts.loadF64(m, off, stride, s.d[0], n);
        for (int i = 0; i < n; i++) buf[i] = s.d[0][i] != 0 ? 1 : 0;
      }
      default -> {
        Casts.loadLong(t, m, off, stride, buf, n);
        for (int i = 0; i < n; i++) buf[i] = buf[i] != 0 ? 1 : 0;
      }
    }
  }

  // ---------------------------------------------------------------- where

  static void where(Tensor cond, Tensor a, Tensor b, Tensor out) {
    MemorySegment cm = cond.storage().segment(), am = a.storage().segment();
    MemorySegment bm = b.storage().segment(), om = out.storage().segment();
    int size = out.dtype().byteSize();
    StridedLoop.forEach(
        out.shape(),
        new long[][] {cond.strides(), a.strides(), b.strides(), out.strides()},
        new long[] {cond.offset(), a.offset(), b.offset(), out.offset()},
        (offs, st, n) -> {
          long co = offs[0], ao = offs[1], bo = offs[2], oo = offs[3];
          long cs = st[0], as = st[1], bs = st[2], os = st[3];
          long i = 0;
          if (size == 4 && BS != null && cs == 1 && os == 1 && (as | 1) == 1 && (bs | 1) == 1) {
            i = where4(cm, co, am, ao, as, bm, bo, bs, om, oo, n - n % L);
          }
          // The selection moves bit patterns, so one loop per element size serves every dtype.
          switch (size) {
            case 8 -> {
              for (; i < n; i++)
                om.setAtIndex(
                    ValueLayout.JAVA_LONG,
                    oo + i * os,
                    cm.get(ValueLayout.JAVA_BYTE, co + i * cs) != 0
                        ? am.getAtIndex(ValueLayout.JAVA_LONG, ao + i * as)
                        : bm.getAtIndex(ValueLayout.JAVA_LONG, bo + i * bs));
            }
            case 4 -> {
              for (; i < n; i++)
                om.setAtIndex(
                    ValueLayout.JAVA_INT,
                    oo + i * os,
                    cm.get(ValueLayout.JAVA_BYTE, co + i * cs) != 0
                        ? am.getAtIndex(ValueLayout.JAVA_INT, ao + i * as)
                        : bm.getAtIndex(ValueLayout.JAVA_INT, bo + i * bs));
            }
            case 2 -> {
              for (; i < n; i++)
                om.setAtIndex(
                    ValueLayout.JAVA_SHORT,
                    oo + i * os,
                    cm.get(ValueLayout.JAVA_BYTE, co + i * cs) != 0
                        ? am.getAtIndex(ValueLayout.JAVA_SHORT, ao + i * as)
                        : bm.getAtIndex(ValueLayout.JAVA_SHORT, bo + i * bs));
            }
            default -> {
              for (; i < n; i++)
                om.set(
                    ValueLayout.JAVA_BYTE,
                    oo + i * os,
                    cm.get(ValueLayout.JAVA_BYTE, co + i * cs) != 0
                        ? am.get(ValueLayout.JAVA_BYTE, ao + i * as)
                        : bm.get(ValueLayout.JAVA_BYTE, bo + i * bs));
            }
          }
        });
  }

  /**
   * Vectorized where for 4-byte elements: contiguous cond and out, a and b contiguous or broadcast
   * (stride 0). Handles the first {@code n} (a multiple of L) elements and returns n.
   */
  private static long where4(
      MemorySegment cm,
      long co,
      MemorySegment am,
      long ao,
      long as,
      MemorySegment bm,
      long bo,
      long bs,
      MemorySegment om,
      long oo,
      long n) {
    IntVector aBcast = IntVector.broadcast(IS, am.getAtIndex(ValueLayout.JAVA_INT, ao));
    IntVector bBcast = IntVector.broadcast(IS, bm.getAtIndex(ValueLayout.JAVA_INT, bo));
    for (long i = 0; i < n; i += L) {
      VectorMask<Integer> m =
          ByteVector.fromMemorySegment(BS, cm, co + i, NO).compare(VectorOperators.NE, 0).cast(IS);
      IntVector x = as == 0 ? aBcast : IntVector.fromMemorySegment(IS, am, (ao + i) * 4, NO);
      IntVector y = bs == 0 ? bBcast : IntVector.fromMemorySegment(IS, bm, (bo + i) * 4, NO);
      y.blend(x, m).intoMemorySegment(om, (oo + i) * 4, NO);
    }
    return n;
  }

  // ---------------------------------------------------------------- helpers

  /**
   * One f32 operand of a run, positioned chunk by chunk: {@link #seg}/{@link #off} is where its
   * vectors are (bytes), {@link #step} the bytes from one vector to the next: 0 for a broadcast
   * (stride-0) operand when the kernel supports steps (a non-null {@code bcast} buffer), in which
   * case its value sits in every lane of that one-vector buffer.
   */
  private static final class Operand {
    private final DType dtype;
    private final MemorySegment mem;
    private final long stride;
    private final long base;
    private final MemorySegment buf;
    private final boolean broadcast;
    MemorySegment seg;
    long off;
    long step;

    Operand(
        DType dtype,
        MemorySegment mem,
        long stride,
        MemorySegment buf,
        MemorySegment bcast,
        long base) {
      this.dtype = dtype;
      this.mem = mem;
      this.stride = stride;
      this.base = base;
      this.buf = buf;
      this.broadcast = stride == 0 && bcast != null;
      if (broadcast) {
        Casts.loadF32(dtype, mem, base, 0, bcast, L);
        seg = bcast;
        off = 0;
        step = 0;
      }
    }

    /** Positions at chunk [c, c + len) of the run; in place only for whole vectors of F32. */
    void at(long c, int len, boolean whole) {
      if (broadcast) return;
      step = VB;
      long first = base + c * stride;
      if (whole && stride == 1 && dtype == DType.F32) {
        seg = mem;
        off = first * 4;
      } else {
        Casts.loadF32(dtype, mem, first, stride, buf, len);
        seg = buf;
        off = 0;
      }
    }
  }

  /** The next chunk of a run with {@code left} elements to go: whole vectors, else the tail. */
  private static long chunk(long left) {
    return left >= L ? Math.min(CHUNK, left - left % L) : left;
  }

  private static long roundUp(long n) {
    return (n + L - 1) / L * L;
  }

  private static FloatVector ld(MemorySegment s, long byteOffset) {
    return FloatVector.fromMemorySegment(FS, s, byteOffset, NO);
  }

  private static void st(MemorySegment s, long byteOffset, FloatVector v) {
    v.intoMemorySegment(s, byteOffset, NO);
  }
}
