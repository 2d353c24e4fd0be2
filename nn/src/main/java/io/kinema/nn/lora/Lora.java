package io.kinema.nn.lora;

import io.kinema.nn.LinearLike;
import io.kinema.nn.Module;
import io.kinema.nn.linalg.Svd;
import io.kinema.tensor.DType;
import io.kinema.tensor.Generator;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.grad.GradMode;
import io.kinema.tensor.io.Safetensors;
import io.kinema.tensor.io.SafetensorsFile;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Predicate;

/**
 * LoRA on a module tree: wrapping linear layers with adapters ({@link #apply}), the adapter's
 * weights under diffusers/PEFT key names ({@link #adapterStateDict}, {@link #save}, {@link #load},
 * {@link #loadAdapter}, {@link #attach}), folding adapters into the base weights ({@link #merge}),
 * and extracting an adapter from a fine-tuned model by truncated SVD ({@link #extract}).
 *
 * <p><b>Key names</b> are those of a diffusers LoRA file ({@code pytorch_lora_weights.safetensors}
 * from {@code WanLoraLoaderMixin.save_lora_weights}): PEFT's {@code get_peft_model_state_dict} keys
 * (the in-model names without the adapter name) behind the component prefix, e.g. {@code
 * transformer.blocks.0.attn1.to_q.lora_A.weight} (A [rank, in]) and {@code
 * transformer.blocks.0.attn1.to_q.lora_B.weight} (B [out, rank]). The prefix is a parameter ({@link
 * #DEFAULT_PREFIX}; null or empty for the bare keys that PEFT's {@code save_lora_adapter} writes).
 * Files get the header metadata diffusers writes: {@code format: pt} and {@code
 * lora_adapter_metadata} (see {@link LoraConfig}).
 */
public final class Lora {
  private Lora() {}

  /** The component prefix of a Wan pipeline's transformer in diffusers LoRA files. */
  public static final String DEFAULT_PREFIX = "transformer";

  /** The safetensors metadata key of the adapter config (diffusers' LORA_ADAPTER_METADATA_KEY). */
  public static final String METADATA_KEY = "lora_adapter_metadata";

  // ---------------------------------------------------------------- wrapping

  /**
   * Wraps every {@link LinearLike} module of {@code root} whose dotted name is targeted (PEFT
   * suffix rules, see {@link LoraConfig}) in a {@link LoraLinear} of {@code rank} and {@code
   * alpha}, factors in the base weight's dtype; then freezes every parameter of {@code root} but
   * the adapters'. Returns the wrapped names.
   */
  public static List<String> apply(
      Module root, List<String> targetModules, int rank, double alpha, Generator gen) {
    return apply(root, LoraConfig.of(rank, alpha, targetModules), null, gen);
  }

  /**
   * Wraps the targeted linear modules of {@code root} as {@code config} says (rank and alpha per
   * module from its patterns, its dropout), factors in {@code dtype} (null: each base weight's
   * dtype), initial values and dropout masks from {@code gen}; freezes everything else. Returns the
   * wrapped names in module order.
   *
   * @throws IllegalArgumentException when nothing is targeted, or a targeted module is not a linear
   *     layer
   * @throws IllegalStateException when a targeted layer already has an adapter
   */
  public static List<String> apply(Module root, LoraConfig config, DType dtype, Generator gen) {
    Predicate<String> target = config.targetPredicate();
    List<String> names = new ArrayList<>();
    for (var e : root.namedModules().entrySet()) {
      String name = e.getKey();
      if (name.isEmpty() || !target.test(name) || insideAdapter(root, name)) continue;
      Module m = e.getValue();
      if (m instanceof LoraLinear)
        throw new IllegalStateException("Lora.apply: '" + name + "' already has a LoRA adapter");
      if (!(m instanceof LinearLike)) {
        // PEFT targets only supported layer types too; a suffix that names a container is a
        // config mistake worth stopping for.
        throw new IllegalArgumentException(
            "Lora.apply: target '"
                + name
                + "' is a "
                + m.getClass().getSimpleName()
                + ", not a linear layer");
      }
      names.add(name);
    }
    if (names.isEmpty()) {
      throw new IllegalArgumentException(
          "Lora.apply: no module of "
              + root.getClass().getSimpleName()
              + " matches the targets "
              + (config.targetRegex() != null ? config.targetRegex() : config.targetModules()));
    }
    for (String name : names) {
      wrap(
          root,
          name,
          config.rankFor(name),
          config.alphaFor(name),
          config.loraDropout(),
          dtype,
          gen);
    }
    root.requiresGrad(false);
    for (LoraLinear l : adapters(root).values()) {
      l.loraA().requiresGrad(true);
      l.loraB().requiresGrad(true);
    }
    return names;
  }

  private static <L extends Module & LinearLike> void wrap(
      Module root,
      String name,
      int rank,
      double alpha,
      double dropout,
      DType dtype,
      Generator gen) {
    @SuppressWarnings("unchecked")
    L base = (L) root.namedModules().get(name);
    replace(root, name, new LoraLinear(base, rank, alpha, dropout, dtype, gen));
  }

  /** True when {@code name} lies inside a LoraLinear (its base layer or factors). */
  private static boolean insideAdapter(Module root, String name) {
    Map<String, Module> mods = root.namedModules();
    for (int dot = name.lastIndexOf('.'); dot > 0; dot = name.lastIndexOf('.', dot - 1)) {
      if (mods.get(name.substring(0, dot)) instanceof LoraLinear) return true;
    }
    return false;
  }

  private static void replace(Module root, String name, Module with) {
    int dot = name.lastIndexOf('.');
    Module parent = dot < 0 ? root : root.namedModules().get(name.substring(0, dot));
    parent.replaceModule(name.substring(dot + 1), with);
  }

  /** Every adapted layer of {@code root} by dotted name, in module order. */
  public static Map<String, LoraLinear> adapters(Module root) {
    Map<String, LoraLinear> out = new LinkedHashMap<>();
    for (var e : root.namedModules().entrySet())
      if (e.getValue() instanceof LoraLinear l) out.put(e.getKey(), l);
    return out;
  }

  /** The config that describes the adapters now in {@code root} (for the file metadata). */
  public static LoraConfig config(Module root) {
    Map<String, LoraLinear> ads = adapters(root);
    if (ads.isEmpty())
      throw new IllegalArgumentException(
          "Lora.config: " + root.getClass().getSimpleName() + " has no LoRA adapters");
    Map<String, Integer> ranks = new LinkedHashMap<>();
    Map<String, Double> alphas = new LinkedHashMap<>();
    double dropout = 0;
    for (var e : ads.entrySet()) {
      ranks.put(e.getKey(), e.getValue().rank());
      alphas.put(e.getKey(), e.getValue().alpha());
      dropout = Math.max(dropout, e.getValue().dropout());
    }
    return LoraConfig.describing(ranks, alphas, dropout);
  }

  // ---------------------------------------------------------------- adapter weights

  /**
   * The adapters' weights under their file keys: {@code <prefix>.<module>.lora_A.weight} and {@code
   * <prefix>.<module>.lora_B.weight} (no prefix when {@code prefix} is null or empty). The tensors
   * are the parameters themselves, not copies.
   */
  public static Map<String, Tensor> adapterStateDict(Module root, String prefix) {
    Map<String, Tensor> out = new LinkedHashMap<>();
    for (var e : adapters(root).entrySet()) {
      String k = key(prefix, e.getKey());
      out.put(k + ".lora_A.weight", e.getValue().loraA().data());
      out.put(k + ".lora_B.weight", e.getValue().loraB().data());
    }
    return out;
  }

  private static String key(String prefix, String module) {
    return prefix == null || prefix.isEmpty() ? module : prefix + "." + module;
  }

  /**
   * Copies adapter weights (file keys under {@code prefix}) into the adapters of {@code root},
   * converting dtypes. Strict: every adapter weight must be there with its shape and nothing else;
   * otherwise throws, listing all missing keys, unexpected keys and shape mismatches, and copies
   * nothing.
   */
  public static void loadAdapter(Module root, Map<String, Tensor> adapter, String prefix) {
    Map<String, Tensor> slots = adapterStateDict(root, prefix);
    List<String> missing = new ArrayList<>(), unexpected = new ArrayList<>();
    List<String> mismatched = new ArrayList<>();
    for (String k : slots.keySet()) if (!adapter.containsKey(k)) missing.add(k);
    for (String k : adapter.keySet()) if (!slots.containsKey(k)) unexpected.add(k);
    for (var e : slots.entrySet()) {
      Tensor src = adapter.get(e.getKey());
      if (src != null && !Arrays.equals(src.shape(), e.getValue().shape()))
        mismatched.add(
            e.getKey()
                + ": file "
                + Arrays.toString(src.shape())
                + " vs model "
                + Arrays.toString(e.getValue().shape()));
    }
    Module.LoadResult r = new Module.LoadResult(missing, unexpected, mismatched);
    if (!r.isClean()) {
      throw new IllegalArgumentException(
          "Lora.loadAdapter into "
              + root.getClass().getSimpleName()
              + " (prefix '"
              + (prefix == null ? "" : prefix)
              + "'): "
              + r);
    }
    try (var ng = GradMode.noGrad()) {
      for (var e : slots.entrySet()) {
        Tensor dst = e.getValue();
        try (Tensor moved = adapter.get(e.getKey()).to(dst.device())) {
          dst.copyFrom(moved);
        }
      }
    }
  }

  /**
   * Wraps the modules that {@code adapter} has weights for (under {@code prefix}) with adapters of
   * the file's ranks (A's rows) and alphas ({@code config}'s, or the rank when {@code config} is
   * null, the convention of files without metadata), factors in the file's dtype, then loads the
   * weights strictly: what diffusers' {@code load_lora_weights} does. Returns the wrapped names.
   */
  public static List<String> attach(
      Module root, Map<String, Tensor> adapter, LoraConfig config, String prefix) {
    String p = prefix == null || prefix.isEmpty() ? "" : prefix + ".";
    Map<String, Integer> ranks = new TreeMap<>();
    Map<String, DType> dtypes = new TreeMap<>();
    for (var e : adapter.entrySet()) {
      String k = e.getKey();
      if (!k.startsWith(p) || !k.endsWith(".lora_A.weight")) continue;
      String module = k.substring(p.length(), k.length() - ".lora_A.weight".length());
      if (e.getValue().dim() != 2)
        throw new IllegalArgumentException(
            "Lora.attach: " + k + " must be 2-d, got " + e.getValue().describe());
      ranks.put(module, (int) e.getValue().size(0));
      dtypes.put(module, e.getValue().dtype());
    }
    if (ranks.isEmpty())
      throw new IllegalArgumentException(
          "Lora.attach: no '" + p + "*.lora_A.weight' keys in " + adapter.keySet());
    Map<String, Module> mods = root.namedModules();
    List<String> names = new ArrayList<>();
    for (String name : mods.keySet()) if (ranks.containsKey(name)) names.add(name);
    for (String name : ranks.keySet()) {
      Module m = mods.get(name);
      if (!(m instanceof LinearLike) || m instanceof LoraLinear || insideAdapter(root, name)) {
        throw new IllegalArgumentException(
            "Lora.attach: the adapter has weights for '"
                + name
                + "', which in "
                + root.getClass().getSimpleName()
                + " is "
                + (m == null
                    ? "missing"
                    : m instanceof LoraLinear || insideAdapter(root, name)
                        ? "already adapted"
                        : "a " + m.getClass().getSimpleName()));
      }
    }
    Generator gen = new Generator(0); // initial values are overwritten by the file's
    List<String> wrapped = new ArrayList<>();
    try {
      for (String name : names) {
        int rank = ranks.get(name);
        double alpha = config == null ? rank : config.alphaFor(name);
        wrap(root, name, rank, alpha, 0.0, dtypes.get(name), gen);
        wrapped.add(name);
      }
      loadAdapter(root, adapter, prefix);
    } catch (RuntimeException e) {
      // Leave the model as it was.
      Map<String, LoraLinear> ads = adapters(root);
      for (String name : wrapped) unwrap(root, name, ads.get(name));
      throw e;
    }
    return names;
  }

  // ---------------------------------------------------------------- files

  /** An adapter read from a file: weights by file key, and the config of its metadata or null. */
  public record LoraFile(Map<String, Tensor> tensors, LoraConfig config) implements AutoCloseable {
    @Override
    public void close() {
      for (Tensor t : tensors.values()) t.close();
    }
  }

  /**
   * Saves the adapters of {@code root} as a diffusers LoRA file: weights under {@code prefix} (see
   * {@link #adapterStateDict}) and metadata {@code format: pt} plus {@code lora_adapter_metadata}
   * describing ranks, alphas and targets.
   */
  public static void save(Path file, Module root, String prefix) throws IOException {
    save(file, adapterStateDict(root, prefix), config(root), prefix);
  }

  /** Saves adapter weights (already under their file keys) with {@code config} as metadata. */
  public static void save(Path file, Map<String, Tensor> adapter, LoraConfig config, String prefix)
      throws IOException {
    Map<String, String> metadata = new LinkedHashMap<>();
    metadata.put("format", "pt");
    if (config != null) metadata.put(METADATA_KEY, config.toMetadataJson(prefix));
    Safetensors.save(file, adapter, metadata);
  }

  /**
   * Reads a LoRA file: every tensor (the caller closes them, e.g. by closing the result) and the
   * config stored under {@code prefix} in its {@code lora_adapter_metadata}, or null.
   */
  public static LoraFile load(Path file, String prefix) throws IOException {
    LoraConfig config = null;
    try (SafetensorsFile f = SafetensorsFile.open(file)) {
      String json = f.metadata().get(METADATA_KEY);
      if (json != null) config = LoraConfig.fromMetadataJson(json, prefix);
    }
    return new LoraFile(Safetensors.load(file), config);
  }

  // ---------------------------------------------------------------- merging

  /**
   * Folds every adapter of {@code root} into its base weight ({@code W <- W + (alpha / rank) B A},
   * computed in F64 and rounded once to W's dtype) and puts the base layer back in the adapter's
   * place (PEFT's {@code merge_and_unload}); the factors are closed. The base layers stay frozen.
   * Returns the merged names.
   */
  public static List<String> merge(Module root) {
    List<String> names = new ArrayList<>();
    for (var e : adapters(root).entrySet()) {
      e.getValue().mergeIntoBase();
      unwrap(root, e.getKey(), e.getValue());
      names.add(e.getKey());
    }
    return names;
  }

  /** Removes every adapter without merging it, restoring the base layers. Returns the names. */
  public static List<String> unload(Module root) {
    List<String> names = new ArrayList<>();
    for (var e : adapters(root).entrySet()) {
      unwrap(root, e.getKey(), e.getValue());
      names.add(e.getKey());
    }
    return names;
  }

  private static void unwrap(Module root, String name, LoraLinear l) {
    replace(root, name, l.base());
    l.closeAdapter();
  }

  // ---------------------------------------------------------------- extraction

  /** The factors of one layer's adapter: A [rank, in], B [out, rank]. Closing closes both. */
  public record Factors(Tensor a, Tensor b) implements AutoCloseable {
    @Override
    public void close() {
      a.close();
      b.close();
    }
  }

  /**
   * The best rank-{@code rank} adapter (alpha = rank, so scale 1) for the change from {@code base}
   * to {@code tuned} (both [out, in]): with {@code delta = tuned - base ~ U_r S_r V_r^T} (truncated
   * SVD, {@link Svd#truncated}), {@code B = U_r sqrt(S_r)} and {@code A = sqrt(S_r) V_r^T}, so
   * {@code B A} is the rank-{@code rank} truncation of delta (optimal in Frobenius and spectral
   * norm when the SVD is exact; near-optimal with the randomized method used for large layers).
   * Splitting S evenly gives both factors the same scale, which keeps further training of the
   * extracted adapter well conditioned. {@code rank} is capped at min(out, in). F64 results,
   * caller-owned.
   */
  public static Factors extract(Tensor base, Tensor tuned, int rank) {
    return extract(base, tuned, rank, new Generator(0));
  }

  /** {@link #extract(Tensor, Tensor, int)} drawing the randomized SVD's test matrix from gen. */
  public static Factors extract(Tensor base, Tensor tuned, int rank, Generator gen) {
    if (base.dim() != 2 || !Arrays.equals(base.shape(), tuned.shape())) {
      throw new IllegalArgumentException(
          "Lora.extract: expected two weights of the same shape [out, in], got "
              + base.describe()
              + " and "
              + tuned.describe());
    }
    if (rank < 1)
      throw new IllegalArgumentException("Lora.extract: rank must be >= 1, got " + rank);
    int r = (int) Math.min(rank, Math.min(base.size(0), base.size(1)));
    try (var scope = Scope.open();
        var ng = GradMode.noGrad()) {
      Tensor delta = tuned.to(DType.F64).sub(base.to(DType.F64));
      Svd.Result svd = Svd.truncated(delta, r, gen);
      Tensor sq = svd.s().sqrt();
      Tensor b = svd.u().mul(sq.view(1, r)).contiguous();
      Tensor a = svd.vh().mul(sq.view(r, 1)).contiguous();
      scope.keep(a);
      scope.keep(b);
      return new Factors(a, b);
    }
  }

  /**
   * Extracts adapters for every targeted linear weight (2-d {@code <module>.weight} whose module is
   * targeted by {@code targetModules}, PEFT suffix rules) from a base and a fine-tuned state dict
   * (diffusers names, e.g. {@code blocks.0.attn1.to_q.weight}), as file keys under {@link
   * #DEFAULT_PREFIX} in the tuned weights' dtype. alpha = rank everywhere (scale 1), which is also
   * what loaders assume for files without metadata; save with {@link #extractedConfig}.
   */
  public static Map<String, Tensor> extract(
      Map<String, Tensor> base, Map<String, Tensor> tuned, int rank, List<String> targetModules) {
    return extract(
        base,
        tuned,
        LoraConfig.of(rank, rank, targetModules),
        DEFAULT_PREFIX,
        null,
        new Generator(0));
  }

  /**
   * Extracts adapters of rank {@code config.rankFor(module)} for the modules {@code config}
   * targets, as file keys under {@code prefix}, in {@code dtype} (null: each tuned weight's dtype).
   * The config's alphas are ignored: extracted adapters have alpha = rank.
   *
   * @throws IllegalArgumentException when nothing is targeted, or a targeted weight is missing from
   *     {@code tuned} or has another shape there
   */
  public static Map<String, Tensor> extract(
      Map<String, Tensor> base,
      Map<String, Tensor> tuned,
      LoraConfig config,
      String prefix,
      DType dtype,
      Generator gen) {
    Predicate<String> target = config.targetPredicate();
    Map<String, Tensor> out = new LinkedHashMap<>();
    try {
      for (var e : base.entrySet()) {
        String k = e.getKey();
        if (!k.endsWith(".weight") || e.getValue().dim() != 2) continue;
        String module = k.substring(0, k.length() - ".weight".length());
        if (!target.test(module)) continue;
        Tensor t = tuned.get(k);
        if (t == null)
          throw new IllegalArgumentException("Lora.extract: '" + k + "' is missing from tuned");
        if (!Arrays.equals(t.shape(), e.getValue().shape()))
          throw new IllegalArgumentException(
              "Lora.extract: '"
                  + k
                  + "' is "
                  + e.getValue().describe()
                  + " in base but "
                  + t.describe()
                  + " in tuned");
        DType dt = dtype == null ? t.dtype() : dtype;
        try (Factors f = extract(e.getValue(), t, config.rankFor(module), gen)) {
          out.put(key(prefix, module) + ".lora_A.weight", f.a().to(dt));
          out.put(key(prefix, module) + ".lora_B.weight", f.b().to(dt));
        }
      }
    } catch (RuntimeException ex) {
      for (Tensor t : out.values()) t.close();
      throw ex;
    }
    if (out.isEmpty())
      throw new IllegalArgumentException(
          "Lora.extract: no 2-d weight of a targeted module among " + base.size() + " tensors");
    return out;
  }

  /**
   * The metadata config of extracted adapter weights (file keys under {@code prefix}): ranks from
   * the A factors, alpha = rank.
   */
  public static LoraConfig extractedConfig(Map<String, Tensor> adapter, String prefix) {
    String p = prefix == null || prefix.isEmpty() ? "" : prefix + ".";
    Map<String, Integer> ranks = new LinkedHashMap<>();
    Map<String, Double> alphas = new LinkedHashMap<>();
    for (var e : adapter.entrySet()) {
      String k = e.getKey();
      if (!k.startsWith(p) || !k.endsWith(".lora_A.weight")) continue;
      String module = k.substring(p.length(), k.length() - ".lora_A.weight".length());
      int r = (int) e.getValue().size(0);
      ranks.put(module, r);
      alphas.put(module, (double) r);
    }
    return LoraConfig.describing(ranks, alphas, 0.0);
  }
}
