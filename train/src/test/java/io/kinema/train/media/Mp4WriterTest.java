package io.kinema.train.media;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.jcodec.api.FrameGrab;
import org.jcodec.api.JCodecException;
import org.jcodec.common.io.NIOUtils;
import org.jcodec.common.io.SeekableByteChannel;
import org.jcodec.common.model.ColorSpace;
import org.jcodec.common.model.Picture;
import org.jcodec.scale.ColorUtil;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class Mp4WriterTest {
  @TempDir Path dir;

  @Test
  void decodesBackWithTheFramesAndColours() throws Exception {
    // 24 x 40 (not a multiple of 16) scaled 7x to 168 x 280, 4 x 4 source blocks = 28 px squares.
    Video video = TestVideos.blocks(6, 24, 40, 4, 16, 21);
    Path file = dir.resolve("sample.mp4");
    Mp4Writer.write(video, file);

    List<Picture> frames = decode(file);
    assertEquals(6, frames.size());
    int scale = video.scaleForLongSide(Mp4Writer.DEFAULT_MIN_LONG_SIDE);
    assertEquals(7, scale);
    for (int t = 0; t < 6; t++) {
      Picture rgb = frames.get(t);
      assertEquals(40 * scale, rgb.getCroppedWidth());
      assertEquals(24 * scale, rgb.getCroppedHeight());
      // Compare each block's inner area (away from edges blurred by 4:2:0 and the transform).
      double error = 0;
      int count = 0;
      for (int by = 0; by < 6; by++) {
        for (int bx = 0; bx < 10; bx++) {
          int expected = video.rgb(t, by * 4, bx * 4);
          int cy = by * 4 * scale + 2 * scale;
          int cx = bx * 4 * scale + 2 * scale;
          for (int y = cy - 4; y < cy + 4; y++) {
            for (int x = cx - 4; x < cx + 4; x++) {
              error += GifWriterTest.channelError(expected, rgbAt(rgb, x, y));
              count += 3;
            }
          }
        }
      }
      double mean = error / count;
      assertTrue(mean < 5, "frame " + t + ": mean absolute error per channel (of 255) " + mean);
    }
  }

  @Test
  void sizesArePaddedToEvenAndAtLeastOneMacroblock() {
    assertArrayEquals(
        new int[] {16, 16}, Mp4Writer.encodedSize(TestVideos.noise(1, 9, 13, 8, 1), 1));
    assertArrayEquals(
        new int[] {18, 20}, Mp4Writer.encodedSize(TestVideos.noise(1, 19, 17, 8, 1), 1));
    assertArrayEquals(
        new int[] {26, 18}, Mp4Writer.encodedSize(TestVideos.noise(1, 9, 13, 8, 1), 2));
    assertArrayEquals(
        new int[] {16, 16}, Mp4Writer.encodedSize(TestVideos.noise(1, 2, 3, 8, 1), 1));
    assertArrayEquals(
        new int[] {40, 24}, Mp4Writer.encodedSize(TestVideos.noise(1, 24, 40, 8, 1), 1));
  }

  /**
   * Noise is the hardest content for the encoder (an untrained model makes it); JCodec's own rate
   * control overflows its buffers on small noisy frames.
   */
  @Test
  void noisyFramesOfEverySizeEncodeAndDecode() throws Exception {
    int[][] sizes = {{2, 2}, {9, 13}, {16, 18}, {20, 30}, {64, 48}, {256, 256}};
    for (int[] hw : sizes) {
      Video video = TestVideos.noise(3, hw[0], hw[1], 8, 23 + hw[0]);
      Path file = dir.resolve("noise" + hw[0] + "x" + hw[1] + ".mp4");
      Mp4Writer.write(video, file, 1);
      List<Picture> frames = decode(file);
      int[] size = Mp4Writer.encodedSize(video, 1);
      assertEquals(3, frames.size(), file.toString());
      assertEquals(size[0], frames.getFirst().getCroppedWidth(), file.toString());
      assertEquals(size[1], frames.getFirst().getCroppedHeight(), file.toString());
    }
  }

  @Test
  void paddingRepeatsTheLastRowAndColumn() throws Exception {
    Video video = TestVideos.blocks(1, 6, 10, 2, 8, 24);
    Path file = dir.resolve("padded.mp4");
    Mp4Writer.write(video, file, 1);
    Picture frame = decode(file).getFirst();
    assertEquals(16, frame.getCroppedWidth());
    assertEquals(16, frame.getCroppedHeight());
    // The corner far from the picture shows the last pixel's colour, up to coding error.
    int error = GifWriterTest.channelError(video.rgb(0, 5, 9), rgbAt(frame, 14, 14));
    assertTrue(error < 3 * 24, "corner error " + error);
  }

  @Test
  void frameRates() {
    assertEquals("16/1", str(Mp4Writer.frameRate(16)));
    assertEquals("2997/100", str(Mp4Writer.frameRate(29.97)));
    assertEquals("25/2", str(Mp4Writer.frameRate(12.5)));
  }

  private static String str(org.jcodec.common.model.Rational r) {
    return r.getNum() + "/" + r.getDen();
  }

  /**
   * Every frame of an MP4, converted to RGB as the decoder labels it: limited-range YUV, as players
   * read a stream without a range flag (JCodec's own full-range samples would come out too
   * contrasty there, so the writer stores limited range).
   */
  static List<Picture> decode(Path file) throws IOException, JCodecException {
    var frames = new ArrayList<Picture>();
    try (SeekableByteChannel in = NIOUtils.readableChannel(file.toFile())) {
      FrameGrab grab = FrameGrab.createFrameGrab(in);
      for (Picture p = grab.getNativeFrame(); p != null; p = grab.getNativeFrame()) {
        assertEquals(ColorSpace.YUV420, p.getColor());
        Picture rgb =
            Picture.createCropped(p.getWidth(), p.getHeight(), ColorSpace.RGB, p.getCrop());
        ColorUtil.getTransform(p.getColor(), ColorSpace.RGB).transform(p, rgb);
        frames.add(rgb);
      }
      assertNull(grab.getNativeFrame());
    }
    return frames;
  }

  /** JCodec samples are signed bytes offset by -128. */
  static int rgbAt(Picture rgb, int x, int y) {
    byte[] data = rgb.getPlaneData(0);
    int i = (y * rgb.getWidth() + x) * 3;
    return (data[i] + 128) << 16 | (data[i + 1] + 128) << 8 | (data[i + 2] + 128);
  }
}
