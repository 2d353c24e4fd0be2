package io.kinema.tensor.cuda;

import static io.kinema.tensor.cuda.DeviceTensors.address;

import io.kinema.ffi.cuda.CudaDriver;
import io.kinema.tensor.DType;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.backend.BinaryOp;
import io.kinema.tensor.backend.UnaryOp;
import io.kinema.tensor.cpu.Half;

/**
 * fill, copy (with casts), unary, the tanh GELU's backward, binary and where on CUDA: {@code
 * elementwise.cu}'s kernels over the operands' fused {@link StridedLayout}. Dense operands of one
 * float dtype take the 16-byte {@code _contig} kernels; dense same-dtype copies and byte-pattern
 * fills are driver memcpy/memset.
 */
final class CudaElementwise {
  private final CudaKernels kernels;
  private final CudaDevice device;

  CudaElementwise(CudaKernels kernels, CudaDevice device) {
    this.kernels = kernels;
    this.device = device;
  }

  // ---------------------------------------------------------------- fill, copy

  void fill(Tensor dst, double value) {
    DType dt = dst.dtype();
    long bits = bitsOf(dt, value);
    int size = dt.byteSize();
    StridedLayout l = StridedLayout.of(dst.shape(), dst.strides());
    if (l.numel() == 0) return;
    if (l.dense(0) && memset(address(dst), size, bits, l.numel())) return;
    l.forEachLaunch(
        (offs, p) ->
            kernels.launch(
                "kinema_fill",
                kernels.gridStride(p.numel()),
                address(dst, offs[0]),
                size,
                bits,
                p.shapeStruct(),
                p.stridesStruct(0),
                p.numel()));
  }

  /** A dense fill as a driver memset when the pattern allows; false when it does not. */
  private boolean memset(long ptr, int size, long bits, long n) {
    var stream = device.stream().handle();
    if (bits == 0 || size == 1) {
      CudaDriver.memsetD8Async(ptr, (byte) bits, n * size, stream);
      return true;
    }
    boolean aligned = (ptr & 3) == 0;
    if (size == 4 && aligned) {
      CudaDriver.memsetD32Async(ptr, (int) bits, n, stream);
      return true;
    }
    if (size == 2 && aligned && n % 2 == 0) {
      CudaDriver.memsetD32Async(ptr, (int) (bits | bits << 16), n / 2, stream);
      return true;
    }
    if (size == 8 && aligned && (bits >>> 32) == (bits & 0xffffffffL)) {
      CudaDriver.memsetD32Async(ptr, (int) bits, 2 * n, stream);
      return true;
    }
    return false;
  }

  /**
   * The bit pattern of {@code value} stored as {@code t}, with the CPU's conversion rules (Casts):
   * 16-bit floats round to nearest even, integers truncate then wrap, BOOL is {@code value != 0}.
   */
  static long bitsOf(DType t, double value) {
    return switch (t) {
      case F64 -> Double.doubleToRawLongBits(value);
      case F32 -> Float.floatToRawIntBits((float) value) & 0xffffffffL;
      case BF16 -> Half.floatToBf16((float) value) & 0xffffL;
      case F16 -> Half.floatToF16((float) value) & 0xffffL;
      case I64 -> (long) value;
      case I32 -> (int) (long) value & 0xffffffffL;
      case U8 -> (long) value & 0xff;
      case BOOL -> value != 0 ? 1 : 0;
    };
  }

  void copy(Tensor src, Tensor dst) {
    DType st = src.dtype(), dt = dst.dtype();
    StridedLayout l = StridedLayout.of(dst.shape(), src.strides(), dst.strides());
    long n = l.numel();
    if (n == 0) return;
    if (l.dense(0) && l.dense(1)) {
      if (st == dt) {
        CudaDriver.memcpyDtoDAsync(
            address(dst), address(src), n * st.byteSize(), device.stream().handle());
      } else {
        long grid =
            Math.max(
                1,
                Math.min(Math.ceilDiv(n, 8L * CudaKernels.BLOCK), 32L * kernels.multiprocessors()));
        kernels.launch(
            "kinema_copy_contig", grid, address(src), st.ordinal(), address(dst), dt.ordinal(), n);
      }
      return;
    }
    l.forEachLaunch(
        (offs, p) ->
            kernels.launch(
                "kinema_copy",
                kernels.gridStride(p.numel()),
                address(src, offs[0]),
                st.ordinal(),
                p.stridesStruct(0),
                address(dst, offs[1]),
                dt.ordinal(),
                p.stridesStruct(1),
                p.shapeStruct(),
                p.numel()));
  }

  // ---------------------------------------------------------------- unary

  void unary(UnaryOp op, Tensor x, Tensor out, double p1, double p2) {
    long n = out.numel();
    if (n == 0) return;
    DType xt = x.dtype(), ot = out.dtype();
    boolean float16or32 = ot == DType.F32 || ot == DType.BF16 || ot == DType.F16;
    if (op != UnaryOp.NOT && float16or32 && xt == ot && x.isContiguous() && out.isContiguous()) {
      kernels.launch(
          "kinema_unary_contig_",
          ot,
          vectorGrid(n, ot),
          op.ordinal(),
          address(x),
          address(out),
          n,
          (float) p1,
          (float) p2);
      return;
    }
    StridedLayout l = StridedLayout.of(out.shape(), x.strides(), out.strides());
    if (op == UnaryOp.NOT) {
      l.forEachLaunch(
          (offs, p) ->
              kernels.launch(
                  "kinema_logical_not",
                  kernels.gridStride(p.numel()),
                  address(x, offs[0]),
                  xt.ordinal(),
                  p.stridesStruct(0),
                  address(out, offs[1]),
                  p.stridesStruct(1),
                  p.shapeStruct(),
                  p.numel()));
      return;
    }
    switch (ot) {
      case F32, BF16, F16 ->
          l.forEachLaunch(
              (offs, p) ->
                  kernels.launch(
                      "kinema_unary_f32",
                      kernels.gridStride(p.numel()),
                      op.ordinal(),
                      address(x, offs[0]),
                      xt.ordinal(),
                      p.stridesStruct(0),
                      address(out, offs[1]),
                      ot.ordinal(),
                      p.stridesStruct(1),
                      p.shapeStruct(),
                      p.numel(),
                      (float) p1,
                      (float) p2));
      case F64 -> {
        requireDtype("unary " + op, x, DType.F64);
        l.forEachLaunch(
            (offs, p) ->
                kernels.launch(
                    "kinema_unary_f64",
                    kernels.gridStride(p.numel()),
                    op.ordinal(),
                    address(x, offs[0]),
                    p.stridesStruct(0),
                    address(out, offs[1]),
                    p.stridesStruct(1),
                    p.shapeStruct(),
                    p.numel(),
                    p1,
                    p2));
      }
      default ->
          l.forEachLaunch(
              (offs, p) ->
                  kernels.launch(
                      "kinema_unary_int",
                      kernels.gridStride(p.numel()),
                      op.ordinal(),
                      address(x, offs[0]),
                      xt.ordinal(),
                      p.stridesStruct(0),
                      address(out, offs[1]),
                      ot.ordinal(),
                      p.stridesStruct(1),
                      p.shapeStruct(),
                      p.numel(),
                      p1,
                      p2));
    }
  }

  // ---------------------------------------------------------------- gelu_tanh backward

  /** {@code gradX = gradOut gelu_tanh'(x)}: one kernel, f32 (f64 for F64), any strides. */
  void geluTanhBackward(Tensor gradOut, Tensor x, Tensor gradX) {
    if (gradX.numel() == 0) return;
    DType t = gradX.dtype();
    StridedLayout l =
        StridedLayout.of(gradX.shape(), gradOut.strides(), x.strides(), gradX.strides());
    l.forEachLaunch(
        (offs, p) -> {
          long g = address(gradOut, offs[0]), xp = address(x, offs[1]);
          long o = address(gradX, offs[2]);
          long grid = kernels.gridStride(p.numel());
          if (t == DType.F64) {
            kernels.launch(
                "kinema_gelu_tanh_backward_f64",
                grid,
                g,
                p.stridesStruct(0),
                xp,
                p.stridesStruct(1),
                o,
                p.stridesStruct(2),
                p.shapeStruct(),
                p.numel());
          } else {
            kernels.launch(
                "kinema_gelu_tanh_backward_f32",
                grid,
                g,
                p.stridesStruct(0),
                xp,
                p.stridesStruct(1),
                o,
                p.stridesStruct(2),
                t.ordinal(),
                p.shapeStruct(),
                p.numel());
          }
        });
  }

  // ---------------------------------------------------------------- binary

  void binary(BinaryOp op, Tensor a, Tensor b, Tensor out) {
    if (out.numel() == 0) return;
    DType at = a.dtype(), bt = b.dtype(), ot = out.dtype();
    boolean logical = op == BinaryOp.AND || op == BinaryOp.OR;
    // The common case first, without building the fused layout (about 100 ns per op).
    if (!logical && at != DType.F64 && at.isFloatingPoint() && binaryDense(op, a, b, out)) return;
    StridedLayout l = StridedLayout.of(out.shape(), a.strides(), b.strides(), out.strides());
    int code = op.ordinal();
    if (logical) {
      l.forEachLaunch(
          (offs, p) ->
              kernels.launch(
                  "kinema_logical",
                  kernels.gridStride(p.numel()),
                  code,
                  address(a, offs[0]),
                  at.ordinal(),
                  p.stridesStruct(0),
                  address(b, offs[1]),
                  bt.ordinal(),
                  p.stridesStruct(1),
                  address(out, offs[2]),
                  p.stridesStruct(2),
                  p.shapeStruct(),
                  p.numel()));
    } else if (at == DType.F64) {
      requireDtype("binary " + op, b, DType.F64);
      l.forEachLaunch(
          (offs, p) ->
              kernels.launch(
                  "kinema_binary_f64",
                  kernels.gridStride(p.numel()),
                  code,
                  address(a, offs[0]),
                  p.stridesStruct(0),
                  address(b, offs[1]),
                  p.stridesStruct(1),
                  address(out, offs[2]),
                  p.stridesStruct(2),
                  p.shapeStruct(),
                  p.numel()));
    } else {
      // F32/BF16/F16 compute in f32, integers and BOOL in 64 bits; same arguments.
      String kernel = at.isFloatingPoint() ? "kinema_binary_f32" : "kinema_binary_int";
      l.forEachLaunch(
          (offs, p) ->
              kernels.launch(
                  kernel,
                  kernels.gridStride(p.numel()),
                  code,
                  address(a, offs[0]),
                  at.ordinal(),
                  p.stridesStruct(0),
                  address(b, offs[1]),
                  bt.ordinal(),
                  p.stridesStruct(1),
                  address(out, offs[2]),
                  ot.ordinal(),
                  p.stridesStruct(2),
                  p.shapeStruct(),
                  p.numel()));
    }
  }

  /**
   * The 16-byte kernel for arithmetic on dense a and out of one float dtype, with b dense of that
   * dtype or one broadcast element of any float dtype; false (nothing launched) otherwise.
   */
  private boolean binaryDense(BinaryOp op, Tensor a, Tensor b, Tensor out) {
    DType at = a.dtype(), bt = b.dtype();
    if (op.isComparison() || out.dtype() != at || !a.isContiguous() || !out.isContiguous()) {
      return false;
    }
    boolean scalar = broadcastScalar(b) && bt.isFloatingPoint();
    if (!scalar && !(b.isContiguous() && bt == at)) return false;
    long n = out.numel();
    kernels.launch(
        "kinema_binary_contig_",
        at,
        vectorGrid(n, at),
        op.ordinal(),
        address(a),
        address(b),
        bt.ordinal(),
        scalar ? 1 : 0,
        address(out),
        n);
    return true;
  }

  /** True when {@code t} is one element seen everywhere (stride 0 on every dim of size > 1). */
  private static boolean broadcastScalar(Tensor t) {
    for (int d = 0; d < t.dim(); d++) {
      if (t.size(d) > 1 && t.stride(d) != 0) return false;
    }
    return true;
  }

  // ---------------------------------------------------------------- where

  void where(Tensor cond, Tensor a, Tensor b, Tensor out) {
    StridedLayout l =
        StridedLayout.of(out.shape(), cond.strides(), a.strides(), b.strides(), out.strides());
    int size = out.dtype().byteSize();
    l.forEachLaunch(
        (offs, p) ->
            kernels.launch(
                "kinema_where",
                kernels.gridStride(p.numel()),
                address(cond, offs[0]),
                p.stridesStruct(0),
                address(a, offs[1]),
                p.stridesStruct(1),
                address(b, offs[2]),
                p.stridesStruct(2),
                address(out, offs[3]),
                p.stridesStruct(3),
                p.shapeStruct(),
                p.numel(),
                size));
  }

  // ---------------------------------------------------------------- helpers

  /** The grid of a dense 16-byte-per-step kernel over {@code n} elements of {@code t}. */
  private long vectorGrid(long n, DType t) {
    return kernels.gridStride(Math.ceilDiv(n, 16 / t.byteSize()));
  }

  /** The kernel name suffix of a float dtype: f32, bf16, f16 or f64. */
  static String suffix(DType t) {
    return switch (t) {
      case F32 -> "f32";
      case BF16 -> "bf16";
      case F16 -> "f16";
      case F64 -> "f64";
      default -> throw new IllegalArgumentException("no float kernel for " + t);
    };
  }

  private static void requireDtype(String op, Tensor t, DType dtype) {
    if (t.dtype() != dtype) {
      throw new IllegalArgumentException(
          "cuda " + op + ": expected a " + dtype + " operand, got " + t.describe());
    }
  }
}
