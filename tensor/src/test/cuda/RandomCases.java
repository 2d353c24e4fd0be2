// Writes CPU Philox fills (the reference stream) for emulator_test random: one line per case in
// cases.txt ("name kind dtype seed offset a b n") and the CPU's bytes in NAME.expected.
// Run by run-emulated.sh with the tensor module's classes on the class path.
import io.kinema.tensor.DType;
import io.kinema.tensor.Device;
import io.kinema.tensor.Tensor;
import io.kinema.tensor.backend.RandomKind;
import io.kinema.tensor.cpu.CpuBackend;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

public class RandomCases {
  public static void main(String[] args) throws IOException {
    Path dir = Path.of(args[0]);
    Files.createDirectories(dir);
    List<String> lines = new ArrayList<>();
    long[] seeds = {0, 42, 0x123456789abcdefL, -1L};
    long[] offsets = {0, 77, (1L << 40) + 3, -2L}; // the last wraps the 64-bit counter
    int c = 0;
    for (int s = 0; s < seeds.length; s++) {
      long seed = seeds[s], offset = offsets[s];
      for (DType dt : new DType[] {DType.F32, DType.BF16, DType.F16, DType.F64}) {
        c = add(lines, dir, c, RandomKind.UNIFORM, dt, seed, offset, 0, 1, 1001);
        c = add(lines, dir, c, RandomKind.UNIFORM, dt, seed, offset, -3, 5.5, 999);
        c = add(lines, dir, c, RandomKind.UNIFORM, dt, seed, offset, 1, 1.0078125, 4096); // clamps
        c = add(lines, dir, c, RandomKind.NORMAL, dt, seed, offset, 0, 1, 1003);
        c = add(lines, dir, c, RandomKind.NORMAL, dt, seed, offset, 1.5, 0.25, 7);
      }
      for (DType dt : new DType[] {DType.I32, DType.U8, DType.BOOL, DType.F32, DType.BF16,
                                   DType.F16, DType.I64, DType.F64}) {
        c = add(lines, dir, c, RandomKind.INTEGERS, dt, seed, offset, 0, 10, 1001);
        c = add(lines, dir, c, RandomKind.INTEGERS, dt, seed, offset, -5, 1000, 333);
      }
      c = add(lines, dir, c, RandomKind.INTEGERS, DType.I64, seed, offset, -3e15, 4e15, 513);
      c = add(lines, dir, c, RandomKind.INTEGERS, DType.I32, seed, offset, -2147483648.0, 2147483648.0, 257);
    }
    Files.write(dir.resolve("cases.txt"), lines);
    System.out.println("wrote " + lines.size() + " random cases");
  }

  private static int add(List<String> lines, Path dir, int c, RandomKind kind, DType dt, long seed,
      long offset, double a, double b, int n) throws IOException {
    String name = "case" + c;
    try (Tensor out = Tensor.empty(dt, Device.CPU, n)) {
      CpuBackend.INSTANCE.random(kind, seed, offset, a, b, out);
      ByteBuffer bytes = ByteBuffer.allocate(n * dt.byteSize()).order(ByteOrder.LITTLE_ENDIAN);
      switch (dt) {
        case F64 -> { for (double v : out.toDoubleArray()) bytes.putDouble(v); }
        case F32 -> { for (float v : out.toFloatArray()) bytes.putFloat(v); }
        case BF16, F16, I64, I32, U8, BOOL -> bytes.put(rawBytes(out));
      }
      Files.write(dir.resolve(name + ".expected"), bytes.array());
    }
    lines.add(String.join(" ", name, String.valueOf(kind.ordinal()), String.valueOf(dt.ordinal()),
        Long.toUnsignedString(seed), Long.toUnsignedString(offset), Double.toString(a),
        Double.toString(b), String.valueOf(n)));
    return c + 1;
  }

  private static byte[] rawBytes(Tensor t) {
    var seg = t.storage().segment();
    long bytes = t.numel() * t.dtype().byteSize();
    return seg.asSlice(t.offset() * t.dtype().byteSize(), bytes).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
  }
}
