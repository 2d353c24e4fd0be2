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
    String op = "layer_norm";
    Ops.sameDevice(op, x, weight, bias);
    int k = checkNormalized(op, x, normalizedShape);
    checkAffine(op, "weight", weight, x, normalizedShape);
    checkAffine(op, "bias", bias, x, normalizedShape);
    Tensor out = Tensor.empty(x.dtype(), x.device(), x.shape());
    x.backend().layerNorm(x, k, weight, bias, eps, out, null, null);
    return out;
  }

  static Tensor rmsNorm(Tensor x, long[] normalizedShape, Tensor weight, double eps) {
    String op = "rms_norm";
    Ops.sameDevice(op, x, weight);
    int k = checkNormalized(op, x, normalizedShape);
    checkAffine(op, "weight", weight, x, normalizedShape);
    Tensor out = Tensor.empty(x.dtype(), x.device(), x.shape());
    x.backend().rmsNorm(x, k, weight, eps, out, null);
    return out;
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
