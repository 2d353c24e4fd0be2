package io.kinema.train.callbacks;

import io.kinema.nn.optim.EMA;
import io.kinema.nn.optim.StateDict;
import io.kinema.train.method.TrainingMethod;
import io.kinema.train.model.RoleModel;
import java.util.HashMap;
import java.util.Map;

/**
 * An exponential moving average of the student's trainable weights (FastVideo's EMA callback,
 * methods.md §5): from step {@code start_iter} on, after every optimizer step, {@code shadow =
 * decay·shadow + (1 − decay)·θ}, starting from a copy of the weights at the first active step. No
 * warm-up. Validation samples with the averaged weights ({@link #swapIn()}/{@link #swapOut()}), and
 * the shadow is checkpointed.
 */
public final class EmaCallback implements TrainingCallback {
  private final double decay;
  private final long startIter;
  private final RoleModel student;
  private EMA ema;

  /**
   * @param student the role whose trainable parameters are averaged
   */
  public EmaCallback(RoleModel student, double decay, long startIter) {
    if (!(decay > 0 && decay < 1)) {
      throw new IllegalArgumentException("ema.decay must be in (0, 1), got " + decay);
    }
    this.student = student;
    this.decay = decay;
    this.startIter = startIter;
  }

  @Override
  public String name() {
    return "ema";
  }

  @Override
  public void onTrainingStepEnd(TrainingMethod method, long step, Map<String, Double> metrics) {
    if (step < startIter) return;
    if (ema == null) ema = newEma();
    // nn's EMA copies the weights at its first update (decay 0) and uses `decay` afterwards:
    // with minDecay = decay its schedule is FastVideo's constant decay.
    ema.update();
  }

  private EMA newEma() {
    return new EMA(student.namedTrainableParameters(), EMA.config().decay(decay).minDecay(decay));
  }

  /** True once averaging has started. */
  public boolean started() {
    return ema != null;
  }

  /** Puts the averaged weights into the student (no-op before the average starts). */
  public void swapIn() {
    if (ema != null) ema.swapIn();
  }

  /** Restores the training weights exactly. */
  public void swapOut() {
    if (ema != null && ema.isSwappedIn()) ema.swapOut();
  }

  /** The averaged weights by parameter name (live), or null before averaging starts. */
  public EMA ema() {
    return ema;
  }

  @Override
  public StateDict stateDict() {
    if (ema == null) return new StateDict(Map.of(), Map.of("ema_started", "false"));
    StateDict s = ema.stateDict();
    var scalars = new HashMap<>(s.scalars());
    scalars.put("ema_started", "true");
    return new StateDict(s.tensors(), scalars);
  }

  @Override
  public void loadStateDict(StateDict state) {
    if (ema != null) {
      ema.close();
      ema = null;
    }
    if (state.scalarBoolean("ema_started")) {
      ema = newEma();
      ema.loadStateDict(state);
    }
  }

  @Override
  public void close() {
    if (ema != null) ema.close();
  }
}
