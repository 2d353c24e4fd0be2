package io.kinema.diffusion.schedulers;

import io.kinema.diffusion.flow.FlowMatching;
import io.kinema.diffusion.flow.FlowMatching.TimeShiftType;
import io.kinema.diffusion.flow.Linspace;
import io.kinema.tensor.DType;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * diffusers' {@code UniPCMultistepScheduler} in flow-prediction mode, as the Wan pipelines
 * configure it ({@code prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=k},
 * defaults {@code solver_order=2, solver_type="bh2", predict_x0=True, lower_order_final=True,
 * final_sigmas_type="zero"}; commit 58eb52c; spec flow-matching.md §6).
 *
 * <p>Schedule: {@code σ = s_k(linspace(1, 1/N_train, N+1)[:-1])} in float64, the first σ lowered by
 * 1e-6 when it is 1 (so that {@code log(1 − σ)} stays finite), timesteps {@code int64(1000·σ)}
 * (truncated), σ rounded to float32 with a final 0 appended.
 *
 * <p>Each {@link #step} converts the velocity to an x0 prediction {@code m_j = x − σ_j·v}, corrects
 * the current sample with UniC using {@code m_j} (from the second step on), pushes {@code m_j} into
 * the history of the last {@code solver_order} predictions, and predicts the next sample with UniP
 * of order {@code min(order, steps left, warm-up)} — 1, 2, 2, ..., 2, 1 for order 2.
 *
 * <p>Precision: diffusers keeps σ in float32, so every coefficient (λ, h, expm1, B(h), the ρ solve)
 * is a float32 scalar; {@link #setSigmaDType(DType) setSigmaDType(F64)} computes them in float64
 * instead (the golden {@code loop20_f64} does this by converting {@code scheduler.sigmas}). Tensor
 * arithmetic runs in the sample's dtype with the coefficients rounded to it, operation by operation
 * as in diffusers.
 *
 * <p>One deliberate difference: with {@code bh1} and a final σ of 0, diffusers' last step computes
 * {@code α·B(h)·0} with {@code B(h) = h = −∞} and returns NaN; here a first-order step has no
 * residual term, so the last step returns the x0 prediction (bh2's result, and the limit).
 *
 * <p>Not implemented: the VP (non-flow) noise schedules, {@code predict_x0=False}, {@code
 * solver_p}, thresholding.
 */
public final class UniPCMultistepScheduler implements FlowScheduler {
  /** UniPC's B(h): {@code bh1} = h, {@code bh2} = e^h − 1. */
  public enum SolverType {
    BH1,
    BH2
  }

  /** The σ after the last step: 0, or the last σ of the schedule. */
  public enum FinalSigmasType {
    ZERO,
    SIGMA_MIN
  }

  /** The scheduler's diffusers config (the flow-prediction subset). */
  public record Config(
      int numTrainTimesteps,
      int solverOrder,
      SolverType solverType,
      boolean lowerOrderFinal,
      int[] disableCorrector,
      double flowShift,
      FinalSigmasType finalSigmasType,
      boolean useDynamicShifting,
      TimeShiftType timeShiftType,
      double shiftTerminal) {
    public Config {
      String owner = "UniPCMultistepScheduler";
      if (numTrainTimesteps < 1) {
        throw new IllegalArgumentException(
            owner + ": num_train_timesteps must be >= 1, got " + numTrainTimesteps);
      }
      if (solverOrder < 1) {
        throw new IllegalArgumentException(
            owner + ": solver_order must be >= 1, got " + solverOrder);
      }
      if (!(flowShift > 0) || Double.isInfinite(flowShift)) {
        throw new IllegalArgumentException(
            owner + ": flow_shift must be positive and finite, got " + flowShift);
      }
      if (!(shiftTerminal >= 0 && shiftTerminal < 1)) {
        throw new IllegalArgumentException(
            owner + ": shift_terminal must be in [0, 1) (0 = off), got " + shiftTerminal);
      }
      if (solverType == null) solverType = SolverType.BH2;
      if (finalSigmasType == null) finalSigmasType = FinalSigmasType.ZERO;
      if (timeShiftType == null) timeShiftType = TimeShiftType.EXPONENTIAL;
      if (solverOrder > 1 && !lowerOrderFinal && finalSigmasType == FinalSigmasType.ZERO) {
        // A multistep step to σ = 0 divides by h = ∞ (r_k = 0): diffusers returns NaN/∞ there.
        throw new IllegalArgumentException(
            owner
                + ": lower_order_final=false with final_sigmas_type='zero' makes the last step"
                + " divide by an infinite log-SNR step (diffusers returns NaN); use"
                + " lower_order_final=true or final_sigmas_type='sigma_min'");
      }
      disableCorrector = disableCorrector == null ? new int[0] : disableCorrector.clone();
    }

    /** Wan's configuration with {@code flow_shift} (3.0 at 480p, 5.0 at 720p). */
    public static Config wan(double flowShift) {
      return new Config(1000, 2, SolverType.BH2, true, new int[0], flowShift, null, false, null, 0);
    }

    /** Reads a diffusers {@code scheduler_config.json} text (flow-prediction configs only). */
    public static Config fromJson(String json) {
      String owner = "UniPCMultistepScheduler";
      ConfigJson c = ConfigJson.parse(json, owner);
      c.requireClass(owner);
      if (!c.bool("use_flow_sigmas", false)) {
        throw new UnsupportedOperationException(owner + ": only use_flow_sigmas=true is supported");
      }
      String pred = c.string("prediction_type", "epsilon");
      if (!pred.equals("flow_prediction")) {
        throw new UnsupportedOperationException(
            owner + ": only prediction_type=flow_prediction is supported, got " + pred);
      }
      if (!c.bool("predict_x0", true)) {
        throw new UnsupportedOperationException(
            owner + ": flow_prediction needs predict_x0=true (diffusers rejects it too)");
      }
      c.requireFalse("thresholding");
      c.requireFalse("use_karras_sigmas");
      c.requireFalse("use_exponential_sigmas");
      c.requireFalse("use_beta_sigmas");
      c.requireAbsent("solver_p");
      String st = c.string("solver_type", "bh2");
      SolverType solver =
          switch (st) {
            case "bh1" -> SolverType.BH1;
            // diffusers maps the DPM-Solver names onto bh2.
            case "bh2", "midpoint", "heun", "logrho" -> SolverType.BH2;
            default -> throw new IllegalArgumentException(owner + ": unknown solver_type " + st);
          };
      String fs = c.string("final_sigmas_type", "zero");
      FinalSigmasType fin =
          switch (fs) {
            case "zero" -> FinalSigmasType.ZERO;
            case "sigma_min" -> FinalSigmasType.SIGMA_MIN;
            default ->
                throw new IllegalArgumentException(owner + ": unknown final_sigmas_type " + fs);
          };
      return new Config(
          c.integer("num_train_timesteps", 1000),
          c.integer("solver_order", 2),
          solver,
          c.bool("lower_order_final", true),
          c.ints("disable_corrector"),
          c.number("flow_shift", 1.0),
          fin,
          c.bool("use_dynamic_shifting", false),
          TimeShiftType.of(c.string("time_shift_type", "exponential")),
          c.number("shift_terminal", 0));
    }

    public static Config fromJson(Path path) throws IOException {
      return fromJson(Files.readString(path));
    }

    @Override
    public int[] disableCorrector() {
      return disableCorrector.clone();
    }

    @Override
    public boolean equals(Object o) {
      return o instanceof Config c
          && c.numTrainTimesteps == numTrainTimesteps
          && c.solverOrder == solverOrder
          && c.solverType == solverType
          && c.lowerOrderFinal == lowerOrderFinal
          && Arrays.equals(c.disableCorrector, disableCorrector)
          && Double.compare(c.flowShift, flowShift) == 0
          && c.finalSigmasType == finalSigmasType
          && c.useDynamicShifting == useDynamicShifting
          && c.timeShiftType == timeShiftType
          && Double.compare(c.shiftTerminal, shiftTerminal) == 0;
    }

    @Override
    public int hashCode() {
      return Arrays.hashCode(disableCorrector) * 31
          + java.util.Objects.hash(
              numTrainTimesteps,
              solverOrder,
              solverType,
              lowerOrderFinal,
              flowShift,
              finalSigmasType,
              useDynamicShifting,
              timeShiftType,
              shiftTerminal);
    }

    @Override
    public String toString() {
      return "Config[order="
          + solverOrder
          + ", "
          + solverType
          + ", flowShift="
          + flowShift
          + ", lowerOrderFinal="
          + lowerOrderFinal
          + ", final="
          + finalSigmasType
          + ", disableCorrector="
          + Arrays.toString(disableCorrector)
          + "]";
    }
  }

  private final Config config;
  private DType sigmaDType = DType.F32;

  private double[] sigmas; // N + 1 float32 values
  private long[] timesteps; // N
  private final Tensor[] modelOutputs; // the last `order` x0 predictions, oldest first
  private Tensor lastSample;
  private int lowerOrderNums;
  private int thisOrder;
  private int stepIndex = -1;
  private int beginIndex = -1;

  public UniPCMultistepScheduler(Config config) {
    this.config = config;
    this.modelOutputs = new Tensor[config.solverOrder()];
  }

  /** Wan's UniPC with {@code flow_shift} (see {@link Config#wan}). */
  public UniPCMultistepScheduler(double flowShift) {
    this(Config.wan(flowShift));
  }

  public Config config() {
    return config;
  }

  /**
   * The precision of σ and of every scalar coefficient: F32 (diffusers' default) or F64. Kept
   * across {@link #setTimesteps}.
   */
  public void setSigmaDType(DType dtype) {
    if (dtype != DType.F32 && dtype != DType.F64) {
      throw new IllegalArgumentException(
          "UniPCMultistepScheduler.setSigmaDType: F32 or F64 expected, got " + dtype);
    }
    this.sigmaDType = dtype;
  }

  public DType sigmaDType() {
    return sigmaDType;
  }

  @Override
  public void setTimesteps(int numInferenceSteps) {
    requireStatic();
    configure(numInferenceSteps, null, Double.NaN);
  }

  /** {@code set_timesteps(N, mu=μ)} for {@code use_dynamic_shifting} configs. */
  public void setTimesteps(int numInferenceSteps, double mu) {
    requireDynamic(mu);
    configure(numInferenceSteps, null, mu);
  }

  /** {@code set_timesteps(sigmas=[...])}: the given σ (before shifting), one per step. */
  public void setCustomSigmas(double[] sigmas) {
    requireStatic();
    configure(sigmas.length, sigmas, Double.NaN);
  }

  private void requireStatic() {
    if (config.useDynamicShifting()) {
      throw new IllegalStateException(
          "UniPCMultistepScheduler: use_dynamic_shifting needs mu: call setTimesteps(n, mu)");
    }
  }

  private void requireDynamic(double mu) {
    if (!config.useDynamicShifting()) {
      throw new IllegalStateException(
          "UniPCMultistepScheduler: mu is only used with use_dynamic_shifting=true");
    }
    if (!Double.isFinite(mu)) throw new IllegalArgumentException("UniPC: mu must be finite");
  }

  private void configure(int n, double[] custom, double mu) {
    if (n < 1) {
      throw new IllegalArgumentException(
          "UniPCMultistepScheduler.setTimesteps: need at least one step, got " + n);
    }
    int nt = config.numTrainTimesteps();
    double[] s;
    if (custom != null) {
      s = custom.clone();
    } else {
      s = Arrays.copyOf(Linspace.numpy(1, 1.0 / nt, n + 1), n);
    }
    for (int i = 0; i < n; i++) {
      s[i] =
          config.useDynamicShifting()
              ? config.timeShiftType().apply(mu, s[i])
              : FlowMatching.shift(s[i], config.flowShift());
    }
    if (config.shiftTerminal() != 0) FlowMatching.stretchToTerminal(s, config.shiftTerminal());
    // keeps log(1 − σ_0) finite in the first UniP/UniC updates
    if (Math.abs(s[0] - 1) < 1e-6) s[0] -= 1e-6;
    long[] ts = new long[n];
    for (int i = 0; i < n; i++) ts[i] = (long) (s[i] * nt); // int64 cast truncates
    double last = config.finalSigmasType() == FinalSigmasType.ZERO ? 0 : s[n - 1];
    double[] full = new double[n + 1];
    for (int i = 0; i < n; i++) full[i] = (float) s[i];
    full[n] = (float) last;
    this.sigmas = full;
    this.timesteps = ts;
    reset();
  }

  private void reset() {
    releaseState();
    lowerOrderNums = 0;
    thisOrder = 0;
    stepIndex = -1;
    beginIndex = -1;
  }

  private void releaseState() {
    for (int i = 0; i < modelOutputs.length; i++) {
      if (modelOutputs[i] != null) modelOutputs[i].close();
      modelOutputs[i] = null;
    }
    if (lastSample != null) lastSample.close();
    lastSample = null;
  }

  @Override
  public double[] timesteps() {
    requireTimesteps();
    double[] out = new double[timesteps.length];
    for (int i = 0; i < out.length; i++) out[i] = timesteps[i];
    return out;
  }

  /** The integer timesteps (diffusers' int64 {@code timesteps}). */
  public long[] timestepsLong() {
    requireTimesteps();
    return timesteps.clone();
  }

  @Override
  public double[] sigmas() {
    requireTimesteps();
    return sigmas.clone();
  }

  @Override
  public DType timestepDType() {
    return DType.I64;
  }

  @Override
  public void setBeginIndex(int index) {
    if (index < 0) throw new IllegalArgumentException("setBeginIndex: negative index " + index);
    this.beginIndex = index;
  }

  @Override
  public int stepIndex() {
    return stepIndex;
  }

  /** The predictor order of the last step (diffusers' {@code this_order}); 0 before any step. */
  public int thisOrder() {
    return thisOrder;
  }

  /**
   * The x0 prediction of the last step (diffusers' {@code model_outputs[-1]}), owned by the
   * scheduler: valid until the next step or {@link #close()}; null before any step.
   */
  public Tensor lastModelOutput() {
    return modelOutputs[modelOutputs.length - 1];
  }

  /**
   * The sample the last predictor started from, after the corrector (diffusers' {@code
   * last_sample}), owned by the scheduler like {@link #lastModelOutput()}.
   */
  public Tensor lastSample() {
    return lastSample;
  }

  /**
   * diffusers' {@code index_for_timestep}: the position of {@code timestep} in the schedule, the
   * second one if it occurs twice, the last index if it does not occur.
   */
  public int indexForTimestep(double timestep) {
    requireTimesteps();
    int first = -1;
    for (int i = 0; i < timesteps.length; i++) {
      if (timesteps[i] == timestep) {
        if (first >= 0) return i;
        first = i;
      }
    }
    return first >= 0 ? first : timesteps.length - 1;
  }

  /**
   * One UniPC step. The scheduler keeps handles on {@code sample} (when no correction applies) and
   * on its own x0 predictions; the caller must not modify {@code sample} in place afterwards.
   */
  @Override
  public Tensor step(Tensor modelOutput, double timestep, Tensor sample) {
    String op = "UniPCMultistepScheduler.step";
    requireTimesteps();
    Coefficients.requireFloating(op, "model output", modelOutput);
    Coefficients.requireFloating(op, "sample", sample);
    Coefficients.requireSameShape(op, modelOutput, sample);
    if (stepIndex < 0) stepIndex = beginIndex >= 0 ? beginIndex : indexForTimestep(timestep);
    if (stepIndex >= timesteps.length) {
      throw new IllegalStateException(
          op + ": all " + timesteps.length + " steps are done; call setTimesteps again");
    }
    int order = config.solverOrder();
    try (var s = Scope.open()) {
      boolean useCorrector =
          stepIndex > 0 && !correctorDisabled(stepIndex - 1) && lastSample != null;
      // x0 prediction for flow: m = x − σ_j·v
      Tensor m = sample.sub(Coefficients.mul(modelOutput, sigmas[stepIndex]));
      Tensor x = useCorrector ? uniC(m, lastSample, thisOrder) : sample;

      if (modelOutputs[0] != null) modelOutputs[0].close();
      System.arraycopy(modelOutputs, 1, modelOutputs, 0, order - 1);
      modelOutputs[order - 1] = m.share();

      int p = config.lowerOrderFinal() ? Math.min(order, timesteps.length - stepIndex) : order;
      thisOrder = Math.min(p, lowerOrderNums + 1); // warm-up of the multistep history
      if (lastSample != null) lastSample.close();
      lastSample = x.share();

      Tensor prev = uniP(x, thisOrder);
      if (lowerOrderNums < order) lowerOrderNums++;
      stepIndex++;
      return s.keep(prev);
    }
  }

  private boolean correctorDisabled(int index) {
    for (int d : config.disableCorrector()) if (d == index) return true;
    return false;
  }

  // ---------------------------------------------------------------- UniP / UniC

  /** UniP (B(h)): the sample at σ_{j+1} from x at σ_j and the x0 history. */
  private Tensor uniP(Tensor x, int order) {
    int j = stepIndex;
    int last = modelOutputs.length - 1;
    Tensor m0 = modelOutputs[last];
    double sT = sigmas[j + 1], s0 = sigmas[j];
    double aT = r(1 - sT);
    double lam0 = lambda(s0);
    double h = r(lambda(sT) - lam0);
    double[] rks = new double[order];
    List<Tensor> d1s = new ArrayList<>();
    for (int i = 1; i < order; i++) {
      double rk = r(r(lambda(sigmas[j - i]) - lam0) / h);
      rks[i - 1] = rk;
      d1s.add(Coefficients.div(modelOutputs[last - i].sub(m0), rk));
    }
    rks[order - 1] = 1;
    double hh = -h;
    double hPhi1 = r(StrictMath.expm1(hh));
    double bh = config.solverType() == SolverType.BH2 ? hPhi1 : hh;

    Tensor xt = Coefficients.mul(x, r(sT / s0)).sub(Coefficients.mul(m0, r(aT * hPhi1)));
    if (!d1s.isEmpty()) {
      double[] rhos;
      if (order == 2) {
        rhos = new double[] {0.5};
      } else {
        double[] b = bVector(hh, hPhi1, bh, order);
        rhos = solve(vandermonde(rks, order - 1), Arrays.copyOf(b, order - 1), false);
      }
      xt = xt.sub(Coefficients.mul(weightedSum(rhos, d1s, d1s.size()), r(aT * bh)));
    }
    return xt.dtype() == x.dtype() ? xt : xt.to(x.dtype());
  }

  /**
   * UniC (B(h)): the sample at σ_j recomputed from {@code prevSample} (at σ_{j−1}) with the new x0
   * prediction {@code mT} and the history (whose newest entry is still the previous step's); it
   * replaces the predictor's result for σ_j.
   */
  private Tensor uniC(Tensor mT, Tensor prevSample, int order) {
    int j = stepIndex;
    int last = modelOutputs.length - 1;
    Tensor m0 = modelOutputs[last];
    double sT = sigmas[j], s0 = sigmas[j - 1];
    double aT = r(1 - sT);
    double lam0 = lambda(s0);
    double h = r(lambda(sT) - lam0);
    double[] rks = new double[order];
    List<Tensor> d1s = new ArrayList<>();
    for (int i = 1; i < order; i++) {
      double rk = r(r(lambda(sigmas[j - (i + 1)]) - lam0) / h);
      rks[i - 1] = rk;
      d1s.add(Coefficients.div(modelOutputs[last - i].sub(m0), rk));
    }
    rks[order - 1] = 1;
    double hh = -h;
    double hPhi1 = r(StrictMath.expm1(hh));
    double bh = config.solverType() == SolverType.BH2 ? hPhi1 : hh;
    double[] rhos =
        order == 1
            ? new double[] {0.5}
            : solve(vandermonde(rks, order), bVector(hh, hPhi1, bh, order), true);

    Tensor xt = Coefficients.mul(prevSample, r(sT / s0)).sub(Coefficients.mul(m0, r(aT * hPhi1)));
    Tensor d1t = mT.sub(m0);
    Tensor corr = Coefficients.mul(d1t, rhos[order - 1]);
    if (!d1s.isEmpty()) corr = weightedSum(rhos, d1s, d1s.size()).add(corr);
    xt = xt.sub(Coefficients.mul(corr, r(aT * bh)));
    return xt.dtype() == prevSample.dtype() ? xt : xt.to(prevSample.dtype());
  }

  /**
   * The right-hand side b of the ρ system: {@code b_i = φ_i·i!/B(h)} with {@code φ_1 = φ1/hh − 1},
   * {@code φ_{i+1} = φ_i/hh − 1/(i+1)!}.
   */
  private double[] bVector(double hh, double hPhi1, double bh, int order) {
    double[] b = new double[order];
    double hPhiK = r(r(hPhi1 / hh) - 1);
    long factorial = 1;
    for (int i = 1; i <= order; i++) {
      b[i - 1] = r(r(hPhiK * factorial) / bh);
      factorial *= i + 1;
      hPhiK = r(r(hPhiK / hh) - r(1.0 / factorial));
    }
    return b;
  }

  /** {@code R[a][q] = rks[q]^a} for a, q < n (PyTorch's {@code pow}: x·x for 2). */
  private double[][] vandermonde(double[] rks, int n) {
    double[][] m = new double[n][n];
    for (int a = 0; a < n; a++) {
      for (int q = 0; q < n; q++) {
        double x = rks[q];
        m[a][q] =
            switch (a) {
              case 0 -> 1;
              case 1 -> x;
              case 2 -> r(x * x);
              case 3 -> r(r(x * x) * x);
              default -> r(StrictMath.pow(x, a));
            };
      }
    }
    return m;
  }

  /**
   * Solves {@code a·x = b} the way {@code torch.linalg.solve} reaches LAPACK, every operation
   * rounded to the σ precision. PyTorch hands a contiguous matrix over as its transpose ({@code
   * transposed}: the corrector's full matrix): LAPACK factors {@code aᵀ = Pᵀ·L·U} ({@code getrf},
   * partial pivoting) and solves with {@code trans='T'} ({@code Uᵀ·z = b}, {@code Lᵀ·w = z}, {@code
   * x = Pᵀ·w}). A sliced, non-contiguous matrix (the predictor's {@code R[:-1, :-1]}) is factored
   * as is, {@code P·a = L·U}, and solved with {@code trans='N'}. With that order the float32 ρ of
   * solver order 2 equal diffusers' bit for bit (another order differs in the last bit for about
   * half of the steps); larger systems can still differ in the last bit, as OpenBLAS's blocked
   * kernels order their sums differently.
   */
  private double[] solve(double[][] a, double[] b, boolean transposed) {
    int n = b.length;
    double[][] m = new double[n][n]; // factored in place into L (unit, below) and U
    for (int i = 0; i < n; i++) {
      for (int k = 0; k < n; k++) m[i][k] = transposed ? a[k][i] : a[i][k];
    }
    int[] perm = new int[n];
    for (int i = 0; i < n; i++) perm[i] = i;
    for (int c = 0; c < n; c++) {
      int piv = c; // first index of the largest magnitude, as isamax
      for (int i = c + 1; i < n; i++) if (Math.abs(m[i][c]) > Math.abs(m[piv][c])) piv = i;
      if (m[piv][c] == 0) {
        throw new ArithmeticException("UniPCMultistepScheduler: singular rho system (repeated σ?)");
      }
      double[] tr = m[c];
      m[c] = m[piv];
      m[piv] = tr;
      int tp = perm[c];
      perm[c] = perm[piv];
      perm[piv] = tp;
      double inv = r(1 / m[c][c]); // getf2 scales the column by the reciprocal pivot
      for (int i = c + 1; i < n; i++) {
        m[i][c] = r(m[i][c] * inv);
        for (int k = c + 1; k < n; k++) m[i][k] = r(m[i][k] - r(m[i][c] * m[c][k]));
      }
    }
    double[] x = new double[n];
    if (transposed) {
      double[] z = new double[n]; // Uᵀ·z = b (forward)
      for (int i = 0; i < n; i++) {
        double t = b[i];
        for (int k = 0; k < i; k++) t = r(t - r(m[k][i] * z[k]));
        z[i] = r(t / m[i][i]);
      }
      for (int i = n - 1; i >= 0; i--) { // Lᵀ·w = z (backward, unit diagonal)
        double t = z[i];
        for (int k = i + 1; k < n; k++) t = r(t - r(m[k][i] * z[k]));
        z[i] = t;
      }
      for (int i = 0; i < n; i++) x[perm[i]] = z[i]; // x = Pᵀ·w
    } else {
      for (int i = 0; i < n; i++) x[i] = b[perm[i]]; // P·b
      for (int k = 0; k < n; k++) { // L·y = P·b (column by column, as strsm)
        for (int i = k + 1; i < n; i++) x[i] = r(x[i] - r(x[k] * m[i][k]));
      }
      for (int k = n - 1; k >= 0; k--) { // U·x = y
        x[k] = r(x[k] / m[k][k]);
        for (int i = 0; i < k; i++) x[i] = r(x[i] - r(x[k] * m[i][k]));
      }
    }
    return x;
  }

  /** {@code Σ_{k<count} ρ_k·D_k} (the einsum over the history). */
  private static Tensor weightedSum(double[] rhos, List<Tensor> ds, int count) {
    Tensor acc = Coefficients.mul(ds.get(0), rhos[0]);
    for (int k = 1; k < count; k++) acc = acc.add(Coefficients.mul(ds.get(k), rhos[k]));
    return acc;
  }

  /** {@code λ(σ) = log(1 − σ) − log σ} (flow sigmas: α = 1 − σ), in the σ precision. */
  private double lambda(double sigma) {
    double alpha = r(1 - sigma);
    return r(r(StrictMath.log(alpha)) - r(StrictMath.log(sigma)));
  }

  /** Rounds to the σ precision: float32 arithmetic is float64 arithmetic rounded per operation. */
  private double r(double v) {
    return sigmaDType == DType.F32 ? (float) v : v;
  }

  private void requireTimesteps() {
    if (timesteps == null) {
      throw new IllegalStateException(
          "UniPCMultistepScheduler: call setTimesteps before using the schedule");
    }
  }

  @Override
  public void close() {
    releaseState();
  }

  @Override
  public String toString() {
    return "UniPCMultistepScheduler("
        + config
        + ", sigmas "
        + sigmaDType
        + ", steps="
        + (timesteps == null ? "unset" : timesteps.length)
        + ")";
  }
}
