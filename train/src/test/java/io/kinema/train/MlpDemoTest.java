package io.kinema.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.kinema.tensor.Backends;
import io.kinema.tensor.DType;
import io.kinema.tensor.Device;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class MlpDemoTest {
  /** The demo needs matmul, elementwise ops and reductions, which land in separate changes. */
  private static boolean engineOpsAvailable() {
    try (var s = Scope.open()) {
      Tensor a = Tensor.ones(DType.F32, 2, 2);
      a.matmul(a).tanh().add(a).sum(0).mean().item();
      return true;
    } catch (UnsupportedOperationException e) {
      return false;
    }
  }

  @Test
  void lossFallsAndNothingLeaks() {
    assumeTrue(engineOpsAvailable(), "tensor ops are not implemented in this build yet");
    long before = Backends.of(Device.CPU).memoryStats().allocated();
    var buf = new ByteArrayOutputStream();
    MlpDemo.Result r =
        MlpDemo.run(
            Options.parse("--steps", "300", "--log-every", "100"),
            new PrintStream(buf, true, StandardCharsets.UTF_8));
    String out = buf.toString(StandardCharsets.UTF_8);
    assertTrue(r.lastLoss() < r.firstLoss() / 20, out);
    assertTrue(out.contains("step   100  loss"), out);
    assertEquals(before, Backends.of(Device.CPU).memoryStats().allocated(), "tensors leaked");
  }
}
