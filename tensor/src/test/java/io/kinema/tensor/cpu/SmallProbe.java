package io.kinema.tensor.cpu;

import io.kinema.tensor.DType;
import io.kinema.tensor.Scope;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.cpu.CpuMatmul.Mat;

public final class SmallProbe {
  public static void main(String[] args) {
    int n = Integer.parseInt(args[0]);
    try (var s = Scope.open()) {
      Tensor a = Tensor.ones(DType.F32, n, n), b = Tensor.ones(DType.F32, n, n), c = Tensor.zeros(DType.F32, n, n);
      Mat ma = new Mat(a.storage().segment(), DType.F32, n, 1), mb = new Mat(b.storage().segment(), DType.F32, n, 1);
      var buf = GemmF32.buffers();
      for (int round = 0; round < 5; round++) {
        int reps = 20000;
        long t = System.nanoTime();
        for (int r = 0; r < reps; r++) GemmF32.region(ma, 0, mb, 0, n, 0, n, 0, n, c.storage().segment(), 0, 4L * n, buf);
        double region = (System.nanoTime() - t) / 1e3 / reps;
        t = System.nanoTime();
        for (int r = 0; r < reps; r++) GemmF32.packA(ma, 0, 0, Math.min(n, GemmF32.MC), 0, n, buf.a, buf.line);
        double pa = (System.nanoTime() - t) / 1e3 / reps;
        t = System.nanoTime();
        for (int r = 0; r < reps; r++) GemmF32.packB(mb, 0, 0, n, 0, n, buf.b, buf.line);
        double pb = (System.nanoTime() - t) / 1e3 / reps;
        t = System.nanoTime();
        for (int r = 0; r < reps; r++) GemmKernel.tile(buf.a, 0, buf.b, 0, n, buf.tile);
        double kt = (System.nanoTime() - t) / 1e3 / reps;
        t = System.nanoTime();
        for (int r = 0; r < reps; r++) a.matmul(b).close();
        double mm = (System.nanoTime() - t) / 1e3 / reps;
        System.out.printf("n=%d region %.2f us, packA(MC rows) %.2f us, packB %.2f us, one tile %.3f us, matmul %.2f us%n", n, region, pa, pb, kt, mm);
      }
    }
  }
}
