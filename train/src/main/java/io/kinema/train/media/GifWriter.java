package io.kinema.train.media;

import io.kinema.train.AtomicFiles;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import javax.imageio.IIOImage;
import javax.imageio.ImageIO;
import javax.imageio.ImageTypeSpecifier;
import javax.imageio.ImageWriter;
import javax.imageio.metadata.IIOMetadata;
import javax.imageio.metadata.IIOMetadataNode;
import javax.imageio.stream.FileImageOutputStream;

/**
 * Writes a {@link Video} as a looping animated GIF with the JDK's ImageIO GIF writer (each frame
 * gets its own 256-colour palette).
 *
 * <p>GIF frame delays are whole centiseconds, so the delays alternate (16 fps: 6, 6, 7, 6, ... cs)
 * to keep the total playing time right. Browsers play delays under 2 cs as 10 cs, so rates above 50
 * fps are played at 50 fps.
 */
public final class GifWriter {
  /** The default upscale makes the longer side at least this many pixels. */
  public static final int DEFAULT_MIN_LONG_SIDE = 256;

  private static final String FORMAT = "javax_imageio_gif_image_1.0";
  private static final int MIN_DELAY_CS = 2;

  static {
    Headless.ensure();
  }

  private GifWriter() {}

  /** Writes {@code video} to {@code file}, upscaled so its longer side is at least 256 pixels. */
  public static void write(Video video, Path file) throws IOException {
    write(video, file, video.scaleForLongSide(DEFAULT_MIN_LONG_SIDE));
  }

  /** Writes {@code video} to {@code file}, each pixel repeated {@code scale x scale} times. */
  public static void write(Video video, Path file, int scale) throws IOException {
    Video.checkScale(scale);
    AtomicFiles.write(file, temp -> encode(video, scale, temp));
  }

  /** The delay after frame {@code t} in centiseconds, so frames 0..t end at about (t+1)/fps s. */
  static int delayCentiseconds(int t, double fps) {
    long end = Math.round(100.0 * (t + 1) / fps);
    long start = Math.round(100.0 * t / fps);
    return (int) Math.min(0xFFFF, Math.max(MIN_DELAY_CS, end - start));
  }

  private static void encode(Video video, int scale, Path file) throws IOException {
    ImageWriter writer = ImageIO.getImageWritersByFormatName("gif").next();
    try (var out = new FileImageOutputStream(file.toFile())) {
      writer.setOutput(out);
      writer.prepareWriteSequence(null);
      for (int t = 0; t < video.frames(); t++) {
        BufferedImage image = video.frame(t, scale);
        IIOMetadata metadata = frameMetadata(writer, image, delayCentiseconds(t, video.fps()), t);
        writer.writeToSequence(new IIOImage(image, null, metadata), null);
      }
      writer.endWriteSequence();
    } finally {
      writer.dispose();
    }
  }

  private static IIOMetadata frameMetadata(
      ImageWriter writer, BufferedImage image, int delayCs, int t) throws IOException {
    IIOMetadata metadata =
        writer.getDefaultImageMetadata(ImageTypeSpecifier.createFromRenderedImage(image), null);
    var root = new IIOMetadataNode(FORMAT);

    var control = new IIOMetadataNode("GraphicControlExtension");
    // Every frame covers the whole canvas, so leaving it in place is all a decoder needs to do.
    control.setAttribute("disposalMethod", "doNotDispose");
    control.setAttribute("userInputFlag", "FALSE");
    control.setAttribute("transparentColorFlag", "FALSE");
    control.setAttribute("delayTime", Integer.toString(delayCs));
    control.setAttribute("transparentColorIndex", "0");
    root.appendChild(control);

    if (t == 0) {
      // NETSCAPE2.0 application extension: sub-block 1, loop count 0 (little endian) = forever.
      var loop = new IIOMetadataNode("ApplicationExtension");
      loop.setAttribute("applicationID", "NETSCAPE");
      loop.setAttribute("authenticationCode", "2.0");
      loop.setUserObject(new byte[] {1, 0, 0});
      var extensions = new IIOMetadataNode("ApplicationExtensions");
      extensions.appendChild(loop);
      root.appendChild(extensions);
    }
    metadata.mergeTree(FORMAT, root);
    return metadata;
  }
}
