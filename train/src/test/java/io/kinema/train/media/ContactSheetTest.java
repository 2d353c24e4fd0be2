package io.kinema.train.media;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ContactSheetTest {
  @TempDir Path dir;

  @Test
  void gridHasOneRowPerSampleAndEvenlySpacedFrames() throws IOException {
    Video a = TestVideos.blocks(17, 32, 48, 8, 16, 31);
    Video b = TestVideos.blocks(5, 32, 48, 8, 16, 32);
    Path file = dir.resolve("sheet.png");
    ContactSheet.write(List.of(new ContactSheet.Row(a, ""), new ContactSheet.Row(b, null)), file);

    BufferedImage sheet = ImageIO.read(file.toFile());
    int scale = 3; // 48 * 3 = 144 >= 128
    int gap = ContactSheet.GAP;
    int columns = ContactSheet.DEFAULT_MAX_COLUMNS;
    assertEquals(gap + columns * (48 * scale + gap), sheet.getWidth());
    assertEquals(gap + 2 * (32 * scale + gap), sheet.getHeight(), "no captions, no caption band");

    int[] shown = ContactSheet.frameIndices(17, columns);
    assertArrayEquals(new int[] {0, 2, 5, 7, 9, 11, 14, 16}, shown);
    for (int c = 0; c < columns; c++) {
      assertCell(sheet, a, shown[c], gap + c * (48 * scale + gap), gap, scale);
    }
    for (int c = 0; c < 5; c++) {
      assertCell(sheet, b, c, gap + c * (48 * scale + gap), gap + 32 * scale + gap, scale);
    }
  }

  @Test
  void captionsAddABandAboveEachRow() {
    Video v = TestVideos.blocks(3, 16, 16, 4, 8, 33);
    BufferedImage plain = ContactSheet.render(List.of(new ContactSheet.Row(v, "")), 8, 4);
    BufferedImage captioned =
        ContactSheet.render(
            List.of(
                new ContactSheet.Row(v, "a red fox jumps over the lazy dog, cinematic lighting"),
                new ContactSheet.Row(v, "short")),
            8,
            4);
    assertEquals(plain.getWidth(), captioned.getWidth());
    if (Fonts.caption().isEmpty()) return; // no fonts on this machine: drawn without text
    int band = (captioned.getHeight() - ContactSheet.GAP) / 2 - (64 + ContactSheet.GAP);
    assertTrue(band > 10, "caption band of " + band + " px");
    // Text pixels differ from the background in the band of the first row.
    int background = captioned.getRGB(0, 0);
    boolean text = false;
    for (int y = ContactSheet.GAP; y < ContactSheet.GAP + band && !text; y++) {
      for (int x = 0; x < captioned.getWidth() && !text; x++) {
        text = captioned.getRGB(x, y) != background;
      }
    }
    assertTrue(text, "the caption was drawn");
    assertCell(captioned, v, 0, ContactSheet.GAP, ContactSheet.GAP + band, 4);
    assertNotEquals(plain.getHeight(), captioned.getHeight());
  }

  @Test
  void frameIndices() {
    assertArrayEquals(new int[] {0, 1, 2}, ContactSheet.frameIndices(3, 8));
    assertArrayEquals(new int[] {0}, ContactSheet.frameIndices(81, 1));
    assertArrayEquals(new int[] {0, 40, 80}, ContactSheet.frameIndices(81, 3));
  }

  @Test
  void rowsOfDifferentSizesAreRejected() {
    var e =
        assertThrows(
            IllegalArgumentException.class,
            () ->
                ContactSheet.render(
                    List.of(
                        new ContactSheet.Row(TestVideos.noise(2, 8, 8, 8, 1), ""),
                        new ContactSheet.Row(TestVideos.noise(2, 8, 6, 8, 1), "")),
                    8,
                    1));
    assertEquals(
        "ContactSheet: row 1 is 8x6 but row 0 is 8x8 (H x W); rows must match", e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> ContactSheet.render(List.of(), 8, 1));
  }

  private static void assertCell(
      BufferedImage sheet, Video v, int t, int left, int top, int scale) {
    for (int y = 0; y < v.height() * scale; y++) {
      for (int x = 0; x < v.width() * scale; x++) {
        assertEquals(
            v.rgb(t, y / scale, x / scale),
            sheet.getRGB(left + x, top + y) & 0xFFFFFF,
            "frame " + t + " at " + x + "," + y);
      }
    }
  }
}
