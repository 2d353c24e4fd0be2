package io.kinema.tensor.cuda;

import static io.kinema.tensor.cuda.CudaTesting.GPU;
import static org.junit.jupiter.api.Assertions.fail;

import io.kinema.ffi.cuda.junit.RequiresCuda;
import io.kinema.tensor.AttentionMask;
import io.kinema.tensor.Backends;
import io.kinema.tensor.DType;
import io.kinema.tensor.Device;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.backend.Backend;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The flash attention kernels against the CPU's attention on the same BF16/F16 inputs: forward
 * output and log-sum-exp, and the backward's dq, dk, dv, for head dims 64, 128 and 256 and padded
 * ones (32, 160, 200, and D != Dv; past 256 the composed path in F32), every mask kind (key ranges
 * with most key blocks skipped), Sq != Sk, sequence lengths that are not multiples of the tiles,
 * and k/v broadcast over heads. The GPU rounds P (and dS) to the 16-bit type for its tensor-core
 * products, so errors are measured against each result's largest magnitude. F32 and F64 (the
 * FFMA/DFMA kernels of attention_f32.cu, and the composed path past their head dims) must agree to
 * their own precision, rows that see no key included.
 */
@RequiresCuda
class CudaAttentionTest {
  /** One case: sizes, head dims, mask and dtype. */
  private record Case(
      long b,
      long h,
      long sq,
      long sk,
      long d,
      long dv,
      AttentionMask mask,
      DType dt,
      boolean shareKv) {}

  private static Case[] cases(Random r) {
    Tensor keep = CudaTesting.uniform(r, DType.I32, 0, 4, 1, 1, 1, 70).gt(0);
    return new Case[] {
      new Case(1, 2, 70, 70, 64, 64, AttentionMask.NONE, DType.BF16, false),
      new Case(2, 1, 40, 100, 128, 128, AttentionMask.CAUSAL, DType.BF16, false),
      new Case(1, 2, 50, 50, 32, 32, AttentionMask.blockCausal(16), DType.F16, false),
      new Case(1, 2, 33, 70, 48, 80, new AttentionMask.Explicit(keep), DType.BF16, false),
      new Case(2, 3, 65, 65, 64, 64, AttentionMask.CAUSAL, DType.F16, true),
      new Case(1, 2, 40, 30, 32, 24, AttentionMask.CAUSAL, DType.F32, false), // 10 empty rows
      new Case(2, 2, 50, 50, 16, 16, AttentionMask.blockCausal(16), DType.F64, false),
      new Case(1, 2, 33, 70, 48, 80, new AttentionMask.Explicit(keep), DType.F32, false),
      new Case(2, 3, 20, 20, 200, 200, AttentionMask.NONE, DType.F32, true),
      new Case(1, 2, 70, 200, 64, 64, keyRanges(r, 70, 200), DType.BF16, false),
      new Case(1, 1, 128, 128, 128, 128, teacherForcing(2, 32), DType.F16, false),
      new Case(2, 1, 100, 90, 32, 32, keyRanges(r, 100, 90), DType.F16, true),
      new Case(1, 2, 70, 200, 16, 8, keyRanges(r, 70, 200), DType.F32, false),
      new Case(1, 2, 96, 96, 8, 8, teacherForcing(3, 16), DType.F64, false),
    };
  }

  /**
   * Narrow random windows (lo, lo + up to 40) and (lo, lo + up to 20), so most key blocks are
   * skipped by some tile; every fifth row sees nothing.
   */
  private static AttentionMask keyRanges(Random r, int sq, int sk) {
    int[] t = new int[4 * sq];
    for (int i = 0; i < sq; i++) {
      if (i % 5 == 3) continue;
      for (int c = 0; c < 4; c += 2) {
        int lo = r.nextInt(sk + 1);
        t[4 * i + c] = lo;
        t[4 * i + c + 1] = Math.min(sk, lo + r.nextInt(c == 0 ? 41 : 21));
      }
    }
    return AttentionMask.KeyRanges.of(t);
  }

  /** The [clean | noisy] teacher-forcing mask of {@code frames} frames of {@code tokens}. */
  private static AttentionMask teacherForcing(int frames, int tokens) {
    int len = frames * tokens;
    int[] t = new int[8 * len];
    for (int n = 0; n < 2 * len; n++) {
      int pos = n % len, start = pos / tokens * tokens;
      if (n < len) t[4 * n + 1] = start + tokens;
      else {
        t[4 * n + 1] = start;
        t[4 * n + 2] = len + start;
        t[4 * n + 3] = len + start + tokens;
      }
    }
    return AttentionMask.KeyRanges.of(t);
  }

  /**
   * F32/F64 cases for the kernels of attention_f32.cu: every head-dim tile (32, 64, 128, 256) and
   * padded head dims (100, 200, D != Dv), every mask kind, Sq != Sk (rows that see nothing), sizes
   * off the 32-row tiles, broadcast k/v and masks; F64 past 128 runs the composed path.
   */
  private static Case[] fullPrecisionCases(Random r) {
    Tensor keep = CudaTesting.uniform(r, DType.I32, 0, 4, 2, 1, 1, 45).gt(0); // [B, 1, 1, Sk]
    Tensor keepRows = CudaTesting.uniform(r, DType.I32, 0, 3, 1, 2, 37, 45).gt(0); // per head
    return new Case[] {
      new Case(1, 2, 37, 45, 32, 32, AttentionMask.NONE, DType.F32, false),
      new Case(2, 1, 40, 30, 64, 64, AttentionMask.CAUSAL, DType.F32, false), // 10 empty rows
      new Case(1, 2, 50, 50, 100, 100, AttentionMask.blockCausal(16), DType.F32, true),
      new Case(2, 2, 37, 45, 128, 128, new AttentionMask.Explicit(keep), DType.F32, false),
      new Case(1, 2, 37, 45, 24, 56, new AttentionMask.Explicit(keepRows), DType.F32, false),
      new Case(1, 1, 33, 40, 200, 200, AttentionMask.CAUSAL, DType.F32, false),
      new Case(1, 1, 20, 70, 256, 256, keyRanges(r, 20, 70), DType.F32, true),
      new Case(1, 2, 70, 100, 48, 16, keyRanges(r, 70, 100), DType.F32, false),
      new Case(1, 1, 96, 96, 64, 64, teacherForcing(3, 16), DType.F32, false),
      new Case(1, 2, 40, 30, 128, 96, AttentionMask.CAUSAL, DType.F64, true),
      new Case(2, 1, 37, 45, 64, 64, new AttentionMask.Explicit(keep), DType.F64, false),
      new Case(1, 2, 70, 100, 32, 32, keyRanges(r, 70, 100), DType.F64, false),
      new Case(1, 1, 20, 20, 200, 200, AttentionMask.NONE, DType.F64, false), // composed
    };
  }

  /**
   * BF16/F16 cases for the D = 256 flash kernels: 256 itself and padded head dims (160, 200, D !=
   * Dv), every mask kind, Sq != Sk, sizes off the tiles, broadcast k/v; and past 256 the composed
   * path in F32.
   */
  private static Case[] wideCases(Random r) {
    Tensor keep = CudaTesting.uniform(r, DType.I32, 0, 4, 2, 1, 1, 70).gt(0); // [B, 1, 1, Sk]
    return new Case[] {
      new Case(1, 1, 70, 70, 256, 256, AttentionMask.NONE, DType.BF16, false),
      new Case(2, 1, 40, 100, 160, 160, AttentionMask.CAUSAL, DType.F16, false),
      new Case(1, 2, 50, 50, 200, 200, AttentionMask.blockCausal(16), DType.BF16, true),
      new Case(2, 1, 33, 70, 256, 256, new AttentionMask.Explicit(keep), DType.F16, false),
      new Case(1, 1, 70, 140, 256, 256, keyRanges(r, 70, 140), DType.BF16, false),
      new Case(1, 1, 96, 96, 144, 176, teacherForcing(3, 16), DType.F16, false),
      new Case(1, 1, 40, 30, 256, 256, AttentionMask.CAUSAL, DType.F16, false), // 10 empty rows
      new Case(1, 1, 20, 30, 320, 320, AttentionMask.CAUSAL, DType.BF16, false), // composed
    };
  }

  @Test
  void wideHeadDimsMatchTheCpu() {
    Random r = new Random(29);
    try (Scope s = Scope.open()) {
      for (Case c : wideCases(r)) checkAgainstCpu(r, c);
    }
  }

  @Test
  void fullPrecisionKernelsMatchTheCpu() {
    Random r = new Random(23);
    try (Scope s = Scope.open()) {
      for (Case c : fullPrecisionCases(r)) checkAgainstCpu(r, c);
    }
  }

  @Test
  void forwardAndBackwardMatchTheCpu() {
    Random r = new Random(17);
    try (Scope s = Scope.open()) {
      for (Case c : cases(r)) checkAgainstCpu(r, c);
    }
  }

  /**
   * One case on the CPU and the GPU. Tolerances, relative to each result's largest magnitude: 1e-12
   * for F64 and 2e-5 for F32 (the same sums in other orders), 1e-2..5e-2 for BF16/F16 (P and dS are
   * rounded to 16 bits for the tensor cores).
   */
  private static void checkAgainstCpu(Random r, Case c) {
    String what = c.toString();
    double scale = 1 / Math.sqrt(c.d());
    Tensor q = CudaTesting.randn(r, c.dt(), c.b(), c.h(), c.sq(), c.d());
    long kvHeads = c.shareKv() ? 1 : c.h();
    Tensor k =
        CudaTesting.randn(r, c.dt(), c.b(), kvHeads, c.sk(), c.d())
            .expand(c.b(), c.h(), c.sk(), c.d());
    Tensor v =
        CudaTesting.randn(r, c.dt(), c.b(), kvHeads, c.sk(), c.dv())
            .expand(c.b(), c.h(), c.sk(), c.dv());
    Tensor go = CudaTesting.randn(r, c.dt(), c.b(), c.h(), c.sq(), c.dv());
    Tensor[] cpu = run(Device.CPU, q, k, v, go, c, scale);
    Tensor[] gpu = run(GPU, q, k, v, go, c, scale);
    String[] names = {"out", "lse", "dq", "dk", "dv"};
    double[] tols = {2e-2, 1e-2, 5e-2, 5e-2, 5e-2};
    double exact = c.dt() == DType.F64 ? 1e-12 : c.dt() == DType.F32 ? 2e-5 : 0;
    for (int i = 0; i < names.length; i++) {
      assertCloseToScale(cpu[i], gpu[i], exact > 0 ? exact : tols[i], names[i] + " " + what);
    }
  }

  /** {out, lse, dq, dk, dv} of one backend's forward and backward. */
  private static Tensor[] run(
      Device dev, Tensor q, Tensor k, Tensor v, Tensor go, Case c, double scale) {
    Backend be = Backends.of(dev);
    Tensor dq4 = q.to(dev), dk4 = k.to(dev), dv4 = v.to(dev), g4 = go.to(dev);
    if (c.shareKv()) {
      dk4 = k.narrow(1, 0, 1).to(dev).expand(k.shape());
      dv4 = v.narrow(1, 0, 1).to(dev).expand(v.shape());
    }
    AttentionMask mask = c.mask();
    if (mask instanceof AttentionMask.Explicit e) {
      mask = new AttentionMask.Explicit(e.allowed().to(dev).expand(c.b(), c.h(), c.sq(), c.sk()));
    } else if (mask instanceof AttentionMask.KeyRanges kr) {
      mask = kr.to(dev);
    }
    Tensor out = Tensor.empty(c.dt(), dev, c.b(), c.h(), c.sq(), c.dv());
    DType acc = c.dt() == DType.F64 ? DType.F64 : DType.F32;
    Tensor lse = Tensor.empty(acc, dev, c.b(), c.h(), c.sq());
    try (Tensor lse4 = lse.unsqueeze(-1)) {
      be.attention(dq4, dk4, dv4, mask, scale, out, lse4);
      Tensor gq = Tensor.empty(acc, dev, q.shape());
      Tensor gk = Tensor.empty(acc, dev, k.shape());
      Tensor gv = Tensor.empty(acc, dev, v.shape());
      be.attentionBackward(dq4, dk4, dv4, out, lse4, g4, mask, scale, gq, gk, gv);
      return new Tensor[] {out, lse, gq, gk, gv};
    }
  }

  /** |gpu - cpu| <= tol * max |cpu| everywhere (-inf lse of rows that see no key must agree). */
  private static void assertCloseToScale(Tensor cpu, Tensor gpu, double tol, String what) {
    double[] w = cpu.toDoubleArray(), g = gpu.toDoubleArray();
    double scale = 1e-6;
    for (double x : w) if (Double.isFinite(x)) scale = Math.max(scale, Math.abs(x));
    for (int i = 0; i < w.length; i++) {
      boolean ok = Double.isInfinite(w[i]) ? g[i] == w[i] : Math.abs(g[i] - w[i]) <= tol * scale;
      if (!ok)
        fail(what + ": element " + i + " is " + g[i] + " on the GPU, " + w[i] + " on the CPU");
    }
  }
}
