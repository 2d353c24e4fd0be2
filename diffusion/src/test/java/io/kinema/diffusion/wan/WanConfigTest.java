package io.kinema.diffusion.wan;

import static io.kinema.diffusion.wan.WanTestUtil.golden;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kinema.tensor.DType;
import java.io.IOException;
import java.util.List;
import org.junit.jupiter.api.Test;

/** config.json parsing, presets and their sizes. */
class WanConfigTest {
  @Test
  void goldenConfigIsTheTinyPreset() throws IOException {
    WanConfig.Parsed p = WanConfig.read(golden().resolve("config.json"));
    assertEquals(WanConfig.tiny(), p.config());
    assertEquals(List.of(), p.ignoredKeys());
    assertFalse(p.originalLayout());
    assertEquals(64, p.config().innerDim());
    // the golden README: 132240 parameters
    assertEquals(132240, p.config().parameterCount());
  }

  @Test
  void presetsHaveThePublishedSizes() {
    WanConfig small = WanConfig.t2v1_3B(), big = WanConfig.t2v14B();
    assertEquals(1536, small.innerDim());
    assertEquals(30, small.numLayers());
    assertEquals(8960, small.ffnDim());
    assertEquals(5120, big.innerDim());
    assertEquals(40, big.numLayers());
    assertEquals(13824, big.ffnDim());
    assertEquals(1_418_996_800L, small.parameterCount());
    assertEquals(14_288_491_584L, big.parameterCount());
    // the formula against a real (zero-initialized) model with the 1.3B widths and one layer
    try (WanTransformer3D m = new WanTransformer3D(small.withNumLayers(1), DType.BF16, null)) {
      assertEquals(small.withNumLayers(1).parameterCount(), m.parameterCount(false));
    }
  }

  @Test
  void jsonRoundTripAndDiffusersDefaults() {
    WanConfig c = WanConfig.t2v14B();
    WanConfig.Parsed back = WanConfig.parse(c.toJson(), "mem");
    assertEquals(c, back.config());
    assertEquals(List.of(), back.ignoredKeys());
    assertTrue(c.toJson().contains("\"_class_name\": \"WanTransformer3DModel\""), c.toJson());
    assertTrue(c.toJson().contains("\"image_dim\": null"), c.toJson());
    String minimal =
        "{\"patch_size\": [1, 2, 2], \"num_attention_heads\": 2, \"attention_head_dim\": 8,"
            + " \"in_channels\": 3, \"text_dim\": 5, \"freq_dim\": 4, \"ffn_dim\": 7,"
            + " \"num_layers\": 1, \"out_channels\": null, \"image_dim\": null,"
            + " \"window_size\": [-1, -1], \"add_img_emb\": false}";
    WanConfig.Parsed p = WanConfig.parse(minimal, "minimal.json");
    assertEquals(3, p.config().outChannels(), "out_channels null means in_channels");
    assertTrue(p.config().crossAttnNorm());
    assertEquals(1e-6, p.config().eps());
    assertEquals(1024, p.config().ropeMaxSeqLen());
    assertNull(p.config().imageDim());
    assertEquals(List.of("window_size", "add_img_emb"), p.ignoredKeys());
  }

  @Test
  void badConfigsNameTheFileAndTheKey() {
    String noLayers =
        "{\"patch_size\": [1, 2, 2], \"num_attention_heads\": 2, \"attention_head_dim\": 8,"
            + " \"in_channels\": 3, \"text_dim\": 5, \"freq_dim\": 4, \"ffn_dim\": 7}";
    var e =
        assertThrows(
            IllegalArgumentException.class, () -> WanConfig.parse(noLayers, "a/config.json"));
    assertEquals("a/config.json: missing required key \"num_layers\"", e.getMessage());
    e =
        assertThrows(
            IllegalArgumentException.class,
            () -> WanConfig.parse(noLayers.replace("}", ", \"num_layers\": 1.5}"), "b.json"));
    assertTrue(
        e.getMessage().startsWith("b.json: key \"num_layers\" must be an integer"), e.getMessage());
    e =
        assertThrows(
            IllegalArgumentException.class,
            () -> WanConfig.parse(noLayers.replace("[1, 2, 2]", "[1, 2]"), "c.json"));
    assertTrue(
        e.getMessage().contains("c.json: key \"patch_size\" must be an array of 3"),
        e.getMessage());
    e =
        assertThrows(
            IllegalArgumentException.class,
            () ->
                WanConfig.parse(
                    "{\"_class_name\": \"UNet2DConditionModel\", \"num_attention_heads\": 1}",
                    "d.json"));
    assertTrue(
        e.getMessage().contains("d.json: _class_name is \"UNet2DConditionModel\""), e.getMessage());
    e =
        assertThrows(
            IllegalArgumentException.class,
            () ->
                WanConfig.parse(
                    noLayers.replace("}", ", \"num_layers\": 1, \"qk_norm\": \"layer_norm\"}"),
                    "e.json"));
    assertTrue(e.getMessage().contains("qk_norm \"layer_norm\" is not supported"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> WanConfig.parse("[1]", "f.json"));
    assertEquals("f.json: not a JSON object", e.getMessage());
  }

  @Test
  void originalWanConfigIsRead() {
    // Wan-AI/Wan2.1-T2V-1.3B's config.json (original repository layout)
    String json =
        "{\"_class_name\": \"WanModel\", \"_diffusers_version\": \"0.30.0\", \"dim\": 1536,"
            + " \"eps\": 1e-06, \"ffn_dim\": 8960, \"freq_dim\": 256, \"in_dim\": 16,"
            + " \"model_type\": \"t2v\", \"num_heads\": 12, \"num_layers\": 30, \"out_dim\": 16,"
            + " \"text_len\": 512}";
    WanConfig.Parsed p = WanConfig.parse(json, "orig.json");
    assertTrue(p.originalLayout());
    assertEquals(WanConfig.t2v1_3B(), p.config());
    assertEquals(List.of(), p.ignoredKeys());
  }

  @Test
  void imageToVideoIsRefusedClearly() {
    WanConfig i2v =
        WanConfig.parse(
                WanConfig.tiny().toJson().replace("\"image_dim\": null", "\"image_dim\": 8"), "x")
            .config();
    assertTrue(i2v.isImageToVideo());
    var e =
        assertThrows(
            UnsupportedOperationException.class, () -> new WanTransformer3D(i2v, DType.F32, null));
    assertTrue(e.getMessage().contains("image-to-video"), e.getMessage());
  }
}
