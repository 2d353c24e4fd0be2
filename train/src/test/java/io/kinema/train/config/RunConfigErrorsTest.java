package io.kinema.train.config;

import static io.kinema.train.config.ConfigFixture.MINIMAL;
import static io.kinema.train.config.ConfigFixture.minimalPlus;
import static io.kinema.train.config.ConfigFixture.minimalWith;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kinema.tensor.Device;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Each kind of configuration error, asserted on its one-line message. */
class RunConfigErrorsTest {
  @TempDir Path tmp;
  private ConfigFixture f;

  @BeforeEach
  void setUp() {
    f = new ConfigFixture(tmp);
  }

  private static final String VALIDATION =
      """
      callbacks:
        validation:
          pipeline_target: io.kinema.diffusion.schedulers.SamplingLoop
          dataset_file: validation.json
      """;

  @Test
  void unknownKeySuggestsTheClosestValidOne() {
    List<String> errors = f.errors(minimalWith("learning_rate:", "lerning_rate:"));
    assertEquals(
        List.of(
            "run.yaml: training.optimizer.lerning_rate: unknown key (did you mean 'learning_rate'?)",
            "run.yaml: training.optimizer.learning_rate: must be > 0 for FineTuneMethod, got 0.0"),
        errors);
  }

  @Test
  void unknownKeyWithoutACloseOneListsTheValidKeys() {
    assertEquals(
        "run.yaml: training.loop.zzzzzzzz: unknown key (valid keys: max_train_steps,"
            + " gradient_accumulation_steps, log_every_steps)",
        f.error(minimalWith("max_train_steps: 10", "max_train_steps: 10\n    zzzzzzzz: 1")));
  }

  @Test
  void unknownSectionSuggestsTheClosestOne() {
    assertEquals(
        "run.yaml: callback: unknown key (did you mean 'callbacks'?)",
        f.error(minimalPlus("callback: {}\n")));
  }

  @Test
  void wrongTypesNameThePathAndTheExpectedType() {
    assertEquals(
        List.of(
            "run.yaml: models.student.trainable: expected true or false, got 'yes'",
            "run.yaml: training.data.seed: expected an integer, got a list",
            "run.yaml: training.optimizer.learning_rate: expected a number, got 'abc'",
            "run.yaml: training.loop.max_train_steps: expected an integer, got 1.5"),
        f.errors(
            MINIMAL
                .replace("learning_rate: 1.0e-4", "learning_rate: abc")
                .replace("max_train_steps: 10", "max_train_steps: 1.5")
                .replace("init_from: preset:tiny", "init_from: preset:tiny\n    trainable: yes")
                .replace("data_path: data", "data_path: data\n    seed: [1]")));
  }

  @Test
  void requiredKeys() {
    assertEquals(
        "run.yaml: training.loop.max_train_steps: required (optimizer steps, > 0)",
        f.error(minimalWith("max_train_steps: 10", "gradient_accumulation_steps: 2")));
    assertEquals(
        "run.yaml: models.student.init_from: required",
        f.error(minimalWith("    init_from: preset:tiny\n", "")));
    assertEquals(
        "run.yaml: models.student: required (the role that trains)",
        f.error(minimalWith("student:", "teacher:")));
    assertEquals(
        List.of("run.yaml: method: required section is missing"),
        f.errors(minimalWith("method:\n  _target_: io.kinema.train.method.FineTuneMethod\n", "")));
  }

  @Test
  void aMissingSectionHidesTheErrorsOfItsKeys() {
    String noTraining = MINIMAL.substring(0, MINIMAL.indexOf("training:"));
    assertEquals("run.yaml: training: required section is missing", f.error(noTraining));
  }

  @Test
  void constraintsOfTheMethod() {
    assertEquals(
        "run.yaml: training.optimizer.learning_rate: must be > 0 for FineTuneMethod, got 0.0",
        f.error(minimalWith("learning_rate: 1.0e-4", "learning_rate: 0")));
    String dfsft =
        minimalWith(
            "io.kinema.train.method.FineTuneMethod",
            "fastvideo.train.methods.fine_tuning.dfsft.DiffusionForcingSFTMethod");
    assertEquals(
        "run.yaml: models.student._target_: DiffusionForcingSftMethod needs the causal model"
            + " io.kinema.diffusion.wan.WanCausalTransformer3D (FastVideo:"
            + " fastvideo.train.models.wan.WanCausalModel), got"
            + " io.kinema.diffusion.wan.WanTransformer3D",
        f.error(dfsft));
    String causal = dfsft.replace("WanTransformer3D", "WanCausalTransformer3D");
    assertEquals(
        "run.yaml: method.chunk_size: must equal models.student.num_frames_per_block (3), got 2",
        f.error(causal, "--method.chunk_size", "2"));
    assertEquals(
        "run.yaml: method.max_timestep_ratio: must be >= min_timestep_ratio (0.5), got 0.25",
        f.error(causal, "--method.min_timestep_ratio=0.5", "--method.max_timestep_ratio=0.25"));
    assertEquals(
        "run.yaml: method.chunk_size: unknown key (valid keys: _target_)",
        f.error(MINIMAL, "--method.chunk_size=3"));
  }

  @Test
  void unknownAndUnimplementedTargets() {
    assertEquals(
        "run.yaml: models.student._target_: unknown model 'fastvideo.train.models.wan.WanModle'"
            + " (did you mean 'fastvideo.train.models.wan.WanModel'?); known:"
            + " io.kinema.diffusion.wan.WanTransformer3D, fastvideo.train.models.wan.WanModel,"
            + " io.kinema.diffusion.wan.WanCausalTransformer3D,"
            + " fastvideo.train.models.wan.WanCausalModel",
        f.error(MINIMAL, "--models.student._target_", "fastvideo.train.models.wan.WanModle"));
    assertEquals(
        "run.yaml: method._target_: 'fastvideo.train.methods.distribution_matching.dmd2.DMD2Method'"
            + " is not implemented yet in Kinema (available: io.kinema.train.method.FineTuneMethod,"
            + " io.kinema.train.method.DiffusionForcingSftMethod,"
            + " io.kinema.train.method.TeacherForcingSftMethod)",
        f.error(
            MINIMAL,
            "--method._target_=fastvideo.train.methods.distribution_matching.dmd2.DMD2Method",
            "--method.rollout_mode=simulate"));
  }

  @Test
  void presetsAndMissingPaths() {
    assertEquals(
        "run.yaml: models.student.init_from: unknown preset 'wan2.1-t2v-1.3'"
            + " (did you mean 'wan2.1-t2v-1.3b'?); known: preset:wan2.1-t2v-1.3b,"
            + " preset:wan2.1-t2v-14b, preset:tiny",
        f.error(MINIMAL, "--models.student.init_from=preset:wan2.1-t2v-1.3"));
    assertEquals(
        "run.yaml: models.student.init_from: 'Wan-AI/Wan2.1-T2V-1.3B-Diffusers' does not exist"
            + " (resolved to "
            + tmp.resolve("Wan-AI/Wan2.1-T2V-1.3B-Diffusers")
            + "); Kinema does"
            + " not download from the Hugging Face Hub: give a local diffusers folder or"
            + " preset:<name>",
        f.error(MINIMAL, "--models.student.init_from=Wan-AI/Wan2.1-T2V-1.3B-Diffusers"));
    assertEquals(
        "run.yaml: models.student.init_from: no config.json in "
            + tmp.resolve("data")
            + " (expected a diffusers transformer folder)",
        f.error(MINIMAL, "--models.student.init_from=data"));
    assertEquals(
        "run.yaml: training.data.data_path: 'nowhere' does not exist (resolved to "
            + tmp.resolve("nowhere")
            + ")",
        f.error(MINIMAL, "--training.data.data_path=nowhere"));
    assertEquals(
        "run.yaml: training.checkpoint.resume_from_checkpoint: 'ckpt' does not exist (resolved to "
            + tmp.resolve("ckpt")
            + ") (or use 'latest')",
        f.error(MINIMAL, "--training.checkpoint.resume_from_checkpoint=ckpt"));
  }

  @Test
  void architectureOverrides() {
    assertEquals(
        "run.yaml: models.student.arch.num_layer: unknown key (did you mean 'num_layers'?)",
        f.error(MINIMAL, "--models.student.arch.num_layer=1"));
    assertEquals(
        "run.yaml: models.student.arch: attention_head_dim must be even (rotary pairs), got 33",
        f.error(MINIMAL, "--models.student.arch.attention_head_dim=33"));
    assertEquals(
        "run.yaml: models.student.arch.patch_size: expected [t, h, w] of 3 positive integers,"
            + " got [1, 2]",
        f.error(MINIMAL, "--models.student.arch.patch_size=[1, 2]"));
  }

  @Test
  void modelKeys() {
    assertEquals(
        "run.yaml: models.student.num_frames_per_block: only applies to the causal model"
            + " (io.kinema.diffusion.wan.WanCausalTransformer3D)",
        f.error(MINIMAL, "--models.student.num_frames_per_block=3"));
    assertEquals(
        "run.yaml: models.student.flow_shift: must be > 0, got 0.0",
        f.error(MINIMAL, "--models.student.flow_shift=0"));
    assertEquals(
        "run.yaml: models.student.lora.rank: required when lora.enable is true (e.g. 16)",
        f.error(MINIMAL, "--models.student.lora.enable=true"));
    assertEquals(
        "run.yaml: models.student.attention_backend: expected one of auto, flash, torch_sdpa,"
            + " got 'flsh' (did you mean 'flash'?)",
        f.error(MINIMAL, "--models.student.attention_backend=flsh"));
    String causal = MINIMAL.replace("WanTransformer3D", "WanCausalTransformer3D");
    assertEquals(
        "run.yaml: models.student.local_attn_size: must be -1 (global) or >= num_frames_per_block"
            + " (3), got 2",
        f.error(causal, "--models.student.local_attn_size=2"));
    assertEquals(
        "run.yaml: pipeline.is_causal: false, but the student is the causal model",
        f.error(causal, "--pipeline.is_causal=false"));
  }

  /** {@link ConfigFixture#MINIMAL} with {@code training.devices: <list>} (and more keys). */
  private static String withDevices(String list) {
    return minimalWith("  loop:\n", "  devices: " + list + "\n  loop:\n");
  }

  @Test
  void dataParallelKeys() {
    assertEquals(
        "run.yaml: training.data.train_batch_size: the global batch must split evenly over the 3"
            + " replicas of training.devices, got 2",
        f.error(withDevices("[cpu, cpu, cpu]"), "--training.data.train_batch_size=2"));
    assertEquals(
        "run.yaml: training.devices: expected a list of cpu or cuda:N, got an entry 'gpu'",
        f.error(withDevices("[cpu, gpu]")));
    assertEquals(
        "run.yaml: training.devices: mixes cpu and cuda devices: [cpu, cuda:0]",
        f.error(withDevices("[cpu, cuda:0]"), "--training.data.train_batch_size=2"));
    assertEquals(
        "run.yaml: training.devices: lists a CUDA device twice (one replica per GPU): [cuda:1,"
            + " cuda:1]",
        f.error(withDevices("[cuda:1, cuda:1]"), "--training.data.train_batch_size=2"));
    assertEquals(
        "run.yaml: training.devices: set either training.device or training.devices, not both",
        f.error(withDevices("[cpu]"), "--training.device=cpu"));
    assertEquals(
        "run.yaml: training.devices: expected at least one device", f.error(withDevices("[]")));
    assertEquals(
        "run.yaml: training.data.drop_last: must be true with several training.devices (a last,"
            + " smaller batch would not split evenly over the replicas)",
        f.error(
            withDevices("[cpu, cpu]"),
            "--training.data.train_batch_size=2",
            "--training.data.drop_last=false"));
    assertEquals(
        "run.yaml: training.distributed.hsdp_shard_dim: hsdp_replicate_dim x hsdp_shard_dim must"
            + " equal the number of training.devices (2), got 1 x 1",
        f.error(
            withDevices("[cpu, cpu]"),
            "--training.data.train_batch_size=2",
            "--training.distributed.hsdp_shard_dim=1"));
    // what a valid data-parallel section resolves to
    TrainingConfig t =
        f.load(withDevices("[cuda:0, cuda:1]"), "--training.data.train_batch_size=4").training();
    assertEquals(List.of(Device.cuda(0), Device.cuda(1)), t.devices());
    assertEquals(2, t.worldSize());
    assertEquals(new TrainingConfig.Distributed(2, 1, 1, 1, 2, false), t.distributed());
  }

  @Test
  void trainingKeys() {
    assertEquals(
        "run.yaml: training.distributed.num_gpus: must equal the number of training.devices (1):"
            + " Kinema runs one data-parallel replica per entry, got 2",
        f.error(
            MINIMAL,
            "--training.distributed.num_gpus=2",
            "--training.distributed.sp_size=1",
            "--training.distributed.hsdp_shard_dim=1"));
    assertEquals(
        "run.yaml: training.vsa.sparsity: video sparse attention is not supported (must be 0, got"
            + " 0.5)",
        f.error(MINIMAL, "--training.vsa.sparsity=0.5"));
    assertEquals(
        "run.yaml: training.optimizer.lr_scheduler: expected one of constant,"
            + " constant_with_warmup, linear, cosine, cosine_with_restarts, polynomial,"
            + " piecewise_constant, cosine_with_min_lr, got 'cosin' (did you mean 'cosine'?)",
        f.error(MINIMAL, "--training.optimizer.lr_scheduler=cosin"));
    assertEquals(
        "run.yaml: training.optimizer.lr_step_rules: required by lr_scheduler piecewise_constant"
            + " (e.g. \"1:100,0.1:200,0.01\")",
        f.error(MINIMAL, "--training.optimizer.lr_scheduler=piecewise_constant"));
    assertEquals(
        "run.yaml: training.optimizer.betas: expected [beta1, beta2] or \"beta1,beta2\", got"
            + " '0.9;0.99'",
        f.error(MINIMAL, "--training.optimizer.betas=0.9;0.99"));
    assertEquals(
        "run.yaml: training.data.data_path: repeat count of 'data' must be an integer >= 1, got"
            + " 2.5",
        f.error(MINIMAL, "--training.data.data_path=data:2.5"));
    assertEquals(
        "run.yaml: training.data.data_path: required (a folder of preprocessed Parquet files)",
        f.error(MINIMAL, "--training.data.data_path="));
    assertEquals(
        "run.yaml: training.data.data_path: expected a path, a list of paths or a map {path:"
            + " repeat}, got 3",
        f.error(MINIMAL, "--training.data.data_path=3"));
    assertEquals(
        "run.yaml: training.dit_precision: expected one of fp32, bf16, fp16, got 'fp8' (did you"
            + " mean 'fp32'?)",
        f.error(MINIMAL, "--training.dit_precision=fp8"));
    assertEquals(
        "run.yaml: training.device: expected cpu or cuda:N, got 'gpu'",
        f.error(MINIMAL, "--training.device=gpu"));
    assertEquals(
        "run.yaml: training.data.on_bad_row: expected one of error, skip, got 'skp' (did you"
            + " mean 'skip'?)",
        f.error(MINIMAL, "--training.data.on_bad_row=skp"));
  }

  @Test
  void callbackKeys() {
    assertEquals(
        "run.yaml: callbacks.emma: unknown callback (did you mean 'ema'?); known: grad_clip, ema,"
            + " validation",
        f.error(minimalPlus("callbacks:\n  emma: {decay: 0.9}\n")));
    assertEquals(
        "run.yaml: callbacks.ema.decay: must be in (0, 1), got 1.0",
        f.error(minimalPlus("callbacks:\n  ema: {decay: 1}\n")));
    assertEquals(
        "run.yaml: callbacks.validation.dataset_file: required (a .json file of prompts)",
        f.error(minimalPlus(VALIDATION.replace("    dataset_file: validation.json\n", ""))));
    assertEquals(
        "run.yaml: callbacks.validation.formats: expected one of gif, mp4, png, got 'webm'",
        f.error(minimalPlus(VALIDATION), "--callbacks.validation.formats=[gif, webm]"));
    assertEquals(
        "run.yaml: callbacks.validation.causal_sampling: expected one of blockwise, joint, got"
            + " 'streaming'",
        f.error(minimalPlus(VALIDATION), "--callbacks.validation.causal_sampling=streaming"));
    assertEquals(
        "run.yaml: callbacks.validation.pipeline_target: 'fastvideo.pipelines.basic.wan."
            + "wan_dmd_pipeline.WanDMDPipeline' is not implemented yet in Kinema (available:"
            + " io.kinema.diffusion.schedulers.SamplingLoop)",
        f.error(
            minimalPlus(VALIDATION),
            "--callbacks.validation.pipeline_target="
                + "fastvideo.pipelines.basic.wan.wan_dmd_pipeline.WanDMDPipeline"));
    assertEquals(
        "run.yaml: callbacks.ema._target_: unknown ema callback"
            + " 'fastvideo.train.callbacks.grad_clip.GradNormClipCallback'; known:"
            + " io.kinema.train.callbacks.EmaCallback, fastvideo.train.callbacks.ema.EMACallback",
        f.error(
            minimalPlus(
                "callbacks:\n  ema:\n    _target_: "
                    + "fastvideo.train.callbacks.grad_clip.GradNormClipCallback\n")));
  }

  @Test
  void everyErrorIsReportedTogether() {
    ConfigException e =
        assertThrows(
            ConfigException.class,
            () ->
                f.load(
                    MINIMAL
                        .replace("preset:tiny", "preset:huge")
                        .replace("max_train_steps: 10", "max_train_steps: 0")
                        .replace("learning_rate: 1.0e-4", "learning_rate: -1")));
    assertEquals(3, e.errors().size(), e.getMessage());
    assertEquals(3, e.getMessage().lines().count());
    assertEquals("models.student.init_from", e.path());
    // in the order of the document's sections
    assertEquals(
        List.of(
            "models.student.init_from",
            "training.optimizer.learning_rate",
            "training.loop.max_train_steps"),
        e.errors().stream().map(ConfigError::path).toList());
  }

  @Test
  void yamlSyntaxErrorsNameTheLineAndColumn() {
    String bad = "models:\n  student:\n    _target_: [unclosed\n    init_from: x\n";
    String line = f.error(bad);
    assertTrue(line.startsWith("run.yaml: line "), line);
    assertTrue(line.contains("YAML syntax error: "), line);
    assertEquals(
        "run.yaml: line 4, column 5: YAML syntax error: found duplicate key _target_",
        f.error("models:\n  student:\n    _target_: a\n    _target_: b\n"));
    assertEquals(
        "run.yaml: empty document; expected the sections models, method and training",
        f.error("# nothing\n"));
    assertEquals(
        "run.yaml: expected a map of sections at the top, got a list", f.error("- a\n- b\n"));
    ConfigException missing =
        assertThrows(ConfigException.class, () -> RunConfig.load(tmp.resolve("none.yaml")));
    assertEquals(tmp.resolve("none.yaml") + ": no such file", missing.getMessage());
  }
}
