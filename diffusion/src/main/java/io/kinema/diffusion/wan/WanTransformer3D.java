package io.kinema.diffusion.wan;

import io.kinema.nn.Conv3d;
import io.kinema.nn.Init;
import io.kinema.nn.Layer;
import io.kinema.nn.LayerNorm;
import io.kinema.nn.Linear;
import io.kinema.nn.Module;
import io.kinema.nn.ModuleList;
import io.kinema.nn.Parameter;
import io.kinema.tensor.DType;
import io.kinema.tensor.Device;
import io.kinema.tensor.Generator;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.io.Safetensors;
import io.kinema.tensor.io.SafetensorsCheckpoint;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The Wan 2.1 text-to-video diffusion transformer, laid out as diffusers' {@code
 * WanTransformer3DModel} so that its state dict is a diffusers checkpoint: {@code patch_embedding}
 * (Conv3d, kernel = stride = patch), {@code condition_embedder} ({@link WanTimeTextEmbedding}),
 * {@code blocks.{i}} ({@link WanTransformerBlock}), {@code norm_out} (LayerNorm, no affine), {@code
 * proj_out} (Linear D -> C_out * patch volume) and the output modulation {@code scale_shift_table
 * [1, 2, D]}; the 3-d rotary tables ({@link WanRope}) are computed per grid and are not part of the
 * state dict (diffusers: non-persistent buffers).
 *
 * <p>{@link #forward(Tensor, Tensor, Tensor)} maps a latent {@code [B, C_in, F, H, W]}, timesteps
 * {@code [B]} (the flow-matching sigma times 1000) and text embeddings {@code [B, S, text_dim]} to
 * the predicted velocity {@code [B, C_out, F, H, W]}.
 *
 * <p>dtypes: the activation dtype is the dtype of the model's weights (inputs are converted to it).
 * As in diffusers, a half-precision (BF16/F16) model keeps {@code time_embedder}, every {@code
 * scale_shift_table} and {@code norm2} in F32 ({@code _keep_in_fp32_modules}) and computes the
 * timestep features, the modulation, every LayerNorm and the gated residual sums in F32; an F32
 * model computes in F32 throughout and an F64 model in F64 throughout (the "exact f64" reference).
 * {@link #to(DType)} converts every parameter, as PyTorch's {@code .to} does (the forward then
 * still computes those islands in F32, from the converted values).
 *
 * <p>Loading: {@link #fromPretrained(Path, DType)} reads a diffusers folder ({@code config.json}
 * and {@code diffusion_pytorch_model.safetensors} or a sharded index) or one in the original Wan
 * layout (renamed by {@link WanKeys}); {@link #saveDiffusers(Path)} writes a diffusers folder.
 * Gradient checkpointing ({@link #gradientCheckpointing(boolean)}) recomputes each block in
 * backward; {@link ActivationMemory} estimates what a step needs.
 */
public final class WanTransformer3D extends Module {
  /**
   * Receives named intermediates during a forward (a debugging aid: the names are those of the
   * golden files, e.g. {@code temb}, {@code blocks.0.attn1.out}, {@code proj_out.out}). The tensor
   * is only valid during the call: copy what you need. With gradient checkpointing a block records
   * again when it is recomputed in backward.
   */
  @FunctionalInterface
  public interface Trace {
    void record(String name, Tensor value);
  }

  /** diffusers' default {@code max_shard_size} ("10GB"). */
  public static final long DEFAULT_MAX_SHARD_BYTES = 10_000_000_000L;

  /** Name of the weights in a diffusers folder (single file, or base name of the shards). */
  public static final String WEIGHTS_NAME = "diffusion_pytorch_model";

  private final WanConfig config;
  private final Parameter scaleShiftTable;
  private final ModuleList<WanTransformerBlock> blocks;
  private LoadInfo loadInfo;

  // the rotary tables of the last grid (handles of the model; graphs keep their own)
  private RopeKey ropeKey;
  private Tensor ropeCos, ropeSin;

  /**
   * A model of {@code config} in {@code dtype}.
   *
   * @param generator initializes the weights as diffusers does (PyTorch's Linear/Conv3d defaults,
   *     {@code scale_shift_table ~ N(0, 1/D)}, norm weights 1); null leaves every weight zero (norm
   *     weights 1), for a model about to be loaded
   */
  public WanTransformer3D(WanConfig config, DType dtype, Generator generator) {
    if (!dtype.isFloatingPoint()) {
      throw new IllegalArgumentException(
          "WanTransformer3D: expected a floating dtype, got " + dtype);
    }
    if (config.isImageToVideo()) {
      throw new UnsupportedOperationException(
          "WanTransformer3D: image-to-video configs (image_dim "
              + config.imageDim()
              + ", added_kv_proj_dim "
              + config.addedKvProjDim()
              + ") are not supported yet");
    }
    this.config = config;
    DType keep = dtype.isHalf() ? DType.F32 : dtype;
    long d = config.innerDim();
    long[] patch = config.patchSize().toArray();
    // own parameter first: diffusers' named_parameters() order
    scaleShiftTable = registerParameter("scale_shift_table", Tensor.zeros(keep, 1, 2, d));
    if (generator != null) Init.normal(scaleShiftTable.data(), 0, 1 / Math.sqrt(d), generator);
    registerModule(
        "patch_embedding",
        new Conv3d(config.inChannels(), d, patch, patch, new long[3], true, dtype, generator));
    registerModule("condition_embedder", new WanTimeTextEmbedding(config, dtype, keep, generator));
    blocks = registerModule("blocks", new ModuleList<>());
    for (int i = 0; i < config.numLayers(); i++) {
      blocks.add(new WanTransformerBlock(config, dtype, keep, generator));
    }
    registerModule("norm_out", new LayerNorm(new long[] {d}, config.eps(), false, false, dtype));
    registerModule(
        "proj_out",
        new Linear(
            d, (long) config.outChannels() * config.patchSize().volume(), true, dtype, generator));
  }

  public WanConfig config() {
    return config;
  }

  /** The blocks ({@code blocks.0} ...). */
  public ModuleList<WanTransformerBlock> blocks() {
    return blocks;
  }

  /** The output modulation {@code scale_shift_table [1, 2, D]}. */
  public Parameter scaleShiftTable() {
    return scaleShiftTable;
  }

  /** The activation dtype: that of the patch embedding's weight. */
  public DType dtype() {
    return ((Conv3d) getSubmodule("patch_embedding")).weight().data().dtype();
  }

  /** What {@link #fromPretrained} found (null for a model that was not loaded). */
  public LoadInfo loadInfo() {
    return loadInfo;
  }

  /** Turns gradient checkpointing of every block on or off (the model's own flag too). */
  @Override
  public void gradientCheckpointing(boolean on) {
    super.gradientCheckpointing(on);
    for (WanTransformerBlock b : blocks) b.gradientCheckpointing(on);
  }

  /** The dtype of the float32 islands for activations of {@code act}: F64 stays F64, else F32. */
  static DType upcast(DType act) {
    return act == DType.F64 ? DType.F64 : DType.F32;
  }

  static void record(Trace trace, String name, Tensor t) {
    if (trace != null) trace.record(name, t);
  }

  // ---------------------------------------------------------------- forward

  /** The predicted velocity; see {@link #forward(Tensor, Tensor, Tensor, Trace)}. */
  public Tensor forward(Tensor hiddenStates, Tensor timestep, Tensor encoderHiddenStates) {
    return forward(hiddenStates, timestep, encoderHiddenStates, null);
  }

  /**
   * @param hiddenStates latent {@code [B, C_in, F, H, W]}, F/H/W multiples of the patch size
   * @param timestep {@code [B]} (any numeric dtype; not differentiated)
   * @param encoderHiddenStates text embeddings {@code [B, S, text_dim]}
   * @param trace receives intermediates (null: none)
   * @return {@code [B, C_out, F, H, W]} in the model's dtype
   */
  public Tensor forward(
      Tensor hiddenStates, Tensor timestep, Tensor encoderHiddenStates, Trace trace) {
    checkInputs(hiddenStates, timestep, encoderHiddenStates);
    WanConfig c = config;
    long b = hiddenStates.size(0);
    WanConfig.PatchSize p = c.patchSize();
    long fp = hiddenStates.size(2) / p.t(), hp = hiddenStates.size(3) / p.h();
    long wp = hiddenStates.size(4) / p.w();
    long d = c.innerDim();
    DType act = dtype(), up = upcast(act);
    try (var s = Scope.open()) {
      Tensor[] rope = rope(fp, hp, wp, up, hiddenStates.device());
      record(trace, "rope.cos", rope[0]);
      record(trace, "rope.sin", rope[1]);

      Tensor x = embedPatches(hiddenStates, trace); // [B, L, D]

      WanTimeTextEmbedding.Output cond =
          ((WanTimeTextEmbedding) getSubmodule("condition_embedder"))
              .forward(timestep, encoderHiddenStates.to(act), act, up, trace);
      Tensor timestepProj = cond.timestepProj().unflatten(1, 6, d); // [B, 6, D]
      record(trace, "timestep_proj", timestepProj);

      for (int i = 0; i < blocks.size(); i++) {
        x =
            blocks
                .get(i)
                .forward(
                    x, cond.context(), timestepProj, rope[0], rope[1], trace, "blocks." + i + ".");
      }
      Tensor o = head(x, cond.temb().unsqueeze(1), trace);
      Tensor out = unpatchify(o, b, fp, hp, wp);
      return s.keep(out);
    }
  }

  /** Patch embedding: {@code [B, C_in, F, H, W]} to frame-major tokens {@code [B, L, D]}. */
  Tensor embedPatches(Tensor hiddenStates, Trace trace) {
    try (var s = Scope.open()) {
      Tensor pe = ((Layer) getSubmodule("patch_embedding")).forward(hiddenStates.to(dtype()));
      record(trace, "patch_embedding.out", pe);
      Tensor x = pe.flatten(2, 4).transpose(1, 2); // [B, L, D]
      record(trace, "tokens.before_block0", x);
      return s.keep(x);
    }
  }

  /**
   * The output norm modulated by the time embedding (before time_proj), then {@code proj_out}.
   *
   * @param x tokens {@code [B, L, D]}
   * @param temb {@code [B, F, D]}: one time embedding per frame of L/F tokens (F = 1: one for all)
   * @return {@code [B, L, pt*ph*pw*C_out]} in the activation dtype
   */
  Tensor head(Tensor x, Tensor temb, Trace trace) {
    try (var s = Scope.open()) {
      DType act = dtype(), up = upcast(act);
      long b = x.size(0), l = x.size(1), d = config.innerDim(), frames = temb.size(1);
      List<Tensor> ss = scaleShiftTable.data().add(temb.unsqueeze(2)).chunk(2, 2); // [B,F,1,D]
      Tensor n = x.to(up).layerNorm(new long[] {d}, null, null, config.eps());
      record(trace, "norm_out.out", n);
      Tensor h =
          WanTransformerBlock.modulate(n.reshape(b, frames, l / frames, d), ss.get(0), ss.get(1))
              .reshape(b, l, d)
              .to(act);
      Tensor o = ((Layer) getSubmodule("proj_out")).forward(h); // [B, L, pt*ph*pw*C]
      record(trace, "proj_out.out", o);
      return s.keep(o);
    }
  }

  /** Token (f, h, w) with last dim (a, e1, e2, ch) back to {@code [B, C_out, F, H, W]}. */
  Tensor unpatchify(Tensor o, long b, long fp, long hp, long wp) {
    WanConfig.PatchSize p = config.patchSize();
    int c = config.outChannels();
    return o.view(b, fp, hp, wp, p.t(), p.h(), p.w(), c)
        .permute(0, 7, 1, 4, 2, 5, 3, 6)
        .reshape(b, c, fp * p.t(), hp * p.h(), wp * p.w());
  }

  private void checkInputs(Tensor hs, Tensor t, Tensor ehs) {
    WanConfig c = config;
    WanConfig.PatchSize p = c.patchSize();
    if (hs.dim() != 5
        || hs.size(1) != c.inChannels()
        || hs.size(2) % p.t() != 0
        || hs.size(3) % p.h() != 0
        || hs.size(4) % p.w() != 0
        || hs.size(2) == 0
        || hs.size(3) == 0
        || hs.size(4) == 0) {
      throw new IllegalArgumentException(
          "WanTransformer3D: expected hidden_states [B, "
              + c.inChannels()
              + ", F, H, W] with F, H, W positive multiples of the patch size "
              + p.t()
              + "x"
              + p.h()
              + "x"
              + p.w()
              + ", got "
              + hs.describe());
    }
    long b = hs.size(0);
    if (t.dim() != 1 || t.size(0) != b) {
      throw new IllegalArgumentException(
          "WanTransformer3D: expected timestep [" + b + "] (one per sample), got " + t.describe());
    }
    if (ehs.dim() != 3 || ehs.size(0) != b || ehs.size(2) != c.textDim()) {
      throw new IllegalArgumentException(
          "WanTransformer3D: expected encoder_hidden_states ["
              + b
              + ", S, "
              + c.textDim()
              + "], got "
              + ehs.describe());
    }
  }

  /** What the cached rotary tables were made for. */
  private record RopeKey(long frames, long height, long width, DType dtype, Device device) {}

  /** The cached rotary tables for the grid (recomputed when the grid, dtype or device changes). */
  private Tensor[] rope(long f, long h, long w, DType dtype, Device device) {
    RopeKey key = new RopeKey(f, h, w, dtype, device);
    if (!key.equals(ropeKey)) {
      closeRope();
      try (var s = Scope.open()) {
        Tensor[] t =
            WanRope.tables(
                config.attentionHeadDim(), 0, f, h, w, config.ropeMaxSeqLen(), dtype, device);
        ropeCos = t[0].share();
        ropeSin = t[1].share();
      }
      ropeKey = key;
    }
    return new Tensor[] {ropeCos, ropeSin};
  }

  private void closeRope() {
    if (ropeCos != null) ropeCos.close();
    if (ropeSin != null) ropeSin.close();
    ropeCos = ropeSin = null;
    ropeKey = null;
  }

  @Override
  public void close() {
    super.close();
    closeRope();
  }

  // ---------------------------------------------------------------- loading and saving

  /**
   * What loading found.
   *
   * @param configFile the config read (null when the config was given)
   * @param ignoredConfigKeys keys of {@code config.json} this version does not use
   * @param weights the checkpoint opened (file, index or folder)
   * @param originalLayout the checkpoint used the original Wan names (renamed by {@link WanKeys})
   * @param ignoredWeights checkpoint keys dropped on purpose ({@code norm_added_q}, as diffusers)
   * @param result missing / unexpected / mismatched keys (all empty after a strict load)
   */
  public record LoadInfo(
      Path configFile,
      List<String> ignoredConfigKeys,
      Path weights,
      boolean originalLayout,
      List<String> ignoredWeights,
      LoadResult result) {}

  /** {@link #fromPretrained(Path, DType, boolean)} in F32 (diffusers' default), strict. */
  public static WanTransformer3D fromPretrained(Path folder) throws IOException {
    return fromPretrained(folder, DType.F32, true);
  }

  /** {@link #fromPretrained(Path, DType, boolean)}, strict. */
  public static WanTransformer3D fromPretrained(Path folder, DType dtype) throws IOException {
    return fromPretrained(folder, dtype, true);
  }

  /**
   * Loads a model folder: {@code config.json} plus {@code diffusion_pytorch_model.safetensors} or
   * its sharded index {@code diffusion_pytorch_model.safetensors.index.json} (else the folder's
   * only checkpoint); a pipeline folder with a {@code transformer/} subfolder works too. The config
   * may be diffusers' or the original Wan one, and the weights in either layout.
   *
   * @param dtype the model's dtype (F64, F32, BF16 or F16); half-precision models keep diffusers'
   *     float32 modules in F32
   * @param strict a key missing from the checkpoint or unknown to the model (or a shape mismatch)
   *     is an error listing all of them; otherwise they are reported in {@link #loadInfo()}
   */
  public static WanTransformer3D fromPretrained(Path folder, DType dtype, boolean strict)
      throws IOException {
    Path dir = folder;
    if (!Files.isRegularFile(dir.resolve("config.json"))
        && Files.isRegularFile(dir.resolve("transformer").resolve("config.json"))) {
      dir = dir.resolve("transformer");
    }
    Path configFile = dir.resolve("config.json");
    if (!Files.isRegularFile(configFile)) {
      throw new IOException("WanTransformer3D.fromPretrained: no config.json in " + folder);
    }
    WanConfig.Parsed parsed = WanConfig.read(configFile);
    WanTransformer3D m = load(parsed.config(), weightsIn(dir), dtype, strict);
    LoadInfo li = m.loadInfo;
    m.loadInfo =
        new LoadInfo(
            configFile,
            parsed.ignoredKeys(),
            li.weights(),
            li.originalLayout(),
            li.ignoredWeights(),
            li.result());
    return m;
  }

  /** The checkpoint of a model folder: diffusers' index, its single file, else the only one. */
  private static Path weightsIn(Path dir) throws IOException {
    Path index = dir.resolve(WEIGHTS_NAME + SafetensorsCheckpoint.INDEX_SUFFIX);
    if (Files.isRegularFile(index)) return index;
    Path single = dir.resolve(WEIGHTS_NAME + ".safetensors");
    if (Files.isRegularFile(single)) return single;
    List<Path> found = new ArrayList<>();
    try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir, "*.safetensors*")) {
      for (Path p : ds) found.add(p);
    }
    if (found.isEmpty()) {
      throw new IOException("WanTransformer3D.fromPretrained: no safetensors checkpoint in " + dir);
    }
    return dir; // SafetensorsCheckpoint picks the folder's only index or file, or explains
  }

  /**
   * A model of {@code config} with the weights of {@code weights} (a safetensors file, an index or
   * a folder; diffusers or original Wan names).
   */
  public static WanTransformer3D load(WanConfig config, Path weights, DType dtype, boolean strict)
      throws IOException {
    WanTransformer3D m = new WanTransformer3D(config, dtype, null);
    List<Tensor> opened = new ArrayList<>();
    try (SafetensorsCheckpoint ckpt = SafetensorsCheckpoint.open(weights)) {
      boolean original = WanKeys.isOriginalLayout(ckpt.keys());
      Map<String, Tensor> sd = new LinkedHashMap<>();
      List<String> ignored = new ArrayList<>();
      for (String k : ckpt.keys()) {
        String name = original ? WanKeys.toDiffusers(k) : k;
        if (name.contains("norm_added_q")) {
          ignored.add(k);
          continue;
        }
        Tensor t = ckpt.get(k);
        opened.add(t);
        if (sd.put(name, t) != null) {
          throw new IOException(
              "WanTransformer3D.load: " + weights + " maps two tensors to '" + name + "'");
        }
      }
      LoadResult r;
      try {
        r = m.loadStateDict(sd, strict);
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException(
            "WanTransformer3D.load: "
                + weights
                + (original ? " (original Wan names)" : "")
                + ": "
                + e.getMessage(),
            e);
      }
      m.loadInfo = new LoadInfo(null, List.of(), weights, original, List.copyOf(ignored), r);
      return m;
    } catch (IOException | RuntimeException e) {
      m.close();
      throw e;
    } finally {
      for (Tensor t : opened) t.close();
    }
  }

  /** {@link #saveDiffusers(Path, long)} with diffusers' default shard size (10 GB). */
  public void saveDiffusers(Path folder) throws IOException {
    saveDiffusers(folder, DEFAULT_MAX_SHARD_BYTES);
  }

  /**
   * Writes a diffusers model folder: {@code config.json} and the weights as {@code
   * diffusion_pytorch_model.safetensors}, or, when they exceed {@code maxShardBytes}, as shards
   * {@code diffusion_pytorch_model-0000k-of-0000n.safetensors} with their index (a single file or
   * index of an earlier save that the new layout replaces is removed). Tensors keep their dtypes.
   */
  public void saveDiffusers(Path folder, long maxShardBytes) throws IOException {
    Files.createDirectories(folder);
    Map<String, Tensor> sd = stateDict();
    long bytes = 0;
    for (Tensor t : sd.values()) bytes += t.numel() * t.dtype().byteSize();
    Map<String, String> meta = Map.of("format", "pt");
    Path single = folder.resolve(WEIGHTS_NAME + ".safetensors");
    Path index = folder.resolve(WEIGHTS_NAME + SafetensorsCheckpoint.INDEX_SUFFIX);
    if (bytes <= maxShardBytes) {
      Safetensors.save(single, sd, meta);
      if (Files.deleteIfExists(index)) deleteShards(folder);
    } else {
      Safetensors.saveSharded(folder, WEIGHTS_NAME, sd, meta, maxShardBytes);
      Files.deleteIfExists(single);
    }
    Files.writeString(folder.resolve("config.json"), config.toJson());
  }

  private static void deleteShards(Path folder) throws IOException {
    try (DirectoryStream<Path> ds =
        Files.newDirectoryStream(folder, WEIGHTS_NAME + "-*-of-*.safetensors")) {
      for (Path p : ds) Files.delete(p);
    }
  }

  @Override
  public String toString() {
    return "WanTransformer3D(" + config + ", " + dtype() + ")";
  }
}
