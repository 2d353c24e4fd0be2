package io.kinema.diffusion.wan;

import static io.kinema.diffusion.wan.WanTestUtil.relErr;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kinema.diffusion.flow.SigmaTable;
import io.kinema.tensor.DType;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.io.Safetensors;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The KV-cache path against Self-Forcing's {@code causal_wan_tiny} goldens: the 15 calls of the
 * 3-block streaming rollout (with the recorded re-noising draws), and the chunked replay of the
 * training input (streaming equals the block-causal full-sequence forward).
 */
class WanCausalStreamingTest {
  private static final double TOL = 1e-9;

  @Test
  void streamingRolloutReplaysSelfForcingCallByCall() throws IOException {
    Path g = WanCausalTransformer3DTest.golden();
    try (var s = Scope.open();
        WanCausalTransformer3D m =
            WanCausalTransformer3DTest.load(g, "weights_f64.safetensors", DType.F64);
        var cache = m.newCache(1, 144)) {
      Map<String, Tensor> st = Safetensors.load(g.resolve("stream_f64.safetensors"));
      Map<String, Tensor> io = Safetensors.load(g.resolve("train_io_f64.safetensors"));
      SigmaTable table = SigmaTable.selfForcing(5.0);
      // our float32 table is within an ulp of torch's (linspace rounding)
      assertTrue(
          relErr(st.get("scheduler.sigmas").toDoubleArray(), toDouble(table.sigmas())) < 1e-6);
      double[] steps = st.get("denoising_step_list").toDoubleArray();
      int[] draw = {0};
      double[] worst = {0};
      String[] worstName = {""};
      List<String> checked = new ArrayList<>();
      Tensor out =
          WanCausalInference.rollout(
              m,
              st.get("noise"),
              io.get("input.context"),
              steps,
              table,
              0,
              shape -> st.get("renoise" + draw[0]++ + ".noise").reshape(shape),
              cache,
              (call, start, x, t, flow, x0, c) -> {
                String p = String.format("call%02d.", call);
                assertEquals(st.get(p + "current_start").item(), (double) start, p);
                assertEquals(
                    0, relErr(st.get(p + "t").toDoubleArray(), t.toDoubleArray()), p + "t");
                compare(st, p + "x", x, worst, worstName);
                compare(st, p + "flow", flow, worst, worstName);
                if (x0 != null) compare(st, p + "x0", x0, worst, worstName);
                for (int l = 0; l < 2; l++) {
                  String q = p + "cache.layer" + l + ".";
                  compare(st, q + "k", c.keys(l), worst, worstName);
                  compare(st, q + "v", c.values(l), worst, worstName);
                  assertEquals(st.get(q + "global_end").item(), (double) c.globalEnd(l), q);
                  assertEquals(st.get(q + "local_end").item(), (double) c.localEnd(l), q);
                }
                checked.add(p);
              });
      assertEquals(15, checked.size());
      assertEquals(9, draw[0]);
      compare(st, "output", out, worst, worstName);
      for (int l = 0; l < 2; l++) {
        compare(st, "crossattn.layer" + l + ".k", cache.crossKeys(l), worst, worstName);
        compare(st, "crossattn.layer" + l + ".v", cache.crossValues(l), worst, worstName);
      }
      System.out.printf(
          "[CausalWan] streaming rollout vs Self-Forcing (15 calls, caches): worst %.3e (%s)%n",
          worst[0], worstName[0]);
      assertTrue(worst[0] <= TOL, worstName[0] + " relative error " + worst[0]);
    }
  }

  /**
   * Three cached calls over the chunks of the training input (per-frame timesteps) give the output
   * of the block-causal full-sequence forward, and Self-Forcing's chunked replay and caches.
   */
  @Test
  void chunkedStreamingEqualsTheBlockCausalForward() throws IOException {
    Path g = WanCausalTransformer3DTest.golden();
    for (DType dt : new DType[] {DType.F64, DType.F32}) {
      boolean f64 = dt == DType.F64;
      try (var s = Scope.open();
          WanCausalTransformer3D m =
              WanCausalTransformer3DTest.load(
                  g, f64 ? "weights_f64.safetensors" : "weights_f32.safetensors", dt);
          var cache = m.newCache(1, 144)) {
        Map<String, Tensor> io =
            Safetensors.load(
                g.resolve(f64 ? "train_io_f64.safetensors" : "train_io_f32.safetensors"));
        Map<String, Tensor> cr = Safetensors.load(g.resolve("chunked_replay_f64.safetensors"));
        Tensor x = io.get("input.x"), t = io.get("input.t"), ctx = io.get("input.context");
        List<Tensor> outs = new ArrayList<>();
        for (int j = 0; j < 3; j++) {
          outs.add(
              m.forwardCached(x.narrow(2, 3 * j, 3), t.narrow(1, 3 * j, 3), ctx, cache, 48L * j));
        }
        Tensor chunked = Tensor.cat(outs, 2);
        Tensor full = m.forward(x, t, ctx);
        double vsFull = relErr(full, chunked);
        double vsGolden = relErr(cr.get(f64 ? "output" : "output_f32"), chunked);
        System.out.printf(
            "[CausalWan] %s chunked streaming: vs our block-causal forward %.3e, vs Self-Forcing"
                + " replay %.3e%n",
            dt, vsFull, vsGolden);
        assertTrue(vsFull <= (f64 ? 1e-12 : 1e-5), "streaming vs full forward " + vsFull);
        assertTrue(vsGolden <= (f64 ? TOL : 1e-5), "streaming vs golden " + vsGolden);
        if (f64) {
          double[] worst = {0};
          String[] name = {""};
          for (int l = 0; l < 2; l++) {
            compare(cr, "cache.layer" + l + ".k", cache.keys(l), worst, name);
            compare(cr, "cache.layer" + l + ".v", cache.values(l), worst, name);
            assertEquals(144, cache.localEnd(l));
            assertEquals(144, cache.globalEnd(l));
          }
          assertTrue(worst[0] <= TOL, name[0] + " relative error " + worst[0]);
        }
      }
    }
  }

  private static void compare(
      Map<String, Tensor> golden, String name, Tensor actual, double[] worst, String[] worstName) {
    Tensor ref = golden.get(name);
    assertNotNull(ref, "golden has no " + name);
    double e = relErr(ref, actual);
    if (e > worst[0]) {
      worst[0] = e;
      worstName[0] = name;
    }
  }

  private static double[] toDouble(float[] a) {
    double[] d = new double[a.length];
    for (int i = 0; i < a.length; i++) d[i] = a[i];
    return d;
  }
}
