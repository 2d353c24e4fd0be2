package io.kinema.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kinema.tensor.Backends;
import io.kinema.tensor.Device;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class MlpDemoTest {
  @Test
  void lossFallsAndNothingLeaks() {
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
