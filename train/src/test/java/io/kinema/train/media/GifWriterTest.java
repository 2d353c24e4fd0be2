package io.kinema.train.media;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.metadata.IIOMetadata;
import javax.imageio.metadata.IIOMetadataNode;
import javax.imageio.stream.ImageInputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.w3c.dom.Node;

class GifWriterTest {
  @TempDir Path dir;

  /** What a GIF decodes to: frames, delays, disposal and NETSCAPE loop count per frame. */
  record Decoded(
      List<BufferedImage> frames, List<Integer> delays, List<String> disposals, int loops) {}

  @Test
  void tinyClipIsUpscaledLoopsAndKeepsItsColours() throws IOException {
    Video video = TestVideos.blocks(5, 32, 32, 4, 16, 11);
    Path file = dir.resolve("sample.gif");
    GifWriter.write(video, file);

    Decoded gif = decode(file);
    assertEquals(5, gif.frames().size());
    assertEquals(0, gif.loops(), "NETSCAPE2.0 loop count 0 = forever");
    for (int t = 0; t < 5; t++) {
      BufferedImage frame = gif.frames().get(t);
      assertEquals(256, frame.getWidth(), "32 px scaled 8x");
      assertEquals(256, frame.getHeight());
      for (int y = 0; y < 256; y++) {
        for (int x = 0; x < 256; x++) {
          // 64 colours per frame fit the palette exactly.
          assertEquals(video.rgb(t, y / 8, x / 8), frame.getRGB(x, y) & 0xFFFFFF, "frame " + t);
        }
      }
    }
    assertEquals(
        List.of(6, 7, 6, 6, 6), gif.delays(), "16 fps: frames end at 6, 13, 19, 25, 31 cs");
    assertTrue(
        gif.disposals().stream().allMatch("doNotDispose"::equals), gif.disposals().toString());
  }

  @Test
  void manyColoursAreQuantizedClosely() throws IOException {
    Video video = TestVideos.noise(2, 24, 40, 8, 12);
    Path file = dir.resolve("noise.gif");
    GifWriter.write(video, file, 1);
    Decoded gif = decode(file);
    assertEquals(2, gif.frames().size());
    double error = 0;
    for (int t = 0; t < 2; t++) {
      BufferedImage frame = gif.frames().get(t);
      assertEquals(40, frame.getWidth());
      assertEquals(24, frame.getHeight());
      for (int y = 0; y < 24; y++) {
        for (int x = 0; x < 40; x++) error += channelError(video.rgb(t, y, x), frame.getRGB(x, y));
      }
    }
    double mean = error / (2 * 24 * 40 * 3);
    assertTrue(mean < 24, "mean absolute error per channel (of 255): " + mean);
  }

  @Test
  void delaysAddUpToThePlayingTime() {
    int total = 0;
    for (int t = 0; t < 30; t++) total += GifWriter.delayCentiseconds(t, 29.97);
    assertEquals(100, total, "30 frames at 29.97 fps last 1.001 s");
    assertEquals(2, GifWriter.delayCentiseconds(0, 120), "browsers slow delays under 2 cs");
    assertEquals(50, GifWriter.delayCentiseconds(3, 2));
  }

  @Test
  void replacesAnExistingFileAndLeavesNoTempFile() throws IOException {
    Path file = dir.resolve("out.gif");
    Files.writeString(file, "old");
    GifWriter.write(TestVideos.blocks(2, 8, 8, 4, 8, 13), file, 2);
    assertArrayEquals("GIF89a".getBytes(), java.util.Arrays.copyOf(Files.readAllBytes(file), 6));
    try (var files = Files.list(dir)) {
      assertEquals(List.of(file), files.toList());
    }
  }

  static int channelError(int expected, int actual) {
    int sum = 0;
    for (int shift = 0; shift <= 16; shift += 8) {
      sum += Math.abs(((expected >>> shift) & 0xFF) - ((actual >>> shift) & 0xFF));
    }
    return sum;
  }

  static Decoded decode(Path file) throws IOException {
    ImageReader reader = ImageIO.getImageReadersByFormatName("gif").next();
    try (ImageInputStream in = ImageIO.createImageInputStream(file.toFile())) {
      reader.setInput(in);
      int count = reader.getNumImages(true);
      var frames = new ArrayList<BufferedImage>();
      var delays = new ArrayList<Integer>();
      var disposals = new ArrayList<String>();
      int loops = -1;
      for (int i = 0; i < count; i++) {
        frames.add(reader.read(i));
        IIOMetadata metadata = reader.getImageMetadata(i);
        Node root = metadata.getAsTree("javax_imageio_gif_image_1.0");
        for (Node n = root.getFirstChild(); n != null; n = n.getNextSibling()) {
          if (n.getNodeName().equals("GraphicControlExtension")) {
            var control = (IIOMetadataNode) n;
            delays.add(Integer.parseInt(control.getAttribute("delayTime")));
            disposals.add(control.getAttribute("disposalMethod"));
          } else if (n.getNodeName().equals("ApplicationExtensions")) {
            var app = (IIOMetadataNode) n.getFirstChild();
            if (app.getAttribute("applicationID").equals("NETSCAPE")
                && app.getAttribute("authenticationCode").equals("2.0")) {
              byte[] data = (byte[]) app.getUserObject();
              assertEquals(1, data[0], "NETSCAPE sub-block id");
              loops = (data[1] & 0xFF) | (data[2] & 0xFF) << 8;
            }
          }
        }
      }
      return new Decoded(frames, delays, disposals, loops);
    } finally {
      reader.dispose();
    }
  }
}
