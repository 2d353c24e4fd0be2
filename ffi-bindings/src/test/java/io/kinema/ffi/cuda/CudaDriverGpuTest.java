package io.kinema.ffi.cuda;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kinema.ffi.cuda.CudaDriver.DeviceAttribute;
import io.kinema.ffi.cuda.CudaDriver.FunctionAttribute;
import io.kinema.ffi.cuda.junit.RequiresCuda;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The driver API on a real GPU: queries, memory, streams and events, PTX modules and launches. */
@RequiresCuda
class CudaDriverGpuTest {
  /**
   * Two kernels: {@code axpb} (y = a x + b, one thread per element, mixed parameter types) and
   * {@code reverse_block} (reverses each block through dynamic shared memory).
   */
  static final String PTX =
      """
      .version 7.0
      .target sm_52
      .address_size 64

      .visible .entry axpb(.param .u64 y, .param .u64 x, .param .f32 a, .param .f32 b,
          .param .u32 n)
      {
          .reg .pred %p<2>;
          .reg .b32 %r<5>;
          .reg .f32 %f<5>;
          .reg .b64 %rd<8>;

          ld.param.u64 %rd1, [y];
          ld.param.u64 %rd2, [x];
          ld.param.f32 %f1, [a];
          ld.param.f32 %f2, [b];
          ld.param.u32 %r1, [n];
          mov.u32 %r2, %ctaid.x;
          mov.u32 %r3, %ntid.x;
          mov.u32 %r4, %tid.x;
          mad.lo.s32 %r2, %r2, %r3, %r4;
          setp.ge.u32 %p1, %r2, %r1;
          @%p1 bra DONE;
          cvta.to.global.u64 %rd3, %rd2;
          cvta.to.global.u64 %rd4, %rd1;
          mul.wide.u32 %rd5, %r2, 4;
          add.s64 %rd6, %rd3, %rd5;
          ld.global.f32 %f3, [%rd6];
          fma.rn.f32 %f4, %f1, %f3, %f2;
          add.s64 %rd7, %rd4, %rd5;
          st.global.f32 [%rd7], %f4;
      DONE:
          ret;
      }

      .extern .shared .align 4 .b8 smem[];

      .visible .entry reverse_block(.param .u64 y, .param .u64 x)
      {
          .reg .b32 %r<10>;
          .reg .f32 %f<2>;
          .reg .b64 %rd<6>;

          ld.param.u64 %rd1, [y];
          ld.param.u64 %rd2, [x];
          cvta.to.global.u64 %rd1, %rd1;
          cvta.to.global.u64 %rd2, %rd2;
          mov.u32 %r1, %ctaid.x;
          mov.u32 %r2, %ntid.x;
          mov.u32 %r3, %tid.x;
          mad.lo.s32 %r4, %r1, %r2, %r3;
          mul.wide.u32 %rd3, %r4, 4;
          add.s64 %rd4, %rd2, %rd3;
          ld.global.f32 %f1, [%rd4];
          mov.u32 %r5, smem;
          shl.b32 %r6, %r3, 2;
          add.s32 %r6, %r5, %r6;
          st.shared.f32 [%r6], %f1;
          bar.sync 0;
          sub.s32 %r7, %r2, %r3;
          sub.s32 %r7, %r7, 1;
          shl.b32 %r8, %r7, 2;
          add.s32 %r8, %r5, %r8;
          ld.shared.f32 %f1, [%r8];
          add.s64 %rd5, %rd1, %rd3;
          st.global.f32 [%rd5], %f1;
          ret;
      }
      """;

  private final Random rnd = new Random(7);

  @BeforeEach
  void context() {
    Gpu.use();
  }

  @Test
  void deviceQuery() {
    assertTrue(CudaDevices.count() >= 1);
    assertEquals(CudaDevices.count(), CudaDriver.deviceGetCount());
    assertTrue(CudaDriver.driverGetVersion() >= 11000, "driver " + CudaDriver.driverGetVersion());
    CudaDevices.Info info = CudaDevices.info(0);
    assertFalse(info.name().isBlank());
    assertTrue(info.computeCapabilityMajor() >= 5, info.toString());
    assertTrue(info.multiprocessors() > 0, info.toString());
    assertTrue(info.totalMemory() > (256L << 20), info.toString());
    int device = CudaDriver.deviceGet(0);
    assertEquals(32, CudaDriver.deviceGetAttribute(DeviceAttribute.WARP_SIZE, device));
    assertTrue(CudaDriver.deviceGetAttribute(DeviceAttribute.MAX_THREADS_PER_BLOCK, device) >= 512);
    CudaDriver.MemInfo mem = CudaDriver.memGetInfo();
    assertTrue(mem.free() > 0 && mem.free() <= mem.total(), mem.toString());
    assertTrue(mem.total() <= info.totalMemory() + (64L << 20), mem + " vs " + info);
    assertFalse(CudaDriver.ctxGetCurrent().equals(MemorySegment.NULL));
  }

  @Test
  void allocCopySetRoundTripInStreamOrder() {
    int n = 10_007;
    float[] v = Gpu.random(rnd, n);
    MemorySegment stream = CudaDriver.streamCreate(CudaDriver.STREAM_NON_BLOCKING);
    MemorySegment other = CudaDriver.streamCreate(CudaDriver.STREAM_DEFAULT);
    MemorySegment start = CudaDriver.eventCreate(CudaDriver.EVENT_DEFAULT);
    MemorySegment end = CudaDriver.eventCreate(CudaDriver.EVENT_BLOCKING_SYNC);
    MemorySegment pinnedIn = CudaDriver.memAllocHost(4L * n);
    MemorySegment pinnedOut = CudaDriver.memAllocHost(4L * n);
    long a = CudaDriver.memAlloc(4L * n), b = CudaDriver.memAlloc(4L * n);
    try {
      assertEquals(4L * n, pinnedIn.byteSize());
      MemorySegment.copy(v, 0, pinnedIn, JAVA_FLOAT, 0, n);
      CudaDriver.eventRecord(start, stream);
      CudaDriver.memcpyHtoDAsync(a, pinnedIn, 4L * n, stream);
      CudaDriver.memcpyDtoDAsync(b, a, 4L * n, stream);
      // Words 10..19 to 1.5f, then bytes of word 20 to 0x3f (0x3f3f3f3f), in stream order.
      CudaDriver.memsetD32Async(b + 40, Float.floatToRawIntBits(1.5f), 10, stream);
      CudaDriver.memsetD8Async(b + 80, (byte) 0x3f, 4, stream);
      CudaDriver.eventRecord(end, stream);
      // The other stream waits for the copies before reading b back.
      CudaDriver.streamWaitEvent(other, end, 0);
      CudaDriver.memcpyDtoHAsync(pinnedOut, b, 4L * n, other);
      CudaDriver.streamSynchronize(other);
      CudaDriver.eventSynchronize(end);
      assertTrue(CudaDriver.eventElapsedTime(start, end) >= 0f);

      float[] expected = v.clone();
      for (int i = 10; i < 20; i++) expected[i] = 1.5f;
      expected[20] = Float.intBitsToFloat(0x3f3f3f3f);
      assertArrayEquals(expected, pinnedOut.toArray(JAVA_FLOAT));
    } finally {
      Gpu.free(a, b);
      CudaDriver.memFreeHost(pinnedIn);
      CudaDriver.memFreeHost(pinnedOut);
      CudaDriver.eventDestroy(start);
      CudaDriver.eventDestroy(end);
      CudaDriver.streamDestroy(stream);
      CudaDriver.streamDestroy(other);
    }
  }

  @Test
  void ptxModuleLoadAndLaunch() {
    int n = 1000;
    float[] x = Gpu.random(rnd, n);
    float alpha = 1.75f, beta = -0.5f;
    MemorySegment module = CudaDriver.moduleLoadData(PTX);
    long dx = Gpu.upload(x), dy = Gpu.zeros(4L * n);
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment axpb = CudaDriver.moduleGetFunction(module, "axpb");
      MemorySegment params =
          new KernelParams(arena).pointer(dy).pointer(dx).f32(alpha).f32(beta).i32(n).build();
      int block = 128, grid = (n + block - 1) / block;
      CudaDriver.launchKernel(axpb, grid, 1, 1, block, 1, 1, 0, MemorySegment.NULL, params);
      float[] y = Gpu.download(dy, n);
      for (int i = 0; i < n; i++) assertEquals(Math.fma(alpha, x[i], beta), y[i], "y[" + i + "]");
    } finally {
      Gpu.free(dx, dy);
      CudaDriver.moduleUnload(module);
    }
  }

  @Test
  void launchWithMoreThan48KiBOfDynamicSharedMemory() {
    int device = CudaDriver.deviceGet(0);
    int optIn =
        CudaDriver.deviceGetAttribute(DeviceAttribute.MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, device);
    int shared = Math.min(optIn, 64 << 10);
    int block = 256, blocks = 5, n = block * blocks;
    float[] x = Gpu.random(rnd, n);
    MemorySegment module = CudaDriver.moduleLoadData(PTX);
    long dx = Gpu.upload(x), dy = Gpu.zeros(4L * n);
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment reverse = CudaDriver.moduleGetFunction(module, "reverse_block");
      CudaDriver.funcSetAttribute(reverse, FunctionAttribute.MAX_DYNAMIC_SHARED_SIZE_BYTES, shared);
      MemorySegment params = new KernelParams(arena).pointer(dy).pointer(dx).build();
      CudaDriver.launchKernel(
          reverse, blocks, 1, 1, block, 1, 1, shared, MemorySegment.NULL, params);
      float[] y = Gpu.download(dy, n);
      for (int b = 0; b < blocks; b++) {
        for (int t = 0; t < block; t++) {
          assertEquals(x[b * block + block - 1 - t], y[b * block + t], "block " + b + ", " + t);
        }
      }
    } finally {
      Gpu.free(dx, dy);
      CudaDriver.moduleUnload(module);
    }
  }

  @Test
  void errorsCarryTheDriversNameStringAndTheCall() {
    long huge = 1L << 50;
    var oom = assertThrows(CudaDriverException.class, () -> CudaDriver.memAlloc(huge));
    assertTrue(oom.isOutOfMemory());
    assertEquals("CUDA_ERROR_OUT_OF_MEMORY", oom.statusName());
    assertEquals("cuMemAlloc_v2(" + huge + " bytes)", oom.call());
    assertEquals(CudaDriver.getErrorString(2), oom.statusString());

    var ptx = assertThrows(CudaDriverException.class, () -> CudaDriver.moduleLoadData("not ptx"));
    assertEquals("CUDA_ERROR_INVALID_PTX", ptx.statusName());
    assertFalse(ptx.isOutOfMemory());

    MemorySegment module = CudaDriver.moduleLoadData(PTX);
    try {
      var missing =
          assertThrows(
              CudaDriverException.class, () -> CudaDriver.moduleGetFunction(module, "nope"));
      assertEquals("CUDA_ERROR_NOT_FOUND", missing.statusName());
      assertEquals("cuModuleGetFunction(\"nope\")", missing.call());
    } finally {
      CudaDriver.moduleUnload(module);
    }
    assertEquals("CUDA_ERROR_NO_DEVICE", CudaDriver.getErrorName(100));
    assertNull(CudaDriver.getErrorName(987654));
  }
}
