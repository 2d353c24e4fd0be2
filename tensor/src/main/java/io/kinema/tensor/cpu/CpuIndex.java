package io.kinema.tensor.cpu;

import io.kinema.tensor.DType;
import io.kinema.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * index_select, gather and scatter_add over any dtype and any strides. Elements are moved as raw
 * bits (input and output share a dtype), so one loop serves every dtype; scatter_add adds per
 * dtype. Index values are range-checked as they are read; a bad one throws {@link
 * IndexOutOfBoundsException} naming the op, the value and the dim's size.
 */
final class CpuIndex {
  private CpuIndex() {}

  /** Contiguous inner slices at least this long are copied as blocks. */
  private static final long BLOCK_MIN = 16;

  static void indexSelect(Tensor x, int dim, Tensor index, Tensor out) {
    String op = "indexSelect";
    int rank = out.dim();
    long[] shape = out.shape(), xs = x.strides(), os = out.strides();
    int es = x.dtype().byteSize();
    long inner = 1;
    for (int i = dim + 1; i < rank; i++) inner *= shape[i];
    if (inner >= BLOCK_MIN && contiguousFrom(x, dim + 1) && contiguousFrom(out, dim + 1)) {
      // Each (outer..., p) copies one contiguous slice x[..., index[p], :] -> out[..., p, :].
      long[] outer = new long[dim + 1];
      long[][] st = new long[3][dim + 1];
      for (int i = 0; i <= dim; i++) {
        outer[i] = shape[i];
        st[0][i] = i == dim ? 0 : xs[i];
        st[1][i] = i == dim ? index.stride(0) : 0;
        st[2][i] = os[i];
      }
      MemorySegment xSeg = x.storage().segment(), oSeg = out.storage().segment();
      MemorySegment iSeg = index.storage().segment();
      boolean i64 = index.dtype() == DType.I64;
      long xDimStride = xs[dim], xDimSize = x.size(dim);
      long bytes = inner * es;
      StridedLoop.forEach(
          outer,
          st,
          new long[] {x.offset(), index.offset(), out.offset()},
          Math.max(1, StridedLoop.GRAIN / inner),
          (offs, s, n) -> {
            for (long e = 0; e < n; e++) {
              long idx = readIndex(op, iSeg, i64, offs[1] + e * s[1], dim, xDimSize);
              MemorySegment.copy(
                  xSeg,
                  (offs[0] + e * s[0] + idx * xDimStride) * es,
                  oSeg,
                  (offs[2] + e * s[2]) * es,
                  bytes);
            }
          });
      return;
    }
    // General strides: an element-wise gather with the index seen along dim only (stride 0
    // elsewhere), i.e. index_select(x, dim, i) == gather(x, dim, i broadcast to out's shape).
    long[] iSt = new long[rank];
    iSt[dim] = index.stride(0);
    gather(op, x, dim, index.storage().segment(), index.dtype(), index.offset(), iSt, out);
  }

  static void gather(Tensor x, int dim, Tensor index, Tensor out) {
    gather(
        "gather",
        x,
        dim,
        index.storage().segment(),
        index.dtype(),
        index.offset(),
        index.strides(),
        out);
  }

  /** {@code out[c] = x[c with c[dim] = index[c]]} for every coordinate c of out. */
  private static void gather(
      String op,
      Tensor x,
      int dim,
      MemorySegment iSeg,
      DType iType,
      long iOff,
      long[] iSt,
      Tensor out) {
    long[] xSt = x.strides();
    long xDimStride = xSt[dim], xDimSize = x.size(dim);
    xSt[dim] = 0; // the index supplies the position along dim
    MemorySegment xSeg = x.storage().segment(), oSeg = out.storage().segment();
    boolean i64 = iType == DType.I64;
    int es = x.dtype().byteSize();
    StridedLoop.forEach(
        out.shape(),
        new long[][] {xSt, iSt, out.strides()},
        new long[] {x.offset(), iOff, out.offset()},
        (offs, s, n) -> {
          for (long e = 0; e < n; e++) {
            long idx = readIndex(op, iSeg, i64, offs[1] + e * s[1], dim, xDimSize);
            copyElement(xSeg, offs[0] + e * s[0] + idx * xDimStride, oSeg, offs[2] + e * s[2], es);
          }
        });
  }

  /**
   * {@code self[c with c[dim] = index[c]] += src[c]} for every coordinate c of index (src has
   * index's shape). Two coordinates can only hit the same element of self when they differ in dim
   * alone, so each line along dim is one sequential task, walked in order: race-free and the same
   * sums in the same order every run. All indices are checked before anything is written, so a bad
   * index leaves self untouched.
   */
  static void scatterAdd(Tensor self, int dim, Tensor index, Tensor src) {
    String op = "scatterAdd";
    MemorySegment iSeg = index.storage().segment();
    boolean i64 = index.dtype() == DType.I64;
    long selfDimSize = self.size(dim);
    StridedLoop.forEach(
        index.shape(),
        new long[][] {index.strides()},
        new long[] {index.offset()},
        (offs, s, n) -> {
          for (long e = 0; e < n; e++)
            readIndex(op, iSeg, i64, offs[0] + e * s[0], dim, selfDimSize);
        });

    long[] lines = index.shape();
    long len = lines[dim];
    lines[dim] = 1;
    long[] selfSt = self.strides(), iSt = index.strides(), srcSt = src.strides();
    long selfDimStride = selfSt[dim], iDimStride = iSt[dim], srcDimStride = srcSt[dim];
    selfSt[dim] = 0;
    MemorySegment dSeg = self.storage().segment(), sSeg = src.storage().segment();
    DType t = self.dtype();
    StridedLoop.forEach(
        lines,
        new long[][] {selfSt, iSt, srcSt},
        new long[] {self.offset(), index.offset(), src.offset()},
        Math.max(1, StridedLoop.GRAIN / Math.max(1, len)),
        (offs, s, n) -> {
          for (long e = 0; e < n; e++) {
            long base = offs[0] + e * s[0], ib = offs[1] + e * s[1], sb = offs[2] + e * s[2];
            for (long k = 0; k < len; k++) {
              long idx = readIndex(iSeg, i64, ib + k * iDimStride);
              addElement(t, dSeg, base + idx * selfDimStride, sSeg, sb + k * srcDimStride);
            }
          }
        });
  }

  // ------------------------------------------------------------------ elements

  private static long readIndex(MemorySegment seg, boolean i64, long at) {
    return i64
        ? seg.getAtIndex(ValueLayout.JAVA_LONG, at)
        : seg.getAtIndex(ValueLayout.JAVA_INT, at);
  }

  private static long readIndex(
      String op, MemorySegment seg, boolean i64, long at, int dim, long size) {
    long idx = readIndex(seg, i64, at);
    if (idx < 0 || idx >= size) {
      throw new IndexOutOfBoundsException(
          op + ": index " + idx + " is out of bounds for dim " + dim + " with size " + size);
    }
    return idx;
  }

  /** Copies one element of {@code bytes} bytes (element indices, not byte offsets). */
  private static void copyElement(
      MemorySegment src, long si, MemorySegment dst, long di, int bytes) {
    switch (bytes) {
      case 8 ->
          dst.setAtIndex(ValueLayout.JAVA_LONG, di, src.getAtIndex(ValueLayout.JAVA_LONG, si));
      case 4 -> dst.setAtIndex(ValueLayout.JAVA_INT, di, src.getAtIndex(ValueLayout.JAVA_INT, si));
      case 2 ->
          dst.setAtIndex(ValueLayout.JAVA_SHORT, di, src.getAtIndex(ValueLayout.JAVA_SHORT, si));
      default -> dst.set(ValueLayout.JAVA_BYTE, di, src.get(ValueLayout.JAVA_BYTE, si));
    }
  }

  /** {@code dst[di] += src[si]} in dtype t (BOOL: or; integers wrap; halves round once). */
  private static void addElement(DType t, MemorySegment dst, long di, MemorySegment src, long si) {
    switch (t) {
      case F64 ->
          dst.setAtIndex(
              ValueLayout.JAVA_DOUBLE,
              di,
              dst.getAtIndex(ValueLayout.JAVA_DOUBLE, di)
                  + src.getAtIndex(ValueLayout.JAVA_DOUBLE, si));
      case F32 ->
          dst.setAtIndex(
              ValueLayout.JAVA_FLOAT,
              di,
              dst.getAtIndex(ValueLayout.JAVA_FLOAT, di)
                  + src.getAtIndex(ValueLayout.JAVA_FLOAT, si));
      case BF16 ->
          dst.setAtIndex(
              ValueLayout.JAVA_SHORT,
              di,
              Half.floatToBf16(
                  Half.bf16ToFloat(dst.getAtIndex(ValueLayout.JAVA_SHORT, di))
                      + Half.bf16ToFloat(src.getAtIndex(ValueLayout.JAVA_SHORT, si))));
      case F16 ->
          dst.setAtIndex(
              ValueLayout.JAVA_SHORT,
              di,
              Half.floatToF16(
                  Half.f16ToFloat(dst.getAtIndex(ValueLayout.JAVA_SHORT, di))
                      + Half.f16ToFloat(src.getAtIndex(ValueLayout.JAVA_SHORT, si))));
      case I64 ->
          dst.setAtIndex(
              ValueLayout.JAVA_LONG,
              di,
              dst.getAtIndex(ValueLayout.JAVA_LONG, di)
                  + src.getAtIndex(ValueLayout.JAVA_LONG, si));
      case I32 ->
          dst.setAtIndex(
              ValueLayout.JAVA_INT,
              di,
              dst.getAtIndex(ValueLayout.JAVA_INT, di) + src.getAtIndex(ValueLayout.JAVA_INT, si));
      case U8 ->
          dst.set(
              ValueLayout.JAVA_BYTE,
              di,
              (byte) (dst.get(ValueLayout.JAVA_BYTE, di) + src.get(ValueLayout.JAVA_BYTE, si)));
      case BOOL ->
          dst.set(
              ValueLayout.JAVA_BYTE,
              di,
              (byte)
                  ((dst.get(ValueLayout.JAVA_BYTE, di) | src.get(ValueLayout.JAVA_BYTE, si)) != 0
                      ? 1
                      : 0));
    }
  }

  /** True when dims {@code from..} of t are laid out row-major without gaps. */
  private static boolean contiguousFrom(Tensor t, int from) {
    long[] sh = t.shape(), st = t.strides();
    long expected = 1;
    for (int d = sh.length - 1; d >= from; d--) {
      if (sh[d] == 1) continue;
      if (st[d] != expected) return false;
      expected *= sh[d];
    }
    return true;
  }
}
