package io.kinema.diffusion.flow;

/**
 * Evenly spaced grids computed with the same rounding as the libraries the reference schedulers
 * use, so that sigma tables match them bit for bit: NumPy's {@code np.linspace} in float64
 * (diffusers' {@code set_timesteps}) and PyTorch's CPU {@code torch.linspace} in float32 (the
 * Self-Forcing scheduler's table).
 */
public final class Linspace {
  private Linspace() {}

  /**
   * {@code np.linspace(start, stop, num)} (float64, endpoint included): {@code i * step + start}
   * with {@code step = (stop - start) / (num - 1)}, the last value set to {@code stop}.
   */
  public static double[] numpy(double start, double stop, int num) {
    if (num < 0) throw new IllegalArgumentException("linspace: num must be >= 0, got " + num);
    double[] y = new double[num];
    if (num == 0) return y;
    int div = num - 1;
    if (div == 0) {
      y[0] = start;
      return y;
    }
    double delta = stop - start;
    double step = delta / div;
    for (int i = 0; i < num; i++) {
      // NumPy falls back to (i / div) * delta when the step underflows to zero.
      y[i] = step == 0 ? (i / (double) div) * delta + start : i * step + start;
    }
    y[div] = stop;
    return y;
  }

  /**
   * {@code torch.linspace(start, end, steps)} in float32 on the CPU: the first half counts up from
   * {@code start}, the second half down from {@code end} (PyTorch's symmetric formula), with the
   * step and every product rounded to float32.
   */
  public static float[] torchF32(double start, double end, int steps) {
    if (steps < 0) throw new IllegalArgumentException("linspace: steps must be >= 0, got " + steps);
    float[] y = new float[steps];
    if (steps == 0) return y;
    float s = (float) start, e = (float) end;
    if (steps == 1) {
      y[0] = s;
      return y;
    }
    float step = (e - s) / (steps - 1);
    int halfway = steps / 2;
    for (int i = 0; i < steps; i++) {
      y[i] = i < halfway ? s + step * i : e - step * (steps - i - 1);
    }
    return y;
  }
}
