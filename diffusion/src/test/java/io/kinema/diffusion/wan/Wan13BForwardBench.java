package io.kinema.diffusion.wan;

import io.kinema.tensor.DType;
import io.kinema.tensor.Generator;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.cpu.CpuAllocator;
import io.kinema.tensor.grad.GradMode;
import java.util.Locale;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

/**
 * Forward of the real Wan2.1-T2V-1.3B architecture (zero-initialized BF16 weights: the arithmetic
 * is the same as with real ones) on a small latent, on the CPU: time and allocator peak. Off by
 * default; run with {@code -Dkinema.bench.wan=true} and optionally {@code
 * -Dkinema.bench.wan.shape=1,16,1,32,32} (B, C, F, H, W), {@code -Dkinema.bench.wan.text=512},
 * {@code -Dkinema.bench.wan.dtype=BF16}.
 */
@Tag("bench")
@EnabledIfSystemProperty(named = "kinema.bench.wan", matches = "true")
class Wan13BForwardBench {
  @Test
  void forward1_3B() {
    String[] sh = System.getProperty("kinema.bench.wan.shape", "1,16,1,32,32").split(",");
    long[] shape = new long[5];
    for (int i = 0; i < 5; i++) shape[i] = Long.parseLong(sh[i].trim());
    int text = Integer.getInteger("kinema.bench.wan.text", 512);
    DType dt = DType.valueOf(System.getProperty("kinema.bench.wan.dtype", "BF16"));
    CpuAllocator alloc = CpuAllocator.get();
    long t0 = System.nanoTime();
    try (WanTransformer3D m = new WanTransformer3D(WanConfig.t2v1_3B(), dt, null)) {
      long weights = alloc.stats().allocated();
      System.out.printf(
          Locale.ROOT,
          "[Wan1.3B] built %s in %.1f s, weights %.2f GiB (%d parameters)%n",
          dt,
          (System.nanoTime() - t0) / 1e9,
          weights / (double) (1L << 30),
          m.parameterCount(false));
      Generator gen = new Generator(1);
      try (var s = Scope.open();
          var ng = GradMode.noGrad()) {
        Tensor x = Tensor.randn(gen, dt, io.kinema.tensor.Device.CPU, shape);
        Tensor ctx = Tensor.randn(gen, dt, io.kinema.tensor.Device.CPU, shape[0], text, 4096);
        double[] tv = new double[(int) shape[0]];
        java.util.Arrays.fill(tv, 500);
        Tensor t = Tensor.of(tv, shape[0]);
        for (int run = 0; run < 2; run++) {
          alloc.resetPeak();
          long before = alloc.stats().allocated();
          long start = System.nanoTime();
          try (var step = Scope.open()) {
            Tensor out = m.forward(x, t, ctx);
            out.toDoubleArray();
          }
          double secs = (System.nanoTime() - start) / 1e9;
          long peak = alloc.stats().peakAllocated() - before;
          System.out.printf(
              Locale.ROOT,
              "[Wan1.3B] forward %d of %s, text %d, %s: %.2f s, peak %.1f MiB above the weights"
                  + " and inputs%n",
              run + 1,
              java.util.Arrays.toString(shape),
              text,
              dt,
              secs,
              peak / (double) (1L << 20));
        }
      }
    }
  }
}
