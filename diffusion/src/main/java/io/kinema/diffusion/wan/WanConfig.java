package io.kinema.diffusion.wan;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import com.google.gson.JsonPrimitive;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The constructor arguments of diffusers' {@code WanTransformer3DModel}, i.e. the fields of its
 * {@code transformer/config.json}, with diffusers' names in {@link #toJson()} and {@link #parse}.
 * Nullable fields are the ones diffusers allows to be {@code null} ({@code image_dim}, {@code
 * added_kv_proj_dim}, {@code pos_embed_seq_len}: image-to-video only).
 *
 * @param patchSize {@code patch_size}: (t, h, w) of the patch embedding's kernel and stride
 * @param numAttentionHeads {@code num_attention_heads}
 * @param attentionHeadDim {@code attention_head_dim}; the model width is heads * headDim
 * @param inChannels {@code in_channels} of the latent
 * @param outChannels {@code out_channels} (diffusers: {@code null} means {@code in_channels})
 * @param textDim {@code text_dim}: width of the text encoder's hidden states (UMT5-XXL: 4096)
 * @param freqDim {@code freq_dim}: width of the sinusoidal timestep features
 * @param ffnDim {@code ffn_dim}: hidden width of the blocks' feed-forward
 * @param numLayers {@code num_layers}: transformer blocks
 * @param crossAttnNorm {@code cross_attn_norm}: affine LayerNorm ({@code norm2}) before
 *     cross-attention
 * @param qkNorm {@code qk_norm}; only {@code "rms_norm_across_heads"} (what Wan uses) is supported
 * @param eps {@code eps} of every LayerNorm and RMSNorm
 * @param imageDim {@code image_dim} (I2V: CLIP width 1280), null for text-to-video
 * @param addedKvProjDim {@code added_kv_proj_dim} (I2V), null for text-to-video
 * @param ropeMaxSeqLen {@code rope_max_seq_len}: positions per axis of the rotary tables
 * @param posEmbedSeqLen {@code pos_embed_seq_len} (FLF2V), null otherwise
 */
public record WanConfig(
    PatchSize patchSize,
    int numAttentionHeads,
    int attentionHeadDim,
    int inChannels,
    int outChannels,
    int textDim,
    int freqDim,
    int ffnDim,
    int numLayers,
    boolean crossAttnNorm,
    String qkNorm,
    double eps,
    Integer imageDim,
    Integer addedKvProjDim,
    int ropeMaxSeqLen,
    Integer posEmbedSeqLen) {

  /** The one q/k normalization Wan uses: RMSNorm over all heads at once. */
  public static final String RMS_NORM_ACROSS_HEADS = "rms_norm_across_heads";

  /** diffusers' class name, written to and checked in {@code config.json}. */
  public static final String CLASS_NAME = "WanTransformer3DModel";

  /** The diffusers version we write into {@code _diffusers_version} (the golden's snapshot). */
  public static final String DIFFUSERS_VERSION = "0.40.0.dev0";

  /** Kernel = stride of the patch embedding, per axis (frames, height, width). */
  public record PatchSize(int t, int h, int w) {
    public PatchSize {
      if (t <= 0 || h <= 0 || w <= 0) {
        throw new IllegalArgumentException(
            "WanConfig: patch_size must be positive, got [" + t + ", " + h + ", " + w + "]");
      }
    }

    /** Elements of one patch per channel: {@code t * h * w}. */
    public int volume() {
      return t * h * w;
    }

    long[] toArray() {
      return new long[] {t, h, w};
    }
  }

  public WanConfig {
    if (patchSize == null) throw new IllegalArgumentException("WanConfig: patch_size is null");
    positive("num_attention_heads", numAttentionHeads);
    positive("attention_head_dim", attentionHeadDim);
    positive("in_channels", inChannels);
    positive("out_channels", outChannels);
    positive("text_dim", textDim);
    positive("freq_dim", freqDim);
    positive("ffn_dim", ffnDim);
    positive("num_layers", numLayers);
    positive("rope_max_seq_len", ropeMaxSeqLen);
    if (attentionHeadDim % 2 != 0) {
      throw new IllegalArgumentException(
          "WanConfig: attention_head_dim must be even (rotary pairs), got " + attentionHeadDim);
    }
    if (freqDim % 2 != 0) {
      // diffusers pads an odd width with a zero column; no Wan model has one
      throw new IllegalArgumentException("WanConfig: freq_dim must be even, got " + freqDim);
    }
    if (!(eps > 0)) throw new IllegalArgumentException("WanConfig: eps must be > 0, got " + eps);
  }

  private static void positive(String key, int v) {
    if (v <= 0) throw new IllegalArgumentException("WanConfig: " + key + " must be > 0, got " + v);
  }

  // ---------------------------------------------------------------- derived sizes

  /** Model width {@code D = num_attention_heads * attention_head_dim}. */
  public int innerDim() {
    return numAttentionHeads * attentionHeadDim;
  }

  /** True for the image-to-video variants (CLIP image tokens, added k/v projections). */
  public boolean isImageToVideo() {
    return imageDim != null || addedKvProjDim != null;
  }

  /**
   * Number of parameters of the text-to-video model this config describes, from the layer sizes (no
   * tensors are made): 1,418,996,800 for {@link #t2v1_3B()}, 14,288,491,584 for {@link #t2v14B()}.
   */
  public long parameterCount() {
    long d = innerDim(), f = ffnDim, p = patchSize.volume();
    long patch = d * inChannels * p + d;
    long time = (freqDim * d + d) + (d * d + d) + (d * 6 * d + 6 * d);
    long text = (textDim * d + d) + (d * d + d);
    long attn = 4 * (d * d + d) + 2 * d;
    long block = 6 * d + 2 * attn + (crossAttnNorm ? 2 * d : 0) + (d * f + f) + (f * d + d);
    long head = (d * outChannels * p + outChannels * p) + 2 * d;
    return patch + time + text + numLayers * block + head;
  }

  // ---------------------------------------------------------------- presets

  /** Wan2.1-T2V-1.3B ({@code Wan-AI/Wan2.1-T2V-1.3B-Diffusers}): D 1536, 30 layers, 12 heads. */
  public static WanConfig t2v1_3B() {
    return t2v(12, 8960, 30);
  }

  /** Wan2.1-T2V-14B ({@code Wan-AI/Wan2.1-T2V-14B-Diffusers}): D 5120, 40 layers, 40 heads. */
  public static WanConfig t2v14B() {
    return t2v(40, 13824, 40);
  }

  private static WanConfig t2v(int heads, int ffn, int layers) {
    return new WanConfig(
        new PatchSize(1, 2, 2),
        heads,
        128,
        16,
        16,
        4096,
        256,
        ffn,
        layers,
        true,
        RMS_NORM_ACROSS_HEADS,
        1e-6,
        null,
        null,
        1024,
        null);
  }

  /**
   * A tiny model for tests: the configuration of the golden {@code wan_tiny} (D 64 = 2 heads of 32,
   * 2 layers, ffn 96, 4 latent channels, text width 24, freq_dim 32).
   */
  public static WanConfig tiny() {
    return new WanConfig(
        new PatchSize(1, 2, 2),
        2,
        32,
        4,
        4,
        24,
        32,
        96,
        2,
        true,
        RMS_NORM_ACROSS_HEADS,
        1e-6,
        null,
        null,
        1024,
        null);
  }

  /** A copy with another number of layers (e.g. a shallow model with real widths). */
  public WanConfig withNumLayers(int layers) {
    return new WanConfig(
        patchSize,
        numAttentionHeads,
        attentionHeadDim,
        inChannels,
        outChannels,
        textDim,
        freqDim,
        ffnDim,
        layers,
        crossAttnNorm,
        qkNorm,
        eps,
        imageDim,
        addedKvProjDim,
        ropeMaxSeqLen,
        posEmbedSeqLen);
  }

  // ---------------------------------------------------------------- JSON

  /** A parsed config and the keys of the file that were ignored (unknown to this version). */
  public record Parsed(WanConfig config, List<String> ignoredKeys, boolean originalLayout) {}

  /** Keys diffusers' {@code ConfigMixin} adds; they carry no model information. */
  private static final Set<String> BOOKKEEPING = Set.of("_class_name", "_diffusers_version");

  private static final Set<String> DIFFUSERS_KEYS =
      Set.of(
          "patch_size",
          "num_attention_heads",
          "attention_head_dim",
          "in_channels",
          "out_channels",
          "text_dim",
          "freq_dim",
          "ffn_dim",
          "num_layers",
          "cross_attn_norm",
          "qk_norm",
          "eps",
          "image_dim",
          "added_kv_proj_dim",
          "rope_max_seq_len",
          "pos_embed_seq_len");

  /** Reads {@code file}; see {@link #parse(String, String)}. */
  public static Parsed read(Path file) throws IOException {
    return parse(Files.readString(file), file.toString());
  }

  /**
   * Reads {@code file} and returns the config (ignored keys are available through {@link #read}).
   */
  public static WanConfig load(Path file) throws IOException {
    return read(file).config();
  }

  /**
   * Parses a {@code config.json}: diffusers' {@code WanTransformer3DModel} layout, or the original
   * Wan repository's {@code WanModel} layout ({@code dim}, {@code num_heads}, {@code in_dim}, ...;
   * recognized by {@code "_class_name": "WanModel"} or by {@code dim} without {@code
   * num_attention_heads}). Keys this version does not know are ignored and listed in the result;
   * diffusers' required sizes missing from the file, values of the wrong type and another {@code
   * _class_name} are errors naming {@code source} and the key. Optional keys take diffusers'
   * defaults: {@code out_channels} = {@code in_channels}, {@code cross_attn_norm} true, {@code
   * qk_norm} "rms_norm_across_heads", {@code eps} 1e-6, {@code rope_max_seq_len} 1024, the I2V
   * fields null.
   *
   * @param source names the file in error messages
   */
  public static Parsed parse(String json, String source) {
    JsonObject o;
    try {
      JsonElement e = JsonParser.parseString(json);
      if (!e.isJsonObject()) throw new IllegalArgumentException(source + ": not a JSON object");
      o = e.getAsJsonObject();
    } catch (JsonParseException e) {
      throw new IllegalArgumentException(source + ": invalid JSON: " + e.getMessage(), e);
    }
    Reader r = new Reader(o, source);
    String cls = r.optString("_class_name", null);
    boolean original = "WanModel".equals(cls) || (!o.has("num_attention_heads") && o.has("dim"));
    if (!original && cls != null && !cls.equals(CLASS_NAME)) {
      throw new IllegalArgumentException(
          source + ": _class_name is \"" + cls + "\", expected \"" + CLASS_NAME + "\"");
    }
    WanConfig c = original ? fromOriginal(r) : fromDiffusers(r);
    List<String> ignored = new ArrayList<>();
    Set<String> known = original ? ORIGINAL_KEYS : DIFFUSERS_KEYS;
    for (String k : o.keySet()) if (!known.contains(k) && !BOOKKEEPING.contains(k)) ignored.add(k);
    return new Parsed(c, List.copyOf(ignored), original);
  }

  private static WanConfig fromDiffusers(Reader r) {
    int[] p = r.intArray("patch_size", 3);
    int in = r.requiredInt("in_channels");
    Integer out = r.optInt("out_channels", null);
    String qk = r.optString("qk_norm", RMS_NORM_ACROSS_HEADS);
    checkQkNorm(qk, r.source);
    return new WanConfig(
        new PatchSize(p[0], p[1], p[2]),
        r.requiredInt("num_attention_heads"),
        r.requiredInt("attention_head_dim"),
        in,
        out == null ? in : out,
        r.requiredInt("text_dim"),
        r.requiredInt("freq_dim"),
        r.requiredInt("ffn_dim"),
        r.requiredInt("num_layers"),
        r.optBool("cross_attn_norm", true),
        qk,
        r.optDouble("eps", 1e-6),
        r.optInt("image_dim", null),
        r.optInt("added_kv_proj_dim", null),
        r.optInt("rope_max_seq_len", 1024),
        r.optInt("pos_embed_seq_len", null));
  }

  private static void checkQkNorm(String qk, String source) {
    if (!RMS_NORM_ACROSS_HEADS.equals(qk)) {
      throw new IllegalArgumentException(
          source
              + ": qk_norm \""
              + qk
              + "\" is not supported (Wan uses \""
              + RMS_NORM_ACROSS_HEADS
              + "\")");
    }
  }

  private static final Set<String> ORIGINAL_KEYS =
      Set.of(
          "model_type",
          "patch_size",
          "text_len",
          "in_dim",
          "dim",
          "ffn_dim",
          "freq_dim",
          "text_dim",
          "out_dim",
          "num_heads",
          "num_layers",
          "window_size",
          "qk_norm",
          "cross_attn_norm",
          "eps");

  /**
   * The original repository's {@code WanModel} arguments (defaults from its constructor; {@code
   * model_type} "i2v"/"flf2v" means CLIP image tokens: image_dim 1280, added k/v of width dim).
   */
  private static WanConfig fromOriginal(Reader r) {
    int[] p = r.has("patch_size") ? r.intArray("patch_size", 3) : new int[] {1, 2, 2};
    int dim = r.requiredInt("dim");
    int heads = r.requiredInt("num_heads");
    if (dim % heads != 0) {
      throw new IllegalArgumentException(
          r.source + ": dim " + dim + " is not a multiple of num_heads " + heads);
    }
    if (r.has("qk_norm") && !r.optBool("qk_norm", true)) {
      throw new IllegalArgumentException(r.source + ": qk_norm false is not supported");
    }
    if (r.has("window_size")) {
      int[] w = r.intArray("window_size", 2);
      if (w[0] != -1 || w[1] != -1) {
        throw new IllegalArgumentException(
            r.source + ": local attention (window_size " + w[0] + ", " + w[1] + ") not supported");
      }
    }
    String type = r.optString("model_type", "t2v");
    boolean i2v = type.equals("i2v") || type.equals("flf2v");
    int in = r.requiredInt("in_dim");
    return new WanConfig(
        new PatchSize(p[0], p[1], p[2]),
        heads,
        dim / heads,
        in,
        r.optInt("out_dim", in),
        r.optInt("text_dim", 4096),
        r.optInt("freq_dim", 256),
        r.requiredInt("ffn_dim"),
        r.requiredInt("num_layers"),
        r.optBool("cross_attn_norm", true),
        RMS_NORM_ACROSS_HEADS,
        r.optDouble("eps", 1e-6),
        i2v ? 1280 : null,
        i2v ? dim : null,
        1024,
        type.equals("flf2v") ? 514 : null);
  }

  /** diffusers' {@code config.json} for this config (what {@code save_config} writes). */
  public String toJson() {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("_class_name", CLASS_NAME);
    m.put("_diffusers_version", DIFFUSERS_VERSION);
    m.put("added_kv_proj_dim", addedKvProjDim);
    m.put("attention_head_dim", attentionHeadDim);
    m.put("cross_attn_norm", crossAttnNorm);
    m.put("eps", eps);
    m.put("ffn_dim", ffnDim);
    m.put("freq_dim", freqDim);
    m.put("image_dim", imageDim);
    m.put("in_channels", inChannels);
    m.put("num_attention_heads", numAttentionHeads);
    m.put("num_layers", numLayers);
    m.put("out_channels", outChannels);
    m.put("patch_size", List.of(patchSize.t(), patchSize.h(), patchSize.w()));
    m.put("pos_embed_seq_len", posEmbedSeqLen);
    m.put("qk_norm", qkNorm);
    m.put("rope_max_seq_len", ropeMaxSeqLen);
    m.put("text_dim", textDim);
    Gson gson = new GsonBuilder().setPrettyPrinting().serializeNulls().create();
    return gson.toJson(m) + "\n";
  }

  /** Typed access to the JSON object, with errors naming the file and the key. */
  private static final class Reader {
    final JsonObject o;
    final String source;

    Reader(JsonObject o, String source) {
      this.o = o;
      this.source = source;
    }

    boolean has(String key) {
      return o.has(key) && !(o.get(key) instanceof JsonNull);
    }

    private IllegalArgumentException bad(String key, String expected) {
      return new IllegalArgumentException(
          source + ": key \"" + key + "\" must be " + expected + ", got " + o.get(key));
    }

    int requiredInt(String key) {
      if (!o.has(key)) {
        throw new IllegalArgumentException(source + ": missing required key \"" + key + "\"");
      }
      Integer v = optInt(key, null);
      if (v == null) throw bad(key, "an integer");
      return v;
    }

    Integer optInt(String key, Integer dflt) {
      if (!has(key)) return dflt;
      return toInt(key, o.get(key));
    }

    private int toInt(String key, JsonElement e) {
      if (e instanceof JsonPrimitive p && p.isNumber()) {
        double d = p.getAsDouble();
        if (d == Math.rint(d) && Math.abs(d) <= Integer.MAX_VALUE) return (int) d;
      }
      throw bad(key, "an integer");
    }

    double optDouble(String key, double dflt) {
      if (!has(key)) return dflt;
      if (o.get(key) instanceof JsonPrimitive p && p.isNumber()) return p.getAsDouble();
      throw bad(key, "a number");
    }

    boolean optBool(String key, boolean dflt) {
      if (!has(key)) return dflt;
      if (o.get(key) instanceof JsonPrimitive p && p.isBoolean()) return p.getAsBoolean();
      throw bad(key, "true or false");
    }

    String optString(String key, String dflt) {
      if (!has(key)) return dflt;
      if (o.get(key) instanceof JsonPrimitive p && p.isString()) return p.getAsString();
      throw bad(key, "a string");
    }

    int[] intArray(String key, int n) {
      if (!o.has(key)) {
        throw new IllegalArgumentException(source + ": missing required key \"" + key + "\"");
      }
      if (!(o.get(key) instanceof JsonArray a) || a.size() != n) {
        throw bad(key, "an array of " + n + " integers");
      }
      int[] v = new int[n];
      for (int i = 0; i < n; i++) v[i] = toInt(key, a.get(i));
      return v;
    }
  }
}
