package io.kinema.train.media;

import io.kinema.train.AtomicFiles;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import org.jcodec.codecs.h264.H264Encoder;
import org.jcodec.common.Codec;
import org.jcodec.common.MuxerTrack;
import org.jcodec.common.VideoCodecMeta;
import org.jcodec.common.VideoEncoder.EncodedFrame;
import org.jcodec.common.io.NIOUtils;
import org.jcodec.common.io.SeekableByteChannel;
import org.jcodec.common.model.ColorSpace;
import org.jcodec.common.model.Packet;
import org.jcodec.common.model.Packet.FrameType;
import org.jcodec.common.model.Picture;
import org.jcodec.common.model.Rational;
import org.jcodec.common.model.Size;
import org.jcodec.containers.mp4.muxer.MP4Muxer;
import org.jcodec.scale.ColorUtil;
import org.jcodec.scale.Transform;

/**
 * Writes a {@link Video} as an H.264 MP4 with JCodec's pure-Java encoder (no ffmpeg), at a quality
 * that keeps blocky upscaled clips close to their colours and noisy ones within the encoder's
 * buffers (see {@link BoundedRateControl}).
 *
 * <p>H.264 in 4:2:0 needs even frame sizes, and JCodec's encoder a whole macroblock (16 x 16) of
 * buffer. The default upscale (longer side at least 256 pixels) and every factor of 2 or more give
 * even sizes; otherwise a side that is odd or under 16 pixels is padded to the next even size, at
 * least 16, by repeating the last row or column.
 */
public final class Mp4Writer {
  /** The default upscale makes the longer side at least this many pixels. */
  public static final int DEFAULT_MIN_LONG_SIDE = 256;

  private static final int MIN_SIDE = 16;

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

  /** The encoded frame size {@code {width, height}}: scaled, then padded to even and >= 16. */
  static int[] encodedSize(Video video, int scale) {
    return new int[] {padded(video.width() * scale), padded(video.height() * scale)};
  }

  /**
   * The frame rate as a fraction: whole rates exactly, others to a thousandth (29.97 = 29970/1000).
   */
  static Rational frameRate(double fps) {
    if (fps == Math.rint(fps) && fps <= Integer.MAX_VALUE) return Rational.R((int) fps, 1);
    return Rational.reduce((int) Math.round(fps * 1000), 1000);
  }

  /**
   * JCodec's core pipeline, as its SequenceEncoder runs it but with {@link BoundedRateControl} and
   * limited-range colour: RGB picture, converted to YUV 4:2:0 (BT.601, 16..235), H.264-encoded,
   * muxed into MP4 with timestamps in units of 1/num s (one frame lasting den units).
   */
  private static void encode(Video video, int scale, Path file) throws IOException {
    int[] size = encodedSize(video, scale);
    Rational rate = frameRate(video.fps());
    var encoder = new H264Encoder(new BoundedRateControl());
    Picture rgb = Picture.create(size[0], size[1], ColorSpace.RGB);
    Picture yuv = Picture.create(size[0], size[1], ColorSpace.YUV420);
    Transform toYuv = ColorUtil.getTransform(ColorSpace.RGB, ColorSpace.YUV420);
    // The encoder accepts only pictures labelled full-range (YUV420J) but writes no range flag, so
    // decoders and players read the samples as limited range: give them limited-range samples.
    Picture frame = Picture.createPicture(size[0], size[1], yuv.getData(), ColorSpace.YUV420J);
    ByteBuffer buffer = ByteBuffer.allocate(encoder.estimateBufferSize(frame));
    try (SeekableByteChannel channel = NIOUtils.writableChannel(file.toFile())) {
      MP4Muxer muxer = MP4Muxer.createMP4MuxerToChannel(channel);
      MuxerTrack track =
          muxer.addVideoTrack(
              Codec.H264,
              VideoCodecMeta.createSimpleVideoCodecMeta(
                  new Size(size[0], size[1]), ColorSpace.YUV420));
      for (int t = 0; t < video.frames(); t++) {
        fill(rgb, video, t, scale);
        toYuv.transform(rgb, yuv);
        buffer.clear();
        EncodedFrame encoded = encoder.encodeFrame(frame, buffer);
        track.addFrame(
            Packet.createPacket(
                NIOUtils.clone(encoded.getData()),
                (long) t * rate.getDen(),
                rate.getNum(),
                rate.getDen(),
                t,
                encoded.isKeyFrame() ? FrameType.KEY : FrameType.INTER,
                null));
      }
      muxer.finish();
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

  private static int padded(int side) {
    return Math.max(MIN_SIDE, side + (side & 1));
  }
}
