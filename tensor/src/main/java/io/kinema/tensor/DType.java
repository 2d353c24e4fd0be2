package io.kinema.tensor;

/**
 * Element types. Floating types smaller than f32 ({@link #BF16}, {@link #F16}) are storage formats:
 * kernels compute in f32 and round to nearest-even when they store.
 */
public enum DType {
  F64(8, true),
  F32(4, true),
  F16(2, true),
  BF16(2, true),
  I64(8, false),
  I32(4, false),
  U8(1, false),
  BOOL(1, false);

  private final int byteSize;
  private final boolean floating;

  DType(int byteSize, boolean floating) {
    this.byteSize = byteSize;
    this.floating = floating;
  }

  /** Bytes per element. */
  public int byteSize() {
    return byteSize;
  }

  /** True for F64, F32, F16 and BF16. */
  public boolean isFloatingPoint() {
    return floating;
  }

  /** True for I64, I32 and U8 (BOOL is neither integral nor floating, as in PyTorch). */
  public boolean isIntegral() {
    return !floating && this != BOOL;
  }

  /** True for the 16-bit storage formats that compute in f32. */
  public boolean isHalf() {
    return this == F16 || this == BF16;
  }

  /**
   * The result type of a binary op on {@code a} and {@code b}, following PyTorch's promotion: bool
   * &lt; integers &lt; floats, the wider of two of a kind, and f16 with bf16 gives f32.
   */
  public static DType promote(DType a, DType b) {
    if (a == b) return a;
    if (a.floating != b.floating) return a.floating ? a : b;
    if (!a.floating) {
      if (a == BOOL) return b;
      if (b == BOOL) return a;
      return a.byteSize >= b.byteSize ? a : b;
    }
    if (a.isHalf() && b.isHalf()) return F32;
    return a.byteSize >= b.byteSize ? a : b;
  }
}
