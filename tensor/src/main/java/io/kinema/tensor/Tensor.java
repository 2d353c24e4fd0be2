package io.kinema.tensor;

import io.kinema.tensor.backend.Backend;
import io.kinema.tensor.backend.BinaryOp;
import io.kinema.tensor.backend.Epilogue;
import io.kinema.tensor.backend.ReduceOp;
import io.kinema.tensor.backend.Storage;
import io.kinema.tensor.backend.UnaryOp;
import io.kinema.tensor.grad.Autograd;
import io.kinema.tensor.grad.GradMode;
import io.kinema.tensor.grad.GradNode;
import io.kinema.tensor.grad.OpCall;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * An n-dimensional array on a device: a {@link Storage} seen through a shape, element strides and a
 * storage offset. Views (reshape, permute, narrow, expand, ...) share the storage without copying;
 * ops allocate a new tensor on the operands' device. Names and semantics follow PyTorch:
 * broadcasting, negative dims, {@code keepdim}.
 *
 * <p>Memory is released deterministically: {@link #close()} a tensor, or create it inside a {@link
 * Scope}. The storage goes back to its allocator when its last view is closed.
 */
public final class Tensor implements AutoCloseable {
  private final Storage storage;
  private final DType dtype;
  private final long[] shape;
  private final long[] strides;
  private final long offset;
  private boolean closed;
  private boolean requiresGrad;
  private Tensor grad;
  private GradNode gradFn;

  /** Wraps a storage (taking over one reference). Backends use this to build outputs. */
  public Tensor(Storage storage, DType dtype, long[] shape, long[] strides, long offset) {
    this(storage, dtype, shape, strides, offset, true);
  }

  private Tensor(
      Storage storage, DType dtype, long[] shape, long[] strides, long offset, boolean scoped) {
    if (shape.length != strides.length) {
      throw new IllegalArgumentException(
          "shape " + Shapes.str(shape) + " and strides " + Shapes.str(strides) + " differ in rank");
    }
    for (long d : shape) {
      if (d < 0) throw new IllegalArgumentException("negative size in shape " + Shapes.str(shape));
    }
    this.storage = storage;
    this.dtype = dtype;
    this.shape = shape;
    this.strides = strides;
    this.offset = offset;
    if (scoped) Scope.register(this);
  }

  // ---------------------------------------------------------------- creation

  /** An uninitialized contiguous tensor. */
  public static Tensor empty(DType dtype, Device device, long... shape) {
    long[] sh = shape.clone();
    long n = Shapes.numel(sh);
    Storage s = Backends.of(device).allocate(n * dtype.byteSize());
    return new Tensor(s, dtype, sh, Shapes.contiguousStrides(sh), 0);
  }

  public static Tensor empty(DType dtype, long... shape) {
    return empty(dtype, Device.CPU, shape);
  }

  public static Tensor full(double value, DType dtype, Device device, long... shape) {
    Tensor t = empty(dtype, device, shape);
    t.backend().fill(t, value);
    return t;
  }

  public static Tensor full(double value, DType dtype, long... shape) {
    return full(value, dtype, Device.CPU, shape);
  }

  public static Tensor zeros(DType dtype, Device device, long... shape) {
    return full(0, dtype, device, shape);
  }

  public static Tensor zeros(DType dtype, long... shape) {
    return full(0, dtype, Device.CPU, shape);
  }

  /** F32 zeros on the CPU. */
  public static Tensor zeros(long... shape) {
    return zeros(DType.F32, shape);
  }

  public static Tensor ones(DType dtype, Device device, long... shape) {
    return full(1, dtype, device, shape);
  }

  public static Tensor ones(DType dtype, long... shape) {
    return full(1, dtype, Device.CPU, shape);
  }

  /** F32 ones on the CPU. */
  public static Tensor ones(long... shape) {
    return ones(DType.F32, shape);
  }

  public static Tensor emptyLike(Tensor t) {
    return empty(t.dtype, t.device(), t.shape);
  }

  public static Tensor zerosLike(Tensor t) {
    return zeros(t.dtype, t.device(), t.shape);
  }

  public static Tensor onesLike(Tensor t) {
    return ones(t.dtype, t.device(), t.shape);
  }

  public static Tensor fullLike(Tensor t, double value) {
    return full(value, t.dtype, t.device(), t.shape);
  }

  /** A 0-dim tensor. */
  public static Tensor scalar(double value, DType dtype) {
    return full(value, dtype, Device.CPU);
  }

  /** A 0-dim tensor on {@code device}. */
  public static Tensor scalar(double value, DType dtype, Device device) {
    return full(value, dtype, device);
  }

  /** F32 tensor from a Java array (row-major); no shape means 1-d. */
  public static Tensor of(float[] data, long... shape) {
    return HostArrays.fromFloats(data, shape);
  }

  /** F64 tensor from a Java array (row-major); no shape means 1-d. */
  public static Tensor of(double[] data, long... shape) {
    return HostArrays.fromDoubles(data, shape);
  }

  /** I32 tensor from a Java array (row-major); no shape means 1-d. */
  public static Tensor of(int[] data, long... shape) {
    return HostArrays.fromInts(data, shape);
  }

  /** I64 tensor from a Java array (row-major); no shape means 1-d. */
  public static Tensor of(long[] data, long... shape) {
    return HostArrays.fromLongs(data, shape);
  }

  /** BOOL tensor from a Java array (row-major); no shape means 1-d. */
  public static Tensor of(boolean[] data, long... shape) {
    return HostArrays.fromBooleans(data, shape);
  }

  /** {@code [0, end)} with step 1, I64 (PyTorch's {@code arange(end)}). */
  public static Tensor arange(long end) {
    return Creation.arange(0, end, 1, DType.I64, Device.CPU);
  }

  /** {@code [start, end)} with {@code step}. */
  public static Tensor arange(double start, double end, double step, DType dtype, Device device) {
    return Creation.arange(start, end, step, dtype, device);
  }

  /** {@code steps} evenly spaced values from start to end inclusive. */
  public static Tensor linspace(double start, double end, long steps, DType dtype, Device device) {
    return Creation.linspace(start, end, steps, dtype, device);
  }

  /** The n x n identity. */
  public static Tensor eye(long n, DType dtype, Device device) {
    return Creation.eye(n, n, dtype, device);
  }

  /** Uniform on [0, 1) from {@code gen}'s stream (advancing it). */
  public static Tensor rand(Generator gen, DType dtype, Device device, long... shape) {
    return Creation.rand(gen, dtype, device, shape);
  }

  /** Standard normal from {@code gen}'s stream (advancing it). */
  public static Tensor randn(Generator gen, DType dtype, Device device, long... shape) {
    return Creation.randn(gen, dtype, device, shape);
  }

  /** Integers uniform on [low, high) from {@code gen}'s stream (advancing it). */
  public static Tensor randint(
      Generator gen, long low, long high, DType dtype, Device device, long... shape) {
    return Creation.randint(gen, low, high, dtype, device, shape);
  }

  // ---------------------------------------------------------------- metadata

  public DType dtype() {
    return dtype;
  }

  public Device device() {
    return storage.device();
  }

  /** The sizes (a copy). */
  public long[] shape() {
    return shape.clone();
  }

  /** The element strides (a copy). */
  public long[] strides() {
    return strides.clone();
  }

  /** Offset of element [0, ..., 0] into the storage, in elements. */
  public long offset() {
    return offset;
  }

  public int dim() {
    return shape.length;
  }

  /** Size of dim {@code d} (negative counts from the end). */
  public long size(int d) {
    return shape[Shapes.normalizeDim("size", d, shape.length)];
  }

  public long stride(int d) {
    return strides[Shapes.normalizeDim("stride", d, shape.length)];
  }

  public long numel() {
    return Shapes.numel(shape);
  }

  /** The storage; throws if this tensor was closed. */
  public Storage storage() {
    checkOpen("storage");
    return storage;
  }

  /** True when elements are laid out row-major without gaps. */
  public boolean isContiguous() {
    long expected = 1;
    for (int d = shape.length - 1; d >= 0; d--) {
      if (shape[d] == 1) continue;
      if (strides[d] != expected) return false;
      expected *= shape[d];
    }
    return true;
  }

  public boolean isClosed() {
    return closed;
  }

  /** Releases this tensor's reference to its storage. Idempotent. */
  @Override
  public void close() {
    if (closed) return;
    closed = true;
    if (gradFn != null) {
      GradNode node = gradFn;
      gradFn = null;
      Autograd.engine().release(node);
    }
    if (grad != null) {
      grad.close();
      grad = null;
    }
    storage.release();
  }

  Backend backend() {
    checkOpen("op");
    return Backends.of(storage.device());
  }

  private void checkOpen(String what) {
    if (closed) throw new IllegalStateException(what + ": tensor " + describe() + " is closed");
  }

  /** Dtype, device and shape, for error messages. */
  public String describe() {
    return dtype + Shapes.str(shape) + (device().kind() == Device.Kind.CPU ? "" : "@" + device());
  }

  // ---------------------------------------------------------------- host access

  /** All elements in row-major order, converted to float. */
  public float[] toFloatArray() {
    return HostArrays.toFloats(this);
  }

  /** All elements in row-major order, converted to double. */
  public double[] toDoubleArray() {
    return HostArrays.toDoubles(this);
  }

  /** All elements in row-major order, converted to long (truncating floats). */
  public long[] toLongArray() {
    return HostArrays.toLongs(this);
  }

  /** All elements as booleans (non-zero is true). */
  public boolean[] toBooleanArray() {
    double[] d = toDoubleArray();
    boolean[] b = new boolean[d.length];
    for (int i = 0; i < d.length; i++) b[i] = d[i] != 0;
    return b;
  }

  /** The value of a one-element tensor. */
  public double item() {
    if (numel() != 1) {
      throw new IllegalArgumentException("item: expected one element, got " + describe());
    }
    return toDoubleArray()[0];
  }

  /** One element, by index (negative indices count from the end). */
  public double get(long... index) {
    if (index.length != shape.length) {
      throw new IllegalArgumentException(
          "get: " + index.length + " indices for a tensor of rank " + shape.length);
    }
    long off = offset;
    for (int d = 0; d < index.length; d++) {
      long i = index[d] < 0 ? index[d] + shape[d] : index[d];
      if (i < 0 || i >= shape[d]) {
        throw new IndexOutOfBoundsException(
            "get: index " + index[d] + " out of range for dim " + d + " of size " + shape[d]);
      }
      off += i * strides[d];
    }
    return HostArrays.read(this, off);
  }

  @Override
  public String toString() {
    if (closed) return "Tensor(" + describe() + ", closed)";
    return "Tensor(" + describe() + ", " + HostArrays.preview(this) + ")";
  }

  // ---------------------------------------------------------------- views

  private Tensor view(long[] newShape, long[] newStrides, long newOffset) {
    checkOpen("view");
    return new Tensor(storage.retain(), dtype, newShape, newStrides, newOffset);
  }

  /**
   * A new handle on exactly this view, sharing storage, belonging to no {@link Scope} and carrying
   * no autograd state: the caller closes it. The autograd engine keeps saved tensors this way.
   */
  public Tensor share() {
    checkOpen("share");
    return new Tensor(storage.retain(), dtype, shape.clone(), strides.clone(), offset, false);
  }

  /** A view with a new shape (one size may be -1); the strides must allow it without a copy. */
  public Tensor view(long... newShape) {
    long[] sh = inferShape("view", newShape);
    long[] st = Views.reshapeStrides(shape, strides, sh);
    if (st == null) {
      throw new IllegalArgumentException(
          "view: cannot view "
              + describe()
              + " with strides "
              + Shapes.str(strides)
              + " as "
              + Shapes.str(newShape)
              + " without a copy; use reshape");
    }
    return asReshapeOf(view(sh, st, offset));
  }

  /** {@link #view} when the strides allow, else a contiguous copy. */
  public Tensor reshape(long... newShape) {
    long[] sh = inferShape("reshape", newShape);
    long[] st = Views.reshapeStrides(shape, strides, sh);
    if (st != null) return asReshapeOf(view(sh, st, offset));
    try (Tensor c = copyRaw(dtype)) {
      return asReshapeOf(c.view(sh, Shapes.contiguousStrides(sh), c.offset));
    }
  }

  private long[] inferShape(String op, long[] newShape) {
    long[] sh = newShape.clone();
    int infer = -1;
    long known = 1;
    for (int i = 0; i < sh.length; i++) {
      if (sh[i] == -1) {
        if (infer >= 0)
          throw new IllegalArgumentException(
              op + ": only one size may be -1 in " + Shapes.str(newShape));
        infer = i;
      } else if (sh[i] < 0) {
        throw new IllegalArgumentException(
            op + ": invalid size " + sh[i] + " in " + Shapes.str(newShape));
      } else {
        known *= sh[i];
      }
    }
    long n = numel();
    if (infer >= 0) {
      if (known == 0 || n % known != 0) {
        throw new IllegalArgumentException(
            op + ": shape " + Shapes.str(newShape) + " is invalid for " + describe());
      }
      sh[infer] = n / known;
    } else if (known != n) {
      throw new IllegalArgumentException(
          op
              + ": shape "
              + Shapes.str(newShape)
              + " has "
              + known
              + " elements but "
              + describe()
              + " has "
              + n);
    }
    return sh;
  }

  /** Reorders the dims: result dim i is this tensor's dim {@code order[i]}. */
  public Tensor permute(int... order) {
    if (order.length != shape.length) {
      throw new IllegalArgumentException(
          "permute: "
              + Arrays.toString(order)
              + " has "
              + order.length
              + " dims, tensor "
              + describe()
              + " has "
              + shape.length);
    }
    long[] sh = new long[order.length], st = new long[order.length];
    int[] norm = new int[order.length];
    boolean[] seen = new boolean[order.length];
    for (int i = 0; i < order.length; i++) {
      int d = Shapes.normalizeDim("permute", order[i], shape.length);
      if (seen[d])
        throw new IllegalArgumentException(
            "permute: dim " + d + " repeated in " + Arrays.toString(order));
      seen[d] = true;
      sh[i] = shape[d];
      st[i] = strides[d];
      norm[i] = d;
    }
    Tensor out = view(sh, st, offset);
    return tracks(this) ? recorded(new OpCall.Permute(this, norm), out) : out;
  }

  /** Swaps two dims. */
  public Tensor transpose(int d0, int d1) {
    int a = Shapes.normalizeDim("transpose", d0, shape.length);
    int b = Shapes.normalizeDim("transpose", d1, shape.length);
    long[] sh = shape.clone(), st = strides.clone();
    sh[a] = shape[b];
    sh[b] = shape[a];
    st[a] = strides[b];
    st[b] = strides[a];
    Tensor out = view(sh, st, offset);
    if (!tracks(this)) return out;
    int[] order = new int[shape.length];
    for (int i = 0; i < order.length; i++) order[i] = i;
    order[a] = b;
    order[b] = a;
    return recorded(new OpCall.Permute(this, order), out);
  }

  /** Transpose of a tensor of rank <= 2. */
  public Tensor t() {
    if (shape.length > 2)
      throw new IllegalArgumentException("t: expects rank <= 2, got " + describe() + "; use mT()");
    return shape.length < 2 ? alias() : transpose(0, 1);
  }

  /** Transpose of the last two dims (PyTorch's {@code mT}). */
  public Tensor mT() {
    if (shape.length < 2)
      throw new IllegalArgumentException("mT: expects rank >= 2, got " + describe());
    return transpose(-2, -1);
  }

  /** The elements [start, start+length) of dim {@code dim}. */
  public Tensor narrow(int dim, long start, long length) {
    int d = Shapes.normalizeDim("narrow", dim, shape.length);
    if (start < 0) start += shape[d];
    if (start < 0 || length < 0 || start + length > shape[d]) {
      throw new IndexOutOfBoundsException(
          "narrow: ["
              + start
              + ", "
              + (start + length)
              + ") out of range for dim "
              + d
              + " of "
              + describe());
    }
    long[] sh = shape.clone();
    sh[d] = length;
    Tensor out = view(sh, strides.clone(), offset + start * strides[d]);
    return tracks(this) ? recorded(new OpCall.Slice(this, d, start, length, 1), out) : out;
  }

  /** Python's {@code x[..., start:end:step, ...]} on dim {@code dim}; bounds are clamped. */
  public Tensor slice(int dim, long start, long end, long step) {
    int d = Shapes.normalizeDim("slice", dim, shape.length);
    if (step <= 0) throw new IllegalArgumentException("slice: step must be > 0, got " + step);
    long n = shape[d];
    long s = Math.clamp(start < 0 ? start + n : start, 0, n);
    long e = Math.clamp(end < 0 ? end + n : end, 0, n);
    long len = e > s ? (e - s + step - 1) / step : 0;
    long[] sh = shape.clone(), st = strides.clone();
    sh[d] = len;
    st[d] = strides[d] * step;
    Tensor out = view(sh, st, offset + s * strides[d]);
    return tracks(this) ? recorded(new OpCall.Slice(this, d, s, len, step), out) : out;
  }

  /** Index {@code index} of dim {@code dim}, removing that dim. */
  public Tensor select(int dim, long index) {
    int d = Shapes.normalizeDim("select", dim, shape.length);
    long i = index < 0 ? index + shape[d] : index;
    if (i < 0 || i >= shape[d]) {
      throw new IndexOutOfBoundsException(
          "select: index " + index + " out of range for dim " + d + " of " + describe());
    }
    long[] sh = new long[shape.length - 1], st = new long[shape.length - 1];
    for (int k = 0, j = 0; k < shape.length; k++) {
      if (k == d) continue;
      sh[j] = shape[k];
      st[j++] = strides[k];
    }
    Tensor out = view(sh, st, offset + i * strides[d]);
    return tracks(this) ? recorded(new OpCall.Select(this, d, i), out) : out;
  }

  /** Broadcasts to {@code newShape} without copying (-1 keeps a size; new dims go in front). */
  public Tensor expand(long... newShape) {
    int n = newShape.length;
    if (n < shape.length) {
      throw new IllegalArgumentException(
          "expand: " + Shapes.str(newShape) + " has fewer dims than " + describe());
    }
    long[] sh = new long[n], st = new long[n];
    for (int i = 0; i < n; i++) {
      int j = i - (n - shape.length);
      long want = newShape[i];
      if (j < 0) {
        if (want < 0)
          throw new IllegalArgumentException(
              "expand: -1 not allowed for a new dim in " + Shapes.str(newShape));
        sh[i] = want;
        st[i] = 0;
      } else if (want == -1 || want == shape[j]) {
        sh[i] = shape[j];
        st[i] = strides[j];
      } else if (shape[j] == 1) {
        sh[i] = want;
        st[i] = 0;
      } else {
        throw new IllegalArgumentException(
            "expand: cannot expand "
                + describe()
                + " to "
                + Shapes.str(newShape)
                + " (dim "
                + i
                + ")");
      }
    }
    Tensor out = view(sh, st, offset);
    return tracks(this) ? recorded(new OpCall.Expand(this), out) : out;
  }

  public Tensor expandAs(Tensor other) {
    return expand(other.shape);
  }

  /** Removes every size-1 dim. */
  public Tensor squeeze() {
    int keep = 0;
    for (long d : shape) if (d != 1) keep++;
    long[] sh = new long[keep], st = new long[keep];
    for (int i = 0, j = 0; i < shape.length; i++) {
      if (shape[i] == 1) continue;
      sh[j] = shape[i];
      st[j++] = strides[i];
    }
    return asReshapeOf(view(sh, st, offset));
  }

  /** Removes dim {@code dim} if its size is 1 (else returns an identical view). */
  public Tensor squeeze(int dim) {
    int d = Shapes.normalizeDim("squeeze", dim, shape.length);
    if (shape.length == 0 || shape[d] != 1) return alias();
    return select(d, 0);
  }

  /** Inserts a size-1 dim at {@code dim} (in [-rank-1, rank]). */
  public Tensor unsqueeze(int dim) {
    int d = Shapes.normalizeDim("unsqueeze", dim, shape.length + 1);
    long[] sh = new long[shape.length + 1], st = new long[shape.length + 1];
    for (int i = 0, j = 0; i < sh.length; i++) {
      if (i == d) {
        sh[i] = 1;
        st[i] = d < shape.length ? strides[d] * shape[d] : 1;
      } else {
        sh[i] = shape[j];
        st[i] = strides[j++];
      }
    }
    return asReshapeOf(view(sh, st, offset));
  }

  /** Flattens to 1-d. */
  public Tensor flatten() {
    return reshape(numel());
  }

  /** Flattens dims [start, end] into one. */
  public Tensor flatten(int start, int end) {
    if (shape.length == 0) return reshape(1);
    int s = Shapes.normalizeDim("flatten", start, shape.length);
    int e = Shapes.normalizeDim("flatten", end, shape.length);
    if (s > e)
      throw new IllegalArgumentException("flatten: start dim " + start + " after end dim " + end);
    long[] sh = new long[shape.length - (e - s)];
    int j = 0;
    for (int i = 0; i < s; i++) sh[j++] = shape[i];
    long m = 1;
    for (int i = s; i <= e; i++) m *= shape[i];
    sh[j++] = m;
    for (int i = e + 1; i < shape.length; i++) sh[j++] = shape[i];
    return reshape(sh);
  }

  /** Splits dim {@code dim} into {@code sizes} (one may be -1). */
  public Tensor unflatten(int dim, long... sizes) {
    int d = Shapes.normalizeDim("unflatten", dim, shape.length);
    long[] sh = new long[shape.length - 1 + sizes.length];
    int j = 0;
    for (int i = 0; i < d; i++) sh[j++] = shape[i];
    for (long s : sizes) sh[j++] = s;
    for (int i = d + 1; i < shape.length; i++) sh[j++] = shape[i];
    return reshape(sh);
  }

  /** This tensor if contiguous (a new view of it), else a contiguous copy. */
  public Tensor contiguous() {
    if (isContiguous()) return alias();
    return copy(dtype);
  }

  /** A contiguous copy. */
  public Tensor copy() {
    return copy(dtype);
  }

  /** A contiguous copy (PyTorch's name for {@link #copy()}). */
  @Override
  public Tensor clone() {
    return copy();
  }

  private Tensor copy(DType to) {
    Tensor out = copyRaw(to);
    return tracks(this) ? recorded(new OpCall.Convert(this), out) : out;
  }

  private Tensor copyRaw(DType to) {
    Tensor out = empty(to, device(), shape);
    backend().copy(this, out);
    return out;
  }

  /** A copy converted to {@code to} (a view when the dtype is already {@code to}). */
  public Tensor to(DType to) {
    return to == dtype ? alias() : copy(to);
  }

  /** A copy on {@code device} (a view when already there). */
  public Tensor to(Device target) {
    if (target.equals(device())) return alias();
    Tensor out = Transfers.copyTo(this, target);
    return tracks(this) ? recorded(new OpCall.Convert(this), out) : out;
  }

  /** A view that shares storage but is a separate tensor (closing one leaves the other). */
  public Tensor alias() {
    return asReshapeOf(view(shape.clone(), strides.clone(), offset));
  }

  // ---------------------------------------------------------------- in place

  /** Sets every element to {@code value}; returns this. */
  public Tensor fill(double value) {
    checkInPlace("fill");
    backend().fill(this, value);
    storage.bumpVersion();
    return this;
  }

  /** Sets every element to zero; returns this. */
  public Tensor zero() {
    return fill(0);
  }

  /** Copies {@code src} (broadcast to this shape, converted to this dtype) into this. */
  public Tensor copyFrom(Tensor src) {
    checkInPlace("copyFrom");
    Ops.sameDevice("copyFrom", this, src);
    try (var ng = GradMode.noGrad();
        Tensor b = src.expand(shape)) {
      backend().copy(b, this);
    }
    storage.bumpVersion();
    return this;
  }

  public Tensor addInPlace(Tensor other) {
    checkInPlace("addInPlace");
    ElementwiseOps.binaryInPlace(BinaryOp.ADD, this, other);
    storage.bumpVersion();
    return this;
  }

  public Tensor subInPlace(Tensor other) {
    checkInPlace("subInPlace");
    ElementwiseOps.binaryInPlace(BinaryOp.SUB, this, other);
    storage.bumpVersion();
    return this;
  }

  public Tensor mulInPlace(Tensor other) {
    checkInPlace("mulInPlace");
    ElementwiseOps.binaryInPlace(BinaryOp.MUL, this, other);
    storage.bumpVersion();
    return this;
  }

  public Tensor divInPlace(Tensor other) {
    checkInPlace("divInPlace");
    ElementwiseOps.binaryInPlace(BinaryOp.DIV, this, other);
    storage.bumpVersion();
    return this;
  }

  public Tensor addInPlace(double s) {
    checkInPlace("addInPlace");
    ElementwiseOps.binaryInPlace(BinaryOp.ADD, this, s);
    storage.bumpVersion();
    return this;
  }

  public Tensor mulInPlace(double s) {
    checkInPlace("mulInPlace");
    ElementwiseOps.binaryInPlace(BinaryOp.MUL, this, s);
    storage.bumpVersion();
    return this;
  }

  // ---------------------------------------------------------------- elementwise

  public Tensor neg() {
    return unaryOp(UnaryOp.NEG, 0, 0);
  }

  public Tensor abs() {
    return unaryOp(UnaryOp.ABS, 0, 0);
  }

  public Tensor exp() {
    return unaryOp(UnaryOp.EXP, 0, 0);
  }

  public Tensor log() {
    return unaryOp(UnaryOp.LOG, 0, 0);
  }

  public Tensor sqrt() {
    return unaryOp(UnaryOp.SQRT, 0, 0);
  }

  public Tensor rsqrt() {
    return unaryOp(UnaryOp.RSQRT, 0, 0);
  }

  public Tensor sin() {
    return unaryOp(UnaryOp.SIN, 0, 0);
  }

  public Tensor cos() {
    return unaryOp(UnaryOp.COS, 0, 0);
  }

  public Tensor tanh() {
    return unaryOp(UnaryOp.TANH, 0, 0);
  }

  public Tensor sigmoid() {
    return unaryOp(UnaryOp.SIGMOID, 0, 0);
  }

  public Tensor relu() {
    return unaryOp(UnaryOp.RELU, 0, 0);
  }

  /** Exact GELU: {@code x * Phi(x)}. */
  public Tensor gelu() {
    return unaryOp(UnaryOp.GELU, 0, 0);
  }

  /** GELU with the tanh approximation (PyTorch's {@code approximate="tanh"}). */
  public Tensor geluTanh() {
    return unaryOp(UnaryOp.GELU_TANH, 0, 0);
  }

  public Tensor silu() {
    return unaryOp(UnaryOp.SILU, 0, 0);
  }

  public Tensor square() {
    return unaryOp(UnaryOp.SQUARE, 0, 0);
  }

  public Tensor reciprocal() {
    return unaryOp(UnaryOp.RECIPROCAL, 0, 0);
  }

  public Tensor erf() {
    return unaryOp(UnaryOp.ERF, 0, 0);
  }

  public Tensor sign() {
    return unaryOp(UnaryOp.SIGN, 0, 0);
  }

  public Tensor logicalNot() {
    return unaryOp(UnaryOp.NOT, 0, 0);
  }

  /** {@code x^exponent}. */
  public Tensor pow(double exponent) {
    return unaryOp(UnaryOp.POW, exponent, 0);
  }

  /** Clamps into [min, max]; NaN means no bound on that side. */
  public Tensor clamp(double min, double max) {
    return unaryOp(UnaryOp.CLAMP, min, max);
  }

  public Tensor clampMin(double min) {
    return clamp(min, Double.NaN);
  }

  public Tensor clampMax(double max) {
    return clamp(Double.NaN, max);
  }

  public Tensor add(Tensor o) {
    return binaryOp(BinaryOp.ADD, o);
  }

  public Tensor add(double s) {
    return binaryOp(BinaryOp.ADD, s);
  }

  public Tensor sub(Tensor o) {
    return binaryOp(BinaryOp.SUB, o);
  }

  public Tensor sub(double s) {
    return binaryOp(BinaryOp.SUB, s);
  }

  public Tensor mul(Tensor o) {
    return binaryOp(BinaryOp.MUL, o);
  }

  public Tensor mul(double s) {
    return binaryOp(BinaryOp.MUL, s);
  }

  public Tensor div(Tensor o) {
    return binaryOp(BinaryOp.DIV, o);
  }

  public Tensor div(double s) {
    return binaryOp(BinaryOp.DIV, s);
  }

  public Tensor pow(Tensor exponent) {
    return binaryOp(BinaryOp.POW, exponent);
  }

  public Tensor maximum(Tensor o) {
    return binaryOp(BinaryOp.MAXIMUM, o);
  }

  public Tensor minimum(Tensor o) {
    return binaryOp(BinaryOp.MINIMUM, o);
  }

  public Tensor eq(Tensor o) {
    return binaryOp(BinaryOp.EQ, o);
  }

  public Tensor eq(double s) {
    return binaryOp(BinaryOp.EQ, s);
  }

  public Tensor ne(Tensor o) {
    return binaryOp(BinaryOp.NE, o);
  }

  public Tensor ne(double s) {
    return binaryOp(BinaryOp.NE, s);
  }

  public Tensor lt(Tensor o) {
    return binaryOp(BinaryOp.LT, o);
  }

  public Tensor lt(double s) {
    return binaryOp(BinaryOp.LT, s);
  }

  public Tensor le(Tensor o) {
    return binaryOp(BinaryOp.LE, o);
  }

  public Tensor le(double s) {
    return binaryOp(BinaryOp.LE, s);
  }

  public Tensor gt(Tensor o) {
    return binaryOp(BinaryOp.GT, o);
  }

  public Tensor gt(double s) {
    return binaryOp(BinaryOp.GT, s);
  }

  public Tensor ge(Tensor o) {
    return binaryOp(BinaryOp.GE, o);
  }

  public Tensor ge(double s) {
    return binaryOp(BinaryOp.GE, s);
  }

  public Tensor logicalAnd(Tensor o) {
    return binaryOp(BinaryOp.AND, o);
  }

  public Tensor logicalOr(Tensor o) {
    return binaryOp(BinaryOp.OR, o);
  }

  /** {@code cond ? a : b}, broadcasting all three. */
  public static Tensor where(Tensor cond, Tensor a, Tensor b) {
    Tensor out = ElementwiseOps.where(cond, a, b);
    return tracks(a) || tracks(b) ? recorded(new OpCall.Where(cond, a, b), out) : out;
  }

  // ---------------------------------------------------------------- reductions

  /** Sum of all elements (0-dim). */
  public Tensor sum() {
    return reduceOp(ReduceOp.SUM, null, false, 0);
  }

  public Tensor sum(int dim) {
    return reduceOp(ReduceOp.SUM, new int[] {dim}, false, 0);
  }

  public Tensor sum(int dim, boolean keepdim) {
    return reduceOp(ReduceOp.SUM, new int[] {dim}, keepdim, 0);
  }

  /** Sum over {@code dims} (empty: all). */
  public Tensor sum(int[] dims, boolean keepdim) {
    return reduceOp(ReduceOp.SUM, dims, keepdim, 0);
  }

  public Tensor mean() {
    return reduceOp(ReduceOp.MEAN, null, false, 0);
  }

  public Tensor mean(int dim) {
    return reduceOp(ReduceOp.MEAN, new int[] {dim}, false, 0);
  }

  public Tensor mean(int dim, boolean keepdim) {
    return reduceOp(ReduceOp.MEAN, new int[] {dim}, keepdim, 0);
  }

  public Tensor mean(int[] dims, boolean keepdim) {
    return reduceOp(ReduceOp.MEAN, dims, keepdim, 0);
  }

  public Tensor prod(int[] dims, boolean keepdim) {
    return reduceOp(ReduceOp.PROD, dims, keepdim, 0);
  }

  /** Largest element (0-dim). */
  public Tensor max() {
    return reduceOp(ReduceOp.MAX, null, false, 0);
  }

  /** Smallest element (0-dim). */
  public Tensor min() {
    return reduceOp(ReduceOp.MIN, null, false, 0);
  }

  /** Maximum values over {@code dims} (PyTorch's {@code amax}). */
  public Tensor amax(int[] dims, boolean keepdim) {
    return reduceOp(ReduceOp.MAX, dims, keepdim, 0);
  }

  public Tensor amax(int dim, boolean keepdim) {
    return amax(new int[] {dim}, keepdim);
  }

  /** Minimum values over {@code dims} (PyTorch's {@code amin}). */
  public Tensor amin(int[] dims, boolean keepdim) {
    return reduceOp(ReduceOp.MIN, dims, keepdim, 0);
  }

  public Tensor amin(int dim, boolean keepdim) {
    return amin(new int[] {dim}, keepdim);
  }

  /** Index of the largest element along {@code dim} (I64). */
  public Tensor argmax(int dim, boolean keepdim) {
    return ReductionOps.argReduce(true, this, dim, keepdim);
  }

  /** Index of the largest element of the flattened tensor (0-dim I64). */
  public Tensor argmax() {
    try (Tensor f = flatten()) {
      return ReductionOps.argReduce(true, f, 0, false);
    }
  }

  public Tensor argmin(int dim, boolean keepdim) {
    return ReductionOps.argReduce(false, this, dim, keepdim);
  }

  /** Variance over {@code dims} with Bessel-style {@code correction} (1 = unbiased). */
  public Tensor var(int[] dims, int correction, boolean keepdim) {
    return reduceOp(ReduceOp.VAR, dims, keepdim, correction);
  }

  /** Unbiased variance of all elements. */
  public Tensor var() {
    return var(null, 1, false);
  }

  public Tensor std(int[] dims, int correction, boolean keepdim) {
    return reduceOp(ReduceOp.STD, dims, keepdim, correction);
  }

  public Tensor std() {
    return std(null, 1, false);
  }

  /** L2 norm of all elements. */
  public Tensor norm() {
    return reduceOp(ReduceOp.NORM, null, false, 2);
  }

  /** p-norm over {@code dims} (p may be infinite). */
  public Tensor norm(double p, int[] dims, boolean keepdim) {
    return reduceOp(ReduceOp.NORM, dims, keepdim, p);
  }

  // ---------------------------------------------------------------- normalization, softmax

  public Tensor softmax(int dim) {
    Tensor out = NormOps.softmax(this, dim, false);
    return tracks(this) ? recorded(new OpCall.Softmax(this, dim, false), out) : out;
  }

  public Tensor logSoftmax(int dim) {
    Tensor out = NormOps.softmax(this, dim, true);
    return tracks(this) ? recorded(new OpCall.Softmax(this, dim, true), out) : out;
  }

  /** Layer norm over the trailing dims {@code normalizedShape}; weight and bias may be null. */
  public Tensor layerNorm(long[] normalizedShape, Tensor weight, Tensor bias, double eps) {
    if (!(tracks(this) || tracks(weight) || tracks(bias))) {
      return NormOps.layerNorm(this, normalizedShape, weight, bias, eps);
    }
    // Recorded: the rows' mean and rstd are kept for the fused backward.
    Tensor[] f = NormOps.layerNorm(this, normalizedShape, weight, bias, eps, true);
    try (Tensor mean = f[1];
        Tensor rstd = f[2]) {
      return recorded(
          new OpCall.LayerNorm(this, normalizedShape.clone(), weight, bias, eps, mean, rstd), f[0]);
    }
  }

  /** RMS norm over the trailing dims {@code normalizedShape}; weight may be null. */
  public Tensor rmsNorm(long[] normalizedShape, Tensor weight, double eps) {
    if (!(tracks(this) || tracks(weight)))
      return NormOps.rmsNorm(this, normalizedShape, weight, eps);
    Tensor[] f = NormOps.rmsNorm(this, normalizedShape, weight, eps, true);
    try (Tensor rstd = f[1]) {
      return recorded(new OpCall.RmsNorm(this, normalizedShape.clone(), weight, eps, rstd), f[0]);
    }
  }

  /**
   * Applies rotary position embedding: pairs of the last dim rotated by angles given as cos/sin
   * (broadcastable to this shape with last dim D/2). Interleaved pairs (2i, 2i+1) as in Wan; else
   * halves (i, i+D/2).
   */
  public Tensor rotary(Tensor cos, Tensor sin, boolean interleaved) {
    Tensor out = NormOps.rotary(this, cos, sin, interleaved);
    return tracks(this) ? recorded(new OpCall.Rotary(this, cos, sin, interleaved), out) : out;
  }

  // ---------------------------------------------------------------- linear algebra, attention

  /** Matrix product with PyTorch's {@code matmul} rules (1-d operands, broadcast batch dims). */
  public Tensor matmul(Tensor other) {
    Tensor out = LinalgOps.matmul(this, other);
    return tracks(this) || tracks(other) ? recorded(new OpCall.Matmul(this, other), out) : out;
  }

  /** Batched matrix product of two rank-3 tensors with equal batch size. */
  public Tensor bmm(Tensor other) {
    Tensor out = LinalgOps.bmm(this, other);
    return tracks(this) || tracks(other) ? recorded(new OpCall.Matmul(this, other), out) : out;
  }

  /**
   * 3-d convolution, PyTorch's {@code F.conv3d} (cross-correlation, zero padding, dilation 1,
   * groups 1): this input [B, C, D, H, W] (or unbatched [C, D, H, W]) with {@code weight} [K, C,
   * kd, kh, kw] and {@code bias} [K] (nullable), all of one floating dtype, gives [B, K, Do, Ho,
   * Wo] with {@code Do = (D + 2 padding[0] - kd) / stride[0] + 1} (floor), likewise for H and W.
   * The result is channels-last in memory ({@code flatten(2, -1).transpose(1, 2)} to tokens is a
   * view). Gradients: {@link Convolution}.
   */
  public Tensor conv3d(Tensor weight, Tensor bias, long[] stride, long[] padding) {
    Tensor out = ConvOps.conv3d(this, weight, bias, stride, padding);
    return tracks(this) || tracks(weight) || tracks(bias)
        ? recorded(new OpCall.Conv3d(this, weight, bias, stride.clone(), padding.clone()), out)
        : out;
  }

  /**
   * PyTorch's {@code torch.nn.functional.linear}: {@code this [..., in] @ weight[out, in]^T + bias}
   * -> {@code [..., out]}; {@code bias} ([out]) may be null. One fused backend call (the bias is
   * added in the GEMM's store), giving the bits of {@code matmul(weight.mT()).add(bias)} for F32 on
   * the CPU.
   */
  public Tensor linear(Tensor weight, Tensor bias) {
    return linear(weight, bias, Epilogue.NONE);
  }

  /**
   * {@link #linear(Tensor, Tensor)} followed by {@code epilogue} ({@link Epilogue#GELU_TANH}:
   * {@code gelu(..., approximate="tanh")}, as Wan's feed-forward), fused into the product's store.
   * While recording it stays one op: the store also keeps the pre-activation {@code x W^T + b}
   * (cuBLASLt's {@code GELU_AUX_BIAS}) for the backward; on the CPU the result is the activation of
   * those kept values, so it and the gradients have the bits of {@code linear(weight,
   * bias).geluTanh()}.
   */
  public Tensor linear(Tensor weight, Tensor bias, Epilogue epilogue) {
    if (!(tracks(this) || tracks(weight) || tracks(bias))) {
      return LinalgOps.linear(this, weight, bias, epilogue);
    }
    LinalgOps.Activated a = LinalgOps.linear(this, weight, bias, epilogue, true);
    try (Tensor pre = a.pre()) {
      return recorded(new OpCall.Linear(this, weight, bias, epilogue, pre), a.out());
    }
  }

  /**
   * Fused scaled dot-product attention: {@code softmax(q k^T * scale + mask) v} over q [..., Sq,
   * D], k [..., Sk, D], v [..., Sk, Dv], computed blockwise without an Sq x Sk matrix.
   */
  public static Tensor scaledDotProductAttention(
      Tensor q, Tensor k, Tensor v, AttentionMask mask, double scale) {
    if (!(tracks(q) || tracks(k) || tracks(v))) return AttentionOps.sdpa(q, k, v, mask, scale);
    // Recorded: the rows' log-sum-exp is kept for the backward, so it need not rerun the forward.
    Tensor[] f = AttentionOps.forward(q, k, v, mask, scale, true);
    try (Tensor lse = f[1]) {
      return recorded(new OpCall.Attention(q, k, v, mask, scale, lse), f[0]);
    }
  }

  /** As above with {@code scale = 1/sqrt(D)}. */
  public static Tensor scaledDotProductAttention(Tensor q, Tensor k, Tensor v, AttentionMask mask) {
    return scaledDotProductAttention(q, k, v, mask, 1.0 / Math.sqrt(q.size(-1)));
  }

  // ---------------------------------------------------------------- indexing, joining

  public Tensor indexSelect(int dim, Tensor index) {
    Tensor out = IndexOps.indexSelect(this, dim, index);
    return tracks(this) ? recorded(new OpCall.IndexSelect(this, dim, index), out) : out;
  }

  public Tensor gather(int dim, Tensor index) {
    Tensor out = IndexOps.gather(this, dim, index);
    return tracks(this) ? recorded(new OpCall.Gather(this, dim, index), out) : out;
  }

  /** Out of place: a copy of this with {@code src} added at {@code index} along {@code dim}. */
  public Tensor scatterAdd(int dim, Tensor index, Tensor src) {
    Tensor out = IndexOps.scatterAdd(this, dim, index, src, false);
    return tracks(this) || tracks(src)
        ? recorded(new OpCall.ScatterAdd(this, dim, index, src), out)
        : out;
  }

  /** In place: adds {@code src} into this at {@code index} along {@code dim}; returns this. */
  public Tensor scatterAddInPlace(int dim, Tensor index, Tensor src) {
    checkInPlace("scatterAddInPlace");
    IndexOps.scatterAdd(this, dim, index, src, true);
    storage.bumpVersion();
    return this;
  }

  /** Concatenates along {@code dim}. */
  public static Tensor cat(List<Tensor> tensors, int dim) {
    Tensor out = ShapeOps.cat(tensors, dim);
    boolean any = false;
    for (Tensor t : tensors) any |= tracks(t);
    return any ? recorded(new OpCall.Cat(List.copyOf(tensors), dim), out) : out;
  }

  /** Stacks along a new dim {@code dim}. */
  public static Tensor stack(List<Tensor> tensors, int dim) {
    if (tensors.isEmpty())
      throw new IllegalArgumentException("stack: expected at least one tensor");
    int d = Shapes.normalizeDim("stack", dim, tensors.get(0).dim() + 1);
    List<Tensor> views = new ArrayList<>(tensors.size());
    try {
      for (int i = 0; i < tensors.size(); i++) {
        Tensor t = tensors.get(i);
        if (!Arrays.equals(t.shape, tensors.get(0).shape)) {
          throw new IllegalArgumentException(
              "stack: tensor "
                  + i
                  + " "
                  + t.describe()
                  + " differs in shape from tensor 0 "
                  + tensors.get(0).describe());
        }
        views.add(t.unsqueeze(d));
      }
      return cat(views, d);
    } finally {
      for (Tensor v : views) v.close();
    }
  }

  /** Views of {@code splitSize} elements along {@code dim} (the last may be smaller). */
  public List<Tensor> split(long splitSize, int dim) {
    return ShapeOps.split(this, splitSize, dim);
  }

  /** Views with the given sizes along {@code dim}. */
  public List<Tensor> split(long[] sizes, int dim) {
    return ShapeOps.split(this, sizes, dim);
  }

  /** {@code chunks} views along {@code dim}, as PyTorch's {@code chunk}. */
  public List<Tensor> chunk(int chunks, int dim) {
    return ShapeOps.chunk(this, chunks, dim);
  }

  // ---------------------------------------------------------------- autograd

  /** True when ops on this tensor are recorded for backward. */
  public boolean requiresGrad() {
    return requiresGrad;
  }

  /**
   * Marks a floating-point leaf as needing gradients (PyTorch's {@code requires_grad_}); returns
   * this. Tensors computed from it require grad by construction and cannot be changed.
   */
  public Tensor requiresGrad(boolean on) {
    if (gradFn != null) {
      throw new IllegalStateException(
          "requiresGrad: "
              + describe()
              + " was computed by "
              + gradFn.name()
              + "; only leaf tensors can change it (use detach())");
    }
    if (on && !dtype.isFloatingPoint()) {
      throw new IllegalArgumentException(
          "requiresGrad: only floating-point tensors can require grad, got " + describe());
    }
    requiresGrad = on;
    return this;
  }

  /** The accumulated gradient of a leaf (null before the first backward or after zeroGrad). */
  public Tensor grad() {
    return grad;
  }

  /**
   * Replaces the gradient (closing the previous one); the tensor takes ownership of {@code g}. For
   * the autograd engine and for optimizers that rewrite gradients.
   */
  public void setGrad(Tensor g) {
    if (g != null && !Arrays.equals(g.shape, shape)) {
      throw new IllegalArgumentException(
          "setGrad: gradient " + g.describe() + " does not match " + describe());
    }
    if (grad != null && grad != g) grad.close();
    grad = g;
  }

  /** Drops the gradient (PyTorch's {@code zero_grad(set_to_none=True)}). */
  public void zeroGrad() {
    setGrad(null);
  }

  /** The op that computed this tensor, or null for a leaf. */
  public GradNode gradFn() {
    return gradFn;
  }

  /** True when no recorded op produced this tensor. */
  public boolean isLeaf() {
    return gradFn == null;
  }

  /** Called by the autograd engine only: {@code node} computed this tensor. */
  public void attachGradFn(GradNode node) {
    if (gradFn != null)
      throw new IllegalStateException("attachGradFn: " + describe() + " already has one");
    node.retain();
    gradFn = node;
    requiresGrad = true;
  }

  /** A view of the same data that is cut off from the graph (no grad, no history). */
  public Tensor detach() {
    return view(shape.clone(), strides.clone(), offset);
  }

  /** Back-propagates from this one-element tensor (e.g. a loss). */
  public void backward() {
    if (numel() != 1) {
      throw new IllegalArgumentException(
          "backward: gradient can be implicitly created only for a one-element tensor, got "
              + describe()
              + "; pass a gradient");
    }
    backward(null, false);
  }

  /** Back-propagates {@code gradOutput} (this tensor's shape) from this tensor. */
  public void backward(Tensor gradOutput) {
    backward(gradOutput, false);
  }

  /**
   * Back-propagates; with {@code retainGraph} the saved tensors are kept for another backward, else
   * they are released as soon as each node has run.
   */
  public void backward(Tensor gradOutput, boolean retainGraph) {
    checkOpen("backward");
    if (!requiresGrad) {
      throw new IllegalStateException(
          "backward: " + describe() + " does not require grad and has no grad_fn");
    }
    Autograd.engine().backward(this, gradOutput, retainGraph);
  }

  private static boolean tracks(Tensor t) {
    return t != null && t.requiresGrad && GradMode.isEnabled();
  }

  private static Tensor recorded(OpCall call, Tensor out) {
    if (out.dtype.isFloatingPoint()) Autograd.engine().record(call, out);
    return out;
  }

  private Tensor asReshapeOf(Tensor out) {
    return tracks(this) ? recorded(new OpCall.Reshape(this), out) : out;
  }

  private void checkInPlace(String op) {
    checkOpen(op);
    if (requiresGrad && GradMode.isEnabled()) {
      throw new IllegalStateException(
          op
              + ": in-place update of "
              + describe()
              + ", which requires grad, while gradients are recorded; do it inside"
              + " GradMode.noGrad() or on a detached tensor");
    }
  }

  private Tensor unaryOp(UnaryOp op, double p1, double p2) {
    Tensor out = ElementwiseOps.unary(op, this, p1, p2);
    return tracks(this) ? recorded(new OpCall.Unary(op, this, p1, p2), out) : out;
  }

  private Tensor binaryOp(BinaryOp op, Tensor o) {
    Tensor out = ElementwiseOps.binary(op, this, o);
    return (tracks(this) || tracks(o)) && !op.isComparison()
        ? recorded(new OpCall.Binary(op, this, o), out)
        : out;
  }

  private Tensor binaryOp(BinaryOp op, double s) {
    Tensor out = ElementwiseOps.binary(op, this, s);
    return tracks(this) && !op.isComparison()
        ? recorded(new OpCall.BinaryScalar(op, this, s), out)
        : out;
  }

  private Tensor reduceOp(ReduceOp op, int[] dims, boolean keepdim, double param) {
    Tensor out =
        switch (op) {
          case VAR -> ReductionOps.var(this, dims, (int) param, keepdim);
          case STD -> ReductionOps.std(this, dims, (int) param, keepdim);
          case NORM -> ReductionOps.norm(this, param, dims, keepdim);
          default -> ReductionOps.reduce(op, this, dims, keepdim);
        };
    if (!tracks(this)) return out;
    int[] norm =
        Shapes.normalizeDims(op.name().toLowerCase(java.util.Locale.ROOT), dims, shape.length);
    return recorded(new OpCall.Reduce(op, this, norm, keepdim, param), out);
  }
}
