package io.kinema.tensor.cuda;

import static io.kinema.tensor.cuda.CudaTesting.GPU;
import static io.kinema.tensor.cuda.CudaTesting.assertClose;

import io.kinema.ffi.cuda.junit.RequiresCuda;
import io.kinema.tensor.Backends;
import io.kinema.tensor.DType;
import io.kinema.tensor.Device;
import io.kinema.tensor.Normalization;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * softmax, log-softmax, layer norm, RMS norm and rotary embedding on the GPU against the CPU, on
 * dense and strided inputs, with and without affine parameters, and the saved statistics; the fused
 * backwards of softmax and the norms ({@link Normalization}) likewise.
 */
@RequiresCuda
class CudaNormTest {
  private static final DType[] FLOATS = {DType.F32, DType.BF16, DType.F16, DType.F64};

  @Test
  void softmaxAlongEveryDim() {
    Random r = new Random(10);
    for (DType dt : FLOATS) {
      try (Scope s = Scope.open()) {
        Tensor dense = CudaTesting.randn(r, dt, 3, 5, 70).mul(3);
        Tensor permuted = CudaTesting.randn(r, dt, 70, 3, 5).permute(1, 2, 0);
        for (Tensor cpu : new Tensor[] {dense, permuted}) {
          Tensor gpu = cpu.to(GPU);
          for (int d = 0; d < 3; d++) {
            assertClose(cpu.softmax(d), gpu.softmax(d), "softmax " + d + " " + cpu.describe());
            assertClose(
                cpu.logSoftmax(d), gpu.logSoftmax(d), "logSoftmax " + d + " " + cpu.describe());
          }
        }
        // A row of -inf gives NaN, as on the CPU and in PyTorch.
        Tensor masked = Tensor.full(Double.NEGATIVE_INFINITY, dt, 2, 4);
        assertClose(masked.softmax(1), masked.to(GPU).softmax(1), "softmax of -inf " + dt);
      }
    }
  }

  @Test
  void layerAndRmsNorm() {
    Random r = new Random(11);
    for (DType dt : FLOATS) {
      try (Scope s = Scope.open()) {
        Tensor x = CudaTesting.randn(r, dt, 4, 6, 48).add(0.5);
        Tensor xt = CudaTesting.randn(r, dt, 48, 6, 4).permute(2, 1, 0);
        Tensor w = CudaTesting.randn(r, dt, 48), b = CudaTesting.randn(r, dt, 48);
        Tensor w2 = CudaTesting.randn(r, dt, 6, 48);
        for (Tensor cpu : new Tensor[] {x, xt}) {
          Tensor gpu = cpu.to(GPU);
          long[] one = {48}, two = {6, 48};
          String what = " " + cpu.describe();
          assertClose(
              cpu.layerNorm(one, null, null, 1e-5),
              gpu.layerNorm(one, null, null, 1e-5),
              "ln" + what);
          assertClose(
              cpu.layerNorm(one, w, b, 1e-5),
              gpu.layerNorm(one, w.to(GPU), b.to(GPU), 1e-5),
              "ln affine" + what);
          assertClose(
              cpu.layerNorm(one, w, null, 1e-5),
              gpu.layerNorm(one, w.to(GPU), null, 1e-5),
              "ln weight" + what);
          assertClose(
              cpu.layerNorm(two, w2, null, 0.1),
              gpu.layerNorm(two, w2.to(GPU), null, 0.1),
              "ln 2 dims" + what);
          assertClose(cpu.rmsNorm(one, null, 1e-6), gpu.rmsNorm(one, null, 1e-6), "rms" + what);
          assertClose(
              cpu.rmsNorm(one, w, 1e-6), gpu.rmsNorm(one, w.to(GPU), 1e-6), "rms weight" + what);
          assertClose(
              cpu.rmsNorm(two, w2.mT().contiguous().mT(), 1e-6),
              gpu.rmsNorm(two, w2.to(GPU).mT().contiguous().mT(), 1e-6),
              "rms strided weight" + what);
        }
      }
    }
  }

  @Test
  void savedStatistics() {
    Random r = new Random(12);
    try (Scope s = Scope.open()) {
      for (DType dt : FLOATS) {
        DType st = dt == DType.F64 ? DType.F64 : DType.F32;
        Tensor x = CudaTesting.randn(r, dt, 5, 3, 32);
        Tensor out = Tensor.empty(dt, 5, 3, 32), mean = Tensor.empty(st, 5, 3);
        Tensor rstd = Tensor.empty(DType.F64, 5, 3);
        Backends.of(Device.CPU).layerNorm(x, 1, null, null, 1e-5, out, mean, rstd);
        Tensor gx = x.to(GPU), gout = Tensor.empty(dt, GPU, 5, 3, 32);
        Tensor gmean = Tensor.empty(st, GPU, 5, 3), grstd = Tensor.empty(DType.F64, GPU, 5, 3);
        Backends.of(GPU).layerNorm(gx, 1, null, null, 1e-5, gout, gmean, grstd);
        assertClose(out, gout, "ln out " + dt);
        assertClose(mean, gmean, 1e-5, "ln mean " + dt);
        assertClose(rstd, grstd, 1e-5, "ln rstd (F64 requested) " + dt);
        Tensor rr = Tensor.empty(st, 5, 3), grr = Tensor.empty(st, GPU, 5, 3);
        Backends.of(Device.CPU).rmsNorm(x, 1, null, 1e-6, out, rr);
        Backends.of(GPU).rmsNorm(gx, 1, null, 1e-6, gout, grr);
        assertClose(rr, grr, 1e-5, "rms rstd " + dt);
      }
    }
  }

  @Test
  void rotaryInterleavedAndHalves() {
    Random r = new Random(13);
    for (DType dt : FLOATS) {
      try (Scope s = Scope.open()) {
        Tensor x = CudaTesting.randn(r, dt, 2, 3, 5, 16);
        Tensor angles = CudaTesting.uniform(r, DType.F32, -3, 3, 5, 8);
        Tensor cos = angles.cos(), sin = angles.sin();
        Tensor xt = CudaTesting.randn(r, dt, 2, 5, 3, 16).transpose(1, 2);
        for (Tensor cpu : new Tensor[] {x, xt}) {
          Tensor gpu = cpu.to(GPU);
          for (boolean interleaved : new boolean[] {true, false}) {
            assertClose(
                cpu.rotary(cos, sin, interleaved),
                gpu.rotary(cos.to(GPU), sin.to(GPU), interleaved),
                "rotary " + interleaved + " " + cpu.describe());
          }
        }
        // Per-batch angles of another dtype, broadcast over heads.
        Tensor c2 = CudaTesting.randn(r, DType.BF16, 2, 1, 5, 8),
            s2 = CudaTesting.randn(r, DType.BF16, 2, 1, 5, 8);
        assertClose(
            x.rotary(c2, s2, false),
            x.to(GPU).rotary(c2.to(GPU), s2.to(GPU), false),
            "rotary bf16 angles " + dt);
      }
    }
  }

  @Test
  void softmaxBackwardAlongEveryDim() {
    Random r = new Random(14);
    for (DType dt : FLOATS) {
      try (Scope s = Scope.open()) {
        Tensor x = CudaTesting.randn(r, dt, 3, 5, 70).mul(2);
        Tensor gradOut = CudaTesting.randn(r, dt, 70, 3, 5).permute(1, 2, 0);
        for (int d = 0; d < 3; d++) {
          for (boolean log : new boolean[] {false, true}) {
            Tensor y = log ? x.logSoftmax(d) : x.softmax(d);
            Tensor gy = y.to(GPU);
            String what = (log ? "log_softmax" : "softmax") + " backward dim " + d + " " + dt;
            assertClose(
                Normalization.softmaxBackward(y, gradOut, d, log),
                Normalization.softmaxBackward(gy, gradOut.to(GPU), d, log),
                what);
          }
        }
      }
    }
  }

  @Test
  void layerAndRmsNormBackward() {
    Random r = new Random(15);
    for (DType dt : FLOATS) {
      try (Scope s = Scope.open()) {
        // 90 rows: several rows per block of the backward, and a last block with fewer.
        Tensor x = CudaTesting.randn(r, dt, 90, 37).add(0.5);
        Tensor xt = CudaTesting.randn(r, dt, 37, 6, 15).permute(2, 1, 0).reshape(90, 37);
        Tensor dy = CudaTesting.randn(r, dt, 90, 37);
        Tensor w = CudaTesting.randn(r, dt, 37), b = CudaTesting.randn(r, dt, 37);
        long[] ns = {37};
        for (Tensor cpu : new Tensor[] {x, xt}) {
          Tensor gpu = cpu.to(GPU), gdy = dy.to(GPU), gw = w.to(GPU), gb = b.to(GPU);
          String what = " " + cpu.describe();
          for (Tensor weight : new Tensor[] {null, w}) {
            Tensor gweight = weight == null ? null : gw;
            var wanted = new Normalization.Wanted(true, weight != null, true);
            var f = Normalization.layerNorm(cpu, ns, weight, b, 1e-5);
            var gf = Normalization.layerNorm(gpu, ns, gweight, gb, 1e-5);
            var want =
                Normalization.layerNormBackward(dy, cpu, ns, weight, f.mean(), f.rstd(), wanted);
            var got =
                Normalization.layerNormBackward(
                    gdy, gpu, ns, gweight, gf.mean(), gf.rstd(), wanted);
            assertClose(want.x(), got.x(), "ln dx" + what);
            if (weight != null) assertClose(want.weight(), got.weight(), "ln dweight" + what);
            assertClose(want.bias(), got.bias(), "ln dbias" + what);
            // The parameter gradients alone (dx into scratch), bit for bit as with dx.
            var params =
                Normalization.layerNormBackward(
                    gdy,
                    gpu,
                    ns,
                    gweight,
                    gf.mean(),
                    gf.rstd(),
                    new Normalization.Wanted(false, weight != null, true));
            CudaTesting.assertSame(got.bias(), params.bias(), "ln dbias alone" + what);

            var fr = Normalization.rmsNorm(cpu, ns, weight, 1e-6);
            var gfr = Normalization.rmsNorm(gpu, ns, gweight, 1e-6);
            var rwanted = new Normalization.Wanted(true, weight != null, false);
            var rwant = Normalization.rmsNormBackward(dy, cpu, ns, weight, fr.rstd(), rwanted);
            var rgot = Normalization.rmsNormBackward(gdy, gpu, ns, gweight, gfr.rstd(), rwanted);
            assertClose(rwant.x(), rgot.x(), "rms dx" + what);
            if (weight != null) assertClose(rwant.weight(), rgot.weight(), "rms dweight" + what);
          }
        }
        // Two normalized dims, strided gradient, F32 statistics handed in for every dtype.
        Tensor x3 = CudaTesting.randn(r, dt, 4, 6, 9);
        Tensor dy3 = CudaTesting.randn(r, dt, 9, 6, 4).permute(2, 1, 0);
        Tensor w3 = CudaTesting.randn(r, dt, 6, 9);
        long[] two = {6, 9};
        var f3 = Normalization.layerNorm(x3, two, w3, null, 1e-5);
        var g3 = Normalization.layerNorm(x3.to(GPU), two, w3.to(GPU), null, 1e-5);
        var all = new Normalization.Wanted(true, true, true);
        var want3 = Normalization.layerNormBackward(dy3, x3, two, w3, f3.mean(), f3.rstd(), all);
        var got3 =
            Normalization.layerNormBackward(
                dy3.to(GPU), x3.to(GPU), two, w3.to(GPU), g3.mean(), g3.rstd(), all);
        assertClose(want3.x(), got3.x(), "ln 2 dims dx " + dt);
        assertClose(want3.weight(), got3.weight(), "ln 2 dims dweight " + dt);
        assertClose(want3.bias(), got3.bias(), "ln 2 dims dbias " + dt);
      }
    }
  }
}
