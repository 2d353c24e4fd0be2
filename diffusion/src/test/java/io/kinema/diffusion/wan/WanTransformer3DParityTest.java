package io.kinema.diffusion.wan;

import static io.kinema.diffusion.wan.WanTestUtil.assertRel;
import static io.kinema.diffusion.wan.WanTestUtil.golden;
import static io.kinema.diffusion.wan.WanTestUtil.relErr;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kinema.autograd.Engine;
import io.kinema.nn.Parameter;
import io.kinema.tensor.DType;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.io.Safetensors;
import io.kinema.tensor.io.SafetensorsFile;
import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The whole model against diffusers' own {@code WanTransformer3DModel} on the golden {@code
 * wan_tiny} (see its README): the exact-f64 run for output and every gradient, the f32 run for the
 * output, the recorded intermediates, gradient checkpointing and a bf16 smoke run.
 */
class WanTransformer3DParityTest {
  /** Output, loss and gradients of one forward/backward, as host arrays. */
  private record Run(double[] output, double loss, Map<String, double[]> grads) {}

  private static Run run(WanTransformer3D m, Map<String, Tensor> io, DType dt) {
    try (var s = Scope.open()) {
      m.zeroGrad();
      Tensor hs = io.get("input.hidden_states").to(dt).copy().requiresGrad(true);
      Tensor ehs = io.get("input.encoder_hidden_states").to(dt).copy().requiresGrad(true);
      Tensor out = m.forward(hs, io.get("input.timestep"), ehs);
      Tensor loss = out.mul(io.get("R").to(dt)).sum();
      loss.backward();
      Map<String, double[]> grads = new LinkedHashMap<>();
      for (var e : m.namedParameters().entrySet()) {
        assertNotNull(e.getValue().grad(), "no gradient for " + e.getKey());
        grads.put("grad.param." + e.getKey(), e.getValue().grad().toDoubleArray());
      }
      grads.put("grad.input.hidden_states", hs.grad().toDoubleArray());
      grads.put("grad.input.encoder_hidden_states", ehs.grad().toDoubleArray());
      return new Run(out.toDoubleArray(), loss.item(), grads);
    }
  }

  @Test
  void f64OutputAndEveryGradientMatchDiffusers() throws IOException {
    Path g = golden();
    WanConfig cfg = WanConfig.load(g.resolve("config.json"));
    try (var s = Scope.open();
        WanTransformer3D m =
            WanTransformer3D.load(cfg, g.resolve("weights_f64.safetensors"), DType.F64, true)) {
      Map<String, Tensor> io = Safetensors.load(g.resolve("io_f64.safetensors"));
      try (var f = SafetensorsFile.open(g.resolve("io_f64.safetensors"))) {
        assertEquals("exact_f64", f.metadata().get("precision"));
      }
      Run r = run(m, io, DType.F64);
      double outErr = relErr(io.get("output").toDoubleArray(), r.output());
      double lossErr = Math.abs(r.loss() - io.get("loss").item()) / Math.abs(io.get("loss").item());
      double worst = 0;
      String worstKey = "";
      assertEquals(69 + 2, r.grads().size());
      for (var e : r.grads().entrySet()) {
        Tensor ref = io.get(e.getKey());
        assertNotNull(ref, "golden has no " + e.getKey());
        double err = relErr(ref.toDoubleArray(), e.getValue());
        if (err > worst) {
          worst = err;
          worstKey = e.getKey();
        }
      }
      System.out.printf(
          "[WanParity] F64 vs exact-f64 diffusers: output %.3e, loss %.3e, worst gradient %.3e"
              + " (%s)%n",
          outErr, lossErr, worst, worstKey);
      assertTrue(outErr <= 1e-9, "output relative error " + outErr);
      assertTrue(lossErr <= 1e-9, "loss relative error " + lossErr);
      assertTrue(worst <= 1e-9, "gradient " + worstKey + " relative error " + worst);
    }
  }

  @Test
  void f32FromPretrainedMatchesDiffusersF32() throws IOException {
    Path g = golden();
    try (var s = Scope.open();
        WanTransformer3D m = WanTransformer3D.fromPretrained(g)) {
      assertEquals(DType.F32, m.dtype());
      assertTrue(m.loadInfo().result().isClean(), m.loadInfo().toString());
      assertEquals(
          g.resolve("diffusion_pytorch_model.safetensors"), m.loadInfo().weights(), "weights file");
      assertEquals(java.util.List.of(), m.loadInfo().ignoredConfigKeys());
      Map<String, Tensor> io = Safetensors.load(g.resolve("io_f32.safetensors"));
      Run r = run(m, io, DType.F32);
      double outErr = relErr(io.get("output").toDoubleArray(), r.output());
      double worst = 0;
      String worstKey = "";
      for (var e : r.grads().entrySet()) {
        double err = relErr(io.get(e.getKey()).toDoubleArray(), e.getValue());
        if (err > worst) {
          worst = err;
          worstKey = e.getKey();
        }
      }
      System.out.printf(
          "[WanParity] F32 vs diffusers f32: output %.3e, worst gradient %.3e (%s)%n",
          outErr, worst, worstKey);
      assertTrue(outErr <= 1e-5, "output relative error " + outErr);
      assertTrue(worst <= 1e-4, "gradient " + worstKey + " relative error " + worst);
    }
  }

  /** Every intermediate diffusers recorded (exact f64), so a mismatch points at its layer. */
  @Test
  void intermediatesMatchDiffusers() throws IOException {
    Path g = golden();
    try (var s = Scope.open();
        WanTransformer3D m =
            WanTransformer3D.load(
                WanConfig.load(g.resolve("config.json")),
                g.resolve("weights_f64.safetensors"),
                DType.F64,
                true)) {
      Map<String, Tensor> io = Safetensors.load(g.resolve("io_f64.safetensors"));
      Map<String, Tensor> mid = Safetensors.load(g.resolve("intermediates_f64.safetensors"));
      Map<String, double[]> seen = new LinkedHashMap<>();
      Map<String, long[]> shapes = new LinkedHashMap<>();
      m.forward(
          io.get("input.hidden_states"),
          io.get("input.timestep"),
          io.get("input.encoder_hidden_states"),
          (name, t) -> {
            seen.put(name, t.toDoubleArray());
            shapes.put(name, t.shape());
          });
      int compared = 0;
      for (var e : mid.entrySet()) {
        String name = e.getKey();
        Tensor ref = e.getValue();
        double[] ours;
        if (name.startsWith("rope.freqs_")) {
          // diffusers: [1, L, 1, head_dim], each pair's value twice; ours [L, 1, head_dim / 2]
          boolean cos = name.endsWith("cos");
          ours = seen.get(cos ? "rope.cos" : "rope.sin");
          ref = ref.slice(3, cos ? 0 : 1, 32, 2);
        } else {
          ours = seen.get(name);
        }
        assertNotNull(ours, "the model recorded no " + name);
        double err = relErr(ref.toDoubleArray(), ours);
        assertTrue(err <= 1e-10, name + ": relative error " + err);
        compared++;
      }
      assertEquals(25, compared);
      assertEquals(
          java.util.Arrays.toString(new long[] {2, 64, 3, 4, 4}),
          java.util.Arrays.toString(shapes.get("patch_embedding.out")));
    }
  }

  @Test
  void gradientCheckpointingGivesTheSameGradients() throws IOException {
    Path g = golden();
    try (var s = Scope.open();
        WanTransformer3D m =
            WanTransformer3D.load(
                WanConfig.load(g.resolve("config.json")),
                g.resolve("weights_f64.safetensors"),
                DType.F64,
                true)) {
      Map<String, Tensor> io = Safetensors.load(g.resolve("io_f64.safetensors"));
      Run plain = run(m, io, DType.F64);
      m.gradientCheckpointing(true);
      for (WanTransformerBlock b : m.blocks()) assertTrue(b.gradientCheckpointing());
      try (var s2 = Scope.open()) {
        Tensor out =
            m.forward(
                io.get("input.hidden_states"),
                io.get("input.timestep"),
                io.get("input.encoder_hidden_states"));
        // the blocks' graph is one checkpoint node each
        assertTrue(
            Engine.describe(out).stream().filter("checkpoint"::equals).count() == 2,
            Engine.describe(out).toString());
      }
      Run ckpt = run(m, io, DType.F64);
      m.gradientCheckpointing(false);
      assertEquals(plain.grads().keySet(), ckpt.grads().keySet());
      for (String k : plain.grads().keySet()) {
        double err = relErr(plain.grads().get(k), ckpt.grads().get(k));
        assertTrue(err <= 1e-13, k + ": checkpointed gradient differs by " + err);
      }
      assertEquals(0, relErr(plain.output(), ckpt.output()), 1e-15);
    }
  }

  /**
   * BF16 weights as diffusers loads them ({@code torch_dtype=torch.bfloat16}): the float32 modules
   * stay F32 and the output is close to the exact result at bf16 precision.
   */
  @Test
  void bf16KeepsDiffusersFloat32ModulesAndIsClose() throws IOException {
    Path g = golden();
    try (var s = Scope.open();
        WanTransformer3D m = WanTransformer3D.fromPretrained(g, DType.BF16)) {
      for (var e : m.namedParameters().entrySet()) {
        String k = e.getKey();
        boolean keep =
            k.contains("time_embedder") || k.contains("scale_shift_table") || k.contains("norm2");
        assertEquals(keep ? DType.F32 : DType.BF16, e.getValue().data().dtype(), k);
      }
      Map<String, Tensor> io = Safetensors.load(g.resolve("io_f64.safetensors"));
      Tensor out =
          m.forward(
              io.get("input.hidden_states"),
              io.get("input.timestep"),
              io.get("input.encoder_hidden_states"));
      assertEquals(DType.BF16, out.dtype());
      double err = relErr(io.get("output"), out);
      System.out.printf("[WanParity] BF16 vs exact f64: output %.3e%n", err);
      assertRel("bf16 output", io.get("output"), out, 5e-2);
    }
  }

  @Test
  void parameterNamesAndOrderAreDiffusers() throws IOException {
    Path g = golden();
    try (var s = Scope.open();
        WanTransformer3D m = new WanTransformer3D(WanConfig.tiny(), DType.F32, null)) {
      Map<String, Tensor> w = Safetensors.load(g.resolve("weights_f64.safetensors"));
      // the golden files are sorted by name; named_parameters() order is in the README table
      assertEquals(
          new java.util.TreeSet<>(w.keySet()), new java.util.TreeSet<>(m.stateDict().keySet()));
      var names = new java.util.ArrayList<>(m.namedParameters().keySet());
      assertEquals("scale_shift_table", names.get(0));
      assertEquals("patch_embedding.weight", names.get(1));
      assertEquals("blocks.0.scale_shift_table", names.get(13));
      assertEquals("proj_out.bias", names.get(names.size() - 1));
      assertEquals(132240, m.parameterCount(false));
      for (Parameter p : m.parameters()) assertTrue(p.requiresGrad());
    }
  }
}
