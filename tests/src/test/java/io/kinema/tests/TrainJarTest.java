package io.kinema.tests;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.kinema.tensor.Scope;
import io.kinema.tensor.io.SafetensorsFile;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * End-to-end tests of {@code train.jar}: a few steps of each method on a tiny model and data set,
 * the dry run, config errors, exact resume and recovery from a kill while a checkpoint is written.
 */
class TrainJarTest {
  @TempDir static Path work;
  static Path data;

  /** A tiny synthetic data set: 16 clips of 4 frames of 16x16 pixels, 16-wide captions. */
  @BeforeAll
  static void preprocess() throws Exception {
    data = work.resolve("data");
    TrainJar.Result r =
        TrainJar.run(
            work,
            "preprocess",
            "--synthetic",
            "--output",
            data.toString(),
            "--clips",
            "16",
            "--frames",
            "4",
            "--size",
            "16",
            "--text-dim",
            "16");
    assertEquals(0, r.exitCode(), r.all());
    assertTrue(Files.isRegularFile(data.resolve("validation.json")), r.all());
  }

  /** A tiny run config; {@code extra} is appended YAML (more sections or keys). */
  static Path config(String name, String method, String student, String extra) throws IOException {
    String yaml =
        """
        models:
          student:
        %s
            init_from: preset:tiny
            arch: {in_channels: 16, out_channels: 16, text_dim: 16, num_layers: 2}
        method:
        %s
        training:
          data:
            data_path: %s
            train_batch_size: 2
            text_len: 8
            seed: 7
          optimizer:
            learning_rate: 1.0e-3
            lr_scheduler: cosine
            lr_warmup_steps: 2
          loop:
            max_train_steps: 6
            log_every_steps: 1
          checkpoint:
            output_dir: out-%s
        %s
        """
            .formatted(student, method, data, name, extra);
    Path p = work.resolve(name + ".yaml");
    Files.writeString(p, yaml);
    return p;
  }

  static final String SFT = "  _target_: io.kinema.train.method.FineTuneMethod";
  static final String WAN = "    _target_: io.kinema.diffusion.wan.WanTransformer3D";

  static List<Double> losses(Path metrics) throws IOException {
    List<Double> out = new ArrayList<>();
    for (String line : Files.readAllLines(metrics)) {
      JsonObject o = JsonParser.parseString(line).getAsJsonObject();
      out.add(o.get("loss").getAsDouble());
    }
    return out;
  }

  static byte[] weights(Path out) throws IOException {
    return Files.readAllBytes(
        out.resolve("final/student/transformer/diffusion_pytorch_model.safetensors"));
  }

  @Test
  void sftTrainsValidatesCheckpointsAndExports() throws Exception {
    String callbacks =
        """
        callbacks:
          grad_clip: {max_grad_norm: 1.0}
          ema: {decay: 0.9, start_iter: 2}
          validation:
            pipeline_target: fastvideo.pipelines.basic.wan.wan_pipeline.WanPipeline
            dataset_file: %s
            every_steps: 3
            sampling_steps: [3]
            guidance_scale: 2.0
        pipeline: {decoder: demo}
        """
            .formatted(data.resolve("validation.json"));
    Path cfg = config("sft", SFT, WAN, callbacks);
    TrainJar.Result r =
        TrainJar.run(
            work,
            "--config",
            cfg.toString(),
            "--training.checkpoint.training_state_checkpointing_steps",
            "3");
    assertEquals(0, r.exitCode(), r.all());
    Path out = work.resolve("out-sft");
    assertEquals(6, losses(out.resolve("metrics.jsonl")).size());
    for (double l : losses(out.resolve("metrics.jsonl"))) assertTrue(Double.isFinite(l), r.all());
    assertTrue(Files.isRegularFile(out.resolve("loss.png")));
    assertTrue(Files.isRegularFile(out.resolve("checkpoint-3/metadata.json")));
    assertTrue(Files.isRegularFile(out.resolve("checkpoint-6/callbacks/ema.safetensors")));
    try (Stream<Path> s = Files.list(out.resolve("validation/step-6"))) {
      List<String> names = s.map(p -> p.getFileName().toString()).toList();
      assertTrue(names.stream().anyMatch(n -> n.endsWith(".gif")), names.toString());
      assertTrue(names.stream().anyMatch(n -> n.endsWith(".mp4")), names.toString());
      assertTrue(names.contains("contact_sheet.png"), names.toString());
    }
    assertTrue(Files.isRegularFile(out.resolve("final/student/transformer/config.json")));
    assertTrue(Files.isRegularFile(out.resolve("final/student/transformer_ema/config.json")));
    try (Stream<Path> s = Files.list(out.resolve("tensorboard"))) {
      assertTrue(s.anyMatch(p -> p.getFileName().toString().startsWith("events.out.tfevents")));
    }
    loraExtractAndMergeReproduceTheFineTune(
        out.resolve("checkpoint-3/student/transformer"), out.resolve("final/student/transformer"));
  }

  /**
   * {@code lora extract} at full rank (64 = the attention layers' width) followed by {@code lora
   * merge} gives back the fine-tuned attention weights; the other weights stay the base's.
   */
  static void loraExtractAndMergeReproduceTheFineTune(Path base, Path tuned) throws Exception {
    Path adapter = work.resolve("extracted.safetensors");
    TrainJar.Result e =
        TrainJar.run(
            work,
            "lora",
            "extract",
            "--base",
            base.toString(),
            "--tuned",
            tuned.toString(),
            "--rank",
            "64",
            "--output",
            adapter.toString());
    assertEquals(0, e.exitCode(), e.all());
    Path merged = work.resolve("merged");
    TrainJar.Result m =
        TrainJar.run(
            work,
            "lora",
            "merge",
            "--base",
            base.toString(),
            "--adapter",
            adapter.toString(),
            "--output",
            merged.toString());
    assertEquals(0, m.exitCode(), m.all());
    String file = "diffusion_pytorch_model.safetensors";
    try (var t = SafetensorsFile.open(tuned.resolve(file));
        var b = SafetensorsFile.open(base.resolve(file));
        var g = SafetensorsFile.open(merged.resolve(file));
        var s = Scope.open()) {
      for (String key : List.of("blocks.0.attn1.to_q.weight", "blocks.1.attn2.to_out.0.weight")) {
        double[] want = t.get(key).toDoubleArray(), got = g.get(key).toDoubleArray();
        double[] before = b.get(key).toDoubleArray();
        double moved = 0, err = 0;
        for (int i = 0; i < want.length; i++) {
          moved = Math.max(moved, Math.abs(want[i] - before[i]));
          err = Math.max(err, Math.abs(want[i] - got[i]));
        }
        assertTrue(moved > 1e-4, key + " did not change in training");
        assertTrue(err < 1e-5 * Math.max(1, moved) + 1e-6, key + ": merged differs by " + err);
      }
      assertArrayEquals(
          b.get("blocks.0.ffn.net.2.weight").toDoubleArray(),
          g.get("blocks.0.ffn.net.2.weight").toDoubleArray(),
          "a weight outside the targets changed");
    }
  }

  @Test
  void loraTrainsOnlyAdaptersAndExportsAdapterAndMergedModel() throws Exception {
    String student =
        WAN + "\n    lora: {enable: true, rank: 4, target_modules: [to_q, to_k, to_v, to_out]}";
    Path cfg = config("lora", SFT, student, "");
    TrainJar.Result dry = TrainJar.run(work, "--config", cfg.toString(), "--dry-run");
    assertEquals(0, dry.exitCode(), dry.all());
    assertTrue(dry.out().contains("LoRA on 16 layers"), dry.out());
    TrainJar.Result r = TrainJar.run(work, "--config", cfg.toString());
    assertEquals(0, r.exitCode(), r.all());
    Path out = work.resolve("out-lora");
    assertTrue(Files.isRegularFile(out.resolve("final/student/pytorch_lora_weights.safetensors")));
    assertTrue(
        Files.isRegularFile(
            out.resolve("final/student/transformer/diffusion_pytorch_model.safetensors")));
  }

  @Test
  void diffusionForcingTrainsTheCausalModel() throws Exception {
    String method =
        "  _target_: fastvideo.train.methods.fine_tuning.dfsft.DiffusionForcingSFTMethod\n"
            + "  chunk_size: 2\n"
            + "  min_timestep_ratio: 0.02\n"
            + "  max_timestep_ratio: 0.98";
    String student =
        "    _target_: fastvideo.train.models.wan.WanCausalModel\n    num_frames_per_block: 2";
    // Validation samples the causal student block by block (the default causal_sampling).
    String callbacks =
        """
        callbacks:
          validation:
            pipeline_target: io.kinema.diffusion.schedulers.SamplingLoop
            dataset_file: %s
            every_steps: 6
            run_at_start: false
            sampling_steps: [3]
            guidance_scale: 2.0
            formats: [png]
        pipeline: {decoder: demo}
        """
            .formatted(data.resolve("validation.json"));
    Path cfg = config("dfsft", method, student, callbacks);
    TrainJar.Result r = TrainJar.run(work, "--config", cfg.toString());
    assertEquals(0, r.exitCode(), r.all());
    assertTrue(r.out().contains("DiffusionForcingSftMethod"), r.out());
    assertEquals(6, losses(work.resolve("out-dfsft/metrics.jsonl")).size());
    assertTrue(
        Files.isRegularFile(work.resolve("out-dfsft/validation/step-6/contact_sheet.png")),
        r.all());

    // Blocks of 2 frames cannot make 3: refused before training, naming the key.
    TrainJar.Result odd =
        TrainJar.run(
            work,
            "--config",
            cfg.toString(),
            "--callbacks.validation.num_frames",
            "3",
            "--override-output-dir",
            work.resolve("out-dfsft-odd").toString());
    assertEquals(2, odd.exitCode(), odd.all());
    assertTrue(odd.err().contains("callbacks.validation.num_frames"), odd.err());
    assertTrue(odd.err().contains("multiple of num_frames_per_block (2)"), odd.err());
    assertFalse(Files.exists(work.resolve("out-dfsft-odd/metrics.jsonl")), odd.all());
  }

  @Test
  void teacherForcingTrainsTheCausalModel() throws Exception {
    String method =
        "  _target_: fastvideo.train.methods.fine_tuning.tfsft.TeacherForcingSFTMethod\n"
            + "  chunk_size: 2";
    String student =
        "    _target_: fastvideo.train.models.wan.WanCausalModel\n    num_frames_per_block: 2";
    Path cfg = config("tfsft", method, student, "");
    TrainJar.Result r = TrainJar.run(work, "--config", cfg.toString());
    assertEquals(0, r.exitCode(), r.all());
    assertTrue(r.out().contains("TeacherForcingSftMethod"), r.out());
    List<Double> losses = losses(work.resolve("out-tfsft/metrics.jsonl"));
    assertEquals(6, losses.size());
    for (double l : losses) assertTrue(Double.isFinite(l) && l > 0, r.all());
  }

  @Test
  void dryRunPrintsThePlanAndWritesNothing() throws Exception {
    Path cfg = config("dry", SFT, WAN, "");
    TrainJar.Result r = TrainJar.run(work, "--config", cfg.toString(), "--dry-run");
    assertEquals(0, r.exitCode(), r.all());
    for (String part :
        List.of("FineTuneMethod", "parameters", "trainable", "memory", "steps       6")) {
      assertTrue(r.out().contains(part), "missing '" + part + "' in:\n" + r.out());
    }
    assertFalse(Files.exists(work.resolve("out-dry")));
  }

  @Test
  void theDefaultJobsConfigIsValid() throws Exception {
    Path dir = work.resolve("demo");
    TrainJar.Result r = TrainJar.run(work, "--dry-run", "--override-output-dir", dir.toString());
    assertEquals(0, r.exitCode(), r.all());
    for (String part :
        List.of("TeacherForcingSftMethod", "causal WanTransformer3D", "steps       700")) {
      assertTrue(r.out().contains(part), "missing '" + part + "' in:\n" + r.out());
    }
    assertTrue(Files.isRegularFile(dir.resolve("run.yaml")), r.all());
    assertTrue(Files.isRegularFile(dir.resolve("data/validation.json")), r.all());
    assertFalse(Files.exists(dir.resolve("metrics.jsonl")), r.all());
  }

  @Test
  void configErrorsExitWithCode2AndNameTheKey() throws Exception {
    Path cfg = config("bad", SFT, WAN, "");
    String yaml = Files.readString(cfg).replace("learning_rate:", "lerning_rate:");
    Files.writeString(cfg, yaml);
    TrainJar.Result r = TrainJar.run(work, "--config", cfg.toString());
    assertEquals(2, r.exitCode(), r.all());
    assertTrue(r.err().contains("training.optimizer.lerning_rate"), r.err());
    assertTrue(r.err().contains("did you mean 'learning_rate'"), r.err());

    TrainJar.Result type =
        TrainJar.run(
            work,
            "--config",
            config("bad2", SFT, WAN, "").toString(),
            "--training.loop.max_train_steps",
            "many");
    assertEquals(2, type.exitCode(), type.all());
    assertTrue(type.err().contains("training.loop.max_train_steps"), type.err());

    TrainJar.Result option = TrainJar.run(work, "--config");
    assertEquals(2, option.exitCode(), option.all());
  }

  @Test
  void resumeIsExact() throws Exception {
    Path cfg = config("straight", SFT, WAN, "");
    TrainJar.Result a =
        TrainJar.run(
            work,
            "--config",
            cfg.toString(),
            "--training.checkpoint.training_state_checkpointing_steps",
            "3");
    assertEquals(0, a.exitCode(), a.all());
    Path straight = work.resolve("out-straight");
    Path resumedOut = work.resolve("out-resumed");
    TrainJar.Result b =
        TrainJar.run(
            work,
            "--config",
            cfg.toString(),
            "--resume-from-checkpoint",
            straight.resolve("checkpoint-3").toString(),
            "--override-output-dir",
            resumedOut.toString());
    assertEquals(0, b.exitCode(), b.all());
    assertTrue(b.out().contains("resumed from"), b.out());
    List<Double> full = losses(straight.resolve("metrics.jsonl"));
    List<Double> second = losses(resumedOut.resolve("metrics.jsonl"));
    assertEquals(full.subList(3, 6), second, "losses of steps 4..6");
    assertArrayEquals(weights(straight), weights(resumedOut), "final weights differ");

    // Another method's checkpoint is refused, naming what differs.
    String yaml = Files.readString(cfg).replace("learning_rate: 1.0e-3", "learning_rate: 2.0e-3");
    Path other = work.resolve("other.yaml");
    Files.writeString(other, yaml);
    TrainJar.Result c =
        TrainJar.run(
            work,
            "--config",
            other.toString(),
            "--resume-from-checkpoint",
            straight.resolve("checkpoint-3").toString());
    assertEquals(2, c.exitCode(), c.all());
    assertTrue(c.err().contains("training.optimizer.learning_rate"), c.err());
  }

  @Test
  void aKillWhileCheckpointingLeavesThePreviousCheckpointUsable() throws Exception {
    Path cfg = config("kill", SFT, WAN, "");
    Path out = work.resolve("out-kill");
    // Checkpoints at 2, 4, 6; the pause makes every save take 3 s before it is published.
    Process p =
        TrainJar.command(
                work,
                List.of("-Dkinema.checkpoint.pauseMillis=3000"),
                "--config",
                cfg.toString(),
                "--training.checkpoint.training_state_checkpointing_steps",
                "2")
            .redirectErrorStream(true)
            .redirectOutput(work.resolve("kill.log").toFile())
            .start();
    // Kill it while checkpoint-4 is being written (checkpoint-2 is complete by then).
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(240);
    while (!Files.isDirectory(out.resolve(".tmp-checkpoint-4-" + p.pid()))) {
      assertTrue(p.isAlive(), "run ended early: " + Files.readString(work.resolve("kill.log")));
      assertTrue(System.nanoTime() < deadline, "checkpoint-4 never started");
      Thread.sleep(50);
    }
    p.destroyForcibly().waitFor();
    assertTrue(Files.isRegularFile(out.resolve("checkpoint-2/metadata.json")));
    assertFalse(Files.exists(out.resolve("checkpoint-4")));

    TrainJar.Result r =
        TrainJar.run(
            work,
            "--config",
            cfg.toString(),
            "--resume-from-checkpoint",
            "latest",
            "--training.checkpoint.training_state_checkpointing_steps",
            "2");
    assertEquals(0, r.exitCode(), r.all());
    assertTrue(r.out().contains("checkpoint-2 at step 2"), r.out());
    try (Stream<Path> s = Files.list(out)) {
      assertTrue(s.noneMatch(f -> f.getFileName().toString().startsWith(".tmp")), "leftovers");
    }

    // The recovered run ends where an uninterrupted one does.
    Path cfg2 = config("nokill", SFT, WAN, "");
    TrainJar.Result straight = TrainJar.run(work, "--config", cfg2.toString());
    assertEquals(0, straight.exitCode(), straight.all());
    assertArrayEquals(weights(work.resolve("out-nokill")), weights(out));
    assertEquals(
        losses(work.resolve("out-nokill/metrics.jsonl")), losses(out.resolve("metrics.jsonl")));
  }
}
