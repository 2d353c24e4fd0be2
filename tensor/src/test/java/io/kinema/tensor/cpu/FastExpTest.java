package io.kinema.tensor.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.function.UnaryOperator;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import org.junit.jupiter.api.Test;

/** The fast {@code 2^x} of non-positive arguments against {@link Math#pow} in double. */
class FastExpTest {
  private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;

  /** Largest error in units of the f32 result's ulp over x in [lo, 0], step by step. */
  private static double maxUlpError(UnaryOperator<FloatVector> f, double lo, boolean base2) {
    float[] in = new float[S.length()], out = new float[S.length()];
    double worst = 0;
    int steps = 200_000;
    for (int k = 0; k < steps; k += in.length) {
      for (int i = 0; i < in.length; i++) in[i] = (float) (lo * (k + i) / steps);
      f.apply(FloatVector.fromArray(S, in, 0)).intoArray(out, 0);
      for (int i = 0; i < in.length; i++) {
        double exact = base2 ? Math.pow(2, in[i]) : Math.exp(in[i]);
        if (exact < 0x1p-125) continue; // flushed region
        worst = Math.max(worst, Math.abs(out[i] - exact) / Math.ulp((float) exact));
      }
    }
    return worst;
  }

  @Test
  void exp2IsAccurateToAboutAnUlp() {
    double ulps2 = maxUlpError(VectorMath::exp2NonPositive, -125, true);
    assertTrue(ulps2 <= 2, "exp2 max error " + ulps2 + " ulp");
  }

  @Test
  void specialValues() {
    float[] in = new float[S.length()], out = new float[S.length()];
    in[0] = Float.NEGATIVE_INFINITY;
    in[1] = Float.NaN;
    in[2] = 0f;
    in[3] = -1000f;
    in[4] = -0f;
    VectorMath.exp2NonPositive(FloatVector.fromArray(S, in, 0)).intoArray(out, 0);
    assertEquals(0f, out[0]);
    assertTrue(Float.isNaN(out[1]));
    assertEquals(1f, out[2]);
  }
}
