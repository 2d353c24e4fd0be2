package io.kinema.nn.lora;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kinema.autograd.GradCheck;
import io.kinema.nn.LinearLike;
import io.kinema.nn.Module;
import io.kinema.nn.Parameter;
import io.kinema.nn.lora.TestModels.TestLinear;
import io.kinema.nn.lora.TestModels.TinyWan;
import io.kinema.tensor.DType;
import io.kinema.tensor.Generator;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.grad.GradMode;
import io.kinema.tensor.io.SafetensorsFile;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LoraTest {
  private static final List<String> WAN = LoraConfig.WAN_TARGET_MODULES;

  private static List<String> wanNames(int blocks) {
    List<String> out = new ArrayList<>();
    for (int i = 0; i < blocks; i++) {
      String b = "blocks." + i + ".";
      out.addAll(
          List.of(
              b + "attn1.to_q",
              b + "attn1.to_k",
              b + "attn1.to_v",
              b + "attn1.to_out.0",
              b + "ffn.net.0.proj",
              b + "ffn.net.2"));
    }
    return out;
  }

  private static double maxRelDiff(double[] a, double[] b) {
    double num = 0, den = 0;
    for (int i = 0; i < a.length; i++) {
      num = Math.max(num, Math.abs(a[i] - b[i]));
      den = Math.max(den, Math.abs(b[i]));
    }
    return num / Math.max(den, 1e-300);
  }

  /** Gives every adapter random A and B (B = 0 at init would hide most bugs). */
  private static void randomizeAdapters(Module root, long seed) {
    Random rnd = new Random(seed);
    try (var s = Scope.open();
        var ng = GradMode.noGrad()) {
      for (LoraLinear l : Lora.adapters(root).values()) {
        for (Parameter p : List.of(l.loraA(), l.loraB())) {
          Tensor t = p.data();
          p.data().copyFrom(TestModels.random(rnd, DType.F64, t.shape()));
        }
      }
    }
  }

  private static Map<String, double[]> snapshot(Module m) {
    Map<String, double[]> out = new HashMap<>();
    for (var e : m.stateDict().entrySet()) out.put(e.getKey(), e.getValue().toDoubleArray());
    return out;
  }

  @Test
  void applyWrapsTheWanTargetsWithPeftNamesAndLeavesTheOutputUnchanged() {
    try (var model = new TinyWan(2, 8, 12, DType.F64, 1);
        var s = Scope.open()) {
      Tensor x = TestModels.random(new Random(2), DType.F64, 2, 3, 8);
      double[] before = model.forward(x).toDoubleArray();
      List<String> names = Lora.apply(model, WAN, 4, 8, new Generator(3));
      assertEquals(wanNames(2), names);
      assertEquals(names, new ArrayList<>(Lora.adapters(model).keySet()));
      // B = 0 at init: bit-identical output.
      assertArrayEquals(before, model.forward(x).toDoubleArray(), 0.0);

      Set<String> keys = model.stateDict().keySet();
      assertTrue(keys.contains("blocks.0.attn1.to_q.base_layer.weight"), keys.toString());
      assertTrue(keys.contains("blocks.0.attn1.to_q.base_layer.bias"));
      assertTrue(keys.contains("blocks.0.attn1.to_q.lora_A.weight"));
      assertTrue(keys.contains("blocks.1.ffn.net.0.proj.lora_B.weight"));
      assertTrue(keys.contains("blocks.1.attn1.to_out.0.lora_A.weight"));
      assertTrue(keys.contains("blocks.0.norm2.weight"));

      // Only A and B train: 2 per adapted layer.
      List<String> trainable = new ArrayList<>();
      for (var e : model.namedParameters().entrySet())
        if (e.getValue().requiresGrad()) trainable.add(e.getKey());
      assertEquals(24, trainable.size());
      for (String k : trainable) assertTrue(k.matches(".*\\.lora_[AB]\\.weight"), k);

      LoraLinear q = Lora.adapters(model).get("blocks.0.attn1.to_q");
      assertEquals(2.0, q.scale());
      assertEquals(8, q.inFeatures());
      assertEquals(8, q.outFeatures());
      assertArrayEquals(new long[] {4, 8}, q.loraA().data().shape());
      assertArrayEquals(new long[] {8, 4}, q.loraB().data().shape());
      LoraLinear up = Lora.adapters(model).get("blocks.0.ffn.net.0.proj");
      assertArrayEquals(new long[] {4, 8}, up.loraA().data().shape());
      assertArrayEquals(new long[] {12, 4}, up.loraB().data().shape());
      // Kaiming-uniform(a = sqrt(5)) A: uniform on +-1/sqrt(in); B zero.
      double bound = 1 / Math.sqrt(8), maxAbs = 0;
      for (double v : q.loraA().data().toDoubleArray()) maxAbs = Math.max(maxAbs, Math.abs(v));
      assertTrue(maxAbs <= bound && maxAbs > 0.6 * bound, "A range " + maxAbs);
      for (double v : q.loraB().data().toDoubleArray()) assertEquals(0.0, v);
      assertEquals(
          model.stateDict().get("blocks.0.attn1.to_q.base_layer.weight"), q.weight().data());
    }
  }

  @Test
  void kaimingInitHasTheUniformVariance() {
    try (var s = Scope.open();
        var lin =
            new LoraLinear(
                new TestLinear(400, 5, false, DType.F32, new Random(1)),
                64,
                64,
                0,
                null,
                new Generator(9))) {
      double[] a = lin.loraA().data().toDoubleArray();
      double bound = 1 / Math.sqrt(400), mean = 0, var = 0;
      for (double v : a) mean += v / a.length;
      for (double v : a) var += (v - mean) * (v - mean) / a.length;
      assertEquals(0, mean, 0.05 * bound);
      assertEquals(bound * bound / 3, var, 0.05 * bound * bound / 3);
      assertEquals(DType.F32, lin.loraA().data().dtype());
    }
  }

  @Test
  void sgdStepsChangeOnlyTheAdapters() {
    try (var model = new TinyWan(2, 8, 12, DType.F32, 4);
        var s0 = Scope.open()) {
      Tensor x = TestModels.random(new Random(5), DType.F32, 4, 8);
      Tensor target = TestModels.random(new Random(6), DType.F32, 4, 8);
      Lora.apply(model, WAN, 4, 4, new Generator(7));
      Map<String, double[]> frozen = new HashMap<>();
      Map<String, double[]> adapters = new HashMap<>();
      for (var e : snapshot(model).entrySet())
        (e.getKey().contains(".lora_") ? adapters : frozen).put(e.getKey(), e.getValue());
      double first = 0, last = 0;
      for (int step = 0; step < 8; step++) {
        try (var s = Scope.open()) {
          Tensor loss = model.forward(x).sub(target).square().mean();
          loss.backward();
          if (step == 0) first = loss.item();
          last = loss.item();
          for (var e : model.namedParameters().entrySet()) {
            Parameter p = e.getValue();
            if (!e.getKey().contains(".lora_")) {
              assertFalse(p.requiresGrad(), e.getKey());
              assertNull(p.grad(), "frozen " + e.getKey() + " got a gradient");
              continue;
            }
            assertNotNull(p.grad(), "no gradient reached " + e.getKey());
            try (var ng = GradMode.noGrad()) {
              p.data().subInPlace(p.grad().mul(0.5));
            }
            p.data().zeroGrad();
          }
        }
      }
      assertTrue(last < first, "loss " + first + " -> " + last);
      Map<String, double[]> after = snapshot(model);
      for (var e : frozen.entrySet())
        assertArrayEquals(e.getValue(), after.get(e.getKey()), 0.0, e.getKey() + " changed");
      for (var e : adapters.entrySet()) {
        double diff = 0;
        double[] now = after.get(e.getKey());
        for (int i = 0; i < now.length; i++)
          diff = Math.max(diff, Math.abs(now[i] - e.getValue()[i]));
        assertTrue(diff > 0, e.getKey() + " did not train");
      }
    }
  }

  @Test
  void gradientsOfInputAAndBPassGradcheck() {
    try (var lin =
            new LoraLinear(
                new TestLinear(5, 4, true, DType.F64, new Random(1)),
                3,
                5,
                0,
                null,
                new Generator(2));
        var s = Scope.open()) {
      randomizeAdapters(lin, 3);
      Tensor x = TestModels.random(new Random(4), DType.F64, 2, 3, 5).requiresGrad(true);
      Tensor a = lin.loraA().data(), b = lin.loraB().data();
      GradCheck.check(in -> lin.forward(in.get(0)), List.of(x, a, b));
      // The base layer is frozen but gradcheck can still confirm the whole map's input gradient
      // with it: unfreeze it for a check of W's gradient through the wrapper as well.
      lin.weight().requiresGrad(true);
      GradCheck.check(in -> lin.forward(in.get(0)), List.of(x, lin.weight().data()));
    }
  }

  @Test
  void dropoutActsOnTheAdapterInputInTrainingOnly() {
    // A = I, B = I, scale 1: the adapter's contribution is dropout(x) itself.
    try (var lin =
            new LoraLinear(
                new TestLinear(6, 6, false, DType.F64, new Random(1)),
                6,
                6,
                0.5,
                null,
                new Generator(2));
        var s = Scope.open()) {
      try (var ng = GradMode.noGrad()) {
        lin.loraA().data().copyFrom(Tensor.eye(6, DType.F64, lin.loraA().data().device()));
        lin.loraB().data().copyFrom(Tensor.eye(6, DType.F64, lin.loraB().data().device()));
      }
      Tensor x = TestModels.random(new Random(3), DType.F64, 50, 6);
      double[] base = lin.base() instanceof LinearLike l ? l.forward(x).toDoubleArray() : null;
      double[] xs = x.toDoubleArray();
      lin.eval();
      double[] ev = lin.forward(x).toDoubleArray();
      for (int i = 0; i < xs.length; i++) assertEquals(base[i] + xs[i], ev[i], 1e-12);
      lin.train();
      double[] tr = lin.forward(x).toDoubleArray();
      int dropped = 0;
      for (int i = 0; i < xs.length; i++) {
        double d = tr[i] - base[i];
        if (Math.abs(d) < 1e-12) dropped++;
        else assertEquals(2 * xs[i], d, 1e-12, "kept elements are scaled by 1/(1-p)");
      }
      assertTrue(dropped > 100 && dropped < 200, "dropped " + dropped + " of 300");
    }
  }

  @Test
  void mergeMatchesTheUnmergedAdapterAndRestoresTheLayout() {
    try (var model = new TinyWan(2, 8, 12, DType.F64, 8);
        var s = Scope.open()) {
      Map<String, Tensor> baseWeights = new HashMap<>();
      for (var e : model.stateDict().entrySet()) baseWeights.put(e.getKey(), e.getValue().copy());
      Set<String> keysBefore = model.stateDict().keySet();
      Lora.apply(model, LoraConfig.of(3, 5, WAN), null, new Generator(9));
      randomizeAdapters(model, 10);
      LoraLinear q = Lora.adapters(model).get("blocks.1.attn1.to_q");
      double[] delta = q.deltaWeight().toDoubleArray();
      Tensor x = TestModels.random(new Random(11), DType.F64, 3, 8);
      double[] unmerged = model.forward(x).toDoubleArray();
      List<String> merged = Lora.merge(model);
      assertEquals(wanNames(2), merged);
      assertTrue(Lora.adapters(model).isEmpty());
      assertEquals(keysBefore, model.stateDict().keySet());
      assertTrue(maxRelDiff(model.forward(x).toDoubleArray(), unmerged) < 1e-12);
      // W' = W + (alpha / r) B A.
      double[] w0 = baseWeights.get("blocks.1.attn1.to_q.weight").toDoubleArray();
      double[] w1 = model.stateDict().get("blocks.1.attn1.to_q.weight").toDoubleArray();
      for (int i = 0; i < w0.length; i++) assertEquals(w0[i] + delta[i], w1[i], 1e-15);
      assertTrue(q.loraA().data().isClosed(), "merged factors are closed");
      assertFalse(q.base() instanceof LoraLinear);
      // Untargeted parameters untouched.
      assertArrayEquals(
          baseWeights.get("blocks.0.norm2.weight").toDoubleArray(),
          model.stateDict().get("blocks.0.norm2.weight").toDoubleArray(),
          0.0);
    }
  }

  @Test
  void mergeOfF32AdaptersIntoABf16BaseRoundsOnce() {
    try (var lin =
            new LoraLinear(
                new TestLinear(16, 8, true, DType.BF16, new Random(1)),
                4,
                4,
                0,
                DType.F32,
                new Generator(2));
        var s = Scope.open()) {
      assertEquals(DType.F32, lin.loraA().data().dtype());
      randomizeAdapters(lin, 3);
      Tensor x = TestModels.random(new Random(4), DType.BF16, 5, 16);
      Tensor y = lin.forward(x);
      assertEquals(DType.BF16, y.dtype());
      double[] w = lin.weight().data().toDoubleArray();
      double[] d = lin.deltaWeight().toDoubleArray();
      Module base = lin.base();
      var host = new TestModels.Container().add("proj", lin);
      Lora.merge(host);
      assertEquals(base, host.namedChildren().get("proj"));
      // Each merged weight is the BF16 rounding of the exact sum (relative error <= 2^-8).
      double[] merged = ((LinearLike) base).weight().data().toDoubleArray();
      for (int i = 0; i < w.length; i++) {
        double exact = w[i] + d[i];
        assertEquals(exact, merged[i], Math.abs(exact) * 0x1p-8 + 1e-30, "element " + i);
      }
    }
  }

  @Test
  void unloadRestoresTheBaseWithoutMerging() {
    try (var model = new TinyWan(1, 6, 10, DType.F64, 12);
        var s = Scope.open()) {
      Map<String, double[]> before = snapshot(model);
      Lora.apply(model, WAN, 2, 2, new Generator(13));
      randomizeAdapters(model, 14);
      assertEquals(6, Lora.unload(model).size());
      Map<String, double[]> after = snapshot(model);
      assertEquals(before.keySet(), after.keySet());
      for (var e : before.entrySet()) assertArrayEquals(e.getValue(), after.get(e.getKey()), 0.0);
    }
  }

  @Test
  void extractRecoversAnExactlyLowRankDelta() {
    Random rnd = new Random(20);
    try (var s = Scope.open()) {
      Tensor w = TestModels.random(rnd, DType.F64, 24, 16);
      Tensor b0 = TestModels.random(rnd, DType.F64, 24, 3);
      Tensor a0 = TestModels.random(rnd, DType.F64, 3, 16);
      Tensor delta = b0.matmul(a0);
      Tensor tuned = w.add(delta);
      for (int rank : new int[] {3, 5}) {
        try (Lora.Factors f = Lora.extract(w, tuned, rank)) {
          assertArrayEquals(new long[] {rank, 16}, f.a().shape());
          assertArrayEquals(new long[] {24, rank}, f.b().shape());
          double[] ba = f.b().matmul(f.a()).toDoubleArray();
          assertTrue(maxRelDiff(ba, delta.toDoubleArray()) < 1e-12, "rank " + rank);
          // The split is balanced: column i of B and row i of A both have norm sqrt(s_i).
          double[] an = f.a().square().sum(1).toDoubleArray();
          double[] bn = f.b().square().sum(0).toDoubleArray();
          for (int i = 0; i < 3; i++) assertEquals(an[i], bn[i], 1e-12 * an[0]);
        }
      }
    }
  }

  @Test
  void extractTruncatesOptimally() {
    // delta = U diag(s) V^T with known s: the rank-r extraction misses exactly the tail.
    Random rnd = new Random(21);
    int m = 20, n = 14;
    double[] sv = new double[n];
    for (int i = 0; i < n; i++) sv[i] = Math.pow(0.7, i) * 3;
    try (var s = Scope.open()) {
      Tensor qu = orthonormal(rnd, m, n), qv = orthonormal(rnd, n, n);
      Tensor delta = qu.mul(Tensor.of(sv, 1, n)).matmul(qv.t());
      Tensor w = TestModels.random(rnd, DType.F64, m, n).to(DType.F32);
      Tensor tuned = w.to(DType.F64).add(delta);
      for (int r : new int[] {1, 4, 9}) {
        try (Lora.Factors f = Lora.extract(w, tuned, r)) {
          double err = f.b().matmul(f.a()).sub(delta).norm().item();
          double tail = 0;
          for (int i = r; i < n; i++) tail += sv[i] * sv[i];
          assertEquals(Math.sqrt(tail), err, 1e-12, "rank " + r);
        }
      }
    }
  }

  /** [rows, cols] with orthonormal columns (Gram-Schmidt twice on Gaussian columns). */
  private static Tensor orthonormal(Random rnd, int rows, int cols) {
    double[][] c = new double[cols][rows];
    for (int j = 0; j < cols; j++) {
      for (int i = 0; i < rows; i++) c[j][i] = rnd.nextGaussian();
      for (int pass = 0; pass < 2; pass++)
        for (int k = 0; k < j; k++) {
          double d = 0;
          for (int i = 0; i < rows; i++) d += c[k][i] * c[j][i];
          for (int i = 0; i < rows; i++) c[j][i] -= d * c[k][i];
        }
      double nrm = 0;
      for (int i = 0; i < rows; i++) nrm += c[j][i] * c[j][i];
      for (int i = 0; i < rows; i++) c[j][i] /= Math.sqrt(nrm);
    }
    double[] d = new double[rows * cols];
    for (int i = 0; i < rows; i++) for (int j = 0; j < cols; j++) d[i * cols + j] = c[j][i];
    return Tensor.of(d, rows, cols);
  }

  @Test
  void extractOverAModelReproducesTheFineTuneThroughAttach(@TempDir Path dir) throws Exception {
    try (var baseModel = new TinyWan(2, 8, 12, DType.F64, 30);
        var tunedModel = new TinyWan(2, 8, 12, DType.F64, 30);
        var fresh = new TinyWan(2, 8, 12, DType.F64, 30);
        var s = Scope.open()) {
      // Fine-tune = rank-2 change on every Wan target, plus changes the adapter cannot carry
      // (a norm weight) that extraction must ignore.
      Random rnd = new Random(31);
      try (var ng = GradMode.noGrad()) {
        for (var e : tunedModel.stateDict().entrySet()) {
          Tensor t = e.getValue();
          if (t.dim() == 2)
            t.addInPlace(
                TestModels.random(rnd, DType.F64, t.size(0), 2)
                    .matmul(TestModels.random(rnd, DType.F64, 2, t.size(1))));
        }
      }
      Map<String, Tensor> adapter =
          Lora.extract(baseModel.stateDict(), tunedModel.stateDict(), 2, WAN);
      assertEquals(24, adapter.size());
      assertArrayEquals(
          new long[] {2, 8}, adapter.get("transformer.blocks.0.attn1.to_q.lora_A.weight").shape());
      assertArrayEquals(
          new long[] {8, 2}, adapter.get("transformer.blocks.0.attn1.to_q.lora_B.weight").shape());
      assertArrayEquals(
          new long[] {12, 2},
          adapter.get("transformer.blocks.1.ffn.net.0.proj.lora_B.weight").shape());
      assertTrue(adapter.containsKey("transformer.blocks.1.attn1.to_out.0.lora_A.weight"));
      assertTrue(adapter.containsKey("transformer.blocks.1.ffn.net.2.lora_B.weight"));

      Path file = dir.resolve("pytorch_lora_weights.safetensors");
      Lora.save(file, adapter, Lora.extractedConfig(adapter, "transformer"), "transformer");
      for (Tensor t : adapter.values()) t.close();
      try (Lora.LoraFile lf = Lora.load(file, "transformer")) {
        assertEquals(2, lf.config().r());
        assertEquals(2.0, lf.config().loraAlpha());
        assertEquals(wanNames(2), Lora.attach(fresh, lf.tensors(), lf.config(), "transformer"));
      }
      Tensor x = TestModels.random(new Random(32), DType.F64, 3, 8);
      double[] want = tunedModel.forward(x).toDoubleArray();
      assertTrue(maxRelDiff(fresh.forward(x).toDoubleArray(), want) < 1e-10);
      assertTrue(maxRelDiff(baseModel.forward(x).toDoubleArray(), want) > 1e-3, "test is vacuous");
    }
  }

  @Test
  void saveAndLoadRoundTripWithDiffusersKeysAndMetadata(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("pytorch_lora_weights.safetensors");
    double[] xs = new double[3 * 8];
    Random rnd = new Random(43);
    for (int i = 0; i < xs.length; i++) xs[i] = rnd.nextGaussian();
    double[] want;
    try (var model = new TinyWan(2, 8, 12, DType.F32, 40);
        var s = Scope.open()) {
      Lora.apply(model, LoraConfig.of(4, 8, WAN).withDropout(0.1), null, new Generator(41));
      randomizeAdapters(model, 42);
      model.eval();
      want = model.forward(Tensor.of(xs, 3, 8).to(DType.F32)).toDoubleArray();
      Map<String, Tensor> sd = Lora.adapterStateDict(model, Lora.DEFAULT_PREFIX);
      assertEquals(24, sd.size());
      assertTrue(
          sd.containsKey("transformer.blocks.0.attn1.to_q.lora_A.weight"), sd.keySet().toString());
      assertTrue(sd.containsKey("transformer.blocks.0.attn1.to_q.lora_B.weight"));
      assertTrue(sd.containsKey("transformer.blocks.1.attn1.to_out.0.lora_A.weight"));
      assertTrue(sd.containsKey("transformer.blocks.1.ffn.net.0.proj.lora_B.weight"));
      Lora.save(file, model, Lora.DEFAULT_PREFIX);
    }
    try (SafetensorsFile f = SafetensorsFile.open(file)) {
      assertEquals("pt", f.metadata().get("format"));
      String json = f.metadata().get("lora_adapter_metadata");
      assertTrue(json.contains("\"transformer.r\": 4"), json);
      assertTrue(json.contains("\"transformer.lora_alpha\": 8"), json);
      assertTrue(json.contains("\"transformer.lora_dropout\": 0.1"), json);
      assertTrue(json.contains("\"blocks.1.ffn.net.2\""), json);
      assertEquals(24, f.keys().size());
      assertTrue(f.keys().contains("transformer.blocks.1.ffn.net.2.lora_A.weight"));
      assertEquals("F32", f.info("transformer.blocks.1.ffn.net.2.lora_A.weight").dtype());
    }
    try (var again = new TinyWan(2, 8, 12, DType.F32, 40);
        var s = Scope.open();
        Lora.LoraFile lf = Lora.load(file, Lora.DEFAULT_PREFIX)) {
      LoraConfig c = lf.config();
      assertEquals(4, c.r());
      assertEquals(8.0, c.loraAlpha());
      assertEquals(0.1, c.loraDropout());
      assertEquals(Set.copyOf(wanNames(2)), Set.copyOf(c.targetModules()));
      // Same config, other initial values: loadAdapter must overwrite them all.
      Lora.apply(again, c, null, new Generator(99));
      Lora.loadAdapter(again, lf.tensors(), Lora.DEFAULT_PREFIX);
      again.eval();
      assertArrayEquals(
          want, again.forward(Tensor.of(xs, 3, 8).to(DType.F32)).toDoubleArray(), 0.0);
    }
  }

  @Test
  void loadAdapterIsStrictAndCopiesNothingOnError() {
    try (var model = new TinyWan(1, 6, 10, DType.F64, 50);
        var s = Scope.open()) {
      Lora.apply(model, WAN, 2, 2, new Generator(51));
      Map<String, Tensor> sd = new HashMap<>(Lora.adapterStateDict(model, "transformer"));
      Map<String, double[]> before = snapshot(model);
      Map<String, Tensor> bad = new HashMap<>();
      for (var e : sd.entrySet()) bad.put(e.getKey(), Tensor.onesLike(e.getValue()));
      bad.remove("transformer.blocks.0.attn1.to_k.lora_B.weight");
      bad.put("transformer.blocks.0.attn1.to_x.lora_A.weight", Tensor.zeros(DType.F64, 2, 6));
      bad.put("transformer.blocks.0.ffn.net.2.lora_A.weight", Tensor.zeros(DType.F64, 3, 10));
      var e =
          assertThrows(
              IllegalArgumentException.class, () -> Lora.loadAdapter(model, bad, "transformer"));
      String msg = e.getMessage();
      assertTrue(msg.contains("missing keys [transformer.blocks.0.attn1.to_k.lora_B.weight]"), msg);
      assertTrue(
          msg.contains("unexpected keys [transformer.blocks.0.attn1.to_x.lora_A.weight]"), msg);
      assertTrue(
          msg.contains(
              "transformer.blocks.0.ffn.net.2.lora_A.weight: file [3, 10] vs model [2, 10]"),
          msg);
      Map<String, double[]> after = snapshot(model);
      for (var en : before.entrySet())
        assertArrayEquals(en.getValue(), after.get(en.getKey()), 0.0);
      // Wrong prefix: everything missing and unexpected.
      var e2 =
          assertThrows(IllegalArgumentException.class, () -> Lora.loadAdapter(model, sd, "unet"));
      assertTrue(
          e2.getMessage().contains("unet.blocks.0.attn1.to_q.lora_A.weight"), e2.getMessage());
    }
  }

  @Test
  void applyRejectsBadTargets() {
    try (var model = new TinyWan(1, 6, 10, DType.F64, 60);
        var s = Scope.open()) {
      var none =
          assertThrows(
              IllegalArgumentException.class,
              () -> Lora.apply(model, List.of("to_z"), 2, 2, new Generator(1)));
      assertTrue(none.getMessage().contains("[to_z]"), none.getMessage());
      var container =
          assertThrows(
              IllegalArgumentException.class,
              () -> Lora.apply(model, List.of("attn1"), 2, 2, new Generator(1)));
      assertTrue(container.getMessage().contains("blocks.0.attn1"), container.getMessage());
      assertTrue(container.getMessage().contains("not a linear layer"), container.getMessage());
      Lora.apply(model, List.of("to_q"), 2, 2, new Generator(1));
      var twice =
          assertThrows(
              IllegalStateException.class,
              () -> Lora.apply(model, List.of("to_q"), 2, 2, new Generator(1)));
      assertTrue(twice.getMessage().contains("already has a LoRA adapter"), twice.getMessage());
      // A regex that also reaches inside the adapter (base_layer) wraps only the real layer.
      List<String> more =
          Lora.apply(
              model, LoraConfig.ofRegex(2, 2, ".*attn1\\.to_[kv].*"), null, new Generator(2));
      assertEquals(List.of("blocks.0.attn1.to_k", "blocks.0.attn1.to_v"), more);
    }
  }

  @Test
  void configFollowsPeftMatchingAndPatterns() {
    LoraConfig c =
        new LoraConfig(
            8, 16, WAN, null, 0, Map.of("blocks.1.attn1.to_q", 4), Map.of("ffn.net.2", 3.0));
    assertTrue(c.targets("blocks.3.attn2.to_out.0"));
    assertTrue(c.targets("to_q"));
    assertFalse(c.targets("blocks.3.attn2.to_out.01"));
    assertFalse(c.targets("blocks.3.attn2.xto_q"));
    assertFalse(c.targets("blocks.3.attn2.to_out"));
    assertEquals(4, c.rankFor("blocks.1.attn1.to_q"));
    assertEquals(8, c.rankFor("blocks.11.attn1.to_q"));
    assertEquals(3.0, c.alphaFor("blocks.7.ffn.net.2"));
    assertEquals(16.0, c.alphaFor("blocks.7.ffn.net.0.proj"));
    LoraConfig back = LoraConfig.fromMetadataJson(c.toMetadataJson("transformer"), "transformer");
    assertEquals(c, back);
    assertNull(LoraConfig.fromMetadataJson(c.toMetadataJson("transformer"), "transformer_2"));

    // As diffusers writes it (json.dumps(LoraConfig.to_dict()) with prefixed keys, abridged).
    String diffusers =
        """
        {
          "transformer.alpha_pattern": {},
          "transformer.bias": "none",
          "transformer.init_lora_weights": true,
          "transformer.lora_alpha": 32,
          "transformer.lora_dropout": 0.0,
          "transformer.peft_type": "LORA",
          "transformer.r": 16,
          "transformer.rank_pattern": {"blocks.0.attn1.to_q": 8},
          "transformer.target_modules": ["to_k", "to_q", "to_v", "to_out.0"],
          "transformer.use_dora": false,
          "transformer.use_rslora": false
        }""";
    LoraConfig d = LoraConfig.fromMetadataJson(diffusers, "transformer");
    assertEquals(16, d.r());
    assertEquals(32.0, d.loraAlpha());
    assertEquals(8, d.rankFor("blocks.0.attn1.to_q"));
    assertEquals(16, d.rankFor("blocks.10.attn1.to_q"));
    assertTrue(d.targets("blocks.0.attn1.to_out.0"));
    assertFalse(d.targets("blocks.0.ffn.net.2"));
    var dora =
        assertThrows(
            IllegalArgumentException.class,
            () -> LoraConfig.fromMetadataJson("{\"r\": 4, \"use_dora\": true}", null));
    assertTrue(dora.getMessage().contains("use_dora"), dora.getMessage());

    // Mixed ranks and alphas collapse to the most common value plus patterns.
    LoraConfig mixed =
        LoraConfig.describing(
            Map.of("a.to_q", 4, "a.to_k", 4, "a.to_v", 2),
            Map.of("a.to_q", 4.0, "a.to_k", 4.0, "a.to_v", 2.0),
            0);
    assertEquals(4, mixed.r());
    assertEquals(Map.of("a.to_v", 2), mixed.rankPattern());
    assertEquals(Map.of("a.to_v", 2.0), mixed.alphaPattern());
    assertEquals(2, mixed.rankFor("a.to_v"));
    assertEquals(List.of("a.to_k", "a.to_q", "a.to_v"), mixed.targetModules());
  }

  @Test
  void attachWithoutMetadataUsesAlphaEqualToRank() {
    try (var trained = new TinyWan(1, 6, 10, DType.F64, 70);
        var fresh = new TinyWan(1, 6, 10, DType.F64, 70);
        var s = Scope.open()) {
      Lora.apply(trained, List.of("to_v", "ffn.net.2"), 3, 3, new Generator(71));
      randomizeAdapters(trained, 72);
      Map<String, Tensor> sd = Lora.adapterStateDict(trained, null);
      assertTrue(sd.containsKey("blocks.0.attn1.to_v.lora_A.weight"), sd.keySet().toString());
      assertEquals(
          List.of("blocks.0.attn1.to_v", "blocks.0.ffn.net.2"), Lora.attach(fresh, sd, null, null));
      assertEquals(1.0, Lora.adapters(fresh).get("blocks.0.attn1.to_v").scale());
      Tensor x = TestModels.random(new Random(73), DType.F64, 2, 6);
      assertArrayEquals(trained.forward(x).toDoubleArray(), fresh.forward(x).toDoubleArray(), 0.0);
      var e =
          assertThrows(
              IllegalArgumentException.class,
              () ->
                  Lora.attach(
                      trained,
                      Map.of("blocks.0.attn1.to_z.lora_A.weight", Tensor.zeros(DType.F64, 3, 6)),
                      null,
                      null));
      assertTrue(
          e.getMessage().contains("'blocks.0.attn1.to_z'") && e.getMessage().contains("missing"),
          e.getMessage());
      // A failed attach leaves the model as it was.
      try (var other = new TinyWan(1, 6, 10, DType.F64, 70)) {
        Set<String> keys = other.stateDict().keySet();
        Map<String, Tensor> bad = new HashMap<>(sd);
        bad.put("blocks.0.ffn.net.2.lora_B.weight", Tensor.zeros(DType.F64, 5, 3));
        var e2 =
            assertThrows(IllegalArgumentException.class, () -> Lora.attach(other, bad, null, null));
        assertTrue(e2.getMessage().contains("file [5, 3] vs model [6, 3]"), e2.getMessage());
        assertTrue(Lora.adapters(other).isEmpty());
        assertEquals(keys, other.stateDict().keySet());
      }
    }
  }
}
