package io.kinema.tensor.cpu;

import io.kinema.tensor.AttentionMask;
import io.kinema.tensor.Device;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.backend.AdamwScalars;
import io.kinema.tensor.backend.Backend;
import io.kinema.tensor.backend.BinaryOp;
import io.kinema.tensor.backend.ComposedConv3d;
import io.kinema.tensor.backend.Epilogue;
import io.kinema.tensor.backend.MemoryStats;
import io.kinema.tensor.backend.RandomKind;
import io.kinema.tensor.backend.ReduceOp;
import io.kinema.tensor.backend.Storage;
import io.kinema.tensor.backend.UnaryOp;
import java.lang.foreign.MemorySegment;

/**
 * The host backend: Vector API kernels on the shared thread pool. Each primitive lives in the
 * kernel class of its family; this class only routes.
 */
public final class CpuBackend implements Backend {
  public static final CpuBackend INSTANCE = new CpuBackend();

  private CpuBackend() {}

  @Override
  public Device device() {
    return Device.CPU;
  }

  @Override
  public Storage allocate(long bytes) {
    return CpuAllocator.get().allocate(bytes);
  }

  @Override
  public MemoryStats memoryStats() {
    return CpuAllocator.get().stats();
  }

  @Override
  public void emptyCache() {
    CpuAllocator.get().emptyCache();
  }

  @Override
  public void transfer(Tensor src, Tensor dst) {
    long bytes = src.numel() * src.dtype().byteSize();
    MemorySegment.copy(
        src.storage().segment(),
        src.offset() * src.dtype().byteSize(),
        dst.storage().segment(),
        dst.offset() * dst.dtype().byteSize(),
        bytes);
  }

  @Override
  public void copy(Tensor src, Tensor dst) {
    CpuElementwise.copy(src, dst);
  }

  @Override
  public void fill(Tensor dst, double value) {
    CpuElementwise.fill(dst, value);
  }

  @Override
  public void unary(UnaryOp op, Tensor x, Tensor out, double p1, double p2) {
    CpuElementwise.unary(op, x, out, p1, p2);
  }

  @Override
  public void binary(BinaryOp op, Tensor a, Tensor b, Tensor out) {
    CpuElementwise.binary(op, a, b, out);
  }

  @Override
  public void where(Tensor cond, Tensor a, Tensor b, Tensor out) {
    CpuElementwise.where(cond, a, b, out);
  }

  @Override
  public void reduce(ReduceOp op, Tensor x, int[] dims, double param, Tensor out) {
    CpuReduce.reduce(op, x, dims, param, out);
  }

  @Override
  public void argReduce(boolean max, Tensor x, int dim, Tensor out) {
    CpuReduce.argReduce(max, x, dim, out);
  }

  @Override
  public void matmul(Tensor a, Tensor b, Tensor out) {
    CpuMatmul.matmul(a, b, out);
  }

  @Override
  public void linear(
      Tensor x, Tensor weight, Tensor bias, Epilogue epilogue, Tensor out, Tensor preActivation) {
    CpuMatmul.linear(x, weight, bias, epilogue, out, preActivation);
  }

  @Override
  public void linearBackwardWeight(Tensor g, Tensor x, Tensor gradWeight, Tensor gradBias) {
    CpuMatmul.linearBackwardWeight(g, x, gradWeight, gradBias);
  }

  @Override
  public void softmax(Tensor x, int dim, boolean log, Tensor out) {
    CpuNorm.softmax(x, dim, log, out);
  }

  @Override
  public void layerNorm(
      Tensor x,
      int normalizedDims,
      Tensor weight,
      Tensor bias,
      double eps,
      Tensor out,
      Tensor meanOut,
      Tensor rstdOut) {
    CpuNorm.layerNorm(x, normalizedDims, weight, bias, eps, out, meanOut, rstdOut);
  }

  @Override
  public void rmsNorm(
      Tensor x, int normalizedDims, Tensor weight, double eps, Tensor out, Tensor rstdOut) {
    CpuNorm.rmsNorm(x, normalizedDims, weight, eps, out, rstdOut);
  }

  @Override
  public void rotary(Tensor x, Tensor cos, Tensor sin, boolean interleaved, Tensor out) {
    CpuNorm.rotary(x, cos, sin, interleaved, out);
  }

  @Override
  public void geluTanhBackward(Tensor gradOut, Tensor x, Tensor gradX) {
    CpuGeluBackward.geluTanh(gradOut, x, gradX);
  }

  @Override
  public void softmaxBackward(Tensor y, Tensor gradOut, int dim, boolean log, Tensor gradX) {
    CpuNormBackward.softmax(y, gradOut, dim, log, gradX);
  }

  @Override
  public void layerNormBackward(
      Tensor gradOut,
      Tensor x,
      int normalizedDims,
      Tensor weight,
      Tensor mean,
      Tensor rstd,
      Tensor gradX,
      Tensor gradWeight,
      Tensor gradBias) {
    CpuNormBackward.normBackward(
        gradOut, x, normalizedDims, weight, mean, rstd, gradX, gradWeight, gradBias);
  }

  @Override
  public void rmsNormBackward(
      Tensor gradOut,
      Tensor x,
      int normalizedDims,
      Tensor weight,
      Tensor rstd,
      Tensor gradX,
      Tensor gradWeight) {
    CpuNormBackward.normBackward(
        gradOut, x, normalizedDims, weight, null, rstd, gradX, gradWeight, null);
  }

  @Override
  public boolean adamwStep(
      Tensor param, Tensor grad, Tensor expAvg, Tensor expAvgSq, AdamwScalars s) {
    if (!CpuAdamw.applies(param, grad, expAvg, expAvgSq)) return false;
    CpuAdamw.step(param, grad, expAvg, expAvgSq, s);
    return true;
  }

  @Override
  public void attention(
      Tensor q, Tensor k, Tensor v, AttentionMask mask, double scale, Tensor out, Tensor lseOut) {
    CpuAttention.attention(q, k, v, mask, scale, out, lseOut);
  }

  @Override
  public void attentionBackward(
      Tensor q,
      Tensor k,
      Tensor v,
      Tensor out,
      Tensor lse,
      Tensor gradOut,
      AttentionMask mask,
      double scale,
      Tensor gradQ,
      Tensor gradK,
      Tensor gradV) {
    AttentionBackward.run(q, k, v, out, lse, gradOut, mask, scale, gradQ, gradK, gradV);
  }

  @Override
  public void conv3d(
      Tensor x, Tensor weight, Tensor bias, long[] stride, long[] padding, Tensor out) {
    ComposedConv3d.forward(x, weight, bias, stride, padding, out);
  }

  @Override
  public void conv3dBackwardInput(
      Tensor gradOut, Tensor weight, long[] stride, long[] padding, Tensor gradInput) {
    ComposedConv3d.backwardInput(gradOut, weight, stride, padding, gradInput);
  }

  @Override
  public void conv3dBackwardWeight(
      Tensor x, Tensor gradOut, long[] stride, long[] padding, Tensor gradWeight) {
    ComposedConv3d.backwardWeight(x, gradOut, stride, padding, gradWeight);
  }

  @Override
  public void indexSelect(Tensor x, int dim, Tensor index, Tensor out) {
    CpuIndex.indexSelect(x, dim, index, out);
  }

  @Override
  public void gather(Tensor x, int dim, Tensor index, Tensor out) {
    CpuIndex.gather(x, dim, index, out);
  }

  @Override
  public void scatterAdd(Tensor self, int dim, Tensor index, Tensor src) {
    CpuIndex.scatterAdd(self, dim, index, src);
  }

  @Override
  public void random(RandomKind kind, long seed, long offset, double a, double b, Tensor out) {
    CpuRandom.random(kind, seed, offset, a, b, out);
  }
}
