package io.kinema.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/** The report's arithmetic and layout, on made-up measurements. */
class BenchReportTest {
  @Test
  void gflopsAndRatios() {
    var rows =
        List.of(
            new BenchReport.Row("GemmBench.gemm", 1024, "kinema-f32", 21.4748, 0.5),
            new BenchReport.Row("GemmBench.gemm", 1024, "openblas-f32", 10.7374, Double.NaN),
            new BenchReport.Row("GemmBench.gemm", 1024, "kinema-bf16", 42.9497, 1.0),
            new BenchReport.Row("GemmBench.gemm", 4096, "openblas-f32", 1374.39, 20));
    assertEquals(100.0, rows.get(0).gflops(), 1e-3); // 2 * 1024^3 flop in 21.47 ms
    String md =
        BenchReport.report(
            rows,
            "env",
            List.of("kinema-f32", "kinema-bf16", "openblas-f32"),
            List.of("1024", "4096"));
    assertTrue(
        md.contains("| GemmBench.gemm | n=1024, provider=kinema-f32 | 21.47 ± 0.5000 ms | 100.0 |"),
        md);
    assertTrue(
        md.contains("| GemmBench.gemm | n=1024, provider=openblas-f32 | 10.74 ms | 200.0 |"), md);
    assertTrue(md.contains("| GemmBench.gemm | n=4096, provider=kinema-f32 | failed"), md);
    // f32: 100 / 200; bf16 has no sbgemm row, so it is compared with sgemm and says so.
    assertTrue(md.contains("| 1024 | 0.50 | 0.25 (vs sgemm) |"), md);
    assertTrue(md.contains("| 4096 | – | – |"), md);
  }
}
