package io.kinema.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;

/** arange, linspace and eye against PyTorch's definitions, every dtype. */
class CreationTest {
  private static final DType[] ALL = DType.values();

  /** The value a double becomes in {@code dt}: rounded for floats, truncated for integers. */
  private static double as(DType dt, double v) {
    return switch (dt) {
      case F64 -> v;
      case F32 -> (float) v;
      case BF16 ->
          io.kinema.tensor.cpu.Half.bf16ToFloat(io.kinema.tensor.cpu.Half.floatToBf16((float) v));
      case F16 ->
          io.kinema.tensor.cpu.Half.f16ToFloat(io.kinema.tensor.cpu.Half.floatToF16((float) v));
      case I64 -> (long) v;
      case I32 -> (int) (long) v;
      case U8 -> (long) v & 0xff;
      case BOOL -> v != 0 ? 1 : 0;
    };
  }

  @Test
  void arangeMatchesPyTorch() {
    try (var s = Scope.open()) {
      assertArrayEquals(new long[] {0, 1, 2, 3, 4}, Tensor.arange(5).toLongArray());
      assertEquals(DType.I64, Tensor.arange(5).dtype());
      // ceil((end - start) / step) elements.
      assertArrayEquals(
          new double[] {0, 3, 6, 9},
          Tensor.arange(0, 10, 3, DType.F64, Device.CPU).toDoubleArray());
      assertArrayEquals(
          new double[] {1, 1.5, 2, 2.5},
          Tensor.arange(1, 2.6, 0.5, DType.F64, Device.CPU).toDoubleArray());
      assertArrayEquals(
          new double[] {5, 3, 1, -1},
          Tensor.arange(5, -2, -2, DType.F64, Device.CPU).toDoubleArray());
      assertArrayEquals(
          new long[] {-3, -2, -1}, Tensor.arange(-3, 0, 1, DType.I32, Device.CPU).toLongArray());
      assertEquals(0, Tensor.arange(2, 2, 1, DType.F32, Device.CPU).numel());
      assertEquals(0, Tensor.arange(0).numel());
      assertArrayEquals(new long[] {0}, Tensor.arange(0).shape());
    }
  }

  @Test
  void arangeEveryDtypeRandomArguments() {
    Random rnd = new Random(5);
    for (int trial = 0; trial < 40; trial++) {
      double start = rnd.nextInt(200) - 100 + (trial % 2 == 0 ? 0 : rnd.nextDouble());
      double step = (rnd.nextBoolean() ? 1 : -1) * (0.25 + rnd.nextInt(12) * 0.5);
      double end = start + step * (rnd.nextDouble() * 1500);
      long n = (long) Math.ceil((end - start) / step);
      for (DType dt : ALL) {
        if (dt == DType.U8 || dt == DType.BOOL) continue; // negative values wrap
        try (var s = Scope.open()) {
          Tensor t = Tensor.arange(start, end, step, dt, Device.CPU);
          assertEquals(dt, t.dtype());
          assertArrayEquals(new long[] {n}, t.shape());
          double[] v = t.toDoubleArray();
          for (int i = 0; i < n; i++) {
            assertEquals(as(dt, start + i * step), v[i], 0, dt + " arange element " + i);
          }
        }
      }
    }
    try (var s = Scope.open()) {
      assertArrayEquals(
          new long[] {0, 1, 2, 3}, Tensor.arange(0, 4, 1, DType.U8, Device.CPU).toLongArray());
      assertArrayEquals(
          new boolean[] {false, true},
          Tensor.arange(0, 2, 1, DType.BOOL, Device.CPU).toBooleanArray());
    }
  }

  @Test
  void arangeErrors() {
    var e =
        assertThrows(
            IllegalArgumentException.class, () -> Tensor.arange(0, 5, 0, DType.F32, Device.CPU));
    assertEquals("arange: step must be nonzero", e.getMessage());
    e =
        assertThrows(
            IllegalArgumentException.class, () -> Tensor.arange(0, 5, -1, DType.F32, Device.CPU));
    assertTrue(e.getMessage().startsWith("arange: upper bound and step sign are inconsistent"));
    e =
        assertThrows(
            IllegalArgumentException.class, () -> Tensor.arange(5, 0, 1, DType.F32, Device.CPU));
    assertTrue(e.getMessage().startsWith("arange: upper bound and step sign are inconsistent"));
    e =
        assertThrows(
            IllegalArgumentException.class,
            () -> Tensor.arange(0, Double.POSITIVE_INFINITY, 1, DType.F32, Device.CPU));
    assertTrue(e.getMessage().startsWith("arange: start, end and step must be finite"));
    e =
        assertThrows(
            IllegalArgumentException.class,
            () -> Tensor.arange(0, Double.NaN, 1, DType.F32, Device.CPU));
    assertTrue(e.getMessage().startsWith("arange: start, end and step must be finite"));
  }

  /** PyTorch's linspace: start + i*step for the first half, end - step*(steps-1-i) after. */
  private static double linspaceRef(double start, double end, long steps, long i) {
    if (steps == 1) return start;
    double step = (end - start) / (steps - 1);
    return i < steps / 2 ? start + step * i : end - step * (steps - 1 - i);
  }

  @Test
  void linspaceMatchesPyTorch() {
    try (var s = Scope.open()) {
      assertEquals(0, Tensor.linspace(0, 1, 0, DType.F32, Device.CPU).numel());
      assertArrayEquals(
          new double[] {3}, Tensor.linspace(3, 7, 1, DType.F64, Device.CPU).toDoubleArray());
      assertArrayEquals(
          new double[] {0, 0.25, 0.5, 0.75, 1},
          Tensor.linspace(0, 1, 5, DType.F64, Device.CPU).toDoubleArray());
      assertArrayEquals(
          new double[] {-1, 1}, Tensor.linspace(-1, 1, 2, DType.F64, Device.CPU).toDoubleArray());
      assertArrayEquals(
          new double[] {10, 5, 0},
          Tensor.linspace(10, 0, 3, DType.F64, Device.CPU).toDoubleArray());
      // Both ends are exact and the spacing is symmetric (the second half counts from the end).
      double[] v = Tensor.linspace(0.1, 0.7, 7, DType.F64, Device.CPU).toDoubleArray();
      assertEquals(0.1, v[0], 0);
      assertEquals(0.7, v[6], 0);
      assertEquals(0.7 - (0.7 - 0.1) / 6, v[5], 0);
      assertArrayEquals(
          new long[] {0, 2, 5, 7, 10},
          Tensor.linspace(0, 10, 5, DType.I64, Device.CPU).toLongArray());
    }
    Random rnd = new Random(6);
    for (int trial = 0; trial < 30; trial++) {
      double start = rnd.nextGaussian() * 50, end = rnd.nextGaussian() * 50;
      long steps = 1 + rnd.nextInt(trial < 5 ? 4 : 2000);
      for (DType dt : ALL) {
        if (!dt.isFloatingPoint() && dt != DType.I64 && dt != DType.I32) continue;
        try (var s = Scope.open()) {
          double[] v = Tensor.linspace(start, end, steps, dt, Device.CPU).toDoubleArray();
          assertEquals(steps, v.length);
          for (int i = 0; i < steps; i++) {
            assertEquals(as(dt, linspaceRef(start, end, steps, i)), v[i], 0, dt + " element " + i);
          }
        }
      }
    }
    var e =
        assertThrows(
            IllegalArgumentException.class, () -> Tensor.linspace(0, 1, -1, DType.F32, Device.CPU));
    assertEquals("linspace: number of steps must be >= 0, got -1", e.getMessage());
  }

  @Test
  void eyeEveryDtypeAndShape() {
    long[][] shapes = {{0, 0}, {1, 1}, {3, 3}, {2, 5}, {5, 2}, {17, 33}, {0, 4}};
    for (DType dt : ALL) {
      for (long[] nm : shapes) {
        try (var s = Scope.open()) {
          Tensor t = Creation.eye(nm[0], nm[1], dt, Device.CPU);
          assertArrayEquals(nm, t.shape());
          assertEquals(dt, t.dtype());
          double[] v = t.toDoubleArray();
          for (int i = 0; i < nm[0]; i++) {
            for (int j = 0; j < nm[1]; j++) {
              assertEquals(
                  i == j ? 1 : 0, v[(int) (i * nm[1] + j)], 0, dt + " eye at " + i + "," + j);
            }
          }
        }
      }
    }
    try (var s = Scope.open()) {
      assertArrayEquals(
          new double[] {1, 0, 0, 0, 1, 0, 0, 0, 1},
          Tensor.eye(3, DType.F32, Device.CPU).toDoubleArray());
    }
    var e =
        assertThrows(IllegalArgumentException.class, () -> Tensor.eye(-2, DType.F32, Device.CPU));
    assertEquals("eye: sizes must be >= 0, got n=-2, m=-2", e.getMessage());
  }
}
