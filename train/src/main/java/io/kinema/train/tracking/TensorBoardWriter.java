package io.kinema.train.tracking;

import java.io.BufferedOutputStream;
import java.io.Closeable;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.time.InstantSource;
import java.util.OptionalLong;

/**
 * Writes scalars to a TensorBoard event file ({@code events.out.tfevents.<secs>.<host>} in the log
 * folder) without TensorFlow or protobuf: TFRecord framing around hand-encoded {@code Event}
 * protos. The first record is the file version ({@code "brain.Event:2"}); each scalar is one event
 * with a {@code Summary} holding a {@code simple_value}. Every event is flushed when written, so a
 * running TensorBoard sees it at once.
 *
 * <p>{@link #resume} also writes a session-start event at the first step after the checkpoint, the
 * marker TensorBoard uses to discard the earlier run's events from that step on (PyTorch's {@code
 * SummaryWriter(purge_step=...)} does the same), so curves show no doubled tail after a resume.
 */
public final class TensorBoardWriter implements Closeable {
  static final String FILE_VERSION = "brain.Event:2";

  // Field numbers of tensorflow/core/util/event.proto and framework/summary.proto.
  static final int EVENT_WALL_TIME = 1;
  static final int EVENT_STEP = 2;
  static final int EVENT_FILE_VERSION = 3;
  static final int EVENT_SUMMARY = 5;
  static final int EVENT_SESSION_LOG = 7;
  static final int SUMMARY_VALUE = 1;
  static final int VALUE_TAG = 1;
  static final int VALUE_SIMPLE_VALUE = 2;
  static final int SESSION_LOG_STATUS = 1;
  static final int SESSION_STATUS_START = 1;

  private final Path file;
  private final OutputStream out;
  private final InstantSource clock;

  private TensorBoardWriter(Path file, OutputStream out, InstantSource clock) {
    this.file = file;
    this.out = out;
    this.clock = clock;
  }

  /** Starts a new event file in {@code logDir} (created if missing). */
  public static TensorBoardWriter create(Path logDir) throws IOException {
    return open(logDir, OptionalLong.empty(), InstantSource.system(), hostName());
  }

  /**
   * Starts a new event file in {@code logDir} after resuming at {@code resumedStep}: TensorBoard
   * drops the events that earlier files in the folder hold for later steps.
   */
  public static TensorBoardWriter resume(Path logDir, long resumedStep) throws IOException {
    return open(logDir, OptionalLong.of(resumedStep + 1), InstantSource.system(), hostName());
  }

  /** Opens a new event file; {@code purgeStep}: the step from which older events are dropped. */
  static TensorBoardWriter open(
      Path logDir, OptionalLong purgeStep, InstantSource clock, String host) throws IOException {
    Files.createDirectories(logDir);
    Instant now = clock.instant();
    String base = "events.out.tfevents." + now.getEpochSecond() + "." + host;
    Path file = logDir.resolve(base);
    OutputStream stream = null;
    // Two writers started in the same second (a quick restart) must not share a file.
    for (int n = 1; stream == null; n++) {
      try {
        stream =
            Files.newOutputStream(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
      } catch (FileAlreadyExistsException e) {
        file = logDir.resolve(base + "." + n);
      }
    }
    var writer = new TensorBoardWriter(file, new BufferedOutputStream(stream), clock);
    writer.write(writer.event(0).string(EVENT_FILE_VERSION, FILE_VERSION));
    if (purgeStep.isPresent()) {
      var start = new ProtoWriter().int64(SESSION_LOG_STATUS, SESSION_STATUS_START);
      writer.write(writer.event(purgeStep.getAsLong()).message(EVENT_SESSION_LOG, start));
    }
    return writer;
  }

  /**
   * Logs {@code value} under {@code tag} (e.g. "train/loss") at {@code step}, as a 32-bit float.
   */
  public void addScalar(String tag, double value, long step) throws IOException {
    if (tag == null || tag.isEmpty()) throw new IllegalArgumentException("TensorBoard: empty tag");
    var summaryValue =
        new ProtoWriter().string(VALUE_TAG, tag).float32(VALUE_SIMPLE_VALUE, (float) value);
    var summary = new ProtoWriter().message(SUMMARY_VALUE, summaryValue);
    write(event(step).message(EVENT_SUMMARY, summary));
  }

  /** The event file. */
  public Path file() {
    return file;
  }

  @Override
  public void close() throws IOException {
    out.close();
  }

  private ProtoWriter event(long step) {
    Instant now = clock.instant();
    double wallTime = now.getEpochSecond() + now.getNano() * 1e-9;
    return new ProtoWriter().double64(EVENT_WALL_TIME, wallTime).int64(EVENT_STEP, step);
  }

  private void write(ProtoWriter event) throws IOException {
    out.write(TfRecord.frame(event.toByteArray()));
    out.flush();
  }

  /** This machine's name as it may appear in a file name, or "localhost" if it has none. */
  static String hostName() {
    String name;
    try {
      name = InetAddress.getLocalHost().getHostName();
    } catch (IOException e) {
      name = "localhost";
    }
    name = name.replaceAll("[^A-Za-z0-9._-]", "_");
    return name.isEmpty() ? "localhost" : name;
  }
}
