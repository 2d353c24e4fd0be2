package io.kinema.train.media;

import org.jcodec.codecs.h264.encode.RateControl;
import org.jcodec.codecs.h264.io.model.SliceType;
import org.jcodec.common.model.Size;

/**
 * H.264 rate control that keeps every frame well inside JCodec's fixed buffers. JCodec 0.2.5 writes
 * a frame's macroblocks into a buffer of one byte per pixel (and the frame into one of {@code
 * maxSize} bytes) and fails with a BufferOverflowException past them. Its default control budgets
 * the whole buffer, so high-entropy frames (noise, as an untrained model makes) overflow it.
 *
 * <p>The encoder asks {@link #accept} about each encoding of a macroblock: a non-zero answer is a
 * QP change and a request to encode the macroblock again. This control budgets half the buffer,
 * spread evenly over the macroblocks: a macroblock that brings the total past the share due by then
 * is re-encoded coarser (by 4 when far over), one that leaves it well under is tried once finer,
 * never finer than the frame's starting QP (JCodec's 20 for I frames, 26 for P). Frames of few
 * macroblocks leave no room to react and start coarser.
 */
final class BoundedRateControl implements RateControl {
  private static final int I_FRAME_QP = 20;
  private static final int P_FRAME_QP = 26;
  private static final int SMALL_FRAME_MACROBLOCKS = 16;
  private static final int SMALL_FRAME_QP_OFFSET = 12;
  private static final int MAX_QP = 51;

  private long bitsPerMacroblock;
  private long spentBits;
  private int macroblocks;
  private int startQp;
  private int qp;
  private boolean retrying;

  @Override
  public int startPicture(Size size, int maxSize, SliceType sliceType) {
    int count = ((size.getWidth() + 15) >> 4) * ((size.getHeight() + 15) >> 4);
    long bufferBytes = Math.min(maxSize, (long) size.getWidth() * size.getHeight());
    bitsPerMacroblock = bufferBytes * 8 / 2 / count;
    spentBits = 0;
    macroblocks = 0;
    retrying = false;
    startQp = sliceType == SliceType.P ? P_FRAME_QP : I_FRAME_QP;
    if (count < SMALL_FRAME_MACROBLOCKS) startQp += SMALL_FRAME_QP_OFFSET;
    qp = startQp;
    return qp;
  }

  @Override
  public int initialQpDelta() {
    return 0;
  }

  @Override
  public int accept(int bits) {
    long due = bitsPerMacroblock * (macroblocks + 1);
    long total = spentBits + bits;
    if (total > due && qp < MAX_QP) {
      int step = Math.min(total > due + due / 2 ? 4 : 1, MAX_QP - qp);
      qp += step;
      retrying = true;
      return step;
    }
    if (!retrying && total < due - due / 4 && qp > startQp) {
      qp--;
      retrying = true;
      return -1;
    }
    spentBits = total;
    macroblocks++;
    retrying = false;
    return 0;
  }
}
