package io.kinema.diffusion.wan;

import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Parameter names of the original Wan 2.1 repository ({@code Wan-Video/Wan2.1}, {@code
 * wan/modules/model.py}: {@code blocks.0.self_attn.q.weight}, {@code head.head.weight}, {@code
 * time_embedding.0.weight}, ...) and of diffusers ({@code blocks.0.attn1.to_q.weight}, {@code
 * proj_out.weight}, {@code condition_embedder.time_embedder.linear_1.weight}, ...), mapped both
 * ways. The rules are those of diffusers' {@code scripts/convert_wan_to_diffusers.py}, written as
 * whole-component patterns instead of substring replacements. Shapes are identical on both sides.
 *
 * <p>The one non-obvious rule: the original block uses its norms in the order norm1 (self-attn),
 * norm3 (cross-attn, affine), norm2 (FFN, no parameters), which diffusers renames to norm1, norm2,
 * norm3, so {@code blocks.i.norm3.*} (original) is {@code blocks.i.norm2.*} (diffusers) and vice
 * versa.
 */
public final class WanKeys {
  private WanKeys() {}

  /** One rename: a regex over a whole key and its replacement, for each direction. */
  private record Rule(Pattern original, String toDiffusers, Pattern diffusers, String toOriginal) {}

  private static Rule rule(String original, String diffusers) {
    // both sides use {i} for the block index and capture the parameter suffix
    String o = "^" + original.replace(".", "\\.").replace("{i}", "(\\d+)") + "\\.(.+)$";
    String d = "^" + diffusers.replace(".", "\\.").replace("{i}", "(\\d+)") + "\\.(.+)$";
    boolean indexed = original.contains("{i}");
    String oRepl = original.replace("{i}", "$1") + (indexed ? ".$2" : ".$1");
    String dRepl = diffusers.replace("{i}", "$1") + (indexed ? ".$2" : ".$1");
    return new Rule(Pattern.compile(o), dRepl, Pattern.compile(d), oRepl);
  }

  /** Whole-key renames (no suffix): the modulation tables are bare parameters. */
  private static final Map<String, String> BARE_TO_DIFFUSERS =
      Map.of("head.modulation", "scale_shift_table");

  private static final Pattern BLOCK_MODULATION = Pattern.compile("^blocks\\.(\\d+)\\.modulation$");
  private static final Pattern BLOCK_TABLE =
      Pattern.compile("^blocks\\.(\\d+)\\.scale_shift_table$");

  private static final List<Rule> RULES =
      List.of(
          rule("time_embedding.0", "condition_embedder.time_embedder.linear_1"),
          rule("time_embedding.2", "condition_embedder.time_embedder.linear_2"),
          rule("time_projection.1", "condition_embedder.time_proj"),
          rule("text_embedding.0", "condition_embedder.text_embedder.linear_1"),
          rule("text_embedding.2", "condition_embedder.text_embedder.linear_2"),
          rule("head.head", "proj_out"),
          rule("blocks.{i}.self_attn.q", "blocks.{i}.attn1.to_q"),
          rule("blocks.{i}.self_attn.k", "blocks.{i}.attn1.to_k"),
          rule("blocks.{i}.self_attn.v", "blocks.{i}.attn1.to_v"),
          rule("blocks.{i}.self_attn.o", "blocks.{i}.attn1.to_out.0"),
          rule("blocks.{i}.self_attn.norm_q", "blocks.{i}.attn1.norm_q"),
          rule("blocks.{i}.self_attn.norm_k", "blocks.{i}.attn1.norm_k"),
          rule("blocks.{i}.cross_attn.q", "blocks.{i}.attn2.to_q"),
          rule("blocks.{i}.cross_attn.k", "blocks.{i}.attn2.to_k"),
          rule("blocks.{i}.cross_attn.v", "blocks.{i}.attn2.to_v"),
          rule("blocks.{i}.cross_attn.o", "blocks.{i}.attn2.to_out.0"),
          rule("blocks.{i}.cross_attn.norm_q", "blocks.{i}.attn2.norm_q"),
          rule("blocks.{i}.cross_attn.norm_k", "blocks.{i}.attn2.norm_k"),
          rule("blocks.{i}.cross_attn.k_img", "blocks.{i}.attn2.add_k_proj"),
          rule("blocks.{i}.cross_attn.v_img", "blocks.{i}.attn2.add_v_proj"),
          rule("blocks.{i}.cross_attn.norm_k_img", "blocks.{i}.attn2.norm_added_k"),
          rule("blocks.{i}.norm3", "blocks.{i}.norm2"),
          rule("blocks.{i}.norm2", "blocks.{i}.norm3"),
          rule("blocks.{i}.ffn.0", "blocks.{i}.ffn.net.0.proj"),
          rule("blocks.{i}.ffn.2", "blocks.{i}.ffn.net.2"),
          rule("img_emb.proj.0", "condition_embedder.image_embedder.norm1"),
          rule("img_emb.proj.1", "condition_embedder.image_embedder.ff.net.0.proj"),
          rule("img_emb.proj.3", "condition_embedder.image_embedder.ff.net.2"),
          rule("img_emb.proj.4", "condition_embedder.image_embedder.norm2"));

  /**
   * The diffusers name of an original Wan parameter name (unknown names are returned as is). Only
   * for names in the original layout: the norm2/norm3 swap makes it wrong on diffusers names.
   */
  public static String toDiffusers(String original) {
    String bare = BARE_TO_DIFFUSERS.get(original);
    if (bare != null) return bare;
    if (original.equals("img_emb.emb_pos")) return "condition_embedder.image_embedder.pos_embed";
    Matcher m = BLOCK_MODULATION.matcher(original);
    if (m.matches()) return "blocks." + m.group(1) + ".scale_shift_table";
    for (Rule r : RULES) {
      Matcher x = r.original().matcher(original);
      if (x.matches()) return x.replaceFirst(r.toDiffusers());
    }
    return original;
  }

  /** The original Wan name of a diffusers parameter name (unknown names are returned as is). */
  public static String toOriginal(String diffusers) {
    if (diffusers.equals("scale_shift_table")) return "head.modulation";
    if (diffusers.equals("condition_embedder.image_embedder.pos_embed")) return "img_emb.emb_pos";
    Matcher m = BLOCK_TABLE.matcher(diffusers);
    if (m.matches()) return "blocks." + m.group(1) + ".modulation";
    for (Rule r : RULES) {
      Matcher x = r.diffusers().matcher(diffusers);
      if (x.matches()) return x.replaceFirst(r.toOriginal());
    }
    return diffusers;
  }

  /**
   * True when {@code keys} are in the original layout: one of them is a name only the original
   * repository uses ({@code head.head.*}, {@code blocks.*.self_attn.*}, {@code time_embedding.*},
   * {@code blocks.*.modulation}).
   */
  public static boolean isOriginalLayout(Collection<String> keys) {
    for (String k : keys) {
      if (k.startsWith("head.head.")
          || k.startsWith("time_embedding.")
          || k.startsWith("text_embedding.")
          || BLOCK_MODULATION.matcher(k).matches()
          || (k.startsWith("blocks.") && k.contains(".self_attn."))) {
        return true;
      }
    }
    return false;
  }

  /** {@code names} (any iteration order) mapped with {@link #toDiffusers}, original -> new. */
  public static Map<String, String> toDiffusers(Collection<String> names) {
    Map<String, String> out = new LinkedHashMap<>();
    for (String n : names) out.put(n, toDiffusers(n));
    return out;
  }
}
