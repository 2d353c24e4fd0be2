package io.kinema.diffusion.wan;

import static io.kinema.diffusion.wan.WanTestUtil.golden;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kinema.tensor.DType;
import io.kinema.tensor.Generator;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.io.Safetensors;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** saveDiffusers / fromPretrained round trips, sharding, strictness and the original Wan names. */
class WanCheckpointTest {
  @TempDir Path tmp;

  private static Tensor randn(Random rnd, DType dt, long... shape) {
    long n = 1;
    for (long d : shape) n *= d;
    double[] v = new double[(int) n];
    for (int i = 0; i < v.length; i++) v[i] = rnd.nextGaussian();
    try (Tensor t = Tensor.of(v, shape)) {
      return t.to(dt);
    }
  }

  /** A forward on fixed random inputs. */
  private static double[] output(WanTransformer3D m) {
    Random rnd = new Random(11);
    try (var s = Scope.open()) {
      DType dt = m.dtype();
      return m.forward(
              randn(rnd, dt, 1, 4, 2, 4, 6),
              Tensor.of(new double[] {500.0}, 1),
              randn(rnd, dt, 1, 5, 24))
          .toDoubleArray();
    }
  }

  private static void assertSameState(WanTransformer3D a, WanTransformer3D b) {
    Map<String, Tensor> sa = a.stateDict(), sb = b.stateDict();
    assertEquals(new ArrayList<>(sa.keySet()), new ArrayList<>(sb.keySet()));
    for (String k : sa.keySet()) {
      assertEquals(sa.get(k).dtype(), sb.get(k).dtype(), k);
      assertArrayEquals(sa.get(k).toDoubleArray(), sb.get(k).toDoubleArray(), 0, k);
    }
  }

  @Test
  void saveThenLoadGivesTheSameModel() throws IOException {
    try (WanTransformer3D m = new WanTransformer3D(WanConfig.tiny(), DType.F32, new Generator(3))) {
      Path dir = tmp.resolve("single");
      m.saveDiffusers(dir);
      assertTrue(Files.isRegularFile(dir.resolve("diffusion_pytorch_model.safetensors")));
      assertEquals(WanConfig.tiny(), WanConfig.load(dir.resolve("config.json")));
      try (WanTransformer3D back = WanTransformer3D.fromPretrained(dir)) {
        assertSameState(m, back);
        assertArrayEquals(output(m), output(back), 0);
        assertFalse(back.loadInfo().originalLayout());
      }
      // a pipeline folder (model under transformer/) loads too
      Path pipe = tmp.resolve("pipe");
      m.saveDiffusers(pipe.resolve("transformer"));
      try (WanTransformer3D back = WanTransformer3D.fromPretrained(pipe)) {
        assertSameState(m, back);
      }
    }
  }

  @Test
  void largeModelsAreShardedAndShardsReplaceTheSingleFile() throws IOException {
    try (WanTransformer3D m =
        new WanTransformer3D(WanConfig.tiny(), DType.BF16, new Generator(4))) {
      Path dir = tmp.resolve("sharded");
      m.saveDiffusers(dir);
      m.saveDiffusers(dir, 100_000); // 132240 params (some F32) > 100 kB: several shards
      assertFalse(Files.exists(dir.resolve("diffusion_pytorch_model.safetensors")));
      Path index = dir.resolve("diffusion_pytorch_model.safetensors.index.json");
      assertTrue(Files.isRegularFile(index));
      long shards;
      try (var files = Files.list(dir)) {
        shards =
            files
                .filter(
                    p -> p.getFileName().toString().matches(".*-\\d{5}-of-\\d{5}\\.safetensors"))
                .count();
      }
      assertTrue(shards >= 2, "shards: " + shards);
      try (WanTransformer3D back = WanTransformer3D.fromPretrained(dir, DType.BF16)) {
        assertEquals(index, back.loadInfo().weights());
        assertSameState(m, back);
        assertArrayEquals(output(m), output(back), 0);
      }
      m.saveDiffusers(dir); // back to one file: the index and shards go
      assertFalse(Files.exists(index));
      try (var files = Files.list(dir)) {
        assertEquals(2, files.count(), "config.json and the single file");
      }
    }
  }

  @Test
  void strictLoadingListsMissingAndUnexpectedKeys() throws IOException {
    Path g = golden();
    try (var s = Scope.open()) {
      Map<String, Tensor> w =
          new LinkedHashMap<>(Safetensors.load(g.resolve("diffusion_pytorch_model.safetensors")));
      w.remove("blocks.1.attn2.norm_k.weight");
      w.put("blocks.0.extra.weight", Tensor.zeros(DType.F32, 3));
      w.put(
          "blocks.0.attn2.norm_added_q.weight", Tensor.zeros(DType.F32, 64)); // diffusers drops it
      Path dir = tmp.resolve("broken");
      Files.createDirectories(dir);
      Files.copy(g.resolve("config.json"), dir.resolve("config.json"));
      Safetensors.save(
          dir.resolve("diffusion_pytorch_model.safetensors"), w, Map.of("format", "pt"));
      var e =
          assertThrows(IllegalArgumentException.class, () -> WanTransformer3D.fromPretrained(dir));
      assertTrue(
          e.getMessage().contains("missing keys [blocks.1.attn2.norm_k.weight]"), e.getMessage());
      assertTrue(
          e.getMessage().contains("unexpected keys [blocks.0.extra.weight]"), e.getMessage());
      try (WanTransformer3D lax = WanTransformer3D.fromPretrained(dir, DType.F32, false)) {
        var info = lax.loadInfo();
        assertEquals(List.of("blocks.1.attn2.norm_k.weight"), info.result().missing());
        assertEquals(List.of("blocks.0.extra.weight"), info.result().unexpected());
        assertEquals(List.of("blocks.0.attn2.norm_added_q.weight"), info.ignoredWeights());
      }
    }
  }

  /** diffusers' names -> the original Wan names -> diffusers' names, and loading either layout. */
  @Test
  void originalWanLayoutLoadsAndConvertsBack() throws IOException {
    Path g = golden();
    try (var s = Scope.open()) {
      Map<String, Tensor> w = Safetensors.load(g.resolve("diffusion_pytorch_model.safetensors"));
      Map<String, Tensor> orig = new LinkedHashMap<>();
      for (var e : w.entrySet()) {
        String o = WanKeys.toOriginal(e.getKey());
        assertEquals(e.getKey(), WanKeys.toDiffusers(o), "round trip of " + e.getKey());
        orig.put(o, e.getValue());
      }
      assertEquals(w.size(), orig.size(), "the mapping is one to one");
      for (String k :
          List.of(
              "head.modulation",
              "head.head.weight",
              "patch_embedding.weight",
              "time_embedding.0.weight",
              "time_embedding.2.bias",
              "time_projection.1.weight",
              "text_embedding.0.weight",
              "text_embedding.2.bias",
              "blocks.0.modulation",
              "blocks.0.self_attn.q.weight",
              "blocks.0.self_attn.o.bias",
              "blocks.0.self_attn.norm_k.weight",
              "blocks.1.cross_attn.v.weight",
              "blocks.1.cross_attn.norm_q.weight",
              "blocks.1.norm3.weight",
              "blocks.1.norm3.bias",
              "blocks.0.ffn.0.weight",
              "blocks.0.ffn.2.bias")) {
        assertTrue(orig.containsKey(k), "no " + k + " in " + new TreeSet<>(orig.keySet()));
      }
      assertFalse(
          orig.keySet().stream().anyMatch(k -> k.contains(".norm2.")),
          "norm2 has no parameters in the original");
      assertEquals(
          "blocks.3.attn2.add_k_proj.weight",
          WanKeys.toDiffusers("blocks.3.cross_attn.k_img.weight"));
      assertEquals(
          "condition_embedder.image_embedder.ff.net.0.proj.bias",
          WanKeys.toDiffusers("img_emb.proj.1.bias"));
      assertTrue(WanKeys.isOriginalLayout(orig.keySet()));
      assertFalse(WanKeys.isOriginalLayout(w.keySet()));

      // an original-layout folder: WanModel config.json + original names
      Path dir = tmp.resolve("original");
      Files.createDirectories(dir);
      Files.writeString(
          dir.resolve("config.json"),
          "{\"_class_name\": \"WanModel\", \"dim\": 64, \"eps\": 1e-06, \"ffn_dim\": 96,"
              + " \"freq_dim\": 32, \"in_dim\": 4, \"model_type\": \"t2v\", \"num_heads\": 2,"
              + " \"num_layers\": 2, \"out_dim\": 4, \"text_dim\": 24, \"text_len\": 512}");
      Safetensors.save(
          dir.resolve("diffusion_pytorch_model.safetensors"), orig, Map.of("format", "pt"));
      try (WanTransformer3D fromOrig = WanTransformer3D.fromPretrained(dir);
          WanTransformer3D fromDiffusers = WanTransformer3D.fromPretrained(g)) {
        assertTrue(fromOrig.loadInfo().originalLayout());
        assertEquals(List.of(), fromOrig.loadInfo().ignoredConfigKeys());
        assertSameState(fromDiffusers, fromOrig);
        assertArrayEquals(output(fromDiffusers), output(fromOrig), 0);
        // and back to diffusers' layout: the golden's key set
        Path conv = tmp.resolve("converted");
        fromOrig.saveDiffusers(conv);
        Map<String, Tensor> saved =
            Safetensors.load(conv.resolve("diffusion_pytorch_model.safetensors"));
        assertEquals(new TreeSet<>(w.keySet()), new TreeSet<>(saved.keySet()));
        for (String k : w.keySet()) {
          assertArrayEquals(w.get(k).toDoubleArray(), saved.get(k).toDoubleArray(), 0, k);
        }
      }
    }
  }

  @Test
  void badInputsAreRejectedWithTheirShapes() {
    try (var s = Scope.open();
        WanTransformer3D m = new WanTransformer3D(WanConfig.tiny(), DType.F32, null)) {
      Tensor t = Tensor.of(new double[] {1, 2}, 2);
      Tensor ctx = Tensor.zeros(DType.F32, 2, 3, 24);
      var e =
          assertThrows(
              IllegalArgumentException.class,
              () -> m.forward(Tensor.zeros(DType.F32, 2, 4, 1, 5, 4), t, ctx));
      assertTrue(e.getMessage().contains("expected hidden_states [B, 4, F, H, W]"), e.getMessage());
      assertTrue(e.getMessage().contains("F32[2, 4, 1, 5, 4]"), e.getMessage());
      e =
          assertThrows(
              IllegalArgumentException.class,
              () ->
                  m.forward(
                      Tensor.zeros(DType.F32, 2, 4, 1, 4, 4), Tensor.of(new double[] {1}, 1), ctx));
      assertTrue(e.getMessage().contains("expected timestep [2]"), e.getMessage());
      e =
          assertThrows(
              IllegalArgumentException.class,
              () ->
                  m.forward(
                      Tensor.zeros(DType.F32, 2, 4, 1, 4, 4),
                      t,
                      Tensor.zeros(DType.F32, 2, 3, 23)));
      assertTrue(
          e.getMessage().contains("expected encoder_hidden_states [2, S, 24]"), e.getMessage());
    }
  }
}
