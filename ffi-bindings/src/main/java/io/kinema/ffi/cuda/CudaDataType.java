package io.kinema.ffi.cuda;

/**
 * {@code cudaDataType} ({@code library_types.h}): the element type of a cuBLAS / cuBLASLt operand
 * or scale. Names are the C names without the {@code CUDA_} prefix.
 */
public enum CudaDataType {
  R_16F(2),
  R_16BF(14),
  R_32F(0),
  R_64F(1),
  R_8I(3),
  R_8U(8),
  R_32I(10),
  R_8F_E4M3(28),
  R_8F_E5M2(29),
  C_32F(4),
  C_64F(5);

  private final int code;

  CudaDataType(int code) {
    this.code = code;
  }

  /** The C enum value. */
  public int code() {
    return code;
  }
}
