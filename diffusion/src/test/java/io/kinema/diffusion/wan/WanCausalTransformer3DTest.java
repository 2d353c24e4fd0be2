package io.kinema.diffusion.wan;

import static io.kinema.diffusion.wan.WanTestUtil.relErr;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kinema.tensor.DType;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.io.Safetensors;
import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The causal Wan model against Self-Forcing's own {@code CausalWanModel} on the golden {@code
 * causal_wan_tiny} (see its README): the block-causal training forward with per-frame timesteps.
 */
class WanCausalTransformer3DTest {
  static Path golden() {
    return WanTestUtil.goldenFolder("causal_wan_tiny");
  }

  static WanCausalTransformer3D load(Path g, String weights, DType dt) throws IOException {
    WanConfig cfg = WanConfig.load(g.resolve("diffusers_config.json"));
    return WanCausalTransformer3D.load(cfg, g.resolve(weights), dt, 3);
  }

  @Test
  void f64TrainingForwardOutputAndEveryGradientMatchSelfForcing() throws IOException {
    Path g = golden();
    try (var s = Scope.open();
        WanCausalTransformer3D m = load(g, "weights_f64.safetensors", DType.F64)) {
      Map<String, Tensor> io = Safetensors.load(g.resolve("train_io_f64.safetensors"));
      Tensor x = io.get("input.x").copy().requiresGrad(true);
      Tensor ctx = io.get("input.context").copy().requiresGrad(true);
      Tensor out = m.forward(x, io.get("input.t"), ctx);
      Tensor loss = out.mul(io.get("R")).sum();
      loss.backward();
      double outErr = relErr(io.get("output"), out);
      double lossErr =
          Math.abs(loss.item() - io.get("loss").item()) / Math.abs(io.get("loss").item());
      Map<String, double[]> grads = new LinkedHashMap<>();
      for (var e : m.model().namedParameters().entrySet()) {
        assertNotNull(e.getValue().grad(), "no gradient for " + e.getKey());
        grads.put(
            "grad.param." + WanKeys.toOriginal(e.getKey()), e.getValue().grad().toDoubleArray());
      }
      grads.put("grad.input.x", x.grad().toDoubleArray());
      grads.put("grad.input.context", ctx.grad().toDoubleArray());
      assertEquals(71, grads.size());
      double worst = 0;
      String worstKey = "";
      for (var e : grads.entrySet()) {
        Tensor ref = io.get(e.getKey());
        assertNotNull(ref, "golden has no " + e.getKey());
        double err = relErr(ref.toDoubleArray(), e.getValue());
        if (err > worst) {
          worst = err;
          worstKey = e.getKey();
        }
      }
      System.out.printf(
          "[CausalWan] F64 training forward vs Self-Forcing: output %.3e, loss %.3e, worst gradient"
              + " %.3e (%s)%n",
          outErr, lossErr, worst, worstKey);
      assertTrue(outErr <= 1e-9, "output relative error " + outErr);
      assertTrue(lossErr <= 1e-9, "loss relative error " + lossErr);
      assertTrue(worst <= 1e-9, "gradient " + worstKey + " relative error " + worst);
    }
  }

  @Test
  void f32TrainingForwardMatchesSelfForcingF32() throws IOException {
    Path g = golden();
    try (var s = Scope.open();
        WanCausalTransformer3D m = load(g, "weights_f32.safetensors", DType.F32)) {
      Map<String, Tensor> io = Safetensors.load(g.resolve("train_io_f32.safetensors"));
      Tensor out = m.forward(io.get("input.x"), io.get("input.t"), io.get("input.context"));
      assertEquals(DType.F32, out.dtype());
      double err = relErr(io.get("output"), out);
      System.out.printf("[CausalWan] F32 training forward vs Self-Forcing f32: output %.3e%n", err);
      assertTrue(err <= 1e-5, "output relative error " + err);
    }
  }

  /** Every recorded intermediate, so that a mismatch points at its layer. */
  @Test
  void intermediatesMatchSelfForcing() throws IOException {
    Path g = golden();
    Map<String, String> names = new LinkedHashMap<>();
    names.put("patch_embedding.out", "patch_embedding.out");
    names.put("sinusoid", "condition_embedder.timesteps_proj.out");
    names.put("time_embedding.out", "temb");
    names.put("time_projection.out", "condition_embedder.time_proj.out");
    names.put("text_embedding.in", "text_embedding.in");
    names.put("text_embedding.out", "condition_embedder.text_embedder.out");
    names.put("tokens.before_block0", "tokens.before_block0");
    names.put("head.out", "proj_out.out");
    for (int i = 0; i < 2; i++) {
      String b = "blocks." + i + ".";
      names.put(b + "self_attn.in", b + "attn1.in");
      names.put(b + "self_attn.out", b + "attn1.out");
      names.put(b + "cross_attn.in", b + "attn2.in");
      names.put(b + "cross_attn.out", b + "attn2.out");
      names.put(b + "ffn.in", b + "ffn.in");
      names.put(b + "ffn.out", b + "ffn.out");
      names.put(b + "out", b + "out");
    }
    try (var s = Scope.open();
        WanCausalTransformer3D m = load(g, "weights_f64.safetensors", DType.F64)) {
      Map<String, Tensor> io = Safetensors.load(g.resolve("train_io_f64.safetensors"));
      Map<String, Tensor> mid = Safetensors.load(g.resolve("train_intermediates_f64.safetensors"));
      Map<String, double[]> seen = new LinkedHashMap<>();
      m.forward(
          io.get("input.x"),
          io.get("input.t"),
          io.get("input.context"),
          (name, t) -> seen.put(name, t.toDoubleArray()));
      for (var e : names.entrySet()) {
        Tensor ref = mid.get(e.getKey());
        assertNotNull(ref, "golden has no " + e.getKey());
        double[] ours = seen.get(e.getValue());
        assertNotNull(ours, "the model recorded no " + e.getValue());
        double err = relErr(ref.toDoubleArray(), ours);
        assertTrue(err <= 1e-10, e.getKey() + ": relative error " + err);
      }
    }
  }

  /**
   * One block spanning every frame (the mask is then full) and the same timestep for every frame:
   * the bidirectional model on the same weights. Random weights and inputs, not the golden files.
   */
  @Test
  void fullMaskAndEqualTimestepsIsTheBidirectionalModel() {
    try (var s = Scope.open();
        WanTransformer3D bi =
            new WanTransformer3D(WanConfig.tiny(), DType.F64, new io.kinema.tensor.Generator(7));
        WanTransformer3D weights = new WanTransformer3D(WanConfig.tiny(), DType.F64, null)) {
      weights.loadStateDict(bi.stateDict(), true);
      var causal = new WanCausalTransformer3D(weights, 4, -1, 0, 5);
      var gen = new io.kinema.tensor.Generator(8);
      Tensor x = Tensor.randn(gen, DType.F64, io.kinema.tensor.Device.CPU, 2, 4, 4, 6, 4);
      Tensor ctx = Tensor.randn(gen, DType.F64, io.kinema.tensor.Device.CPU, 2, 5, 24);
      Tensor t = Tensor.of(new double[] {812.5, 33}, 2);
      Tensor tf = Tensor.of(new double[] {812.5, 812.5, 812.5, 812.5, 33, 33, 33, 33}, 2, 4);
      Tensor expected = bi.forward(x, t, ctx);
      double err = relErr(expected, causal.forward(x, tf, ctx));
      assertTrue(err <= 1e-12, "per-frame form differs from the bidirectional model by " + err);
      // the other frame split: blocks of 1 frame differ (a causal model is not bidirectional)
      var causal1 = new WanCausalTransformer3D(weights, 1, -1, 0, 5);
      assertTrue(relErr(expected, causal1.forward(x, tf, ctx)) > 1e-3);
    }
  }
}
