package io.kinema.train.media;

import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.util.Optional;

/**
 * Whether Java2D can draw text here. A JRE without fontconfig or any font file fails on the first
 * text call (an Error such as "Probable fatal error: No fonts found", or a missing native font
 * library); pictures then go without text rather than failing the run.
 */
final class Fonts {
  private static final int CAPTION_SIZE = 14;
  private static volatile Optional<Font> caption;

  private Fonts() {}

  /** The caption font if text rendering works on this machine, probed once. */
  static Optional<Font> caption() {
    Optional<Font> font = caption;
    if (font == null) {
      font = probe(new Font(Font.SANS_SERIF, Font.PLAIN, CAPTION_SIZE));
      caption = font;
    }
    return font;
  }

  private static Optional<Font> probe(Font font) {
    Headless.ensure();
    try {
      var image = new BufferedImage(8, 8, BufferedImage.TYPE_INT_RGB);
      Graphics2D g = image.createGraphics();
      try {
        g.setFont(font);
        g.getFontMetrics().stringWidth("Ag");
        g.drawString("Ag", 0, 7);
      } finally {
        g.dispose();
      }
      return Optional.of(font);
    } catch (OutOfMemoryError | StackOverflowError e) {
      throw e;
    } catch (Exception | Error e) {
      // Font failures surface as Error, InternalError, UnsatisfiedLinkError or
      // NullPointerException.
      return Optional.empty();
    }
  }
}
