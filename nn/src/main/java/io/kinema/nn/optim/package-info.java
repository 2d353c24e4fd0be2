/**
 * Training-loop utilities with PyTorch's and diffusers' semantics: the optimizers {@link
 * io.kinema.nn.optim.AdamW}, {@link io.kinema.nn.optim.Adam}, {@link io.kinema.nn.optim.SGD} and
 * {@link io.kinema.nn.optim.Lion} over {@link io.kinema.nn.Parameter} slots (parameter groups, F32
 * master weights for 16-bit parameters, exact resume through {@link io.kinema.nn.optim.StateDict}),
 * diffusers' learning-rate schedules ({@link io.kinema.nn.optim.LRScheduler}), gradient clipping
 * ({@link io.kinema.nn.optim.GradClip}) and an exponential moving average of the weights ({@link
 * io.kinema.nn.optim.EMA}).
 *
 * <p>A training step:
 *
 * <pre>{@code
 * var opt = new AdamW(model.trainableParameters(), AdamW.config().lr(1e-4).weightDecay(0.01));
 * var sched = LRScheduler.get("cosine", opt, 500L, 10_000L);
 * var ema = new EMA(model.namedParameters(), EMA.config().decay(0.9999));
 * for (...) {
 *   try (var s = Scope.open()) {
 *     loss(model, batch).backward();
 *     double norm = GradClip.clipGradNorm(model.trainableParameters(), 1.0);
 *     if (Double.isFinite(norm)) opt.step();   // skip a step whose gradients overflowed
 *     sched.step();
 *     ema.update();
 *     opt.zeroGrad();
 *   }
 * }
 * }</pre>
 *
 * The updates are composed from in-place tensor ops (about a dozen passes over the parameter for
 * AdamW); a fused per-element kernel in the backend would cut that to one.
 */
package io.kinema.nn.optim;
