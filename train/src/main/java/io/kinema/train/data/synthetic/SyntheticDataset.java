package io.kinema.train.data.synthetic;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import io.kinema.train.AtomicFiles;
import io.kinema.train.data.DataException;
import io.kinema.train.data.LatentRecord;
import io.kinema.train.data.ParquetLatentWriter;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.stream.Stream;

/**
 * The default job's training data: {@link ShapesClips} videos, encoded with {@link DemoLatentMap}
 * and captioned with {@link CaptionEmbedder}, written in FastVideo's preprocessed Parquet format
 * (so the trainer reads it exactly like real data) plus a {@code validation.json} of prompts.
 *
 * <p>A {@code manifest.json} records the parameters, the generator version and a SHA-256 of the
 * files; writing again into a folder that already holds the same complete set does nothing.
 */
public final class SyntheticDataset {
  /** Bumped whenever rendering or encoding changes, so cached folders are rebuilt. */
  static final int GENERATOR_VERSION = 5;

  static final String MANIFEST = "manifest.json";
  static final String VALIDATION = "validation.json";

  /** Frames per second recorded in the metadata columns. */
  static final double FPS = 8.0;

  /**
   * What to generate.
   *
   * @param clips number of clips (rows)
   * @param seed seed of the clips' contents and motion
   * @param frames frames per clip (= latent frames: the demo map has no temporal compression)
   * @param height pixel height (even); the latent is half
   * @param width pixel width (even); the latent is half
   * @param textDim width of the caption embedding
   * @param rowsPerFile rows per Parquet file
   */
  public record Params(
      int clips, long seed, int frames, int height, int width, int textDim, int rowsPerFile) {
    public Params {
      if (clips < 1 || rowsPerFile < 1) {
        throw new IllegalArgumentException(
            "SyntheticDataset: clips and rowsPerFile must be >= 1, got "
                + clips
                + ", "
                + rowsPerFile);
      }
      new ShapesClips(frames, height, width); // validates the sizes
      DemoLatentMap.latentShape(frames, height, width);
      new CaptionEmbedder(textDim);
    }

    /** 8 frames of 32x32 pixels (latents {@code [16, 8, 16, 16]}), 32-wide captions. */
    public static Params of(int clips, long seed) {
      return new Params(clips, seed, 8, 32, 32, CaptionEmbedder.DEFAULT_DIM, 256);
    }
  }

  /**
   * The result of {@link #write}.
   *
   * @param dir the dataset folder (the {@code data_path})
   * @param validationJson the prompts file
   * @param rows the number of rows
   * @param reused whether an identical existing set was kept instead of writing
   */
  public record Written(Path dir, Path validationJson, int rows, boolean reused) {}

  /** Validation prompts: every direction, four colours, all three shapes. */
  public static final List<String> VALIDATION_CAPTIONS =
      List.of(
          "a red circle moving right",
          "a blue square moving left",
          "a yellow triangle moving up",
          "a white square moving down");

  private static final Gson GSON = new GsonBuilder().setPrettyPrinting().create();

  private SyntheticDataset() {}

  /** {@link #write(Path, Params)} with {@link Params#of}. */
  public static Written write(Path dir, int clips, long seed) {
    return write(dir, Params.of(clips, seed));
  }

  /**
   * Writes the dataset into {@code dir}, unless it already holds exactly this set. Files of an
   * earlier, different set ({@code part-*.parquet}, the manifest and {@code validation.json}) are
   * replaced; any other {@code .parquet} file there is refused, since it would join the dataset.
   */
  public static Written write(Path dir, Params params) {
    Path validation = dir.resolve(VALIDATION);
    if (isComplete(dir, params)) return new Written(dir, validation, params.clips(), true);
    try {
      Files.createDirectories(dir);
      clear(dir);
      List<Path> files = writeRows(dir, params);
      writeAtomically(validation, validationJson(params));
      JsonObject manifest = new JsonObject();
      manifest.addProperty("generator", "kinema ShapesClips");
      manifest.addProperty("version", GENERATOR_VERSION);
      manifest.add("params", GSON.toJsonTree(params));
      JsonArray names = new JsonArray();
      files.forEach(f -> names.add(f.getFileName().toString()));
      manifest.add("files", names);
      manifest.addProperty("sha256", hash(dir, files));
      writeAtomically(dir.resolve(MANIFEST), GSON.toJson(manifest));
    } catch (IOException e) {
      throw new DataException(
          dir + ": cannot write the synthetic dataset (" + e.getMessage() + ")", e);
    }
    return new Written(dir, validation, params.clips(), false);
  }

  /** The row of clip {@code index}: latent {@code [16, T, H/2, W/2]}, caption {@code [L, D]}. */
  static LatentRecord row(ShapesClips renderer, CaptionEmbedder embedder, Params p, int index) {
    ShapesClips.Clip clip = renderer.clip(p.seed(), index);
    String id = String.format("shapes-%05d", index);
    String caption = clip.caption();
    return new LatentRecord(
        id,
        id + ".mp4",
        caption,
        "video",
        p.width(),
        p.height(),
        p.frames(),
        p.frames() / FPS,
        FPS,
        DemoLatentMap.encode(clip.pixels(), p.frames(), p.height(), p.width()),
        DemoLatentMap.latentShape(p.frames(), p.height(), p.width()),
        embedder.embed(caption),
        embedder.shape(caption));
  }

  private static List<Path> writeRows(Path dir, Params p) {
    ShapesClips renderer = new ShapesClips(p.frames(), p.height(), p.width());
    CaptionEmbedder embedder = new CaptionEmbedder(p.textDim());
    var writer = new ParquetLatentWriter(dir, p.rowsPerFile());
    try (writer) {
      for (int i = 0; i < p.clips(); i++) writer.write(row(renderer, embedder, p, i));
    }
    return writer.files();
  }

  private static String validationJson(Params p) {
    JsonArray data = new JsonArray();
    for (String caption : VALIDATION_CAPTIONS) {
      JsonObject prompt = new JsonObject();
      prompt.addProperty("caption", caption);
      prompt.addProperty("num_frames", p.frames());
      prompt.addProperty("height", p.height());
      prompt.addProperty("width", p.width());
      data.add(prompt);
    }
    JsonObject root = new JsonObject();
    root.add("data", data);
    return GSON.toJson(root);
  }

  /** Whether {@code dir} holds a manifest for {@code params} whose files are intact. */
  static boolean isComplete(Path dir, Params params) {
    Path manifestFile = dir.resolve(MANIFEST);
    if (!Files.isRegularFile(manifestFile) || !Files.isRegularFile(dir.resolve(VALIDATION))) {
      return false;
    }
    try {
      JsonObject manifest =
          GSON.fromJson(Files.readString(manifestFile, StandardCharsets.UTF_8), JsonObject.class);
      if (manifest == null
          || !manifest.has("version")
          || manifest.get("version").getAsInt() != GENERATOR_VERSION
          || !params.equals(GSON.fromJson(manifest.get("params"), Params.class))) {
        return false;
      }
      List<Path> files = new ArrayList<>();
      for (var name : manifest.getAsJsonArray("files")) files.add(dir.resolve(name.getAsString()));
      for (Path f : files) if (!Files.isRegularFile(f)) return false;
      try (Stream<Path> list = Files.list(dir)) {
        long parts = list.filter(p -> p.getFileName().toString().endsWith(".parquet")).count();
        if (parts != files.size()) return false;
      }
      return hash(dir, files).equals(manifest.get("sha256").getAsString());
    } catch (IOException | RuntimeException e) {
      return false; // an unreadable, foreign or damaged manifest: rebuild
    }
  }

  /** Removes an earlier set's files; refuses to touch a folder holding other Parquet files. */
  private static void clear(Path dir) throws IOException {
    List<Path> ours = new ArrayList<>();
    try (Stream<Path> list = Files.list(dir)) {
      for (Path p : list.toList()) {
        String name = p.getFileName().toString();
        if (name.matches("part-\\d{5,}\\.parquet(\\.tmp)?")
            || name.equals(MANIFEST)
            || name.equals(VALIDATION)) {
          ours.add(p);
        } else if (name.endsWith(".parquet")) {
          throw new DataException(
              dir
                  + " holds "
                  + name
                  + ", which is not part of a synthetic dataset; use an empty folder");
        }
      }
    }
    // The manifest goes first: an interrupted clear never leaves a manifest over missing files.
    Files.deleteIfExists(dir.resolve(MANIFEST));
    for (Path p : ours) Files.deleteIfExists(p);
  }

  /** SHA-256 over the validation file, then each data file, in order. */
  private static String hash(Path dir, List<Path> files) throws IOException {
    MessageDigest sha;
    try {
      sha = MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("SHA-256 is missing from this JVM", e);
    }
    List<Path> all = new ArrayList<>();
    all.add(dir.resolve(VALIDATION));
    all.addAll(files);
    byte[] buffer = new byte[1 << 16];
    for (Path f : all) {
      sha.update(f.getFileName().toString().getBytes(StandardCharsets.UTF_8));
      try (InputStream in = Files.newInputStream(f)) {
        for (int n; (n = in.read(buffer)) > 0; ) sha.update(buffer, 0, n);
      }
    }
    return HexFormat.of().formatHex(sha.digest());
  }

  private static void writeAtomically(Path target, String text) throws IOException {
    AtomicFiles.write(target, temp -> Files.writeString(temp, text, StandardCharsets.UTF_8));
  }
}
