package io.kinema.tensor;

import io.kinema.tensor.grad.GradMode;
import java.util.Arrays;

/**
 * Front-end of 3-d convolution ({@link Tensor#conv3d}) and its gradients ({@link Convolution}):
 * checks the operands, computes the output size, allocates the results and hands the backend 5-d
 * views (an unbatched {@code [C, D, H, W]} operand gets a batch dim of 1).
 *
 * <p>The forward's output is allocated channels-last ({@code [B, Do, Ho, Wo, K]} in memory, seen as
 * {@code [B, K, Do, Ho, Wo]}): the im2col product writes it without a transpose, and {@code
 * flatten(2, -1).transpose(1, 2)} to tokens {@code [B, Do·Ho·Wo, K]} is free. Gradients are
 * contiguous, in their operand's dtype.
 */
final class ConvOps {
  private ConvOps() {}

  /** The checked sizes of one call: 5-d input and weight shapes, and the output's spatial size. */
  private record Geometry(long[] x, long[] w, long[] stride, long[] padding, long[] out) {
    long[] outShape() {
      return new long[] {x[0], w[0], out[0], out[1], out[2]};
    }
  }

  static Tensor conv3d(Tensor x, Tensor weight, Tensor bias, long[] stride, long[] padding) {
    String op = "conv3d";
    requireNonNull(op, "input", x);
    requireNonNull(op, "weight", weight);
    Device device = Ops.sameDevice(op, x, weight, bias);
    sameFloatingDtype(op, x, weight, bias);
    boolean unbatched = isUnbatched(op, x.shape(), weight);
    if (bias != null && (bias.dim() != 1 || bias.size(0) != weight.size(0))) {
      throw new IllegalArgumentException(
          op
              + ": bias must be ["
              + weight.size(0)
              + "] (one value per output channel of weight "
              + weight.describe()
              + "), got "
              + bias.describe());
    }
    Geometry geo = geometry(op, batched(x.shape()), weight, stride, padding, x.describe());
    long[] os = geo.outShape();
    Tensor out;
    try (Tensor channelsLast = Tensor.empty(x.dtype(), device, os[0], os[2], os[3], os[4], os[1])) {
      out = channelsLast.permute(0, 4, 1, 2, 3);
    }
    try {
      if (out.numel() > 0) {
        try (var ng = GradMode.noGrad();
            Tensor x5 = unbatched ? x.unsqueeze(0) : x.alias()) {
          Backends.of(device).conv3d(x5, weight, bias, geo.stride(), geo.padding(), out);
        }
      }
      if (!unbatched) return out;
      try (out) {
        return out.squeeze(0);
      }
    } catch (RuntimeException | Error e) {
      out.close();
      throw e;
    }
  }

  /** {@link Convolution#conv3dInput}. */
  static Tensor inputGrad(
      long[] inputShape, Tensor weight, Tensor gradOut, long[] stride, long[] padding) {
    String op = "conv3d_input";
    requireNonNull(op, "weight", weight);
    requireNonNull(op, "gradOutput", gradOut);
    if (inputShape == null) throw new IllegalArgumentException(op + ": inputSize is null");
    Device device = Ops.sameDevice(op, weight, gradOut);
    sameFloatingDtype(op, gradOut, weight, null);
    boolean unbatched = isUnbatched(op, inputShape, weight);
    long[] xs = batched(inputShape);
    Geometry geo = geometry(op, xs, weight, stride, padding, "of size " + Shapes.str(inputShape));
    checkGradOut(op, gradOut, geo, unbatched);
    Tensor grad = Tensor.empty(weight.dtype(), device, inputShape.clone());
    try (var ng = GradMode.noGrad();
        Tensor g5 = unbatched ? gradOut.unsqueeze(0) : gradOut.alias();
        Tensor grad5 = grad.view(xs)) {
      if (gradOut.numel() == 0) grad.fill(0);
      else if (grad.numel() > 0)
        Backends.of(device).conv3dBackwardInput(g5, weight, geo.stride(), geo.padding(), grad5);
    } catch (RuntimeException | Error e) {
      grad.close();
      throw e;
    }
    return grad;
  }

  /** {@link Convolution#conv3dWeight}. */
  static Tensor weightGrad(
      Tensor x, long[] weightShape, Tensor gradOut, long[] stride, long[] padding) {
    String op = "conv3d_weight";
    requireNonNull(op, "input", x);
    requireNonNull(op, "gradOutput", gradOut);
    if (weightShape == null || weightShape.length != 5) {
      throw new IllegalArgumentException(
          op
              + ": weightSize must be [out_channels, in_channels, kd, kh, kw], got "
              + (weightShape == null ? "null" : Shapes.str(weightShape)));
    }
    Device device = Ops.sameDevice(op, x, gradOut);
    sameFloatingDtype(op, x, gradOut, null);
    long[] ws = weightShape.clone();
    boolean unbatched = isUnbatched(op, x.shape(), ws);
    Geometry geo = geometry(op, batched(x.shape()), ws, stride, padding, x.describe());
    checkGradOut(op, gradOut, geo, unbatched);
    Tensor grad = Tensor.empty(x.dtype(), device, ws);
    try (var ng = GradMode.noGrad();
        Tensor x5 = unbatched ? x.unsqueeze(0) : x.alias();
        Tensor g5 = unbatched ? gradOut.unsqueeze(0) : gradOut.alias()) {
      if (gradOut.numel() == 0) grad.fill(0);
      else if (grad.numel() > 0)
        Backends.of(device).conv3dBackwardWeight(x5, g5, geo.stride(), geo.padding(), grad);
    } catch (RuntimeException | Error e) {
      grad.close();
      throw e;
    }
    return grad;
  }

  // ---------------------------------------------------------------- checks

  private static void requireNonNull(String op, String name, Tensor t) {
    if (t == null) throw new IllegalArgumentException(op + ": " + name + " is null");
  }

  /** a, b (and c when non-null) of one floating dtype. */
  private static void sameFloatingDtype(String op, Tensor a, Tensor b, Tensor c) {
    Ops.requireFloating(op, a);
    if (b.dtype() != a.dtype() || (c != null && c.dtype() != a.dtype())) {
      throw new IllegalArgumentException(
          op
              + ": expected one floating dtype, got "
              + a.describe()
              + ", "
              + b.describe()
              + (c == null ? "" : " and " + c.describe()));
    }
  }

  private static boolean isUnbatched(String op, long[] xs, Tensor weight) {
    if (weight.dim() != 5) {
      throw new IllegalArgumentException(
          op
              + ": weight must be [out_channels, in_channels, kd, kh, kw], got "
              + weight.describe());
    }
    return isUnbatched(op, xs, weight.shape());
  }

  /**
   * Whether {@code xs} is an unbatched {@code [C, D, H, W]} input (else {@code [B, C, D, H, W]}),
   * with C matching the weight's in_channels.
   */
  private static boolean isUnbatched(String op, long[] xs, long[] ws) {
    boolean unbatched = xs.length == 4;
    if ((xs.length != 5 && !unbatched) || xs[unbatched ? 0 : 1] != ws[1]) {
      throw new IllegalArgumentException(
          op
              + ": expected input [B, "
              + ws[1]
              + ", D, H, W] or ["
              + ws[1]
              + ", D, H, W] (in_channels of weight "
              + Shapes.str(ws)
              + "), got "
              + Shapes.str(xs));
    }
    return unbatched;
  }

  private static long[] batched(long[] xs) {
    if (xs.length == 5) return xs.clone();
    long[] r = new long[5];
    r[0] = 1;
    System.arraycopy(xs, 0, r, 1, 4);
    return r;
  }

  private static Geometry geometry(
      String op, long[] xs, Tensor weight, long[] stride, long[] padding, String input) {
    return geometry(op, xs, weight.shape(), stride, padding, input);
  }

  private static Geometry geometry(
      String op, long[] xs, long[] ws, long[] stride, long[] padding, String input) {
    long[] st = three(op, "stride", stride, 1);
    long[] pad = three(op, "padding", padding, 0);
    for (int i = 1; i < 5; i++) {
      if (ws[i] <= 0) {
        throw new IllegalArgumentException(
            op + ": weight " + Shapes.str(ws) + " must have positive in_channels and kernel sizes");
      }
    }
    long[] padded = new long[3], out = new long[3];
    for (int i = 0; i < 3; i++) padded[i] = xs[2 + i] + 2 * pad[i];
    for (int i = 0; i < 3; i++) {
      if (padded[i] < ws[2 + i]) {
        throw new IllegalArgumentException(
            op
                + ": padded input size per channel "
                + Shapes.str(padded)
                + " is smaller than the kernel "
                + Shapes.str(Arrays.copyOfRange(ws, 2, 5))
                + " (input "
                + input
                + ", padding "
                + Shapes.str(pad)
                + ")");
      }
      out[i] = (padded[i] - ws[2 + i]) / st[i] + 1;
    }
    return new Geometry(xs, ws.clone(), st, pad, out);
  }

  private static long[] three(String op, String what, long[] v, long min) {
    if (v == null || v.length != 3) {
      throw new IllegalArgumentException(
          op + ": " + what + " must have 3 values (d, h, w), got " + Arrays.toString(v));
    }
    for (long x : v) {
      if (x < min) {
        throw new IllegalArgumentException(
            op + ": " + what + " must be >= " + min + ", got " + Arrays.toString(v));
      }
    }
    return v.clone();
  }

  private static void checkGradOut(String op, Tensor gradOut, Geometry geo, boolean unbatched) {
    long[] want = geo.outShape();
    if (unbatched) want = Arrays.copyOfRange(want, 1, 5);
    if (!Arrays.equals(gradOut.shape(), want)) {
      throw new IllegalArgumentException(
          op
              + ": gradOutput must be "
              + Shapes.str(want)
              + " (the convolution's output), got "
              + gradOut.describe());
    }
  }
}
