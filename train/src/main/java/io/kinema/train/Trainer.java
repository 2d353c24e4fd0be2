package io.kinema.train;

import io.kinema.diffusion.wan.ActivationMemory;
import io.kinema.diffusion.wan.WanConfig;
import io.kinema.ffi.cuda.CudaDevices;
import io.kinema.nn.lora.Lora;
import io.kinema.nn.parallel.GradientSync;
import io.kinema.tensor.Backends;
import io.kinema.tensor.Device;
import io.kinema.tensor.Generator;
import io.kinema.tensor.distributed.ProcessGroup;
import io.kinema.tensor.distributed.ProcessGroups;
import io.kinema.train.callbacks.EmaCallback;
import io.kinema.train.callbacks.GradClipCallback;
import io.kinema.train.callbacks.TrainingCallback;
import io.kinema.train.checkpoint.CheckpointManager;
import io.kinema.train.checkpoint.ConfigDiff;
import io.kinema.train.checkpoint.TrainingCheckpoint;
import io.kinema.train.config.CallbackConfig;
import io.kinema.train.config.ConfigException;
import io.kinema.train.config.MethodConfig;
import io.kinema.train.config.ModelConfig;
import io.kinema.train.config.PipelineConfig;
import io.kinema.train.config.RunConfig;
import io.kinema.train.config.TrainingConfig;
import io.kinema.train.data.Batch;
import io.kinema.train.data.DataSource;
import io.kinema.train.data.DatasetKind;
import io.kinema.train.data.DatasetOptions;
import io.kinema.train.data.LatentLoader;
import io.kinema.train.data.LoaderConfig;
import io.kinema.train.data.LoaderState;
import io.kinema.train.data.OnBadRow;
import io.kinema.train.data.ParquetLatentDataset;
import io.kinema.train.data.Sample;
import io.kinema.train.method.DiffusionForcingSftMethod;
import io.kinema.train.method.FineTuneMethod;
import io.kinema.train.method.OptimizerSpec;
import io.kinema.train.method.TeacherForcingSftMethod;
import io.kinema.train.method.TrainingMethod;
import io.kinema.train.model.LatentNormalization;
import io.kinema.train.model.RoleFactory;
import io.kinema.train.model.RoleModel;
import io.kinema.train.tracking.LossPlot;
import io.kinema.train.tracking.MetricsLog;
import io.kinema.train.tracking.ProgressReporter;
import io.kinema.train.tracking.TensorBoardWriter;
import io.kinema.train.validation.ValidationCallback;
import io.kinema.train.validation.Validations;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * The training loop of {@code train.jar} (FastVideo's trainer, methods.md §0): builds the roles,
 * the method, the data loader and the callbacks from a {@link RunConfig}, then for each optimizer
 * step runs the accumulation rounds (batch, {@code singleTrainStep}, backward), clipping, the
 * optimizer and LR-schedule steps, EMA, logging, checkpointing and validation, in that order.
 *
 * <p>Everything random comes from counter-based streams derived from {@code training.data.seed}
 * whose positions are checkpointed, so a run resumed from {@code checkpoint-N} continues exactly as
 * the uninterrupted run would have.
 *
 * <p>With several {@code training.devices} the step runs data-parallel ({@link DataParallel}, one
 * {@link Replica} per device on its own thread, gradients averaged before the optimizers step);
 * rank 0's replica is the one logged, validated, checkpointed and exported.
 */
public final class Trainer implements AutoCloseable {
  private final RunConfig config;
  private final PrintWriter out;
  private final DataParallel parallel;
  // rank 0's device, method and callbacks: what is logged, validated, checkpointed and exported
  private final Device device;
  private final TrainingMethod method;
  private final ParquetLatentDataset dataset;
  private final List<TrainingCallback> callbacks;
  private final EmaCallback ema;
  private final ValidationCallback validation;
  private final CheckpointManager checkpoints;

  private Trainer(
      RunConfig config,
      PrintWriter out,
      DataParallel parallel,
      ParquetLatentDataset dataset,
      ValidationCallback validation) {
    this.config = config;
    this.out = out;
    this.parallel = parallel;
    this.device = parallel.primary().device();
    this.method = parallel.primary().method();
    this.dataset = dataset;
    this.callbacks = parallel.primary().callbacks();
    this.ema =
        callbacks.stream()
            .filter(EmaCallback.class::isInstance)
            .map(EmaCallback.class::cast)
            .findFirst()
            .orElse(null);
    this.validation = validation;
    TrainingConfig.Checkpoint c = config.training().checkpoint();
    this.checkpoints = new CheckpointManager(c.outputDir(), c.checkpointsTotalLimit());
  }

  // ---------------------------------------------------------------- building

  /**
   * Builds models, method, data and callbacks — one replica per entry of {@code training.devices} —
   * and the replicas' process group; nothing is written yet.
   *
   * @throws ConfigException when {@code training.devices} names a CUDA device this machine lacks
   */
  public static Trainer create(RunConfig config, PrintWriter out) throws IOException {
    TrainingConfig tc = config.training();
    List<Device> devices = tc.devices();
    checkDevicesExist(config);
    for (Device d : devices) Backends.of(d); // fails here, clearly, when a backend is missing
    ParquetLatentDataset dataset = openData(tc);
    ModelConfig mc = config.student();
    checkDataFitsModel(dataset, mc, tc);
    LatentNormalization norm =
        config.pipeline().decoder() == PipelineConfig.Decoder.DEMO
            ? LatentNormalization.NONE
            : LatentNormalization.WAN;
    List<ProcessGroup> groups =
        devices.size() > 1 ? ProcessGroups.create(devices) : List.<ProcessGroup>of();
    List<Replica> replicas = new ArrayList<>();
    try {
      for (int rank = 0; rank < devices.size(); rank++) {
        replicas.add(
            replica(
                config, rank, devices.get(rank), groups.isEmpty() ? null : groups.get(rank), norm));
      }
    } catch (RuntimeException | IOException e) {
      replicas.forEach(Replica::close);
      groups.forEach(ProcessGroup::close);
      throw e;
    }
    DataParallel parallel = new DataParallel(replicas, groups);
    ValidationCallback validation = null;
    for (CallbackConfig cc : config.callbacks().inOrder()) {
      if (cc instanceof CallbackConfig.Validation v) {
        validation =
            Validations.create(v, config, dataset, latentShape(dataset, tc), norm, devices.get(0));
      }
    }
    return new Trainer(config, out, parallel, dataset, validation);
  }

  /**
   * Replica {@code rank}: the student built from the same seed on every rank (so the replicas start
   * identical even before rank 0's weights are broadcast), moved to its device, its method (the
   * same noise seed: every replica draws the same numbers and keeps its rows), its step callbacks
   * (EMA only on rank 0, whose weights are the ones validated and saved) and its gradient exchange.
   */
  private static Replica replica(
      RunConfig config, int rank, Device device, ProcessGroup group, LatentNormalization norm)
      throws IOException {
    TrainingConfig tc = config.training();
    long seed = tc.data().seed();
    RoleModel student =
        RoleFactory.build(
            config.student(),
            config.pipeline(),
            tc.ditPrecision(),
            Seeds.derive(seed, "init"),
            tc.model().gradientCheckpointing(),
            tc.data().textLen());
    TrainingMethod method;
    List<TrainingCallback> callbacks = new ArrayList<>();
    List<GradientSync> syncs = new ArrayList<>();
    try {
      if (!device.equals(Device.CPU)) student.model().to(device);
      method = method(config, student, Seeds.derive(seed, "noise"));
    } catch (RuntimeException e) {
      student.close();
      throw e;
    }
    try {
      for (CallbackConfig cc : config.callbacks().inOrder()) {
        switch (cc) {
          case CallbackConfig.GradClip g ->
              callbacks.add(new GradClipCallback(g.maxGradNorm(), g.logGradNorms()));
          case CallbackConfig.Ema e -> {
            if (rank == 0) callbacks.add(new EmaCallback(student, e.decay(), e.startIter()));
          }
          case CallbackConfig.Validation v -> {} // rank 0's, made by create
        }
      }
      if (group != null) {
        for (String role : method.optimizers().keySet()) {
          syncs.add(GradientSync.of(method.roles().get(role).model(), group));
        }
      }
    } catch (RuntimeException e) {
      callbacks.forEach(TrainingCallback::close);
      method.close();
      student.close();
      throw e;
    }
    return new Replica(rank, tc.worldSize(), device, method, callbacks, norm, syncs);
  }

  /** Every CUDA device of {@code training.devices} exists (a config error, exit 2, otherwise). */
  private static void checkDevicesExist(RunConfig config) {
    TrainingConfig tc = config.training();
    boolean list = config.raw().get("training") instanceof Map<?, ?> t && t.containsKey("devices");
    String key = list ? "training.devices" : "training.device";
    for (Device d : tc.devices()) {
      if (d.kind() != Device.Kind.CUDA) continue;
      int count = CudaDevices.count();
      if (d.index() >= count) {
        String why =
            count == 0
                ? "this machine has no usable CUDA device (" + CudaDevices.unavailableReason() + ")"
                : "this machine has " + count + " CUDA device(s): cuda:0 to cuda:" + (count - 1);
        throw new ConfigException(config.source(), key, d + " does not exist: " + why);
      }
    }
  }

  private static TrainingMethod method(RunConfig config, RoleModel student, long seed) {
    TrainingConfig tc = config.training();
    TrainingConfig.Optimizer o = tc.optimizer();
    OptimizerSpec spec =
        new OptimizerSpec(
            o.learningRate(),
            o.beta1(),
            o.beta2(),
            o.weightDecay(),
            o.lrScheduler(),
            o.lrWarmupSteps(),
            tc.loop().maxTrainSteps(),
            o.lrNumCycles(),
            o.lrPower(),
            o.minLrRatio(),
            o.lrStepRules());
    boolean precondition = tc.model().preconditionOutputs();
    return switch (config.method()) {
      case MethodConfig.FineTune f ->
          new FineTuneMethod(student, tc.model().weighting(), precondition, spec, seed);
      case MethodConfig.DiffusionForcingSft d when d.teacherForcing() ->
          new TeacherForcingSftMethod(
              student,
              d.chunkSize(),
              d.minTimestepRatio(),
              d.maxTimestepRatio(),
              precondition,
              spec,
              seed);
      case MethodConfig.DiffusionForcingSft d ->
          new DiffusionForcingSftMethod(
              student,
              d.chunkSize(),
              d.minTimestepRatio(),
              d.maxTimestepRatio(),
              precondition,
              spec,
              seed);
    };
  }

  private static ParquetLatentDataset openData(TrainingConfig tc) {
    List<DataSource> sources =
        tc.data().dataPath().stream().map(s -> new DataSource(s.path(), s.repeat())).toList();
    DatasetOptions options =
        DatasetOptions.defaults()
            .withKind(DatasetKind.parse(tc.data().preprocessedDataType()))
            .withOnBadRow(
                tc.data().onBadRow() == TrainingConfig.OnBadRow.SKIP
                    ? OnBadRow.SKIP
                    : OnBadRow.FAIL);
    return ParquetLatentDataset.open(sources, options);
  }

  /** The data's latent channels and text width must be the model's, before any step runs. */
  private static void checkDataFitsModel(
      ParquetLatentDataset data, ModelConfig mc, TrainingConfig tc) {
    WanConfig wc = mc.config();
    if (data.latentChannels() != wc.inChannels()) {
      throw new IllegalArgumentException(
          "data "
              + data.files().getFirst()
              + ": latents have "
              + data.latentChannels()
              + " channels, models.student has in_channels "
              + wc.inChannels());
    }
    if (data.textDim() != wc.textDim()) {
      throw new IllegalArgumentException(
          "data "
              + data.files().getFirst()
              + ": text embeddings are "
              + data.textDim()
              + " wide, models.student has text_dim "
              + wc.textDim());
    }
    long[] shape = latentShape(data, tc);
    WanConfig.PatchSize p = wc.patchSize();
    if (shape[1] % p.t() != 0 || shape[2] % p.h() != 0 || shape[3] % p.w() != 0) {
      throw new IllegalArgumentException(
          "data: latent frames/height/width "
              + java.util.Arrays.toString(java.util.Arrays.copyOfRange(shape, 1, 4))
              + " are not multiples of the patch size "
              + p);
    }
  }

  /** One training sample's latent shape {@code [C, T, h, w]} (T cropped to num_latent_t). */
  static long[] latentShape(ParquetLatentDataset data, TrainingConfig tc) {
    Sample first = data.get(0);
    long[] s = first.latentShape().clone();
    int t = tc.data().numLatentT();
    if (t > 0 && t < s[1]) s[1] = t;
    return s;
  }

  // ---------------------------------------------------------------- plan

  /** What {@code --dry-run} prints: roles, parameters, memory, data and steps. */
  public String plan() {
    TrainingConfig tc = config.training();
    StringBuilder sb = new StringBuilder();
    sb.append("config      ").append(config.source()).append('\n');
    sb.append("method      ").append(method.name()).append('\n');
    long weights = 0, trainable = 0, trainableBytes = 0;
    for (RoleModel r : method.roles().values()) {
      long n = r.model().parameterCount(false), t = r.model().parameterCount(true);
      int adapters = Lora.adapters(r.model()).size();
      sb.append(
          String.format(
              Locale.ROOT,
              "role        %-8s %s%s, %,d parameters, %,d trainable%s, %s%n",
              r.name(),
              r.isCausal() ? "causal " : "",
              "WanTransformer3D",
              n,
              t,
              adapters > 0 ? " (LoRA on " + adapters + " layers)" : "",
              r.model().dtype()));
      weights += n * r.model().dtype().byteSize();
      trainable += t;
      trainableBytes += t * r.model().dtype().byteSize();
    }
    long[] shape = latentShape(dataset, tc);
    int b = tc.data().trainBatchSize();
    RoleModel student = method.roles().get("student");
    ActivationMemory.Estimate act =
        ActivationMemory.estimate(
            student.model().config(),
            b,
            (int) shape[1],
            (int) shape[2],
            (int) shape[3],
            tc.data().textLen(),
            student.model().dtype(),
            student.model().gradientCheckpointing());
    // AdamW keeps two F32 moments per trainable value (plus an F32 master copy for 16-bit ones).
    long optimizer = trainable * 4L * (student.model().dtype().byteSize() < 4 ? 3 : 2);
    long total = weights + trainableBytes + optimizer + act.peak();
    sb.append(
        String.format(
            Locale.ROOT,
            "data        %,d rows in %d file(s), latent [%d, %d, %d, %d], batch %d x %d"
                + " accumulation = %d samples/step%n",
            dataset.size(),
            dataset.files().size(),
            shape[0],
            shape[1],
            shape[2],
            shape[3],
            b,
            tc.loop().gradientAccumulationSteps(),
            b * tc.loop().gradientAccumulationSteps()));
    sb.append(
        String.format(
            Locale.ROOT,
            "steps       %d (lr %.3g, %s, warmup %d)%n",
            tc.loop().maxTrainSteps(),
            tc.optimizer().learningRate(),
            tc.optimizer().lrScheduler(),
            tc.optimizer().lrWarmupSteps()));
    sb.append(
        String.format(
            Locale.ROOT,
            "memory      ~%s: weights %s, gradients %s, optimizer %s, activations %s%s%n",
            bytes(total),
            bytes(weights),
            bytes(trainableBytes),
            bytes(optimizer),
            bytes(act.peak()),
            act.checkpointing() ? " (checkpointed)" : ""));
    if (parallel.worldSize() == 1) {
      sb.append("device      ").append(device).append('\n');
    } else {
      sb.append(
          String.format(
              Locale.ROOT,
              "devices     %s (data parallel: %d replicas, %d samples each per batch)%n",
              config.training().devices(),
              parallel.worldSize(),
              b / parallel.worldSize()));
    }
    sb.append("output      ").append(checkpoints.outputDir()).append('\n');
    for (TrainingCallback c : callbacks) sb.append("callback    ").append(c.name()).append('\n');
    if (validation != null) {
      sb.append("callback    validation every ")
          .append(validation.config().everySteps())
          .append(" steps\n");
    }
    return sb.toString();
  }

  static String bytes(long n) {
    if (n < 1 << 20) return String.format(Locale.ROOT, "%.1f KiB", n / 1024.0);
    if (n < 1L << 30) return String.format(Locale.ROOT, "%.1f MiB", n / (double) (1 << 20));
    return String.format(Locale.ROOT, "%.2f GiB", n / (double) (1L << 30));
  }

  // ---------------------------------------------------------------- training

  /** The outcome of {@link #train()}. */
  public record Summary(long firstStep, long lastStep, double finalLoss, double seconds) {}

  /** Runs (or resumes) training to {@code max_train_steps}. */
  public Summary train() throws IOException {
    TrainingConfig tc = config.training();
    Path outDir = checkpoints.outputDir();
    Files.createDirectories(outDir);
    checkpoints.removeLeftovers();
    long start = 0;
    LoaderState loaderState = LoaderState.START;
    String resumeSpec = tc.checkpoint().resumeFromCheckpoint();
    Optional<Path> resume = checkpoints.resolve(resumeSpec);
    if (resume.isPresent()) {
      TrainingCheckpoint.TrainerState s = restore(resume.get());
      start = s.step();
      loaderState = s.loader();
      out.println("resumed from " + resume.get() + " at step " + start);
    } else if (resumeSpec != null && !resumeSpec.isEmpty()) {
      out.println("no checkpoint under " + outDir + " yet: starting from step 0");
    }
    AtomicFiles.write(outDir.resolve("config.yaml"), p -> Files.writeString(p, config.toYaml()));

    long max = tc.loop().maxTrainSteps();
    int accum = tc.loop().gradientAccumulationSteps();
    int logEvery = tc.loop().logEverySteps();
    long t0 = System.nanoTime();
    double lastLoss = Double.NaN;
    Path metricsFile = outDir.resolve("metrics.jsonl");
    try (LatentLoader loader = new LatentLoader(dataset, loaderConfig(tc), loaderState);
        MetricsLog metrics =
            start == 0 ? MetricsLog.create(metricsFile) : MetricsLog.resume(metricsFile, start);
        TensorBoardWriter tb =
            start == 0
                ? TensorBoardWriter.create(outDir.resolve("tensorboard"))
                : TensorBoardWriter.resume(outDir.resolve("tensorboard"), start)) {
      for (Replica r : parallel.replicas()) {
        for (TrainingCallback c : r.callbacks()) c.onTrainStart(r.method(), start);
      }
      parallel.onEachRank(
          r -> {
            r.broadcastParameters();
            return null;
          });
      if (start == 0 && validation != null && validation.due(0, max)) validate(0);
      try (ProgressReporter progress = ProgressReporter.forConsole(start, max, logEvery)) {
        for (long step = start + 1; step <= max; step++) {
          Map<String, Double> m = trainStep(loader, step, accum);
          lastLoss = m.get("loss");
          if (step % logEvery == 0 || step == max) {
            metrics.append(step, m);
            for (var e : m.entrySet()) tb.addScalar("train/" + e.getKey(), e.getValue(), step);
          }
          progress.update(step, lastLoss);
          int every = tc.checkpoint().trainingStateCheckpointingSteps();
          if (every > 0 && (step % every == 0 || step == max)) {
            checkpoint(step, loader.state());
          }
          if (validation != null && validation.due(step, max)) {
            validate(step);
            plotLoss(metricsFile, outDir);
          }
        }
      }
    }
    plotLoss(metricsFile, outDir);
    exportFinal(outDir.resolve("final"));
    double seconds = (System.nanoTime() - t0) / 1e9;
    if (dataset.skippedRows() > 0) {
      out.println(
          "skipped "
              + dataset.skippedRows()
              + " bad rows (first: "
              + dataset.firstSkipReason().orElse("?")
              + ")");
    }
    return new Summary(start, max, lastLoss, seconds);
  }

  private LoaderConfig loaderConfig(TrainingConfig tc) {
    TrainingConfig.Data d = tc.data();
    return new LoaderConfig(
        d.trainBatchSize(),
        d.textLen(),
        d.numLatentT(),
        d.trainingCfgRate(),
        Seeds.derive(d.seed(), "data"),
        d.dataloaderNumWorkers(),
        Math.max(2, 2 * d.dataloaderNumWorkers()),
        d.dropLast(),
        d.shuffle());
  }

  /**
   * One optimizer step: the rounds' global batches are loaded here, each replica runs its rows
   * ({@link Replica#step}), and the metrics are rank 0's with {@code loss} and the method's logs
   * averaged over the replicas (in rank order).
   */
  private Map<String, Double> trainStep(LatentLoader loader, long step, int accum) {
    long t0 = System.nanoTime();
    List<Batch> rounds = new ArrayList<>();
    long samples = 0;
    for (int r = 0; r < accum; r++) {
      Batch batch = loader.next();
      samples += batch.size();
      rounds.add(batch);
    }
    List<Replica.StepMetrics> perRank = parallel.onEachRank(r -> r.step(rounds, step));
    Map<String, Double> m = new LinkedHashMap<>(perRank.getFirst().values());
    if (perRank.size() > 1) {
      for (String key : perRank.getFirst().perRows()) {
        double sum = 0;
        for (Replica.StepMetrics rm : perRank) sum += rm.values().get(key);
        m.put(key, sum / perRank.size());
      }
    }
    double seconds = (System.nanoTime() - t0) / 1e9;
    m.put("step_time_s", seconds);
    m.put("samples_per_s", samples / seconds);
    var mem = Backends.of(device).memoryStats();
    m.put("mem_allocated_bytes", (double) mem.allocated());
    m.put("mem_peak_bytes", (double) mem.peakAllocated());
    return m;
  }

  private void checkpoint(long step, LoaderState loader) throws IOException {
    Generator.State g = method.generator().state();
    var state = new TrainingCheckpoint.TrainerState(step, g, loader);
    checkpoints.save(
        step,
        dir -> TrainingCheckpoint.write(dir, method, callbacks, state),
        TrainingCheckpoint.metadataJson(step, method.name(), config.raw()));
  }

  private TrainingCheckpoint.TrainerState restore(Path dir) throws IOException {
    List<String> diffs = ConfigDiff.differences(TrainingCheckpoint.savedConfig(dir), config.raw());
    if (!diffs.isEmpty()) throw new ResumeMismatchException(dir, diffs);
    TrainingCheckpoint.TrainerState state = null;
    for (Replica r : parallel.replicas()) { // the same files for every replica: identical again
      TrainingCheckpoint.TrainerState s =
          TrainingCheckpoint.restore(dir, r.method(), r.callbacks());
      if (s.generator().seed() != r.method().generator().seed()) {
        throw new ResumeMismatchException(dir, List.of("generator seed differs"));
      }
      r.method().generator().setOffset(s.generator().offset());
      if (state == null) state = s;
    }
    return state;
  }

  private void validate(long step) throws IOException {
    ValidationCallback.Report report = validation.run(method.roles().get("student"), ema, step);
    List<Path> files = report.files();
    out.println(
        "validation at step "
            + step
            + ": "
            + files.size()
            + " files in "
            + (files.isEmpty() ? "-" : files.getFirst().getParent()));
    for (String c : report.checks()) out.println("validation at step " + step + ": " + c);
  }

  private void plotLoss(Path metricsFile, Path outDir) throws IOException {
    if (!Files.isRegularFile(metricsFile)) return;
    var series = MetricsLog.readSeries(metricsFile, "loss");
    if (series.size() > 0) LossPlot.write(series, outDir.resolve("loss.png"));
  }

  /**
   * Writes each trainable role to {@code <dir>/<role>/} in the diffusers layout: {@code
   * transformer/} with the trained weights (LoRA: merged into the base), for LoRA also the adapter
   * alone ({@code pytorch_lora_weights.safetensors}), and with EMA {@code transformer_ema/}.
   */
  private void exportFinal(Path dir) throws IOException {
    for (String role : method.optimizers().keySet()) {
      RoleModel r = method.roles().get(role);
      Path rd = Files.createDirectories(dir.resolve(role));
      boolean lora = !Lora.adapters(r.model()).isEmpty();
      if (ema != null && ema.started() && role.equals("student")) {
        ema.swapIn();
        try {
          if (lora)
            Lora.save(
                rd.resolve("pytorch_lora_weights_ema.safetensors"), r.model(), Lora.DEFAULT_PREFIX);
          else r.model().saveDiffusers(rd.resolve("transformer_ema"));
        } finally {
          ema.swapOut();
        }
      }
      if (lora) {
        Lora.save(rd.resolve(TrainingCheckpoint.LORA_FILE), r.model(), Lora.DEFAULT_PREFIX);
        Lora.merge(r.model());
      }
      r.model().saveDiffusers(rd.resolve("transformer"));
    }
    out.println("exported the trained model to " + dir);
  }

  /** Closes the replicas (roles, methods, callbacks) and their process group. */
  @Override
  public void close() {
    parallel.close();
  }
}
