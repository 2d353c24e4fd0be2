package io.kinema.ffi.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_DOUBLE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * Builds the {@code kernelParams} array of {@link CudaDriver#launchKernel}: each parameter's value
 * in its own arena-allocated slot, and an array of pointers to the slots, in the kernel's parameter
 * order. For a kernel {@code .entry axpb(.param .u64 y, .param .u64 x, .param .f32 a, .param .u32
 * n)}:
 *
 * <pre>{@code
 * try (Arena arena = Arena.ofConfined()) {
 *   MemorySegment params = new KernelParams(arena).pointer(y).pointer(x).f32(a).i32(n).build();
 *   CudaDriver.launchKernel(f, blocks, 1, 1, 256, 1, 1, 0, stream, params);
 * }
 * }</pre>
 *
 * The arena may close right after the launch: the driver copies the values when it is called.
 */
public final class KernelParams {
  private final Arena arena;
  private final List<MemorySegment> slots = new ArrayList<>();

  /** Parameters allocated in {@code arena}. */
  public KernelParams(Arena arena) {
    this.arena = arena;
  }

  /** A device pointer ({@code .u64} / {@code T*}). */
  public KernelParams pointer(long deviceAddress) {
    return i64(deviceAddress);
  }

  /** A 32-bit integer ({@code .s32}, {@code .u32}; {@code int}). */
  public KernelParams i32(int value) {
    slots.add(arena.allocateFrom(JAVA_INT, value));
    return this;
  }

  /** A 64-bit integer ({@code .s64}, {@code .u64}; {@code long long}). */
  public KernelParams i64(long value) {
    slots.add(arena.allocateFrom(JAVA_LONG, value));
    return this;
  }

  /** A float ({@code .f32}). */
  public KernelParams f32(float value) {
    slots.add(arena.allocateFrom(JAVA_FLOAT, value));
    return this;
  }

  /** A double ({@code .f64}). */
  public KernelParams f64(double value) {
    slots.add(arena.allocateFrom(JAVA_DOUBLE, value));
    return this;
  }

  /** The number of parameters added so far. */
  public int count() {
    return slots.size();
  }

  /** The {@code void *[]} array: one pointer per parameter, in order. */
  public MemorySegment build() {
    MemorySegment array = arena.allocate(ADDRESS, Math.max(1, slots.size()));
    for (int i = 0; i < slots.size(); i++) array.setAtIndex(ADDRESS, i, slots.get(i));
    return array;
  }
}
