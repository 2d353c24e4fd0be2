package io.kinema.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kinema.nn.Linear;
import io.kinema.nn.Module;
import io.kinema.nn.optim.Adam;
import io.kinema.nn.optim.AdamW;
import io.kinema.nn.optim.GradClip;
import io.kinema.tensor.Backends;
import io.kinema.tensor.DType;
import io.kinema.tensor.Device;
import io.kinema.tensor.Generator;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * 10,000 training steps of a small model (forward, backward, clipping, AdamW) keep the process
 * memory flat: every activation, graph node and gradient is released deterministically. Tensor
 * bytes are compared exactly; RSS loosely, since it also holds the Java heap.
 */
class TrainingMemoryTest {
  static final class Mlp extends Module {
    final Linear l1, l2, l3;

    Mlp(Generator g) {
      l1 = registerModule("l1", new Linear(8, 64, g));
      l2 = registerModule("l2", new Linear(64, 64, g));
      l3 = registerModule("l3", new Linear(64, 1, g));
    }

    Tensor forward(Tensor x) {
      return l3.forward(l2.forward(l1.forward(x).tanh()).gelu());
    }
  }

  private static long rssKiB() throws IOException {
    for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
      if (line.startsWith("VmRSS:")) return Long.parseLong(line.replaceAll("[^0-9]", ""));
    }
    throw new IllegalStateException("no VmRSS in /proc/self/status");
  }

  @Test
  void tenThousandStepsKeepMemoryFlat() throws IOException {
    Generator g = new Generator(42);
    var backend = Backends.of(Device.CPU);
    try (Mlp model = new Mlp(g);
        AdamW opt =
            new AdamW(model.trainableParameters(), Adam.config().lr(1e-3).weightDecay(0.01))) {
      long allocatedAfterWarmup = 0, rssAfterWarmup = 0;
      double first = 0, last = 0;
      for (int step = 0; step < 10_000; step++) {
        try (var s = Scope.open()) {
          Tensor x = Tensor.randn(g, DType.F32, Device.CPU, 32, 8);
          Tensor y = x.narrow(1, 0, 1).mul(x.narrow(1, 1, 1)).sin();
          Tensor loss = model.forward(x).sub(y).square().mean();
          loss.backward();
          GradClip.clipGradNorm(model.trainableParameters(), 1.0);
          opt.step();
          opt.zeroGrad();
          double l = loss.item();
          if (step == 0) first = l;
          last = 0.99 * last + 0.01 * l;
        }
        // By step 3,000 the young generation has been cycled several times, so the Java heap's
        // pages are all resident; later RSS growth would be native memory.
        if (step == 3_000) {
          allocatedAfterWarmup = backend.memoryStats().allocated();
          rssAfterWarmup = rssKiB();
        }
      }
      long allocated = backend.memoryStats().allocated();
      long rss = rssKiB();
      assertEquals(allocatedAfterWarmup, allocated, "tensor bytes held after 10,000 steps");
      assertTrue(
          rss - rssAfterWarmup < 64 * 1024,
          "RSS grew from " + rssAfterWarmup + " KiB to " + rss + " KiB");
      assertTrue(last < first, "the loss fell: " + first + " -> " + last);
    }
  }
}
