package io.kinema.train.tracking;

/**
 * One metric over training: {@code values[i]} was logged at {@code steps[i]}.
 *
 * @param steps the training steps, in logging order
 * @param values the metric's values, as many as steps
 */
public record MetricSeries(long[] steps, double[] values) {
  public MetricSeries {
    if (steps.length != values.length) {
      throw new IllegalArgumentException(
          "MetricSeries: %d steps but %d values".formatted(steps.length, values.length));
    }
  }

  /** Number of points. */
  public int size() {
    return steps.length;
  }
}
