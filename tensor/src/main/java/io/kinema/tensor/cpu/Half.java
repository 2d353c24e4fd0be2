package io.kinema.tensor.cpu;

/**
 * Conversions between f32 and the 16-bit float formats, rounding to nearest even. bf16 is the top
 * half of an f32; f16 is IEEE binary16 (Java's {@link Float#floatToFloat16} already rounds to
 * nearest even).
 */
public final class Half {
  private Half() {}

  public static float bf16ToFloat(short h) {
    return Float.intBitsToFloat((h & 0xffff) << 16);
  }

  public static short floatToBf16(float f) {
    int bits = Float.floatToRawIntBits(f);
    if ((bits & 0x7fffffff) > 0x7f800000) return (short) ((bits >>> 16) | 0x0040); // quiet NaN
    int roundingBias = 0x7fff + ((bits >>> 16) & 1);
    return (short) ((bits + roundingBias) >>> 16);
  }

  public static float f16ToFloat(short h) {
    return Float.float16ToFloat(h);
  }

  public static short floatToF16(float f) {
    return Float.floatToFloat16(f);
  }
}
