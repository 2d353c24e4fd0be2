package io.kinema.tensor.cuda;

import static io.kinema.tensor.cuda.DeviceTensors.address;

import io.kinema.ffi.cuda.CudaDriver;
import io.kinema.tensor.DType;
import io.kinema.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * index_select, gather and scatter_add on CUDA: {@code index.cu}'s kernels over the operands' fused
 * {@link StridedLayout}, any dtype, any strides, I64 or I32 indices, with the CPU backend's
 * semantics. index_select is a gather whose index varies along {@code dim} only (stride 0
 * elsewhere), as on the CPU.
 *
 * <p>scatter_add gives one thread each line along {@code dim} (a coordinate of the other dims),
 * which adds its sources in increasing position, the CPU's order: results equal the CPU's bit for
 * bit in every dtype, without atomics. The parallelism is the number of lines: the embedding
 * backward (a {@code [N, D]} gradient into a {@code [V, D]} table along dim 0) runs {@code D}
 * threads of {@code N} steps each.
 *
 * <p><b>Range check.</b> The kernels never follow an index outside {@code [0, size)}; they set a
 * flag in a 4-byte device buffer, which the host reads after the launches. So every call ends with
 * one 4-byte device-to-host copy and waits for the work queued before it (like {@code item()}).
 * When the flag is set, the index is copied to the host and its first bad value in row-major order
 * is reported with the CPU's {@link IndexOutOfBoundsException} and message. scatter_add checks
 * every index (a launch of its own) before it adds anything, so a bad index leaves {@code self}
 * untouched, as on the CPU.
 */
final class CudaIndex {
  private final CudaKernels kernels;
  private final CudaDevice device;
  private final PinnedStaging staging;

  CudaIndex(CudaKernels kernels, CudaDevice device, PinnedStaging staging) {
    this.kernels = kernels;
    this.device = device;
    this.staging = staging;
  }

  void indexSelect(Tensor x, int dim, Tensor index, Tensor out) {
    long[] indexStrides = new long[out.dim()];
    indexStrides[dim] = index.stride(0);
    gather("indexSelect", x, dim, index, indexStrides, out);
  }

  void gather(Tensor x, int dim, Tensor index, Tensor out) {
    gather("gather", x, dim, index, index.strides(), out);
  }

  /** {@code out[c] = x[c with c[dim] = index[c]]}; the index seen with strides {@code iSt}. */
  private void gather(String op, Tensor x, int dim, Tensor index, long[] iSt, Tensor out) {
    long[] xSt = x.strides();
    long xDimStride = xSt[dim], size = x.size(dim);
    xSt[dim] = 0; // the index supplies the position along dim
    StridedLayout l = StridedLayout.of(out.shape(), xSt, iSt, out.strides());
    try (Tensor bad = newFlag(x)) {
      l.forEachLaunch(
          (offs, p) ->
              kernels.launch(
                  "kinema_gather",
                  kernels.gridStride(p.numel()),
                  address(x, offs[0]),
                  p.stridesStruct(0),
                  xDimStride,
                  size,
                  address(index, offs[1]),
                  index.dtype().ordinal(),
                  p.stridesStruct(1),
                  address(out, offs[2]),
                  p.stridesStruct(2),
                  p.shapeStruct(),
                  p.numel(),
                  x.dtype().byteSize(),
                  address(bad)));
      if (isSet(bad)) throw outOfRange(op, index, dim, size);
    }
  }

  /**
   * {@code self[c with c[dim] = index[c]] += src[c]} for every coordinate c of index: a check of
   * every index, then a thread per line along dim.
   */
  void scatterAdd(Tensor self, int dim, Tensor index, Tensor src) {
    long size = self.size(dim);
    int indexType = index.dtype().ordinal();
    try (Tensor bad = newFlag(self)) {
      StridedLayout.of(index.shape(), index.strides())
          .forEachLaunch(
              (offs, p) ->
                  kernels.launch(
                      "kinema_index_check",
                      kernels.gridStride(p.numel()),
                      address(index, offs[0]),
                      indexType,
                      p.stridesStruct(0),
                      p.shapeStruct(),
                      p.numel(),
                      size,
                      address(bad)));

      long[] lines = index.shape();
      long len = lines[dim];
      lines[dim] = 1; // a line's positions along dim are its thread's loop
      long[] selfSt = self.strides(), iSt = index.strides(), srcSt = src.strides();
      long selfDimStride = selfSt[dim], iDimStride = iSt[dim], srcDimStride = srcSt[dim];
      StridedLayout.of(lines, selfSt, iSt, srcSt)
          .forEachLaunch(
              (offs, p) ->
                  kernels.launch(
                      "kinema_scatter_add",
                      kernels.gridStride(p.numel()),
                      address(self, offs[0]),
                      p.stridesStruct(0),
                      selfDimStride,
                      address(index, offs[1]),
                      indexType,
                      p.stridesStruct(1),
                      iDimStride,
                      address(src, offs[2]),
                      p.stridesStruct(2),
                      srcDimStride,
                      p.shapeStruct(),
                      p.numel(),
                      len,
                      self.dtype().ordinal(),
                      address(bad)));
      if (isSet(bad)) throw outOfRange("scatterAdd", index, dim, size);
    }
  }

  // ---------------------------------------------------------------- the range flag

  /** A zeroed 4-byte device flag on {@code like}'s device (queued: stream order). */
  private Tensor newFlag(Tensor like) {
    Tensor flag = DeviceTensors.empty(DType.I32, like, 1);
    CudaDriver.memsetD32Async(address(flag), 0, 1, device.stream().handle());
    return flag;
  }

  /** Reads the flag: waits for the work queued so far. */
  private boolean isSet(Tensor flag) {
    int[] host = new int[1];
    staging.toHost(address(flag), MemorySegment.ofArray(host), 0, ValueLayout.JAVA_INT.byteSize());
    return host[0] != 0;
  }

  /**
   * The CPU's exception for the first index of {@code index} (row-major) outside {@code [0, size)}:
   * copies the index to the host, which only an error pays for.
   */
  private static IndexOutOfBoundsException outOfRange(String op, Tensor index, int dim, long size) {
    for (long idx : index.toLongArray()) {
      if (idx < 0 || idx >= size) {
        return new IndexOutOfBoundsException(
            op + ": index " + idx + " is out of bounds for dim " + dim + " with size " + size);
      }
    }
    throw new IllegalStateException(
        op + ": the kernel flagged an index that the host finds in range");
  }
}
