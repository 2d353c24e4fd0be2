package io.kinema.train.method;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.kinema.nn.Linear;
import io.kinema.nn.optim.LRScheduler;
import io.kinema.nn.optim.Optimizer;
import io.kinema.tensor.DType;
import io.kinema.tensor.Generator;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The schedules built from {@code training.optimizer} (training-infra.md §4). */
class OptimizerSpecTest {
  static List<double[]> preview(String name, long warmup, long total, double minLr, long n) {
    try (Linear l = new Linear(3, 2, true, DType.F32, new Generator(1))) {
      OptimizerSpec spec =
          new OptimizerSpec(0.1, 0.9, 0.999, 0.0, name, warmup, total, 0, 0.0, minLr, null);
      try (Optimizer opt = spec.optimizer(l.parameters())) {
        LRScheduler s = spec.lrScheduler(opt);
        return s.preview(n);
      }
    }
  }

  @Test
  void cosineWithMinLrWarmsUpThenFloorsTheHalfCosine() {
    List<double[]> lr = preview("cosine_with_min_lr", 10, 110, 0.3, 120);
    for (int n = 0; n < 120; n++) {
      double factor;
      if (n < 10) factor = n / 10.0;
      else factor = Math.max(0.3, 0.5 * (1 + Math.cos(Math.PI * (n - 10) / 100.0)));
      assertEquals(0.1 * factor, lr.get(n)[0], 1e-12, "step " + n);
    }
  }

  @Test
  void diffusersSchedulesPassThrough() {
    List<double[]> lr = preview("linear", 2, 10, 0.5, 12);
    assertEquals(0.0, lr.get(0)[0], 1e-15);
    assertEquals(0.05, lr.get(1)[0], 1e-15);
    assertEquals(0.1, lr.get(2)[0], 1e-15);
    assertEquals(0.1 * 4 / 8.0, lr.get(6)[0], 1e-15);
    assertEquals(0.0, lr.get(11)[0], 1e-15);
  }
}
