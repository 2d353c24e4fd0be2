package io.kinema.train.checkpoint;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.kinema.nn.Module;
import io.kinema.nn.lora.Lora;
import io.kinema.nn.optim.StateDict;
import io.kinema.tensor.Generator;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.io.SafetensorsCheckpoint;
import io.kinema.train.callbacks.TrainingCallback;
import io.kinema.train.data.LoaderState;
import io.kinema.train.method.TrainingMethod;
import io.kinema.train.model.RoleModel;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What a {@code checkpoint-<step>} folder holds and how it is read back (training-infra.md §3):
 *
 * <pre>
 * metadata.json                    step, method, the resolved config (written last: the marker)
 * trainer_state.json               step, the method's generator (seed, offset), the loader position
 * &lt;role&gt;/transformer/             full weights of each trainable role, diffusers layout
 * &lt;role&gt;/pytorch_lora_weights.safetensors   instead, for LoRA roles: the adapters only
 * &lt;role&gt;/optimizer.safetensors     AdamW state (exp_avg, exp_avg_sq, step, groups)
 * &lt;role&gt;/scheduler.safetensors     LR schedule (last_epoch, base_lrs)
 * callbacks/&lt;name&gt;.safetensors    callback state (EMA shadow weights)
 * </pre>
 *
 * LoRA roles store only their adapters: the frozen base comes back from {@code init_from} (or the
 * preset and seed), which the config comparison on resume guarantees is unchanged.
 */
public final class TrainingCheckpoint {
  private static final Gson GSON =
      new GsonBuilder().setPrettyPrinting().disableHtmlEscaping().create();

  /** The trainer's own counters. */
  public record TrainerState(long step, Generator.State generator, LoaderState loader) {}

  private TrainingCheckpoint() {}

  /** Writes everything but the marker into {@code dir}. */
  public static void write(
      Path dir, TrainingMethod method, List<TrainingCallback> callbacks, TrainerState state)
      throws IOException {
    for (var e : method.optimizers().entrySet()) {
      String role = e.getKey();
      RoleModel r = method.roles().get(role);
      Path rd = Files.createDirectories(dir.resolve(role));
      if (Lora.adapters(r.model()).isEmpty()) {
        r.model().saveDiffusers(rd.resolve("transformer"));
      } else {
        Lora.save(rd.resolve(LORA_FILE), r.model(), Lora.DEFAULT_PREFIX);
      }
      save(e.getValue().stateDict(), rd.resolve("optimizer.safetensors"));
      save(method.schedulers().get(role).stateDict(), rd.resolve("scheduler.safetensors"));
    }
    Path cd = Files.createDirectories(dir.resolve("callbacks"));
    for (TrainingCallback c : callbacks) {
      StateDict s = c.stateDict();
      if (s != null) save(s, cd.resolve(c.name() + ".safetensors"));
    }
    JsonObject ts = new JsonObject();
    ts.addProperty("step", state.step());
    ts.addProperty("method", method.name());
    JsonObject g = new JsonObject();
    g.addProperty("seed", state.generator().seed());
    g.addProperty("offset", state.generator().offset());
    ts.add("generator", g);
    JsonObject l = new JsonObject();
    l.addProperty("epoch", state.loader().epoch());
    l.addProperty("batch", state.loader().batch());
    ts.add("loader", l);
    Files.writeString(dir.resolve("trainer_state.json"), GSON.toJson(ts));
  }

  /** The adapter file of a LoRA role (diffusers' name). */
  public static final String LORA_FILE = "pytorch_lora_weights.safetensors";

  private static void save(StateDict sd, Path file) throws IOException {
    try (sd) {
      sd.save(file);
    }
  }

  /** The marker's content: step, method and the resolved config. */
  public static String metadataJson(long step, String method, Map<String, Object> config) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("step", step);
    m.put("method", method);
    m.put("config", config);
    return GSON.toJson(m);
  }

  /** The resolved config a checkpoint was written with. */
  @SuppressWarnings("unchecked")
  public static Map<String, Object> savedConfig(Path dir) throws IOException {
    Map<String, Object> m =
        GSON.fromJson(Files.readString(dir.resolve(CheckpointManager.COMPLETE_MARKER)), Map.class);
    Object c = m.get("config");
    if (!(c instanceof Map)) {
      throw new IOException(dir.resolve(CheckpointManager.COMPLETE_MARKER) + ": no \"config\"");
    }
    return (Map<String, Object>) c;
  }

  /**
   * Restores weights, optimizer, schedule and callback state from {@code dir} into the freshly
   * built run; returns the trainer's counters. The caller has checked the config first.
   */
  public static TrainerState restore(
      Path dir, TrainingMethod method, List<TrainingCallback> callbacks) throws IOException {
    for (var e : method.optimizers().entrySet()) {
      String role = e.getKey();
      RoleModel r = method.roles().get(role);
      Path rd = dir.resolve(role);
      if (Lora.adapters(r.model()).isEmpty()) loadWeights(r.model(), rd.resolve("transformer"));
      else loadAdapters(r.model(), rd.resolve(LORA_FILE));
      try (StateDict sd = StateDict.load(rd.resolve("optimizer.safetensors"))) {
        e.getValue().loadStateDict(sd);
      }
      try (StateDict sd = StateDict.load(rd.resolve("scheduler.safetensors"))) {
        method.schedulers().get(role).loadStateDict(sd);
      }
    }
    for (TrainingCallback c : callbacks) {
      Path f = dir.resolve("callbacks").resolve(c.name() + ".safetensors");
      if (Files.isRegularFile(f)) {
        try (StateDict sd = StateDict.load(f)) {
          c.loadStateDict(sd);
        }
      }
    }
    JsonObject ts =
        JsonParser.parseString(Files.readString(dir.resolve("trainer_state.json")))
            .getAsJsonObject();
    JsonObject g = ts.getAsJsonObject("generator");
    JsonObject l = ts.getAsJsonObject("loader");
    return new TrainerState(
        ts.get("step").getAsLong(),
        new Generator.State(g.get("seed").getAsLong(), g.get("offset").getAsLong()),
        new LoaderState(l.get("epoch").getAsLong(), l.get("batch").getAsLong()));
  }

  private static void loadWeights(Module model, Path folder) throws IOException {
    Path index;
    try (var files = Files.list(folder)) {
      index =
          files
              .filter(p -> p.getFileName().toString().endsWith(".safetensors.index.json"))
              .findFirst()
              .orElse(folder.resolve("diffusion_pytorch_model.safetensors"));
    }
    try (SafetensorsCheckpoint ck = SafetensorsCheckpoint.open(index);
        var s = Scope.open()) {
      Map<String, Tensor> sd = new LinkedHashMap<>();
      for (String k : ck.keys()) sd.put(k, ck.get(k));
      Module.LoadResult r = model.loadStateDict(sd, true);
      if (!r.missing().isEmpty() || !r.unexpected().isEmpty() || !r.mismatched().isEmpty()) {
        throw new IOException(folder + ": weights do not fit the model: " + r);
      }
    }
  }

  private static void loadAdapters(Module model, Path file) throws IOException {
    try (Lora.LoraFile f = Lora.load(file, Lora.DEFAULT_PREFIX)) {
      Lora.loadAdapter(model, f.tensors(), Lora.DEFAULT_PREFIX);
    }
  }
}
