package io.kinema.bench;

import io.kinema.ffi.openblas.OpenBlas;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.RunnerException;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;

/**
 * Runs {@link GemmBench} through JMH and prints a Markdown report: time per op and GFLOP/s ({@code
 * 2 n^3 / time}) for every provider and size, then ours/OpenBLAS per size.
 *
 * <pre>
 * java --add-modules=jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
 *     -cp bench/target/benchmarks.jar io.kinema.bench.BenchReport [options]
 *   --n=256,1024            sizes (default: all of GemmBench's)
 *   --providers=a,b         kinema-f32, kinema-bf16, openblas-f32, openblas-bf16 (default: all
 *                           that can run here)
 *   --warmup=3 --iterations=5 --time=2   JMH iterations and seconds per iteration
 *   --quick                 1 warmup + 1 measured iteration of 1 s (smoke test, noisy)
 *   --out=report.md         also write the report to a file
 *   --keep-openblas-env     keep OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE (to measure their effect)
 * </pre>
 *
 * OpenBLAS reads {@code OPENBLAS_CORETYPE} and {@code OPENBLAS_L2_SIZE} when it loads, and an
 * exported {@code OPENBLAS_CORETYPE=Haswell} keeps it on AVX2 kernels on an AVX-512 machine. A JVM
 * cannot unset its own environment and JMH's forks inherit it, so when either is set this main
 * starts itself again without them (unless {@code --keep-openblas-env}).
 */
public final class BenchReport {
  private BenchReport() {}

  public static void main(String[] args) throws IOException, InterruptedException, RunnerException {
    Map<String, String> opt = parse(args);
    if (opt.containsKey("help")) {
      System.out.println(usage());
      return;
    }
    if (!opt.containsKey("keep-openblas-env")) relaunchWithoutOpenBlasOverrides(args);

    List<String> sizes = list(opt.get("n"), "256,512,1024,2048,4096");
    List<String> providers =
        opt.containsKey("providers") ? list(opt.get("providers"), "") : runnable();
    boolean quick = opt.containsKey("quick");
    int warmup = Integer.parseInt(opt.getOrDefault("warmup", quick ? "1" : "3"));
    int iterations = Integer.parseInt(opt.getOrDefault("iterations", quick ? "1" : "5"));
    int seconds = Integer.parseInt(opt.getOrDefault("time", quick ? "1" : "2"));

    String environment = GemmBench.describeEnvironment();
    System.out.println("[BenchReport] " + environment);
    var options =
        new OptionsBuilder()
            .include(GemmBench.class.getName().replace(".", "\\.") + "\\.gemm$")
            .param("n", sizes.toArray(String[]::new))
            .param("provider", providers.toArray(String[]::new))
            .warmupIterations(warmup)
            .warmupTime(TimeValue.seconds(seconds))
            .measurementIterations(iterations)
            .measurementTime(TimeValue.seconds(seconds))
            .forks(1)
            .shouldFailOnError(false)
            .build();
    var results = new Runner(options).run();

    var rows = new ArrayList<Row>();
    for (RunResult r : results) {
      var params = r.getParams();
      var res = r.getPrimaryResult();
      String name = params.getBenchmark();
      rows.add(
          new Row(
              name.substring(name.lastIndexOf('.', name.lastIndexOf('.') - 1) + 1),
              Integer.parseInt(params.getParam("n")),
              params.getParam("provider"),
              toMillis(res.getScore(), res.getScoreUnit()),
              toMillis(res.getScoreError(), res.getScoreUnit())));
    }
    String report = report(rows, environment, providers, sizes);
    System.out.println();
    System.out.println(report);
    if (opt.containsKey("out")) Files.writeString(Path.of(opt.get("out")), report);
  }

  /** The providers that can run on this machine; says why the others are left out. */
  private static List<String> runnable() {
    var p = new ArrayList<>(List.of(GemmBench.KINEMA_F32, GemmBench.KINEMA_BF16));
    if (!OpenBlas.isAvailable()) {
      System.out.println("[BenchReport] leaving out openblas-*: " + OpenBlas.unavailableReason());
      return p;
    }
    p.add(GemmBench.OPENBLAS_F32);
    if (OpenBlas.hasSbgemm()) p.add(GemmBench.OPENBLAS_BF16);
    else {
      System.out.println(
          "[BenchReport] leaving out openblas-bf16: " + OpenBlas.sbgemmUnavailableReason());
    }
    return p;
  }

  /** One measured benchmark: its short name, size, provider, mean and error in ms per op. */
  record Row(String benchmark, int n, String provider, double ms, double errorMs) {
    double gflops() {
      return 2.0 * n * n * n / (ms * 1e6);
    }
  }

  /** Markdown: one row per run, then ours/OpenBLAS throughput per size. */
  static String report(
      List<Row> rows, String environment, List<String> providers, List<String> ns) {
    var sb = new StringBuilder();
    sb.append("## GEMM, C[n,n] = A[n,n] @ B[n,n]\n\n");
    sb.append(environment).append("  \n");
    sb.append("JVM ")
        .append(System.getProperty("java.vm.version"))
        .append(", ")
        .append(Runtime.getRuntime().availableProcessors())
        .append(" cores\n\n");
    sb.append("| benchmark | params | time/op | GFLOP/s |\n|---|---|---:|---:|\n");
    Map<Integer, Map<String, Double>> gflops = new TreeMap<>(); // [n][provider]
    for (Row r : rows) {
      gflops.computeIfAbsent(r.n, k -> new LinkedHashMap<>()).put(r.provider, r.gflops());
      sb.append("| ")
          .append(r.benchmark)
          .append(" | n=")
          .append(r.n)
          .append(", provider=")
          .append(r.provider)
          .append(" | ")
          .append(fmt(r.ms))
          .append(Double.isNaN(r.errorMs) ? "" : " ± " + fmt(r.errorMs))
          .append(" ms | ")
          .append(String.format(Locale.ROOT, "%.1f", r.gflops()))
          .append(" |\n");
    }
    for (String n : ns) {
      for (String p : providers) {
        var row = gflops.get(Integer.parseInt(n));
        if (row == null || !row.containsKey(p)) {
          sb.append("| GemmBench.gemm | n=").append(n).append(", provider=").append(p);
          sb.append(" | failed (see the JMH log) | |\n");
        }
      }
    }

    sb.append("\nours / OpenBLAS, in GFLOP/s (above 1: ours is faster)\n\n");
    sb.append("| n | f32 | bf16 |\n|---:|---:|---:|\n");
    for (var e : gflops.entrySet()) {
      Map<String, Double> row = e.getValue();
      Double of32 = row.get(GemmBench.OPENBLAS_F32), obf16 = row.get(GemmBench.OPENBLAS_BF16);
      String f32 = ratio(row.get(GemmBench.KINEMA_F32), of32, "");
      String bf16 =
          obf16 != null
              ? ratio(row.get(GemmBench.KINEMA_BF16), obf16, "")
              : ratio(row.get(GemmBench.KINEMA_BF16), of32, " (vs sgemm)");
      sb.append("| ").append(e.getKey()).append(" | ").append(f32).append(" | ").append(bf16);
      sb.append(" |\n");
    }
    return sb.toString();
  }

  private static String ratio(Double ours, Double theirs, String note) {
    if (ours == null || theirs == null) return "–";
    return String.format(Locale.ROOT, "%.2f", ours / theirs) + note;
  }

  private static double toMillis(double v, String unit) {
    return switch (unit) {
      case "ms/op" -> v;
      case "s/op" -> v * 1e3;
      case "us/op" -> v / 1e3;
      case "ns/op" -> v / 1e6;
      default -> throw new IllegalStateException("unexpected JMH unit " + unit);
    };
  }

  private static String fmt(double ms) {
    return String.format(Locale.ROOT, ms >= 100 ? "%.0f" : ms >= 1 ? "%.2f" : "%.4f", ms);
  }

  /**
   * Starts this main again in a child JVM whose environment lacks the OpenBLAS overrides, waits,
   * and exits with its status; returns when none is set.
   */
  private static void relaunchWithoutOpenBlasOverrides(String[] args)
      throws IOException, InterruptedException {
    var present = new ArrayList<String>();
    for (String v : GemmBench.OPENBLAS_OVERRIDES) if (System.getenv(v) != null) present.add(v);
    if (present.isEmpty()) return;
    String java =
        ProcessHandle.current()
            .info()
            .command()
            .orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    var cmd = new ArrayList<String>();
    cmd.add(java);
    cmd.addAll(ManagementFactory.getRuntimeMXBean().getInputArguments());
    cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), BenchReport.class.getName()));
    cmd.addAll(Arrays.asList(args));
    var pb = new ProcessBuilder(cmd).inheritIO();
    pb.environment().keySet().removeAll(present);
    System.out.println(
        "[BenchReport] "
            + present
            + " would override OpenBLAS's CPU detection; running again without them"
            + " (--keep-openblas-env keeps them)");
    System.exit(pb.start().waitFor());
  }

  private static Map<String, String> parse(String[] args) {
    var m = new LinkedHashMap<String, String>();
    for (String a : args) {
      if (!a.startsWith("--")) {
        throw new IllegalArgumentException("unexpected argument '" + a + "'\n" + usage());
      }
      int eq = a.indexOf('=');
      if (eq < 0) m.put(a.substring(2), "");
      else m.put(a.substring(2, eq), a.substring(eq + 1));
    }
    for (String k : m.keySet()) {
      if (!List.of(
              "n",
              "providers",
              "warmup",
              "iterations",
              "time",
              "quick",
              "out",
              "keep-openblas-env",
              "help")
          .contains(k)) {
        throw new IllegalArgumentException("unknown option --" + k + "\n" + usage());
      }
    }
    return m;
  }

  private static List<String> list(String csv, String dflt) {
    String s = csv == null || csv.isBlank() ? dflt : csv;
    return Arrays.stream(s.split(",")).map(String::strip).filter(x -> !x.isEmpty()).toList();
  }

  private static String usage() {
    return "usage: BenchReport [--n=256,1024] [--providers=kinema-f32,openblas-f32]"
        + " [--warmup=3] [--iterations=5] [--time=2] [--quick] [--out=report.md]"
        + " [--keep-openblas-env]";
  }
}
