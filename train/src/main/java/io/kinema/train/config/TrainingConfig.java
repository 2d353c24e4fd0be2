package io.kinema.train.config;

import io.kinema.diffusion.flow.WeightingScheme;
import io.kinema.tensor.DType;
import io.kinema.tensor.Device;
import java.nio.file.Path;
import java.util.List;

/**
 * The {@code training} section (spec training-infra §2.3). Unlike FastVideo, an explicit 0 (or
 * {@code false}, or {@code ""}) is honoured where it is legal instead of falling back to the
 * default.
 *
 * <p>Keys of Kinema's own, beyond FastVideo's schema: {@code training.device} ({@code cpu} | {@code
 * cuda:N}, default {@code cpu}), {@code training.devices} (data parallelism: one replica per
 * entry), {@code training.data.text_len}, {@code training.data.on_bad_row}, {@code
 * training.data.shuffle}, {@code training.data.drop_last}, {@code training.loop.log_every_steps}
 * and {@code training.optimizer.lr_step_rules}.
 *
 * @param modelPath {@code model_path}: defaults to the student's {@code init_from} (as written,
 *     made absolute when a path)
 * @param ditPrecision {@code dit_precision}: {@code fp32} (default) | {@code bf16} | {@code fp16},
 *     the dtype of the master weights
 * @param devices where training runs, one data-parallel replica per entry (rank i on entry i):
 *     {@code devices} (ours), a list such as {@code [cuda:0, cuda:1]} or {@code [cpu, cpu]}, else
 *     the one {@code device} (ours; default {@code cpu})
 */
public record TrainingConfig(
    Distributed distributed,
    Data data,
    Optimizer optimizer,
    Loop loop,
    Checkpoint checkpoint,
    Tracker tracker,
    Vsa vsa,
    Model model,
    String modelPath,
    DType ditPrecision,
    List<Device> devices) {
  public TrainingConfig {
    devices = List.copyOf(devices);
  }

  /** Rank 0's device: where the single-device trainer runs, logs and validates. */
  public Device device() {
    return devices.getFirst();
  }

  /**
   * The number of data-parallel replicas. {@code data.train_batch_size} is the global batch: each
   * replica takes {@code train_batch_size / worldSize} of its samples.
   */
  public int worldSize() {
    return devices.size();
  }

  /**
   * {@code training.distributed}, accepted for FastVideo compatibility. Kinema's parallelism is
   * data parallelism over {@code training.devices}: {@code num_gpus} defaults to (and must equal)
   * the number of replicas, {@code hsdp_replicate_dim * hsdp_shard_dim} must equal it too (Kinema
   * keeps a full replica on every device, so a shard dim above 1 trains the same but uses more
   * memory than FastVideo's FSDP), and the tensor- and sequence-parallel sizes must be 1.
   */
  public record Distributed(
      int numGpus,
      int tpSize,
      int spSize,
      int hsdpReplicateDim,
      int hsdpShardDim,
      boolean pinCpuMemory) {}

  /**
   * {@code training.data}.
   *
   * @param dataPath {@code data_path} (required): folders of preprocessed Parquet files, each with
   *     a repeat count (FastVideo accepts a path, a list, {@code "a:2,b"} or {@code {path:
   *     repeat}})
   * @param preprocessedDataType {@code t2v} (default) | {@code t2va} | {@code text_only}
   * @param trainBatchSize {@code train_batch_size} (1, >= 1)
   * @param dataloaderNumWorkers {@code dataloader_num_workers} (0, >= 0)
   * @param trainingCfgRate {@code training_cfg_rate} (0.0, in [0, 1]): probability of dropping the
   *     text condition
   * @param seed {@code seed} (0): seeds data order, noise and the validation default
   * @param numHeight {@code num_height} (0 = from the data)
   * @param numWidth {@code num_width} (0 = from the data)
   * @param numLatentT {@code num_latent_t} (0 = all latent frames of a row)
   * @param numFrames {@code num_frames} (0 = from the data)
   * @param textLen {@code text_len} (ours; 512): text tokens are zero-padded or cropped to it
   * @param onBadRow {@code on_bad_row} (ours): {@code error} (default) stops at a malformed row,
   *     {@code skip} logs and skips it
   * @param shuffle {@code shuffle} (ours; true): a seeded global permutation of the rows
   * @param dropLast {@code drop_last} (ours; true): drop the last incomplete batch (required with
   *     several devices)
   */
  public record Data(
      List<DataSource> dataPath,
      String preprocessedDataType,
      int trainBatchSize,
      int dataloaderNumWorkers,
      double trainingCfgRate,
      long seed,
      int numHeight,
      int numWidth,
      int numLatentT,
      int numFrames,
      int textLen,
      OnBadRow onBadRow,
      boolean shuffle,
      boolean dropLast) {
    public Data {
      dataPath = List.copyOf(dataPath);
    }
  }

  /** One entry of {@code data_path}: a folder (or file) and how many times its rows repeat. */
  public record DataSource(Path path, int repeat) {}

  /** What the data loader does with a malformed row. */
  public enum OnBadRow {
    ERROR,
    SKIP
  }

  /**
   * {@code training.optimizer}: AdamW (eps 1e-8) and its LR schedule (spec §4).
   *
   * @param learningRate {@code learning_rate} (0.0; must be > 0 for the SFT methods)
   * @param beta1 first of {@code betas} ([0.9, 0.999]; a list or {@code "b1,b2"})
   * @param beta2 second of {@code betas}
   * @param weightDecay {@code weight_decay} (0.0)
   * @param lrScheduler {@code lr_scheduler} ({@code constant}): a name of {@code
   *     io.kinema.nn.optim.LRScheduler#get}
   * @param lrWarmupSteps {@code lr_warmup_steps} (0)
   * @param lrNumCycles {@code lr_num_cycles} (0; {@code cosine_with_restarts})
   * @param lrPower {@code lr_power} (0.0; {@code polynomial})
   * @param minLrRatio {@code min_lr_ratio} (0.5; accepted, used by no supported schedule)
   * @param lrStepRules {@code lr_step_rules} (ours; null): the rules of {@code piecewise_constant},
   *     e.g. {@code "1:100,0.1:200,0.01"}, required by it
   */
  public record Optimizer(
      double learningRate,
      double beta1,
      double beta2,
      double weightDecay,
      String lrScheduler,
      int lrWarmupSteps,
      int lrNumCycles,
      double lrPower,
      double minLrRatio,
      String lrStepRules) {}

  /**
   * {@code training.loop}.
   *
   * @param maxTrainSteps {@code max_train_steps} (required, > 0): optimizer steps
   * @param gradientAccumulationSteps {@code gradient_accumulation_steps} (1, >= 1)
   * @param logEverySteps {@code log_every_steps} (ours; 1, >= 1)
   */
  public record Loop(int maxTrainSteps, int gradientAccumulationSteps, int logEverySteps) {}

  /**
   * {@code training.checkpoint}.
   *
   * @param outputDir {@code output_dir}: default {@code outputs/<yaml stem>} next to the YAML
   * @param resumeFromCheckpoint {@code resume_from_checkpoint}: null (start fresh), {@code latest},
   *     or an absolute path (checked to exist)
   * @param trainingStateCheckpointingSteps {@code training_state_checkpointing_steps} (0 = no
   *     periodic saves)
   * @param checkpointsTotalLimit {@code checkpoints_total_limit} (0 = keep all)
   */
  public record Checkpoint(
      Path outputDir,
      String resumeFromCheckpoint,
      int trainingStateCheckpointingSteps,
      int checkpointsTotalLimit) {
    /** The value of {@code resume_from_checkpoint} that means the newest checkpoint. */
    public static final String LATEST = "latest";
  }

  /**
   * {@code training.tracker}: accepted for FastVideo compatibility; Kinema always writes its own
   * metrics files and warns about trackers it does not have.
   */
  public record Tracker(List<String> trackers, String entity, String projectName, String runName) {
    public Tracker {
      trackers = List.copyOf(trackers);
    }
  }

  /** {@code training.vsa}: video sparse attention; {@code sparsity} must be 0 (not supported). */
  public record Vsa(double sparsity, boolean cacheTileBuf) {}

  /**
   * {@code training.model}: the timestep density and the loss form (spec flow-matching §4).
   *
   * @param weightingScheme {@code uniform} (default) | {@code logit_normal} | {@code mode}
   * @param logitMean {@code logit_mean} (0.0)
   * @param logitStd {@code logit_std} (1.0)
   * @param modeScale {@code mode_scale} (1.0)
   * @param preconditionOutputs {@code precondition_outputs} (false): loss on x0 instead of velocity
   * @param gradientCheckpointing {@code enable_gradient_checkpointing_type: full} (default null)
   */
  public record Model(
      String weightingScheme,
      double logitMean,
      double logitStd,
      double modeScale,
      boolean preconditionOutputs,
      boolean gradientCheckpointing) {
    /** The density of training timesteps these keys describe. */
    public WeightingScheme weighting() {
      return WeightingScheme.of(weightingScheme, logitMean, logitStd, modeScale);
    }
  }
}
