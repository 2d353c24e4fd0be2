package io.kinema.nn.lora;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import com.google.gson.stream.JsonWriter;
import java.io.IOException;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.function.Predicate;
import java.util.regex.Pattern;

/**
 * What a LoRA adapter is made of, in the terms of PEFT's {@code LoraConfig}: default rank {@code r}
 * and {@code lora_alpha} (each adapted layer computes {@code W x + (alpha / r) B A x}), the modules
 * to adapt, the dropout on the adapter's input, and per-module exceptions to r and alpha ({@code
 * rank_pattern}, {@code alpha_pattern}).
 *
 * <p><b>Targets</b> follow PEFT's {@code target_modules}: with {@link #targetRegex} null, a module
 * is targeted when its dotted name equals an entry of {@link #targetModules} or ends with {@code
 * "." + entry} ({@code "to_q"} matches {@code blocks.0.attn1.to_q}; {@code "to_out.0"} matches
 * {@code blocks.3.attn2.to_out.0}); with {@link #targetRegex} set, when the whole name matches it.
 * Pattern keys match the end of a module name the same way ({@code re.match(r"(.*\.)?(key)$")}).
 *
 * <p><b>Metadata</b>: diffusers' {@code save_lora_weights} stores the config in the safetensors
 * header as {@code __metadata__["lora_adapter_metadata"]}, a JSON object whose keys carry the
 * component prefix ({@code "transformer.r"}, {@code "transformer.lora_alpha"}, ...) and whose
 * values, prefix removed, are passed to {@code LoraConfig(**kwargs)} when loading ({@code
 * diffusers/loaders/lora_base.py}: {@code _save_lora_weights}, {@code write_lora_layers}; {@code
 * loaders/peft.py}: {@code load_lora_adapter}). {@link #toMetadataJson} and {@link
 * #fromMetadataJson} write and read that object.
 */
public record LoraConfig(
    int r,
    double loraAlpha,
    List<String> targetModules,
    String targetRegex,
    double loraDropout,
    Map<String, Integer> rankPattern,
    Map<String, Double> alphaPattern) {

  /**
   * The linear layers of a Wan (2.1/2.2) DiT block that LoRA trainers adapt: the four projections
   * of self- and cross-attention and both feed-forward layers, by their diffusers names.
   */
  public static final List<String> WAN_TARGET_MODULES =
      List.of("to_q", "to_k", "to_v", "to_out.0", "ffn.net.0.proj", "ffn.net.2");

  public LoraConfig {
    if (r < 1) throw new IllegalArgumentException("LoraConfig: r must be >= 1, got " + r);
    if (!Double.isFinite(loraAlpha))
      throw new IllegalArgumentException("LoraConfig: lora_alpha must be finite, got " + loraAlpha);
    if (!(loraDropout >= 0 && loraDropout < 1))
      throw new IllegalArgumentException(
          "LoraConfig: lora_dropout must be in [0, 1), got " + loraDropout);
    targetModules = targetModules == null ? List.of() : List.copyOf(targetModules);
    if (targetModules.isEmpty() && targetRegex == null)
      throw new IllegalArgumentException("LoraConfig: no target modules and no target regex");
    if (targetRegex != null) Pattern.compile(targetRegex); // fail early on a bad pattern
    rankPattern = Map.copyOf(rankPattern == null ? Map.of() : rankPattern);
    alphaPattern = Map.copyOf(alphaPattern == null ? Map.of() : alphaPattern);
    for (var e : rankPattern.entrySet())
      if (e.getValue() < 1)
        throw new IllegalArgumentException(
            "LoraConfig: rank_pattern[" + e.getKey() + "] must be >= 1, got " + e.getValue());
  }

  /** Rank {@code r}, {@code alpha}, no dropout, PEFT-style suffix targets. */
  public static LoraConfig of(int r, double alpha, List<String> targetModules) {
    return new LoraConfig(r, alpha, targetModules, null, 0.0, Map.of(), Map.of());
  }

  /** Rank {@code r}, {@code alpha}, no dropout, modules whose whole dotted name matches a regex. */
  public static LoraConfig ofRegex(int r, double alpha, String targetRegex) {
    return new LoraConfig(r, alpha, List.of(), targetRegex, 0.0, Map.of(), Map.of());
  }

  /** This config with dropout {@code p} on the adapter's input (training only). */
  public LoraConfig withDropout(double p) {
    return new LoraConfig(r, loraAlpha, targetModules, targetRegex, p, rankPattern, alphaPattern);
  }

  /**
   * The config that describes adapters with exactly these per-module ranks and alphas (what
   * diffusers' {@code get_peft_kwargs} infers): the most common rank and alpha become {@code r} and
   * {@code lora_alpha}, the others go to the patterns, and the targets are the module names.
   */
  public static LoraConfig describing(
      Map<String, Integer> ranks, Map<String, Double> alphas, double dropout) {
    if (ranks.isEmpty()) throw new IllegalArgumentException("LoraConfig: no adapted modules");
    int r = mostCommon(ranks.values());
    double alpha = mostCommon(alphas.values());
    Map<String, Integer> rp = new TreeMap<>();
    Map<String, Double> ap = new TreeMap<>();
    for (var e : ranks.entrySet()) if (e.getValue() != r) rp.put(e.getKey(), e.getValue());
    for (var e : alphas.entrySet()) if (e.getValue() != alpha) ap.put(e.getKey(), e.getValue());
    return new LoraConfig(
        r, alpha, new ArrayList<>(new TreeSet<>(ranks.keySet())), null, dropout, rp, ap);
  }

  private static <T> T mostCommon(Collection<T> values) {
    Map<T, Integer> counts = new LinkedHashMap<>();
    for (T v : values) counts.merge(v, 1, Integer::sum);
    T best = null;
    int bestCount = 0;
    for (var e : counts.entrySet()) {
      if (e.getValue() > bestCount) {
        best = e.getKey();
        bestCount = e.getValue();
      }
    }
    return best;
  }

  /** True when the module named {@code name} (dotted) is a target. */
  public boolean targets(String name) {
    return targetPredicate().test(name);
  }

  /** {@link #targets} as a predicate (compiles the regex once). */
  public Predicate<String> targetPredicate() {
    if (targetRegex != null) return Pattern.compile(targetRegex).asMatchPredicate();
    List<String> t = targetModules;
    return name -> {
      for (String k : t) if (name.equals(k) || name.endsWith("." + k)) return true;
      return false;
    };
  }

  /** The rank of module {@code name}: its {@link #rankPattern} entry, else {@link #r}. */
  public int rankFor(String name) {
    String k = patternKey(rankPattern.keySet(), name);
    return k == null ? r : rankPattern.get(k);
  }

  /** The alpha of module {@code name}: its {@link #alphaPattern} entry, else {@link #loraAlpha}. */
  public double alphaFor(String name) {
    String k = patternKey(alphaPattern.keySet(), name);
    return k == null ? loraAlpha : alphaPattern.get(k);
  }

  /** PEFT's {@code get_pattern_key}: the first key that matches the end of the name. */
  private static String patternKey(Collection<String> keys, String name) {
    if (keys.contains(name)) return name;
    for (String k : new TreeSet<>(keys)) {
      if (Pattern.compile("(.*\\.)?(" + k + ")$").matcher(name).matches()) return k;
    }
    return null;
  }

  // ---------------------------------------------------------------- metadata JSON

  /**
   * The {@code lora_adapter_metadata} JSON: keys {@code <prefix>.r}, {@code <prefix>.lora_alpha},
   * ... (bare names when {@code prefix} is null or empty), sorted and indented as diffusers writes
   * them. Besides this record's fields it states {@code bias: "none"}, {@code use_dora}, {@code
   * use_rslora} and {@code lora_bias} false and {@code init_lora_weights} true, so that PEFT builds
   * the same layers.
   */
  public String toMetadataJson(String prefix) {
    String p = prefix == null || prefix.isEmpty() ? "" : prefix + ".";
    Map<String, Object> m = new TreeMap<>();
    m.put("r", r);
    m.put("lora_alpha", loraAlpha);
    m.put("lora_dropout", loraDropout);
    m.put("target_modules", targetRegex != null ? targetRegex : targetModules);
    m.put("rank_pattern", new TreeMap<>(rankPattern));
    m.put("alpha_pattern", new TreeMap<>(alphaPattern));
    m.put("bias", "none");
    m.put("use_dora", false);
    m.put("use_rslora", false);
    m.put("lora_bias", false);
    m.put("init_lora_weights", true);
    StringWriter sw = new StringWriter();
    try (JsonWriter w = new JsonWriter(sw)) {
      w.setIndent("  ");
      w.beginObject();
      for (var e : m.entrySet()) {
        w.name(p + e.getKey());
        writeValue(w, e.getValue());
      }
      w.endObject();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return sw.toString();
  }

  private static void writeValue(JsonWriter w, Object v) throws IOException {
    switch (v) {
      case String s -> w.value(s);
      case Boolean b -> w.value(b);
      case Integer i -> w.value(i);
      // Integral values as integers (Python's json writes lora_alpha=16 as 16, not 16.0).
      case Double d -> {
        if (d == Math.rint(d) && Math.abs(d) < 1e15) w.value(d.longValue());
        else w.value(d);
      }
      case List<?> l -> {
        w.beginArray();
        for (Object o : l) writeValue(w, o);
        w.endArray();
      }
      case Map<?, ?> mm -> {
        w.beginObject();
        for (var e : mm.entrySet()) {
          w.name((String) e.getKey());
          writeValue(w, e.getValue());
        }
        w.endObject();
      }
      default -> throw new IllegalStateException("unexpected metadata value " + v);
    }
  }

  /**
   * Reads the config from a {@code lora_adapter_metadata} JSON object, taking the keys under {@code
   * prefix} (all keys when null or empty). Returns null when none are there (the file then follows
   * the convention of files without metadata: alpha equals each module's rank). Adapters this
   * engine cannot run as written (DoRA, rsLoRA, a trained bias on B) are refused.
   */
  public static LoraConfig fromMetadataJson(String json, String prefix) {
    JsonObject all;
    try {
      all = JsonParser.parseString(json).getAsJsonObject();
    } catch (JsonParseException | IllegalStateException e) {
      throw new IllegalArgumentException("lora_adapter_metadata is not a JSON object: " + json, e);
    }
    String p = prefix == null || prefix.isEmpty() ? "" : prefix + ".";
    Map<String, JsonElement> m = new HashMap<>();
    for (var e : all.entrySet())
      if (e.getKey().startsWith(p)) m.put(e.getKey().substring(p.length()), e.getValue());
    if (!m.containsKey("r")) return null;
    for (String flag : List.of("use_dora", "use_rslora", "lora_bias")) {
      JsonElement f = m.get(flag);
      if (f != null && f.isJsonPrimitive() && f.getAsBoolean())
        throw new IllegalArgumentException(
            "lora_adapter_metadata: " + p + flag + " = true is not supported");
    }
    int r = m.get("r").getAsInt();
    double alpha = m.containsKey("lora_alpha") ? m.get("lora_alpha").getAsDouble() : r;
    double dropout =
        m.containsKey("lora_dropout") && !m.get("lora_dropout").isJsonNull()
            ? m.get("lora_dropout").getAsDouble()
            : 0.0;
    List<String> targets = new ArrayList<>();
    String regex = null;
    JsonElement t = m.get("target_modules");
    if (t != null && t.isJsonArray()) {
      for (JsonElement e : (JsonArray) t) targets.add(e.getAsString());
    } else if (t != null && t.isJsonPrimitive()) {
      regex = t.getAsString();
    }
    if (targets.isEmpty() && regex == null) regex = ".*"; // unknown: whatever the weights name
    Map<String, Integer> rp = new TreeMap<>();
    Map<String, Double> ap = new TreeMap<>();
    if (m.get("rank_pattern") instanceof JsonObject o)
      for (var e : o.entrySet()) rp.put(e.getKey(), e.getValue().getAsInt());
    if (m.get("alpha_pattern") instanceof JsonObject o)
      for (var e : o.entrySet()) ap.put(e.getKey(), e.getValue().getAsDouble());
    return new LoraConfig(r, alpha, targets, regex, dropout, rp, ap);
  }
}
