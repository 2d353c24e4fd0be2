package io.kinema.train.data;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * Validates a {@link RawRow} and decodes its tensors into a {@link Sample}. Every check failure is
 * a {@link DataException} whose message starts with the file and the row within it.
 */
final class RowDecoder {
  private RowDecoder() {}

  /**
   * The dimensions every row must share with the dataset's first row: latent channels C and text
   * hidden size D (-1 where there is no reference yet).
   */
  record Reference(long channels, long textDim) {
    static final Reference NONE = new Reference(-1, -1);

    static Reference of(Sample s) {
      return new Reference(s.hasLatent() ? s.latentShape()[0] : -1, s.textShape()[1]);
    }
  }

  static Sample decode(
      RawRow raw, DatasetKind kind, Reference ref, String file, long rowInFile, long globalRow) {
    String where = file + " row " + rowInFile + ": ";
    if (raw.readError() != null) throw new DataException(where + raw.readError());
    float[] latent = new float[0];
    long[] latentShape = new long[0];
    if (kind.hasLatents()) {
      latentShape = shape(raw.latentShape(), "vae_latent", 4, "[C, T, h, w]", where);
      if (ref.channels() >= 0 && latentShape[0] != ref.channels()) {
        throw new DataException(
            where
                + "vae_latent_shape "
                + format(latentShape)
                + " has "
                + latentShape[0]
                + " channels, the dataset's first row has "
                + ref.channels());
      }
      latent = floats(raw.latentBytes(), raw.latentDtype(), latentShape, "vae_latent", where);
    }
    long[] textShape = textShape(raw.textShape(), where);
    if (ref.textDim() >= 0 && textShape[1] != ref.textDim()) {
      throw new DataException(
          where
              + "text_embedding_shape "
              + format(raw.textShape())
              + " has D = "
              + textShape[1]
              + ", the dataset's first row has D = "
              + ref.textDim());
    }
    float[] text = floats(raw.textBytes(), raw.textDtype(), textShape, "text_embedding", where);
    String id = raw.id() == null ? "" : raw.id();
    String caption = raw.caption() == null ? "" : raw.caption();
    return new Sample(globalRow, id, caption, latent, latentShape, text, textShape);
  }

  /** {@code [L, D]}; FastVideo also accepts {@code [1, L, D]} and squeezes the batch dim. */
  private static long[] textShape(long[] shape, String where) {
    if (shape != null && shape.length == 3 && shape[0] == 1) {
      long[] squeezed = {shape[1], shape[2]};
      checkDims(squeezed, shape, "text_embedding", 0, where);
      return squeezed;
    }
    return shape(shape, "text_embedding", 2, "[L, D]", where);
  }

  private static long[] shape(long[] shape, String tensor, int rank, String layout, String where) {
    if (shape == null) throw new DataException(where + tensor + "_shape is null");
    if (shape.length != rank) {
      throw new DataException(
          where
              + tensor
              + "_shape "
              + format(shape)
              + " has rank "
              + shape.length
              + ", expected "
              + layout);
    }
    // A text embedding may have L = 0 tokens (an empty prompt without EOS); latent dims are >= 1.
    checkDims(shape, shape, tensor, tensor.equals("text_embedding") ? 0 : 1, where);
    return shape;
  }

  private static void checkDims(
      long[] dims, long[] stored, String tensor, int minFirst, String where) {
    for (int i = 0; i < dims.length; i++) {
      if (dims[i] < (i == 0 ? minFirst : 1)) {
        throw new DataException(
            where
                + tensor
                + "_shape "
                + format(stored)
                + " has a dimension < "
                + (i == 0 ? minFirst : 1));
      }
    }
  }

  private static float[] floats(
      byte[] bytes, String dtype, long[] shape, String tensor, String where) {
    if (bytes == null) throw new DataException(where + tensor + "_bytes is null");
    if (dtype != null && !isFloat32(dtype)) {
      throw new DataException(
          where + tensor + "_dtype is \"" + dtype + "\"; only float32 data is supported");
    }
    long elements = 1;
    for (long d : shape) {
      elements = d == 0 ? 0 : elements <= Integer.MAX_VALUE / d ? elements * d : Long.MAX_VALUE;
    }
    if (elements > Integer.MAX_VALUE / 4) {
      throw new DataException(
          where + tensor + "_shape " + format(shape) + " is too large for one tensor (2 GiB)");
    }
    if (bytes.length != elements * 4) {
      throw new DataException(
          where
              + tensor
              + "_bytes has "
              + bytes.length
              + " bytes, shape "
              + format(shape)
              + " needs "
              + elements * 4);
    }
    float[] values = new float[(int) elements];
    ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(values);
    for (int i = 0; i < values.length; i++) {
      if (!Float.isFinite(values[i])) {
        throw new DataException(
            where
                + tensor
                + "_bytes holds "
                + values[i]
                + " at element "
                + i
                + " of "
                + format(shape));
      }
    }
    return values;
  }

  /** "float32" as NumPy or PyTorch spell it ("float32", "float", "torch.float32", "<f4"). */
  private static boolean isFloat32(String dtype) {
    String d = dtype.trim().toLowerCase(Locale.ROOT);
    for (String prefix : new String[] {"torch.", "numpy.", "np."}) {
      if (d.startsWith(prefix)) d = d.substring(prefix.length());
    }
    return d.equals("float32") || d.equals("float") || d.equals("<f4") || d.equals("f4");
  }

  static String format(long[] shape) {
    return Arrays.stream(shape).mapToObj(Long::toString).collect(Collectors.joining(",", "[", "]"));
  }
}
