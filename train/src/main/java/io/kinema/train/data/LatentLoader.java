package io.kinema.train.data;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Batches a {@link ParquetLatentDataset} for training, endlessly, epoch after epoch (FastVideo's
 * {@code LatentsParquetMapStyleDataset} with its {@code DP_SP_BatchSampler}, for one data-parallel
 * group).
 *
 * <p><b>Order.</b> Epoch {@code e} visits the rows in a permutation drawn from {@code (seed, e)}
 * with the engine's Philox stream ({@link PhiloxDraws#permutation}), cut into consecutive batches
 * of {@code batchSize}; with {@code dropLast} the incomplete tail is dropped, otherwise it is
 * filled up with the epoch's first rows. FastVideo draws one {@code torch.randperm(seed)} and
 * repeats it every epoch; we reshuffle each epoch, which is the usual SGD practice and costs
 * nothing in reproducibility (the orders differ from PyTorch's anyway: they come from a different
 * generator).
 *
 * <p><b>CFG dropout.</b> With probability {@code cfgRate} a sample's text embedding becomes zeros
 * of its stored shape (the mask keeps its ones). The draw is a pure function of {@code (seed,
 * global row index)}: the first uniform of the Philox stream keyed {@code seed ^ row}, the rule of
 * FastVideo's dataloader and of {@code io.kinema.diffusion.flow.CfgDropout#dropsSample}.
 *
 * <p><b>Workers.</b> With {@code numWorkers > 0}, daemon threads decode up to {@code prefetch}
 * batches ahead; batches come back in exactly the order above whatever the timing, since each batch
 * is a pure function of its position. An exception while building a batch, in a worker or not, is
 * rethrown by {@link #next} (a {@link DataException} keeps its message), after which the loader is
 * closed.
 *
 * <p><b>Resume.</b> {@link #state()} is the position of the next batch; a loader started from it
 * returns the same batches as the uninterrupted run.
 *
 * <p>Not thread-safe: one training thread calls {@link #next}.
 */
public final class LatentLoader implements AutoCloseable {
  private final ParquetLatentDataset dataset;
  private final LoaderConfig config;
  private final int rows;
  private final long batchesPerEpoch;
  private final ExecutorService workers;
  private final ArrayDeque<Future<Batch>> pending = new ArrayDeque<>();
  private final EpochOrders orders;
  private long next; // global number of the next batch next() returns
  private long submitted; // global number of the next batch to hand to the workers
  private String failure;
  private boolean closed;

  /** A loader from the start of training. */
  public LatentLoader(ParquetLatentDataset dataset, LoaderConfig config) {
    this(dataset, config, LoaderState.START);
  }

  /** A loader whose first batch is the one at {@code start} (from {@link #state()}). */
  public LatentLoader(ParquetLatentDataset dataset, LoaderConfig config, LoaderState start) {
    this.dataset = dataset;
    this.config = config;
    if (dataset.size() > Integer.MAX_VALUE - 8) {
      throw new DataException(
          "dataset has " + dataset.size() + " rows; at most 2^31 are supported");
    }
    this.rows = (int) dataset.size();
    if (config.dropLast() && rows < config.batchSize()) {
      throw new DataException(
          "dataset has "
              + rows
              + " rows, fewer than one batch of "
              + config.batchSize()
              + " (drop_last)");
    }
    this.batchesPerEpoch =
        config.dropLast()
            ? rows / config.batchSize()
            : (rows + config.batchSize() - 1) / config.batchSize();
    if (start.batch() >= batchesPerEpoch) {
      throw new IllegalArgumentException(
          "LoaderState "
              + start
              + ": an epoch has "
              + batchesPerEpoch
              + " batches (batch size "
              + config.batchSize()
              + ", "
              + rows
              + " rows); was the dataset or batch size changed since the checkpoint?");
    }
    this.next = Math.addExact(Math.multiplyExact(start.epoch(), batchesPerEpoch), start.batch());
    this.submitted = next;
    this.orders = new EpochOrders(rows, config.seed(), config.shuffle());
    this.workers =
        config.numWorkers() == 0
            ? null
            : Executors.newFixedThreadPool(config.numWorkers(), daemonThreads());
  }

  /** Batches in one epoch. */
  public long batchesPerEpoch() {
    return batchesPerEpoch;
  }

  public ParquetLatentDataset dataset() {
    return dataset;
  }

  public LoaderConfig config() {
    return config;
  }

  /** The position of the batch {@link #next} returns next. */
  public LoaderState state() {
    return new LoaderState(next / batchesPerEpoch, next % batchesPerEpoch);
  }

  /** Rows of the dataset skipped as bad so far ({@link OnBadRow#SKIP}). */
  public long skippedRows() {
    return dataset.skippedRows();
  }

  /**
   * The next batch. Never ends: after the last batch of an epoch comes the first of the next. A
   * batch whose rows were all skipped as bad is passed over.
   */
  public Batch next() {
    if (failure != null) throw new IllegalStateException("LatentLoader failed earlier: " + failure);
    if (closed) throw new IllegalStateException("LatentLoader is closed");
    while (true) {
      Batch batch;
      try {
        batch = workers == null ? build(next) : await();
      } catch (RuntimeException e) {
        failure = String.valueOf(e.getMessage());
        close();
        throw e;
      }
      next++;
      if (batch != null) return batch;
    }
  }

  /** Stops the workers; pending batches are dropped. Idempotent. */
  @Override
  public void close() {
    closed = true;
    pending.forEach(f -> f.cancel(true));
    pending.clear();
    if (workers != null) workers.shutdownNow();
  }

  /** The head of the prefetch queue; a worker's exception is rethrown on this thread. */
  private Batch await() {
    fill();
    Future<Batch> head = pending.poll();
    fill(); // keeps the workers busy while the caller uses this batch
    try {
      return head.get();
    } catch (ExecutionException e) {
      Throwable cause = e.getCause();
      if (cause instanceof DataException d) throw new DataException(d.getMessage(), d);
      throw new IllegalStateException("LatentLoader worker failed: " + cause, cause);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while waiting for a batch", e);
    }
  }

  private void fill() {
    while (pending.size() < config.prefetch()) {
      long g = submitted++;
      pending.add(workers.submit(() -> build(g)));
    }
  }

  /** Batch number {@code g} of the endless sequence; null if every row of it was skipped. */
  private Batch build(long g) {
    long epoch = g / batchesPerEpoch, b = g % batchesPerEpoch;
    int[] order = orders.of(epoch);
    List<Sample> samples = new ArrayList<>(config.batchSize());
    for (int i = 0; i < config.batchSize(); i++) {
      // Only the last batch without drop_last runs past the end: it wraps to the epoch's start.
      long position = (b * config.batchSize() + i) % rows;
      Optional<Sample> s = dataset.tryGet(order[(int) position]);
      s.ifPresent(samples::add);
    }
    if (samples.isEmpty()) return null;
    return BatchCollator.collate(samples, config, epoch, b, dataset);
  }

  private static ThreadFactory daemonThreads() {
    AtomicInteger count = new AtomicInteger();
    return r -> {
      Thread t = new Thread(r, "kinema-loader-" + count.getAndIncrement());
      t.setDaemon(true);
      return t;
    };
  }

  /** The permutations of the last two epochs asked for (workers may straddle an epoch boundary). */
  private static final class EpochOrders {
    private final int rows;
    private final long seed;
    private final boolean shuffle;
    private final long[] epochs = {-1, -1};
    private final int[][] orders = new int[2][];

    EpochOrders(int rows, long seed, boolean shuffle) {
      this.rows = rows;
      this.seed = seed;
      this.shuffle = shuffle;
    }

    synchronized int[] of(long epoch) {
      for (int i = 0; i < 2; i++) if (epochs[i] == epoch) return orders[i];
      int slot = epochs[0] < epochs[1] ? 0 : 1; // replace the older epoch
      epochs[slot] = epoch;
      orders[slot] =
          shuffle
              ? PhiloxDraws.permutation(rows, seed, epoch)
              : java.util.stream.IntStream.range(0, rows).toArray();
      return orders[slot];
    }
  }

  @Override
  public String toString() {
    return "LatentLoader("
        + rows
        + " rows, "
        + batchesPerEpoch
        + " batches/epoch, next "
        + state()
        + ")";
  }
}
