package io.kinema.train.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonParser;
import io.kinema.diffusion.wan.WanConfig;
import io.kinema.tensor.DType;
import io.kinema.tensor.Device;
import io.kinema.train.config.CallbackConfig.Validation;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RunConfigTest {
  @TempDir Path tmp;

  private ConfigFixture fixture() {
    return new ConfigFixture(tmp);
  }

  @Test
  void theExampleParsesWithEveryKey() throws IOException {
    String yaml;
    try (InputStream in = RunConfig.class.getResourceAsStream("example.yaml")) {
      yaml = new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
    }
    RunConfig c = fixture().load(yaml);

    ModelConfig s = c.student();
    assertEquals(Targets.WAN_CAUSAL_TRANSFORMER, s.target());
    assertTrue(s.causal());
    assertEquals(new InitFrom.Preset("tiny"), s.initFrom());
    assertEquals(WanConfig.tiny(), s.config()); // num_layers 2, patch [1,2,2] = tiny's own
    assertEquals(3, s.numFramesPerBlock());
    assertEquals(-1, s.localAttnSize());
    assertEquals(
        new LoraConfig(
            false, 16, 16, List.of("to_q", "to_k", "to_v", "to_out"), List.of("embedder")),
        s.lora());
    assertEquals(new MethodConfig.DiffusionForcingSft(3, 0.0, 1.0, false), c.method());

    TrainingConfig t = c.training();
    assertEquals(
        List.of(new TrainingConfig.DataSource(tmp.resolve("data"), 1)), t.data().dataPath());
    assertEquals(42, t.data().seed());
    assertEquals(0.1, t.data().trainingCfgRate());
    assertEquals(
        new TrainingConfig.Optimizer(1e-5, 0.9, 0.999, 0.01, "cosine", 10, 0, 0.0, 0.5, null),
        t.optimizer());
    assertEquals(new TrainingConfig.Loop(100, 1, 1), t.loop());
    assertEquals(
        new TrainingConfig.Checkpoint(tmp.resolve("outputs/example"), null, 50, 2), t.checkpoint());
    assertEquals("preset:tiny", t.modelPath());

    assertEquals(
        List.of("grad_clip", "ema", "validation"),
        c.callbacks().inOrder().stream().map(CallbackConfig::name).toList());
    assertEquals(0.999, c.callbacks().ema().orElseThrow().decay());
    Validation v = c.callbacks().validation().orElseThrow();
    assertEquals(Targets.SAMPLING_LOOP, v.pipelineTarget());
    assertEquals(tmp.resolve("validation.json"), v.datasetFile());
    assertEquals(List.of(8), v.samplingSteps());
    assertEquals(Validation.CausalSampling.BLOCKWISE, v.causalSampling());
    assertEquals(
        List.of(Validation.Format.GIF, Validation.Format.MP4, Validation.Format.PNG), v.formats());
    assertEquals(new PipelineConfig(3.0, -1, 0, true, PipelineConfig.Decoder.NONE), c.pipeline());
    assertEquals(List.of(), c.warnings());
  }

  @Test
  void defaultsOfAMinimalConfig() {
    RunConfig c = fixture().load(ConfigFixture.MINIMAL);

    ModelConfig s = c.student();
    assertEquals("student", s.role());
    assertFalse(s.causal());
    assertEquals(WanArch.NONE, s.arch());
    assertTrue(s.trainable());
    assertEquals(3.0, s.flowShift());
    assertFalse(s.gradientCheckpointing());
    assertFalse(s.disableCustomInitWeights());
    assertNull(s.transformerOverrideSafetensor());
    assertNull(s.attentionBackend());
    assertEquals(LoraConfig.DISABLED, s.lora());
    assertEquals(new MethodConfig.FineTune(), c.method());

    TrainingConfig t = c.training();
    assertEquals(new TrainingConfig.Distributed(1, 1, 1, 1, 1, false), t.distributed());
    assertEquals(
        new TrainingConfig.Data(
            List.of(new TrainingConfig.DataSource(tmp.resolve("data"), 1)),
            "t2v",
            1,
            0,
            0.0,
            0,
            0,
            0,
            0,
            0,
            512,
            TrainingConfig.OnBadRow.ERROR,
            true,
            true),
        t.data());
    assertEquals(
        new TrainingConfig.Optimizer(1e-4, 0.9, 0.999, 0.0, "constant", 0, 0, 0.0, 0.5, null),
        t.optimizer());
    assertEquals(new TrainingConfig.Loop(10, 1, 1), t.loop());
    // output_dir defaults to outputs/<yaml stem> next to the YAML
    assertEquals(
        new TrainingConfig.Checkpoint(tmp.resolve("outputs/run"), null, 0, 0), t.checkpoint());
    assertEquals(new TrainingConfig.Tracker(List.of(), "", "fastvideo", ""), t.tracker());
    assertEquals(new TrainingConfig.Vsa(0.0, false), t.vsa());
    assertEquals(new TrainingConfig.Model("uniform", 0.0, 1.0, 1.0, false, false), t.model());
    assertEquals("preset:tiny", t.modelPath());
    assertEquals(DType.F32, t.ditPrecision());
    assertEquals(Device.CPU, t.device());

    assertEquals(CallbacksConfig.NONE, c.callbacks());
    assertEquals(
        new PipelineConfig(3.0, null, null, false, PipelineConfig.Decoder.NONE), c.pipeline());
  }

  @Test
  void rawHoldsTheResolvedTreeWithDefaults() {
    RunConfig c = fixture().load(ConfigFixture.MINIMAL);
    Map<String, Object> raw = c.raw();
    assertEquals(
        List.of("models", "method", "training", "callbacks", "pipeline"),
        List.copyOf(raw.keySet()));
    Map<?, ?> training = (Map<?, ?>) raw.get("training");
    Map<?, ?> data = (Map<?, ?>) training.get("data");
    assertEquals(512, data.get("text_len"));
    assertEquals(Map.of(tmp.resolve("data").toString(), 1), data.get("data_path"));
    assertEquals(List.of(0.9, 0.999), ((Map<?, ?>) training.get("optimizer")).get("betas"));
    assertEquals(
        tmp.resolve("outputs/run").toString(),
        ((Map<?, ?>) training.get("checkpoint")).get("output_dir"));
    assertEquals("preset:tiny", training.get("model_path"));
    Map<?, ?> student = (Map<?, ?>) ((Map<?, ?>) raw.get("models")).get("student");
    assertEquals(Map.of(), student.get("arch")); // only overridden fields are recorded
    assertThrows(UnsupportedOperationException.class, () -> raw.put("x", 1));
    assertThrows(UnsupportedOperationException.class, () -> ((Map<String, Object>) data).clear());
  }

  @Test
  void toYamlAndToJsonRoundTrip() {
    ConfigFixture f = fixture();
    RunConfig c =
        f.load(
            ConfigFixture.minimalPlus(
                """
            callbacks:
              validation:
                pipeline_target: fastvideo.pipelines.basic.wan.wan_pipeline.WanPipeline
                dataset_file: validation.json
                sampling_steps: 4
              ema: {decay: 0.5}
            """));
    // the resolved tree is a complete, valid configuration by itself (absolute paths)
    RunConfig again = RunConfig.load(f.write("again.yaml", c.toYaml()));
    assertEquals(c.models(), again.models());
    assertEquals(c.method(), again.method());
    assertEquals(c.training(), again.training());
    assertEquals(c.callbacks(), again.callbacks());
    assertEquals(c.pipeline(), again.pipeline());
    assertEquals(c.raw(), again.raw());
    var json = JsonParser.parseString(c.toJson()).getAsJsonObject();
    assertEquals(
        4,
        json.getAsJsonObject("callbacks")
            .getAsJsonObject("validation")
            .getAsJsonArray("sampling_steps")
            .get(0)
            .getAsInt());
    assertTrue(
        json.getAsJsonObject("callbacks")
            .getAsJsonObject("validation")
            .get("guidance_scale")
            .isJsonNull());
  }

  @Test
  void anExplicitZeroIsHonoured() {
    RunConfig c =
        fixture()
            .load(
                ConfigFixture.minimalWith(
                    "learning_rate: 1.0e-4",
                    "learning_rate: 1.0e-4\n    min_lr_ratio: 0\n    betas: \"0.0,0.99\"\n    lr_power: 0"));
    assertEquals(0.0, c.training().optimizer().minLrRatio()); // FastVideo would use 0.5
    assertEquals(0.0, c.training().optimizer().beta1());
    assertEquals(0.99, c.training().optimizer().beta2());
  }

  @Test
  void fastVideoTargetsMapToOurs() {
    RunConfig c =
        fixture()
            .load(
                ConfigFixture.minimalWith(
                        "io.kinema.diffusion.wan.WanTransformer3D",
                        "fastvideo.train.models.wan.WanModel")
                    .replace(
                        "io.kinema.train.method.FineTuneMethod",
                        "fastvideo.train.methods.fine_tuning.finetune.FineTuneMethod"));
    assertEquals(Targets.WAN_TRANSFORMER, c.student().target());
    assertEquals(Targets.FINE_TUNE_METHOD, c.method().target());
    Map<?, ?> student = (Map<?, ?>) ((Map<?, ?>) c.raw().get("models")).get("student");
    assertEquals(Targets.WAN_TRANSFORMER, student.get("_target_"));
  }

  @Test
  void relativePathsResolveAgainstTheYamlFolder() throws IOException {
    Path sub = Files.createDirectories(tmp.resolve("configs"));
    ConfigFixture f = new ConfigFixture(sub);
    Files.createDirectories(tmp.resolve("shared/latents"));
    String yaml =
        ConfigFixture.minimalWith("data_path: data", "data_path: \"data:2,../shared/latents\"")
            + """
              checkpoint:
                output_dir: ../runs/a
            callbacks:
              validation:
                pipeline_target: io.kinema.diffusion.schedulers.SamplingLoop
                dataset_file: validation.json
                output_dir: samples
            """;
    RunConfig c = RunConfig.load(f.write(yaml));
    assertEquals(
        List.of(
            new TrainingConfig.DataSource(sub.resolve("data"), 2),
            new TrainingConfig.DataSource(tmp.resolve("shared/latents"), 1)),
        c.training().data().dataPath());
    assertEquals(tmp.resolve("runs/a"), c.training().checkpoint().outputDir());
    Validation v = c.callbacks().validation().orElseThrow();
    assertEquals(sub.resolve("validation.json"), v.datasetFile());
    assertEquals(sub.resolve("samples"), v.outputDir());
  }

  @Test
  void dataPathAsListOrMap() {
    ConfigFixture f = fixture();
    var list =
        f.load(ConfigFixture.minimalWith("data_path: data", "data_path: [data, \"data:3\"]"));
    // the same folder twice: the later entry's repeat count wins, as in a dict
    assertEquals(
        List.of(new TrainingConfig.DataSource(tmp.resolve("data"), 3)),
        list.training().data().dataPath());
    var map = f.load(ConfigFixture.minimalWith("data_path: data", "data_path: {data: 4}"));
    assertEquals(
        List.of(new TrainingConfig.DataSource(tmp.resolve("data"), 4)),
        map.training().data().dataPath());
  }

  @Test
  void initFromADiffusersFolderReadsItsConfig() throws IOException {
    Path transformer = Files.createDirectories(tmp.resolve("wan/transformer"));
    Files.writeString(transformer.resolve("config.json"), WanConfig.tiny().toJson());
    Files.write(transformer.resolve("diffusion_pytorch_model.safetensors"), new byte[0]);
    RunConfig c =
        fixture()
            .load(
                ConfigFixture.minimalWith(
                    "init_from: preset:tiny",
                    "init_from: wan\n    arch: {num_layers: 1, ffn_dim: 64}"));
    InitFrom.Pretrained p = assertInstanceOf(InitFrom.Pretrained.class, c.student().initFrom());
    assertEquals(tmp.resolve("wan"), p.path());
    assertEquals(transformer.resolve("config.json"), p.configFile());
    assertEquals(transformer.resolve("diffusion_pytorch_model.safetensors"), p.weights());
    WanConfig expected = WanConfig.tiny().withNumLayers(1);
    assertEquals(64, c.student().config().ffnDim());
    assertEquals(expected.numLayers(), c.student().config().numLayers());
    assertEquals(tmp.resolve("wan").toString(), c.training().modelPath());
  }

  @Test
  void causalSettingsFallBackToThePipelineDitConfig() {
    String yaml =
        ConfigFixture.MINIMAL
                .replace("WanTransformer3D", "WanCausalTransformer3D")
                .replace(
                    "io.kinema.train.method.FineTuneMethod",
                    "io.kinema.train.method.DiffusionForcingSftMethod\n  chunk_size: 2")
                .replace(
                    "init_from: preset:tiny",
                    "init_from: preset:tiny\n    num_frames_per_block: 2\n    sink_size: 1")
            + "pipeline:\n  dit_config: {local_attn_size: 6, sink_size: 3}\n";
    RunConfig c = fixture().load(yaml);
    assertEquals(2, c.student().numFramesPerBlock());
    assertEquals(6, c.student().localAttnSize()); // from pipeline.dit_config
    assertEquals(1, c.student().sinkSize()); // the role's own value wins
    assertTrue(c.pipeline().isCausal());
    assertEquals(new MethodConfig.DiffusionForcingSft(2, 0.0, 1.0, false), c.method());
  }

  @Test
  void teacherForcingSftTakesTheDiffusionForcingKeysAndNeedsGlobalAttention() {
    String yaml =
        ConfigFixture.MINIMAL
            .replace("WanTransformer3D", "WanCausalTransformer3D")
            .replace(
                "io.kinema.train.method.FineTuneMethod",
                "fastvideo.train.methods.fine_tuning.tfsft.TeacherForcingSFTMethod\n"
                    + "  chunk_size: 1\n  max_timestep_ratio: 0.9")
            .replace(
                "init_from: preset:tiny", "init_from: preset:tiny\n    num_frames_per_block: 1");
    RunConfig c = fixture().load(yaml);
    assertEquals(new MethodConfig.DiffusionForcingSft(1, 0.0, 0.9, true), c.method());
    assertEquals(Targets.TFSFT_METHOD, c.method().target());
    ConfigException e =
        assertThrows(
            ConfigException.class,
            () ->
                fixture()
                    .load(
                        yaml.replace(
                            "num_frames_per_block: 1",
                            "num_frames_per_block: 1\n    local_attn_size: 3")));
    assertTrue(
        e.getMessage()
            .contains(
                "models.student.local_attn_size: TeacherForcingSftMethod needs global attention"),
        e.getMessage());
  }

  @Test
  void loraDefaultsAlphaToTheRank() {
    RunConfig c =
        fixture()
            .load(
                ConfigFixture.minimalWith(
                    "init_from: preset:tiny",
                    "init_from: preset:tiny\n    lora: {enable: true, rank: 8}"));
    LoraConfig l = c.student().lora();
    assertEquals(new LoraConfig(true, 8, 8.0, LoraConfig.DEFAULT_TARGETS, List.of("embedder")), l);
    assertEquals(1.0, l.scale());
  }

  @Test
  void gradientCheckpointingFallsBackToTrainingModel() {
    RunConfig c =
        fixture()
            .load(
                ConfigFixture.minimalPlus(
                    "  model: {enable_gradient_checkpointing_type: full}\n")); // inside training
    assertTrue(c.training().model().gradientCheckpointing());
    assertTrue(c.student().gradientCheckpointing());
  }

  @Test
  void acceptedFastVideoKeysWithoutEffectAreWarnings() {
    RunConfig c =
        fixture()
            .load(
                ConfigFixture.minimalPlus(
                    """
            callbacks:
              validation:
                pipeline_target: io.kinema.diffusion.schedulers.SamplingLoop
                dataset_file: validation.json
                offload_training_state: true
            pipeline:
              negative_prompt: blurry
            """));
    String prefix = tmp.resolve("run.yaml") + ": ";
    assertEquals(
        List.of(
            prefix + "pipeline.negative_prompt: ignored: Kinema has no text encoder to encode it",
            prefix
                + "callbacks.validation.offload_training_state: ignored: a FastVideo validation"
                + " option with no effect in Kinema"),
        c.warnings());
  }

  @Test
  void fromMapTakesImmutableMaps() {
    Map<String, Object> raw =
        Map.of(
            "models",
                Map.of(
                    "student",
                    Map.of("_target_", Targets.WAN_TRANSFORMER, "init_from", "preset:tiny")),
            "method", Map.of("_target_", Targets.FINE_TUNE_METHOD),
            "training",
                Map.of(
                    "data", Map.of("data_path", List.of("data")),
                    "optimizer", Map.of("learning_rate", 0.001),
                    "loop", Map.of("max_train_steps", 3)));
    fixture();
    RunConfig c = RunConfig.fromMap(raw, "inline", tmp);
    assertEquals(3, c.training().loop().maxTrainSteps());
    assertEquals(tmp.resolve("outputs/inline"), c.training().checkpoint().outputDir());
  }

  @Test
  void yaml12Scalars() {
    RunConfig c =
        fixture()
            .load(
                ConfigFixture.minimalWith("learning_rate: 1.0e-4", "learning_rate: 3e-4")
                    + "  tracker: {run_name: off, entity: 123}\n");
    assertEquals(3e-4, c.training().optimizer().learningRate()); // a number, not a string
    assertEquals("off", c.training().tracker().runName()); // a string, not false
    assertEquals("123", c.training().tracker().entity());
  }
}
