package io.kinema.tensor;

import java.util.Arrays;

/** Front-end of softmax, layer_norm, rms_norm and rotary embedding. */
final class NormOps {
  private NormOps() {}

  static Tensor softmax(Tensor x, int dim, boolean log) {
    String name = log ? "log_softmax" : "softmax";
    Ops.requireFloating(name, x);
    int d = Shapes.normalizeDim(name, dim, x.dim());
    if (x.dim() == 0) {
      try (Tensor flat = x.reshape(1);
          Tensor r = softmax(flat, 0, log)) {
        return r.reshape();
      }
    }
    Tensor out = Tensor.empty(x.dtype(), x.device(), x.shape());
    x.backend().softmax(x, d, log, out);
    return out;
  }

  static Tensor layerNorm(
      Tensor x, long[] normalizedShape, Tensor weight, Tensor bias, double eps) {
    return layerNorm(x, normalizedShape, weight, bias, eps, false)[0];
  }

  /**
   * {@code {out, mean, rstd}}; the statistics (x's leading dims, {@link #statsType}) only when
   * {@code withStats}, else null.
   */
  static Tensor[] layerNorm(
      Tensor x, long[] normalizedShape, Tensor weight, Tensor bias, double eps, boolean withStats) {
    String op = "layer_norm";
    Ops.sameDevice(op, x, weight, bias);
    int k = checkNormalized(op, x, normalizedShape);
    checkAffine(op, "weight", weight, x, normalizedShape);
    checkAffine(op, "bias", bias, x, normalizedShape);
    Tensor out = Tensor.empty(x.dtype(), x.device(), x.shape());
    Tensor mean = withStats ? stats(x, k) : null, rstd = withStats ? stats(x, k) : null;
    x.backend().layerNorm(x, k, weight, bias, eps, out, mean, rstd);
    return new Tensor[] {out, mean, rstd};
  }

  static Tensor rmsNorm(Tensor x, long[] normalizedShape, Tensor weight, double eps) {
    return rmsNorm(x, normalizedShape, weight, eps, false)[0];
  }

  /** {@code {out, rstd}}; rstd as in {@link #layerNorm}, only when {@code withStats}. */
  static Tensor[] rmsNorm(
      Tensor x, long[] normalizedShape, Tensor weight, double eps, boolean withStats) {
    String op = "rms_norm";
    Ops.sameDevice(op, x, weight);
    int k = checkNormalized(op, x, normalizedShape);
    checkAffine(op, "weight", weight, x, normalizedShape);
    Tensor out = Tensor.empty(x.dtype(), x.device(), x.shape());
    Tensor rstd = withStats ? stats(x, k) : null;
    x.backend().rmsNorm(x, k, weight, eps, out, rstd);
    return new Tensor[] {out, rstd};
  }

  /** The dtype of saved norm statistics: F64 for F64 inputs, F32 otherwise. */
  static DType statsType(Tensor x) {
    return x.dtype() == DType.F64 ? DType.F64 : DType.F32;
  }

  private static long[] leadingShape(Tensor x, int k) {
    return Arrays.copyOf(x.shape(), x.dim() - k);
  }

  private static Tensor stats(Tensor x, int k) {
    return Tensor.empty(statsType(x), x.device(), leadingShape(x, k));
  }

  // ---------------------------------------------------------------- backward

  static Tensor softmaxBackward(Tensor y, Tensor gradOut, int dim, boolean log) {
    String op = log ? "log_softmax backward" : "softmax backward";
    Ops.requireFloating(op, y);
    Ops.sameDevice(op, y, gradOut);
    requireLike(op, "gradOut", gradOut, y, "y");
    if (y.dim() == 0) {
      try (Tensor yf = y.reshape(1);
          Tensor gf = gradOut.reshape(1);
          Tensor r = softmaxBackward(yf, gf, 0, log)) {
        return r.reshape();
      }
    }
    int d = Shapes.normalizeDim(op, dim, y.dim());
    Tensor dx = Tensor.empty(y.dtype(), y.device(), y.shape());
    y.backend().softmaxBackward(y, gradOut, d, log, dx);
    return dx;
  }

  /**
   * {@code {dx, dweight, dbias}}, each null unless wanted (dweight/dbias need the weight/bias to
   * have been given, which only fixes their shape; weight is read for dx).
   */
  static Tensor[] layerNormBackward(
      Tensor gradOut,
      Tensor x,
      long[] normalizedShape,
      Tensor weight,
      Tensor mean,
      Tensor rstd,
      boolean wantX,
      boolean wantWeight,
      boolean wantBias) {
    String op = "layer_norm backward";
    int k = checkBackward(op, gradOut, x, normalizedShape, weight, mean, rstd, wantWeight);
    if (mean == null) {
      throw new IllegalArgumentException(op + ": mean is null (the forward's saved statistics)");
    }
    Tensor dx = wantX ? Tensor.empty(x.dtype(), x.device(), x.shape()) : null;
    Tensor dw = wantWeight ? Tensor.empty(x.dtype(), x.device(), normalizedShape) : null;
    Tensor db = wantBias ? Tensor.empty(x.dtype(), x.device(), normalizedShape) : null;
    x.backend().layerNormBackward(gradOut, x, k, weight, mean, rstd, dx, dw, db);
    return new Tensor[] {dx, dw, db};
  }

  /** {@code {dx, dweight}}, as {@link #layerNormBackward}. */
  static Tensor[] rmsNormBackward(
      Tensor gradOut,
      Tensor x,
      long[] normalizedShape,
      Tensor weight,
      Tensor rstd,
      boolean wantX,
      boolean wantWeight) {
    String op = "rms_norm backward";
    int k = checkBackward(op, gradOut, x, normalizedShape, weight, null, rstd, wantWeight);
    Tensor dx = wantX ? Tensor.empty(x.dtype(), x.device(), x.shape()) : null;
    Tensor dw = wantWeight ? Tensor.empty(x.dtype(), x.device(), normalizedShape) : null;
    x.backend().rmsNormBackward(gradOut, x, k, weight, rstd, dx, dw);
    return new Tensor[] {dx, dw};
  }

  private static int checkBackward(
      String op,
      Tensor gradOut,
      Tensor x,
      long[] normalizedShape,
      Tensor weight,
      Tensor mean,
      Tensor rstd,
      boolean wantWeight) {
    Ops.sameDevice(op, x, gradOut, weight, mean, rstd);
    int k = checkNormalized(op, x, normalizedShape);
    checkAffine(op, "weight", weight, x, normalizedShape);
    requireLike(op, "gradOut", gradOut, x, "x");
    if (wantWeight && weight == null) {
      throw new IllegalArgumentException(op + ": a weight gradient was asked for without a weight");
    }
    long[] lead = leadingShape(x, k);
    if (mean != null) checkStats(op, "mean", mean, x, lead);
    checkStats(op, "rstd", rstd, x, lead);
    return k;
  }

  private static void checkStats(String op, String what, Tensor t, Tensor x, long[] lead) {
    if (t == null || t.dtype() != statsType(x) || !Arrays.equals(t.shape(), lead)) {
      throw new IllegalArgumentException(
          op
              + ": "
              + what
              + " must be "
              + statsType(x)
              + Shapes.str(lead)
              + " (the forward's statistics over x's leading dims), got "
              + (t == null ? "null" : t.describe()));
    }
  }

  private static void requireLike(String op, String what, Tensor t, Tensor like, String name) {
    if (t == null || t.dtype() != like.dtype() || !Arrays.equals(t.shape(), like.shape())) {
      throw new IllegalArgumentException(
          op
              + ": "
              + what
              + " must have "
              + name
              + "'s shape and dtype ("
              + like.describe()
              + "), got "
              + (t == null ? "null" : t.describe()));
    }
  }

  static Tensor rotary(Tensor x, Tensor cos, Tensor sin, boolean interleaved) {
    String op = "rotary";
    Ops.sameDevice(op, x, cos, sin);
    Ops.requireFloating(op, x);
    Ops.requireFloating(op, cos);
    Ops.requireFloating(op, sin);
    if (x.dim() == 0) {
      throw new IllegalArgumentException(
          op + ": expected x with at least one dim, got " + x.describe());
    }
    long d = x.size(-1);
    if (d % 2 != 0) {
      throw new IllegalArgumentException(
          op + ": the last dim of x " + x.describe() + " must be even, got " + d);
    }
    long[] target = x.shape();
    target[target.length - 1] = d / 2;
    checkAngles(op, "cos", cos, target, x);
    checkAngles(op, "sin", sin, target, x);
    try (Tensor c = cos.expand(target);
        Tensor s = sin.expand(target)) {
      Tensor out = Tensor.empty(x.dtype(), x.device(), x.shape());
      x.backend().rotary(x, c, s, interleaved, out);
      return out;
    }
  }

  /** cos/sin must broadcast to x's shape with the last dim halved. */
  private static void checkAngles(String op, String what, Tensor t, long[] target, Tensor x) {
    long[] sh = t.shape();
    boolean ok = sh.length <= target.length;
    for (int i = 0; ok && i < sh.length; i++) {
      long want = target[target.length - sh.length + i];
      ok = sh[i] == want || sh[i] == 1;
    }
    if (!ok) {
      throw new IllegalArgumentException(
          op
              + ": "
              + what
              + " "
              + t.describe()
              + " cannot be broadcast to "
              + Shapes.str(target)
              + " (x "
              + x.describe()
              + " with its last dim halved)");
    }
  }

  /** Checks x's trailing dims against normalizedShape; returns its length. */
  private static int checkNormalized(String op, Tensor x, long[] normalizedShape) {
    Ops.requireFloating(op, x);
    int k = normalizedShape.length;
    if (k == 0) {
      throw new IllegalArgumentException(
          op
              + ": expected normalized_shape to be at least 1-dimensional, got [] for "
              + x.describe());
    }
    long[] sh = x.shape();
    boolean ok = sh.length >= k;
    for (int i = 0; ok && i < k; i++) ok = sh[sh.length - k + i] == normalizedShape[i];
    if (!ok) {
      String star = Arrays.toString(normalizedShape).replace("[", "[*, ");
      throw new IllegalArgumentException(
          op
              + ": given normalized_shape "
              + Arrays.toString(normalizedShape)
              + ", expected input with shape "
              + star
              + ", but got input of size "
              + x.describe());
    }
    return k;
  }

  private static void checkAffine(
      String op, String what, Tensor t, Tensor x, long[] normalizedShape) {
    if (t == null) return;
    if (!Arrays.equals(t.shape(), normalizedShape)) {
      throw new IllegalArgumentException(
          op
              + ": expected "
              + what
              + " of shape "
              + Arrays.toString(normalizedShape)
              + ", got "
              + t.describe());
    }
    if (t.dtype() != x.dtype()) {
      throw new IllegalArgumentException(
          op
              + ": "
              + what
              + " "
              + t.describe()
              + " must have the input's dtype (input "
              + x.describe()
              + ")");
    }
  }
}
