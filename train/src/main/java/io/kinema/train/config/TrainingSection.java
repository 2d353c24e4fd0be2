package io.kinema.train.config;

import io.kinema.tensor.DType;
import io.kinema.tensor.Device;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Reads the {@code training} section into a {@link TrainingConfig}. */
final class TrainingSection {
  private TrainingSection() {}

  /** The schedules {@code io.kinema.nn.optim.LRScheduler#get} knows. */
  static final List<String> LR_SCHEDULERS =
      List.of(
          "constant",
          "constant_with_warmup",
          "linear",
          "cosine",
          "cosine_with_restarts",
          "polynomial",
          "piecewise_constant",
          "cosine_with_min_lr");

  private static final String NO_FSDP = "FSDP setting; Kinema keeps a full replica per device";

  /**
   * @param runName the YAML file's stem: the default output folder is {@code outputs/<runName>}
   */
  static TrainingConfig parse(Keys t, String runName) {
    List<Device> devices = devices(t);
    TrainingConfig.Distributed distributed = distributed(t.section("distributed"), devices.size());
    TrainingConfig.Data data = data(t.section("data"), devices.size());
    TrainingConfig.Optimizer optimizer = optimizer(t.section("optimizer"));
    TrainingConfig.Loop loop = loop(t.section("loop"));
    TrainingConfig.Checkpoint checkpoint = checkpoint(t.section("checkpoint"), runName);
    TrainingConfig.Tracker tracker = tracker(t.section("tracker"));
    TrainingConfig.Vsa vsa = vsa(t.section("vsa"));
    TrainingConfig.Model model = model(t.section("model"));
    String modelPath = t.string("model_path", "");
    DType precision =
        switch (t.choice("dit_precision", "fp32", List.of("fp32", "bf16", "fp16"))) {
          case "bf16" -> DType.BF16;
          case "fp16" -> DType.F16;
          case null, default -> DType.F32;
        };
    t.finish();
    return new TrainingConfig(
        distributed,
        data,
        optimizer,
        loop,
        checkpoint,
        tracker,
        vsa,
        model,
        modelPath,
        precision,
        devices);
  }

  /**
   * {@code devices} (a list, one data-parallel replica per entry) or the single {@code device}: all
   * {@code cpu} (CPU replicas share the host) or distinct CUDA devices. Whether a CUDA device
   * exists is checked when training starts, not here (parsing never loads the driver).
   */
  private static List<Device> devices(Keys t) {
    if (t.has("devices") && t.has("device")) {
      t.error("devices", "set either training.device or training.devices, not both");
    }
    t.declare("devices");
    if (!t.has("devices")) {
      String s = t.string("device", "cpu");
      try {
        return List.of(Device.parse(s));
      } catch (IllegalArgumentException e) {
        t.error("device", "expected cpu or cuda:N, got '" + s + "'");
        return List.of(Device.CPU);
      }
    }
    t.declare("device");
    List<String> entries = t.stringList("devices", List.of());
    List<Device> devices = new ArrayList<>();
    for (String s : entries) {
      try {
        devices.add(Device.parse(s));
      } catch (IllegalArgumentException e) {
        t.error("devices", "expected a list of cpu or cuda:N, got an entry '" + s + "'");
        return List.of(Device.CPU);
      }
    }
    if (devices.isEmpty()) {
      if (!t.failed("devices")) t.error("devices", "expected at least one device");
      return List.of(Device.CPU);
    }
    boolean cpu = devices.getFirst().kind() == Device.Kind.CPU;
    if (devices.stream().anyMatch(d -> (d.kind() == Device.Kind.CPU) != cpu)) {
      t.error("devices", "mixes cpu and cuda devices: " + entries);
    } else if (!cpu && new java.util.HashSet<>(devices).size() != devices.size()) {
      t.error("devices", "lists a CUDA device twice (one replica per GPU): " + entries);
    }
    return devices;
  }

  private static TrainingConfig.Distributed distributed(Keys d, int worldSize) {
    boolean explicitGpus = d.has("num_gpus");
    int numGpus = d.integer("num_gpus", worldSize);
    d.check(
        numGpus == worldSize,
        "num_gpus",
        "must equal the number of training.devices ("
            + worldSize
            + "): Kinema runs one data-parallel replica per entry, got "
            + numGpus);
    int tp = d.integer("tp_size", 1);
    d.check(
        tp == 1, "tp_size", "tensor parallelism is not supported yet (must be 1, got " + tp + ")");
    // FastVideo: sp_size and hsdp_shard_dim default to num_gpus (-1 = num_gpus for the shard dim).
    // sp_size follows an explicit num_gpus only: a world size from training.devices means replicas.
    Integer sp = d.optInteger("sp_size");
    if (sp == null) d.setResolved("sp_size", sp = explicitGpus ? numGpus : 1);
    d.check(
        sp == 1,
        "sp_size",
        "sequence parallelism is not supported yet (must be 1, got " + sp + ")");
    int replicate = d.integer("hsdp_replicate_dim", 1);
    d.check(replicate >= 1, "hsdp_replicate_dim", "must be >= 1, got " + replicate);
    Integer shard = d.optInteger("hsdp_shard_dim");
    if (shard == null || shard == -1) {
      d.setResolved("hsdp_shard_dim", shard = Math.max(1, worldSize / Math.max(1, replicate)));
    }
    d.check(
        replicate * shard == worldSize,
        "hsdp_shard_dim",
        "hsdp_replicate_dim x hsdp_shard_dim must equal the number of training.devices ("
            + worldSize
            + "), got "
            + replicate
            + " x "
            + shard);
    boolean pin = d.bool("pin_cpu_memory", false);
    d.ignored("reshard_after_forward", NO_FSDP);
    d.ignored("fsdp_symmetric_memory", NO_FSDP);
    d.ignored("fsdp_modules_per_group", NO_FSDP);
    d.ignored("reduce_dtype", NO_FSDP);
    d.finish();
    return new TrainingConfig.Distributed(numGpus, tp, sp, replicate, shard, pin);
  }

  private static TrainingConfig.Data data(Keys d, int worldSize) {
    List<TrainingConfig.DataSource> sources = dataPath(d);
    String type = d.choice("preprocessed_data_type", "t2v", List.of("t2v", "t2va", "text_only"));
    d.check(
        "t2v".equals(type),
        "preprocessed_data_type",
        "'" + type + "' data is not supported yet (supported: t2v)");
    int batch = d.integer("train_batch_size", 1);
    d.check(batch >= 1, "train_batch_size", "must be >= 1, got " + batch);
    d.check(
        batch % worldSize == 0,
        "train_batch_size",
        "the global batch must split evenly over the "
            + worldSize
            + " replicas of training.devices, got "
            + batch);
    int workers = d.integer("dataloader_num_workers", 0);
    d.check(workers >= 0, "dataloader_num_workers", "must be >= 0, got " + workers);
    double cfgRate = d.number("training_cfg_rate", 0.0);
    d.check(cfgRate >= 0 && cfgRate <= 1, "training_cfg_rate", "must be in [0, 1], got " + cfgRate);
    long seed = d.longInteger("seed", 0);
    int height = nonNegative(d, "num_height");
    int width = nonNegative(d, "num_width");
    int latentT = nonNegative(d, "num_latent_t");
    int frames = nonNegative(d, "num_frames");
    int textLen = d.integer("text_len", 512);
    d.check(textLen >= 1, "text_len", "must be >= 1, got " + textLen);
    TrainingConfig.OnBadRow onBadRow =
        d.enumValue("on_bad_row", TrainingConfig.OnBadRow.ERROR, TrainingConfig.OnBadRow.class);
    boolean shuffle = d.bool("shuffle", true);
    boolean dropLast = d.bool("drop_last", true);
    d.check(
        dropLast || worldSize == 1,
        "drop_last",
        "must be true with several training.devices (a last, smaller batch would not split evenly"
            + " over the replicas)");
    d.finish();
    return new TrainingConfig.Data(
        sources, type, batch, workers, cfgRate, seed, height, width, latentT, frames, textLen,
        onBadRow, shuffle, dropLast);
  }

  private static int nonNegative(Keys k, String key) {
    int v = k.integer(key, 0);
    k.check(v >= 0, key, "must be >= 0, got " + v);
    return v;
  }

  /**
   * {@code data_path}: a path, a comma list with optional repeat counts ({@code "a:2,b"}), a list
   * of such entries, or a map {@code {path: repeat}}. Recorded as the map form with absolute paths.
   */
  private static List<TrainingConfig.DataSource> dataPath(Keys d) {
    String key = "data_path";
    Object v = d.any(key);
    Map<String, Object> entries = new LinkedHashMap<>(); // text -> repeat (Integer, or bad value)
    if (v instanceof String s) {
      for (String part : s.split(",")) addEntry(entries, part.strip());
    } else if (v instanceof List<?> list) {
      for (Object e : list) {
        if (!(e instanceof String s)) {
          d.error(key, "expected a list of paths, got an entry " + Keys.describe(e));
          return List.of();
        }
        addEntry(entries, s.strip());
      }
    } else if (v instanceof Map<?, ?> m) {
      m.forEach((p, r) -> entries.put(String.valueOf(p), r));
    } else if (v != null) {
      d.error(
          key, "expected a path, a list of paths or a map {path: repeat}, got " + Keys.describe(v));
      return List.of();
    }
    entries.remove("");
    if (entries.isEmpty()) {
      d.error(key, "required (a folder of preprocessed Parquet files)");
      return List.of();
    }
    List<TrainingConfig.DataSource> out = new ArrayList<>();
    Map<String, Object> resolved = new LinkedHashMap<>();
    entries.forEach(
        (text, repeat) -> {
          if (!(repeat instanceof Integer r) || r < 1) {
            d.error(
                key,
                "repeat count of '"
                    + text
                    + "' must be an integer >= 1, got "
                    + Keys.describe(repeat));
            return;
          }
          Path p = d.resolvePath(key, text);
          if (p == null) return;
          if (!Files.exists(p)) {
            d.error(key, "'" + text + "' does not exist" + Keys.where(text, p));
          }
          out.add(new TrainingConfig.DataSource(p, r));
          resolved.put(p.toString(), r);
        });
    d.setResolved(key, resolved);
    return out;
  }

  /** {@code path} or {@code path:N} (a repeat count after the last colon). */
  private static void addEntry(Map<String, Object> entries, String text) {
    int colon = text.lastIndexOf(':');
    String count = colon > 0 ? text.substring(colon + 1) : "";
    if (count.matches("[-+]?[0-9.]+")) {
      // a number after the colon is a repeat count; a bad one (2.5, -1) is reported by the caller
      entries.put(text.substring(0, colon), ConfigOverrides.cast(count));
    } else {
      entries.put(text, 1);
    }
  }

  private static TrainingConfig.Optimizer optimizer(Keys o) {
    double lr = o.number("learning_rate", 0.0);
    o.check(lr >= 0 && Double.isFinite(lr), "learning_rate", "must be >= 0, got " + lr);
    double[] betas = betas(o);
    double wd = o.number("weight_decay", 0.0);
    o.check(wd >= 0, "weight_decay", "must be >= 0, got " + wd);
    String scheduler = o.string("lr_scheduler", "constant");
    if (!LR_SCHEDULERS.contains(scheduler) && !o.failed("lr_scheduler")) {
      o.error("lr_scheduler", Keys.badChoice(scheduler, LR_SCHEDULERS));
    }
    int warmup = o.integer("lr_warmup_steps", 0);
    o.check(warmup >= 0, "lr_warmup_steps", "must be >= 0, got " + warmup);
    int cycles = o.integer("lr_num_cycles", 0);
    o.check(cycles >= 0, "lr_num_cycles", "must be >= 0, got " + cycles);
    double power = o.number("lr_power", 0.0);
    double minLrRatio = o.number("min_lr_ratio", 0.5);
    o.check(
        minLrRatio >= 0 && minLrRatio <= 1, "min_lr_ratio", "must be in [0, 1], got " + minLrRatio);
    String rules = o.string("lr_step_rules", null);
    if ("piecewise_constant".equals(scheduler)) {
      if (rules == null || rules.isBlank()) {
        o.check(
            false,
            "lr_step_rules",
            "required by lr_scheduler piecewise_constant (e.g. \"1:100,0.1:200,0.01\")");
      } else {
        String bad = stepRulesProblem(rules);
        if (bad != null) o.error("lr_step_rules", bad);
      }
    }
    o.ignored("fused", "a CUDA fused-AdamW switch of PyTorch");
    o.finish();
    return new TrainingConfig.Optimizer(
        lr, betas[0], betas[1], wd, scheduler, warmup, cycles, power, minLrRatio, rules);
  }

  /** {@code betas}: a list of two numbers or {@code "b1,b2"}, each in [0, 1). */
  private static double[] betas(Keys o) {
    String key = "betas";
    Object v = o.any(key);
    double[] b = {0.9, 0.999};
    String expected = "expected [beta1, beta2] or \"beta1,beta2\", got ";
    if (v instanceof String s) {
      String[] parts = s.split(",");
      try {
        if (parts.length != 2) throw new NumberFormatException();
        b =
            new double[] {
              Double.parseDouble(parts[0].strip()), Double.parseDouble(parts[1].strip())
            };
      } catch (NumberFormatException e) {
        o.error(key, expected + Keys.describe(v));
      }
    } else if (v instanceof List<?> l) {
      if (l.size() == 2 && l.get(0) instanceof Number b1 && l.get(1) instanceof Number b2) {
        b = new double[] {b1.doubleValue(), b2.doubleValue()};
      } else {
        o.error(key, expected + l);
      }
    } else if (v != null) {
      o.error(key, expected + Keys.describe(v));
    }
    for (double x : b) {
      o.check(
          x >= 0 && x < 1, key, "each beta must be in [0, 1), got [" + b[0] + ", " + b[1] + "]");
    }
    o.setResolved(key, List.of(b[0], b[1]));
    return b;
  }

  /** What is wrong with piecewise-constant rules {@code "v1:s1,...,vlast"}, or null. */
  private static String stepRulesProblem(String rules) {
    String[] parts = rules.split(",");
    try {
      for (int i = 0; i < parts.length - 1; i++) {
        String[] vs = parts[i].split(":");
        if (vs.length != 2)
          return "'" + parts[i] + "' is not value:step (rules look like \"1:100,0.1:200,0.01\")";
        Double.parseDouble(vs[0].strip());
        Long.parseLong(vs[1].strip());
      }
      Double.parseDouble(parts[parts.length - 1].strip());
      return null;
    } catch (NumberFormatException e) {
      return "bad rules '" + rules + "' (rules look like \"1:100,0.1:200,0.01\")";
    }
  }

  private static TrainingConfig.Loop loop(Keys l) {
    Integer steps = l.optInteger("max_train_steps");
    if (steps == null) l.check(false, "max_train_steps", "required (optimizer steps, > 0)");
    else l.check(steps > 0, "max_train_steps", "must be > 0, got " + steps);
    int accum = l.integer("gradient_accumulation_steps", 1);
    l.check(accum >= 1, "gradient_accumulation_steps", "must be >= 1, got " + accum);
    int logEvery = l.integer("log_every_steps", 1);
    l.check(logEvery >= 1, "log_every_steps", "must be >= 1, got " + logEvery);
    l.finish();
    return new TrainingConfig.Loop(steps == null ? 0 : steps, accum, logEvery);
  }

  private static TrainingConfig.Checkpoint checkpoint(Keys c, String runName) {
    Path out = c.path("output_dir", null, false);
    if (out == null) {
      out = c.baseDir().resolve("outputs").resolve(runName).normalize();
      c.setResolved("output_dir", out.toString());
    }
    String resume = c.string("resume_from_checkpoint", "");
    if (resume.isEmpty()) {
      resume = null;
    } else if (!resume.equals(TrainingConfig.Checkpoint.LATEST)) {
      Path p = c.resolvePath("resume_from_checkpoint", resume);
      if (p != null && !Files.exists(p)) {
        c.error(
            "resume_from_checkpoint",
            "'" + resume + "' does not exist" + Keys.where(resume, p) + " (or use 'latest')");
      }
      resume = p == null ? null : p.toString();
    }
    c.setResolved("resume_from_checkpoint", resume == null ? "" : resume);
    int every = c.integer("training_state_checkpointing_steps", 0);
    c.check(every >= 0, "training_state_checkpointing_steps", "must be >= 0, got " + every);
    int limit = c.integer("checkpoints_total_limit", 0);
    c.check(limit >= 0, "checkpoints_total_limit", "must be >= 0, got " + limit);
    c.finish();
    return new TrainingConfig.Checkpoint(out, resume, every, limit);
  }

  private static TrainingConfig.Tracker tracker(Keys t) {
    List<String> trackers = t.stringList("trackers", List.of());
    for (String name : trackers) {
      t.problems()
          .warn(
              t.pathOf("trackers"),
              "ignored: Kinema has no '"
                  + name
                  + "' tracker; metrics are written to the output folder");
    }
    String entity = t.string("entity", "");
    String project = t.string("project_name", "fastvideo");
    String run = t.string("run_name", "");
    t.finish();
    return new TrainingConfig.Tracker(trackers, entity, project, run);
  }

  private static TrainingConfig.Vsa vsa(Keys v) {
    double sparsity = v.number("sparsity", 0.0);
    v.check(
        sparsity == 0,
        "sparsity",
        "video sparse attention is not supported (must be 0, got " + sparsity + ")");
    boolean cache = v.bool("cache_tile_buf", false);
    v.finish();
    return new TrainingConfig.Vsa(sparsity, cache);
  }

  private static TrainingConfig.Model model(Keys m) {
    String scheme =
        m.choice("weighting_scheme", "uniform", List.of("uniform", "logit_normal", "mode"));
    double mean = m.number("logit_mean", 0.0);
    double std = m.number("logit_std", 1.0);
    m.check(std >= 0, "logit_std", "must be >= 0, got " + std);
    double modeScale = m.number("mode_scale", 1.0);
    boolean precondition = m.bool("precondition_outputs", false);
    Object moba = m.any("moba_config");
    m.check(
        moba == null || (moba instanceof Map<?, ?> mm && mm.isEmpty()),
        "moba_config",
        "MoBA sparse attention is not supported (must be {} or absent)");
    boolean checkpointing = gradientCheckpointing(m);
    m.ignored("enable_torch_compile", "a PyTorch compiler switch");
    m.finish();
    return new TrainingConfig.Model(scheme, mean, std, modeScale, precondition, checkpointing);
  }

  /** {@code enable_gradient_checkpointing_type}: null (off) or {@code full}. */
  static boolean gradientCheckpointing(Keys k) {
    return "full".equals(k.choice("enable_gradient_checkpointing_type", null, List.of("full")));
  }
}
