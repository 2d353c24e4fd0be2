package io.kinema.train.data.synthetic;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * The demo's stand-in for a text encoder (UMT5 in Wan): a fixed, deterministic embedding of a
 * caption's words, with no learned weights. Real training uses the text encoder's hidden states,
 * preprocessed into the dataset; this exists so the synthetic demo runs with nothing downloaded.
 *
 * <p>The caption is lower-cased and split into words (runs of letters and digits). Token {@code p}
 * is the word's vector plus a sinusoidal position code; one end token ({@code "</s>"}) follows the
 * words, as UMT5's EOS does. A word's vector has {@code dim} independent N(0, 1) entries from a
 * stream seeded by the 64-bit FNV-1a hash of its UTF-8 bytes, so it is the same in every run and
 * every caption; the position code is the Transformer's {@code sin(p / 10000^(2i/dim))}, {@code
 * cos(...)} pair, scaled by 1/2 so that the word dominates.
 */
public final class CaptionEmbedder {
  /** The default embedding width of the demo. */
  public static final int DEFAULT_DIM = 32;

  /** The end-of-caption token. */
  public static final String END = "</s>";

  private final int dim;

  public CaptionEmbedder(int dim) {
    if (dim < 2 || dim % 2 != 0) {
      throw new IllegalArgumentException("CaptionEmbedder: dim must be even and >= 2, got " + dim);
    }
    this.dim = dim;
  }

  public CaptionEmbedder() {
    this(DEFAULT_DIM);
  }

  public int dim() {
    return dim;
  }

  /** The caption's tokens: its words, then {@link #END}. */
  public static List<String> tokens(String caption) {
    List<String> tokens = new ArrayList<>();
    for (String w : caption.toLowerCase(Locale.ROOT).split("[^\\p{L}\\p{N}]+")) {
      if (!w.isEmpty()) tokens.add(w);
    }
    tokens.add(END);
    return tokens;
  }

  /** The embedding, {@code [L, dim]} in C order with {@code L = tokens(caption).size()}. */
  public float[] embed(String caption) {
    List<String> tokens = tokens(caption);
    float[] out = new float[tokens.size() * dim];
    for (int p = 0; p < tokens.size(); p++) {
      SplittableRandom word = new SplittableRandom(fnv1a(tokens.get(p)));
      for (int i = 0; i < dim; i++) {
        double angle = p / StrictMath.pow(10000, (double) (i & ~1) / dim);
        double position = (i % 2 == 0 ? StrictMath.sin(angle) : StrictMath.cos(angle)) / 2;
        out[p * dim + i] = (float) (gaussian(word) + position);
      }
    }
    return out;
  }

  /** The shape of {@link #embed}'s result: {@code [L, dim]}. */
  public long[] shape(String caption) {
    return new long[] {tokens(caption).size(), dim};
  }

  /** Box–Muller with fdlibm functions, so the values are identical on every JVM. */
  private static double gaussian(SplittableRandom rnd) {
    double u1 = 1.0 - rnd.nextDouble(); // (0, 1]
    double u2 = rnd.nextDouble();
    return StrictMath.sqrt(-2 * StrictMath.log(u1)) * StrictMath.cos(2 * Math.PI * u2);
  }

  private static long fnv1a(String word) {
    long h = 0xcbf29ce484222325L;
    for (byte b : word.getBytes(StandardCharsets.UTF_8)) {
      h ^= b & 0xff;
      h *= 0x100000001b3L;
    }
    return h;
  }
}
