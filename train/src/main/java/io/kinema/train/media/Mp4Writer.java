package io.kinema.train.media;

import java.io.IOException;
import java.nio.file.Path;
import org.jcodec.api.SequenceEncoder;
import org.jcodec.common.io.NIOUtils;
import org.jcodec.common.io.SeekableByteChannel;
import org.jcodec.common.model.ColorSpace;
import org.jcodec.common.model.Picture;
import org.jcodec.common.model.Rational;

/**
 * Writes a {@link Video} as an H.264 MP4 with JCodec's pure-Java encoder (no ffmpeg).
 *
 * <p>H.264 in 4:2:0 needs even frame sizes. The default upscale (longer side at least 256 pixels)
 * and every factor of 2 or more give even sizes; with an explicit factor of 1 an odd size is padded
 * by repeating the last row or column.
 */
public final class Mp4Writer {
  /** The default upscale makes the longer side at least this many pixels. */
  public static final int DEFAULT_MIN_LONG_SIDE = 256;

  private Mp4Writer() {}

  /** Writes {@code video} to {@code file}, upscaled so its longer side is at least 256 pixels. */
  public static void write(Video video, Path file) throws IOException {
    write(video, file, video.scaleForLongSide(DEFAULT_MIN_LONG_SIDE));
  }

  /** Writes {@code video} to {@code file}, each pixel repeated {@code scale x scale} times. */
  public static void write(Video video, Path file, int scale) throws IOException {
    Video.checkScale(scale);
    AtomicFiles.write(file, temp -> encode(video, scale, temp));
  }

  /** The encoded frame size {@code {width, height}}: scaled, then rounded up to even. */
  static int[] encodedSize(Video video, int scale) {
    return new int[] {even(video.width() * scale), even(video.height() * scale)};
  }

  /**
   * The frame rate as a fraction: whole rates exactly, others to a thousandth (29.97 = 29970/1000).
   */
  static Rational frameRate(double fps) {
    if (fps == Math.rint(fps) && fps <= Integer.MAX_VALUE) return Rational.R((int) fps, 1);
    return Rational.reduce((int) Math.round(fps * 1000), 1000);
  }

  private static void encode(Video video, int scale, Path file) throws IOException {
    int[] size = encodedSize(video, scale);
    try (SeekableByteChannel channel = NIOUtils.writableChannel(file.toFile())) {
      SequenceEncoder encoder = SequenceEncoder.createWithFps(channel, frameRate(video.fps()));
      Picture picture = Picture.create(size[0], size[1], ColorSpace.RGB);
      for (int t = 0; t < video.frames(); t++) {
        fill(picture, video, t, scale);
        encoder.encodeNativeFrame(picture);
      }
      encoder.finish();
    }
  }

  /**
   * Copies frame {@code t}, upscaled, into an interleaved RGB picture. JCodec stores 8-bit samples
   * as signed bytes offset by -128 (0 is stored as -128, 255 as 127).
   */
  private static void fill(Picture picture, Video video, int t, int scale) {
    byte[] data = picture.getPlaneData(0);
    int width = picture.getWidth();
    int height = picture.getHeight();
    for (int y = 0; y < height; y++) {
      int sy = Math.min(y / scale, video.height() - 1); // padding repeats the last row
      for (int x = 0; x < width; x++) {
        int sx = Math.min(x / scale, video.width() - 1);
        int rgb = video.rgb(t, sy, sx);
        int i = (y * width + x) * 3;
        data[i] = (byte) ((rgb >>> 16) - 128);
        data[i + 1] = (byte) (((rgb >>> 8) & 0xFF) - 128);
        data[i + 2] = (byte) ((rgb & 0xFF) - 128);
      }
    }
  }

  private static int even(int n) {
    return n + (n & 1);
  }
}
