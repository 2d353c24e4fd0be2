package io.kinema.train.tracking;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import com.google.gson.JsonPrimitive;
import io.kinema.train.AtomicFiles;
import java.io.BufferedWriter;
import java.io.Closeable;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.OptionalDouble;
import java.util.SequencedMap;
import java.util.TreeMap;
import java.util.stream.Collectors;

/**
 * The training metrics as JSON lines ({@code metrics.jsonl}): one object per logged step, {@code
 * "step"} first, then the named values, e.g. {@code {"step":120,"loss":0.0312,"lr":1.0E-4}}. Each
 * line is flushed as it is written, so the file is current while training runs.
 *
 * <p>Resuming from a checkpoint at step N keeps the lines up to step N and drops later ones (the
 * run logged them after the checkpoint and will log them again), so the file of an interrupted and
 * resumed run equals that of an uninterrupted one. NaN and infinite values are written as {@code
 * NaN}, {@code Infinity} and {@code -Infinity}, as Python's {@code json} module does and reads.
 */
public final class MetricsLog implements Closeable {
  private static final Gson GSON = new GsonBuilder().serializeSpecialFloatingPointValues().create();

  private final Path file;
  private final BufferedWriter out;

  private MetricsLog(Path file, BufferedWriter out) {
    this.file = file;
    this.out = out;
  }

  /** Starts a new log at {@code file}, replacing any file there. */
  public static MetricsLog create(Path file) throws IOException {
    Files.createDirectories(file.toAbsolutePath().getParent());
    return new MetricsLog(
        file,
        Files.newBufferedWriter(
            file,
            StandardCharsets.UTF_8,
            StandardOpenOption.CREATE,
            StandardOpenOption.TRUNCATE_EXISTING,
            StandardOpenOption.WRITE));
  }

  /**
   * Continues the log at {@code file} after resuming at {@code resumedStep}: lines with a larger
   * step are removed first (a missing file starts a new log; a cut-off last line, as a crash
   * mid-write leaves, is dropped).
   *
   * @throws IOException if a line is not a JSON object with a numeric "step" (the message names the
   *     file and line)
   */
  public static MetricsLog resume(Path file, long resumedStep) throws IOException {
    if (!Files.exists(file)) return create(file);
    List<String> lines = completeLines(file);
    List<String> kept = new ArrayList<>();
    for (int i = 0; i < lines.size(); i++) {
      if (lines.get(i).isBlank()) continue;
      JsonElement step = parseLine(file, i, lines.get(i)).get("step");
      if (step == null || !step.isJsonPrimitive() || !step.getAsJsonPrimitive().isNumber()) {
        throw new IOException("%s:%d: no numeric \"step\"".formatted(file, i + 1));
      }
      if (step.getAsLong() <= resumedStep) kept.add(lines.get(i));
    }
    String text = kept.stream().map(line -> line + "\n").collect(Collectors.joining());
    AtomicFiles.write(file, temp -> Files.writeString(temp, text, StandardCharsets.UTF_8));
    return new MetricsLog(
        file, Files.newBufferedWriter(file, StandardCharsets.UTF_8, StandardOpenOption.APPEND));
  }

  /**
   * Appends one line: {@code step}, then {@code values} (Number, String or Boolean). Keys come in
   * the map's order when it has one ({@link SequencedMap}: LinkedHashMap, TreeMap), else sorted, so
   * lines are reproducible across runs.
   *
   * @throws IllegalArgumentException for a key "step", or a value of another type
   */
  public void append(long step, Map<String, ?> values) throws IOException {
    var line = new JsonObject();
    line.addProperty("step", step);
    Map<String, ?> ordered =
        values instanceof SequencedMap<String, ?> ? values : new TreeMap<>(values);
    for (var e : ordered.entrySet()) {
      line.add(checkedKey(e.getKey()), toJson(e.getKey(), e.getValue()));
    }
    out.write(GSON.toJson(line));
    out.write('\n'); // not the platform separator: the file is the same everywhere
    out.flush();
  }

  /** The file written to. */
  public Path file() {
    return file;
  }

  @Override
  public void close() throws IOException {
    out.close();
  }

  /**
   * Reads one metric from a log: the steps of the lines where {@code key} is a number, and its
   * values, in file order. A cut-off last line is ignored.
   */
  public static MetricSeries readSeries(Path file, String key) throws IOException {
    List<String> lines = completeLines(file);
    var steps = new ArrayList<Long>();
    var values = new ArrayList<Double>();
    for (int i = 0; i < lines.size(); i++) {
      if (lines.get(i).isBlank()) continue;
      JsonObject object = parseLine(file, i, lines.get(i));
      JsonElement step = object.get("step");
      OptionalDouble value = numberOf(object.get(key));
      if (value.isPresent() && numberOf(step).isPresent()) {
        steps.add(step.getAsLong());
        values.add(value.getAsDouble());
      }
    }
    return new MetricSeries(
        steps.stream().mapToLong(Long::longValue).toArray(),
        values.stream().mapToDouble(Double::doubleValue).toArray());
  }

  /**
   * The lines of a log that end with a newline: a last line without one was cut off by a crash
   * mid-write and is left out. Decoding is lenient for the same reason (a cut multi-byte char).
   */
  private static List<String> completeLines(Path file) throws IOException {
    String text = new String(Files.readAllBytes(file), StandardCharsets.UTF_8);
    int end = text.lastIndexOf('\n');
    return end < 0 ? List.of() : text.substring(0, end).lines().toList();
  }

  private static JsonObject parseLine(Path file, int index, String line) throws IOException {
    try {
      return JsonParser.parseString(line).getAsJsonObject();
    } catch (JsonParseException | IllegalStateException e) {
      throw new IOException(
          "%s:%d: not a JSON object: %s".formatted(file, index + 1, e.getMessage()), e);
    }
  }

  /** The value of a JSON number (NaN and Infinity included); empty for anything else. */
  private static OptionalDouble numberOf(JsonElement element) {
    if (element == null || !element.isJsonPrimitive()) return OptionalDouble.empty();
    JsonPrimitive p = element.getAsJsonPrimitive();
    if (p.isNumber()) return OptionalDouble.of(p.getAsDouble());
    return switch (p.getAsString()) {
      case "NaN" -> OptionalDouble.of(Double.NaN);
      case "Infinity" -> OptionalDouble.of(Double.POSITIVE_INFINITY);
      case "-Infinity" -> OptionalDouble.of(Double.NEGATIVE_INFINITY);
      default -> OptionalDouble.empty();
    };
  }

  private static String checkedKey(String key) {
    if (key == null || key.isEmpty() || key.equals("step")) {
      throw new IllegalArgumentException("MetricsLog: invalid metric name '" + key + "'");
    }
    return key;
  }

  private static JsonElement toJson(String key, Object value) {
    return switch (value) {
      case Number n -> new JsonPrimitive(n);
      case String s -> new JsonPrimitive(s);
      case Boolean b -> new JsonPrimitive(b);
      case null -> throw new IllegalArgumentException("MetricsLog: metric '" + key + "' is null");
      default ->
          throw new IllegalArgumentException(
              "MetricsLog: metric '%s' is a %s; expected a number, string or boolean"
                  .formatted(key, value.getClass().getSimpleName()));
    };
  }
}
