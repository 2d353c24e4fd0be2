package io.kinema.train.media;

import io.kinema.train.AtomicFiles;
import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import javax.imageio.ImageIO;

/**
 * A PNG grid of video frames for a quick look at validation samples: one row per sample (prompt),
 * one column per frame, each row under an optional caption. Long clips show {@code maxColumns}
 * evenly spaced frames, first and last included.
 *
 * <p>Captions need Java2D text; where the machine has no usable font the sheet is drawn without
 * them instead of failing.
 */
public final class ContactSheet {
  /** Default number of frames shown per row. */
  public static final int DEFAULT_MAX_COLUMNS = 8;

  /** The default upscale makes a cell's longer side at least this many pixels. */
  public static final int DEFAULT_MIN_CELL_SIDE = 128;

  /** Pixels between cells and around the grid. */
  public static final int GAP = 4;

  private static final Color BACKGROUND = new Color(0x202020);
  private static final Color TEXT = new Color(0xE8E8E8);
  private static final int TEXT_PADDING = 3;

  static {
    Headless.ensure();
  }

  private ContactSheet() {}

  /**
   * One row of the sheet.
   *
   * @param video the sample; every row of a sheet must have the same frame size
   * @param caption text above the row, typically the prompt; empty for none
   */
  public record Row(Video video, String caption) {
    public Row {
      if (video == null) throw new IllegalArgumentException("ContactSheet.Row: video is null");
      caption = caption == null ? "" : caption;
    }
  }

  /** Writes the sheet to {@code file} (PNG) with the default columns and upscale. */
  public static void write(List<Row> rows, Path file) throws IOException {
    write(rows, file, DEFAULT_MAX_COLUMNS, defaultScale(rows));
  }

  /** Writes the sheet to {@code file} (PNG), each frame pixel drawn {@code scale x scale}. */
  public static void write(List<Row> rows, Path file, int maxColumns, int scale)
      throws IOException {
    BufferedImage sheet = render(rows, maxColumns, scale);
    AtomicFiles.write(
        file,
        temp -> {
          if (!ImageIO.write(sheet, "png", temp.toFile())) {
            throw new IOException("no PNG writer in this JRE for " + file);
          }
        });
  }

  /** The sheet as an image (see {@link #write(List, Path, int, int)}). */
  public static BufferedImage render(List<Row> rows, int maxColumns, int scale) {
    if (rows.isEmpty()) throw new IllegalArgumentException("ContactSheet: no rows");
    if (maxColumns < 1) {
      throw new IllegalArgumentException(
          "ContactSheet: maxColumns must be >= 1, got " + maxColumns);
    }
    Video.checkScale(scale);
    Video first = rows.getFirst().video();
    for (int r = 1; r < rows.size(); r++) {
      Video v = rows.get(r).video();
      if (v.height() != first.height() || v.width() != first.width()) {
        throw new IllegalArgumentException(
            "ContactSheet: row %d is %dx%d but row 0 is %dx%d (H x W); rows must match"
                .formatted(r, v.height(), v.width(), first.height(), first.width()));
      }
    }
    int cellW = first.width() * scale;
    int cellH = first.height() * scale;
    int columns =
        rows.stream().mapToInt(r -> Math.min(r.video().frames(), maxColumns)).max().orElseThrow();
    Optional<Font> font =
        rows.stream().allMatch(r -> r.caption().isEmpty()) ? Optional.empty() : Fonts.caption();
    int captionH = font.map(ContactSheet::captionHeight).orElse(0);
    int rowH = captionH + cellH + GAP;

    var sheet =
        new BufferedImage(
            GAP + columns * (cellW + GAP), GAP + rows.size() * rowH, BufferedImage.TYPE_INT_RGB);
    Graphics2D g = sheet.createGraphics();
    try {
      g.setColor(BACKGROUND);
      g.fillRect(0, 0, sheet.getWidth(), sheet.getHeight());
      for (int r = 0; r < rows.size(); r++) {
        Row row = rows.get(r);
        int top = GAP + r * rowH;
        if (font.isPresent() && !row.caption().isEmpty()) {
          drawCaption(g, font.get(), row.caption(), top, sheet.getWidth() - 2 * GAP);
        }
        int[] shown = frameIndices(row.video().frames(), maxColumns);
        for (int c = 0; c < shown.length; c++) {
          g.drawImage(
              row.video().frame(shown[c], scale), GAP + c * (cellW + GAP), top + captionH, null);
        }
      }
    } finally {
      g.dispose();
    }
    return sheet;
  }

  /** The upscale giving cells a longer side of at least {@link #DEFAULT_MIN_CELL_SIDE}. */
  static int defaultScale(List<Row> rows) {
    if (rows.isEmpty()) throw new IllegalArgumentException("ContactSheet: no rows");
    return rows.getFirst().video().scaleForLongSide(DEFAULT_MIN_CELL_SIDE);
  }

  /** Up to {@code max} frame indices of {@code frames}, evenly spaced, first and last included. */
  static int[] frameIndices(int frames, int max) {
    int n = Math.min(frames, max);
    int[] indices = new int[n];
    for (int i = 0; i < n; i++) {
      indices[i] = n == 1 ? 0 : (int) Math.round((double) i * (frames - 1) / (n - 1));
    }
    return indices;
  }

  private static int captionHeight(Font font) {
    var probe = new BufferedImage(1, 1, BufferedImage.TYPE_INT_RGB);
    Graphics2D g = probe.createGraphics();
    try {
      FontMetrics m = g.getFontMetrics(font);
      return m.getAscent() + m.getDescent() + 2 * TEXT_PADDING;
    } finally {
      g.dispose();
    }
  }

  private static void drawCaption(Graphics2D g, Font font, String caption, int top, int maxWidth) {
    g.setFont(font);
    g.setColor(TEXT);
    g.setRenderingHint(
        RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
    FontMetrics m = g.getFontMetrics();
    g.drawString(fit(caption, m, maxWidth), GAP, top + TEXT_PADDING + m.getAscent());
  }

  /** {@code text} on one line, cut with "..." to fit {@code maxWidth} pixels. */
  private static String fit(String text, FontMetrics m, int maxWidth) {
    String line = text.replaceAll("\\s+", " ").strip();
    if (m.stringWidth(line) <= maxWidth) return line;
    int end = line.length();
    while (end > 0 && m.stringWidth(line.substring(0, end) + "...") > maxWidth) end--;
    return line.substring(0, end).stripTrailing() + "...";
  }
}
