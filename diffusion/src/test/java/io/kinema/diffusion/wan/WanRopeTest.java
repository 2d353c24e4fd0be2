package io.kinema.diffusion.wan;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kinema.tensor.DType;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import org.junit.jupiter.api.Test;

/** The 3-d rotary tables against the spec's formula and against diffusers' table construction. */
class WanRopeTest {
  /** Spec section 4.2 for d = 128: pairs 0-21 frame, 22-42 row, 43-63 column. */
  @Test
  void head128FollowsTheSpec() {
    try (var s = Scope.open()) {
      long f = 3, h = 5, w = 7;
      Tensor[] t = WanRope.tables(128, f, h, w, 1024, DType.F64);
      assertArrayEquals(new long[] {f * h * w, 1, 64}, t[0].shape());
      double[] cos = t[0].toDoubleArray(), sin = t[1].toDoubleArray();
      for (int fi = 0; fi < f; fi++)
        for (int hi = 0; hi < h; hi++)
          for (int wi = 0; wi < w; wi++) {
            int n = (fi * (int) h + hi) * (int) w + wi;
            for (int k = 0; k < 64; k++) {
              double angle =
                  k < 22
                      ? fi * Math.pow(10000, -2.0 * k / 44)
                      : k < 43
                          ? hi * Math.pow(10000, -2.0 * (k - 22) / 42)
                          : wi * Math.pow(10000, -2.0 * (k - 43) / 42);
              assertEquals(Math.cos(angle), cos[n * 64 + k], 1e-14);
              assertEquals(Math.sin(angle), sin[n * 64 + k], 1e-14);
            }
          }
    }
  }

  /**
   * A head dim whose construction split (2 floor(d/6) = 10) and lookup split (floor(d/3) = 11)
   * differ: diffusers' arithmetic, rebuilt literally (per-axis tables with repeated pairs,
   * concatenated, cut per token with the lookup sizes, cos from even and sin from odd columns).
   */
  @Test
  void misalignedHeadDimReproducesDiffusersTables() {
    int d = 34, max = 16;
    int dh = 2 * (d / 6), dt = d - 2 * dh;
    int[] widths = {dt, dh, dh};
    double[][] full = new double[max][d]; // angle of [position][column], all axes concatenated
    int col = 0;
    for (int width : widths) {
      for (int c = 0; c < width; c++) {
        double omega = 1.0 / Math.pow(10000, (2.0 * (c / 2)) / width);
        for (int p = 0; p < max; p++) full[p][col + c] = p * omega;
      }
      col += width;
    }
    int s1 = d / 3, s0 = d - 2 * s1;
    try (var s = Scope.open()) {
      long f = 2, h = 3, w = 4;
      Tensor[] t = WanRope.tables(d, f, h, w, max, DType.F64);
      double[] cos = t[0].toDoubleArray(), sin = t[1].toDoubleArray();
      int n = 0;
      for (int fi = 0; fi < f; fi++)
        for (int hi = 0; hi < h; hi++)
          for (int wi = 0; wi < w; wi++, n++) {
            double[] row = new double[d];
            for (int c = 0; c < d; c++) {
              int pos = c < s0 ? fi : c < s0 + s1 ? hi : wi;
              row[c] = full[pos][c];
            }
            for (int k = 0; k < d / 2; k++) {
              assertEquals(Math.cos(row[2 * k]), cos[n * (d / 2) + k], 1e-15);
              assertEquals(Math.sin(row[2 * k + 1]), sin[n * (d / 2) + k], 1e-15);
            }
          }
      var e =
          assertThrows(
              IllegalArgumentException.class, () -> WanRope.tables(d, 17, 1, 1, max, DType.F64));
      assertTrue(e.getMessage().contains("exceeds rope_max_seq_len 16"), e.getMessage());
      assertEquals(DType.F32, WanRope.tables(d, 1, 1, 2, max, DType.F32)[0].dtype());
    }
  }
}
