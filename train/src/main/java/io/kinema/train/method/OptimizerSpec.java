package io.kinema.train.method;

import io.kinema.nn.Parameter;
import io.kinema.nn.optim.Adam;
import io.kinema.nn.optim.AdamW;
import io.kinema.nn.optim.LRScheduler;
import io.kinema.nn.optim.Optimizer;
import java.util.List;

/**
 * How a role's optimizer and learning-rate schedule are built (training-infra.md §4, {@code
 * training.optimizer.*}): AdamW with eps 1e-8 and a LambdaLR schedule over {@code totalSteps}.
 *
 * @param scheduler a diffusers schedule name, or FastVideo's {@code cosine_with_min_lr}
 * @param numCycles {@code lr_num_cycles} (used by {@code cosine_with_restarts})
 * @param power {@code lr_power} (used by {@code polynomial})
 * @param minLrRatio {@code min_lr_ratio} (used by {@code cosine_with_min_lr})
 * @param stepRules {@code lr_step_rules} (used by {@code piecewise_constant}; else null)
 */
public record OptimizerSpec(
    double learningRate,
    double beta1,
    double beta2,
    double weightDecay,
    String scheduler,
    long warmupSteps,
    long totalSteps,
    long numCycles,
    double power,
    double minLrRatio,
    String stepRules) {
  /** AdamW's eps in FastVideo's trainer. */
  public static final double EPS = 1e-8;

  /** An AdamW over {@code params}. */
  public Optimizer optimizer(List<Parameter> params) {
    Adam.Config c =
        AdamW.config().lr(learningRate).betas(beta1, beta2).weightDecay(weightDecay).eps(EPS);
    return new AdamW(params, c);
  }

  /** The schedule of {@code optimizer}. */
  public LRScheduler lrScheduler(Optimizer optimizer) {
    if (scheduler.equals("cosine_with_min_lr")) {
      // FastVideo's own schedule: warmup, then a half cosine floored at min_lr_ratio.
      long w = warmupSteps, total = totalSteps;
      double floor = minLrRatio;
      return new LRScheduler(
          optimizer,
          scheduler,
          n -> {
            if (n < w) return n / (double) Math.max(1, w);
            double p = (n - w) / (double) Math.max(1, total - w);
            return Math.max(floor, 0.5 * (1 + Math.cos(Math.PI * p)));
          });
    }
    return LRScheduler.get(
        scheduler, optimizer, stepRules, warmupSteps, totalSteps, numCycles, power);
  }
}
