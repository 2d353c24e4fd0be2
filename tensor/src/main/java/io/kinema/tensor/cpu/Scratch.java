package io.kinema.tensor.cpu;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Per-thread buffers for kernels that work a chunk at a time: load a chunk of each operand into a
 * compute buffer (f32, f64 or long), compute, store. Taken once per run with {@link #get()}; a
 * kernel never calls another kernel while it holds them.
 *
 * <p>The f32 and byte buffers are native memory (64-byte aligned, freed with this object): the
 * Vector API reads and writes them about twice as fast as heap segments over Java arrays.
 */
final class Scratch {
  /** Elements per chunk: a multiple of every vector length, small enough to stay in L1. */
  static final int CHUNK = 1024;

  private static final ThreadLocal<Scratch> LOCAL = ThreadLocal.withInitial(Scratch::new);

  /** Three f32 buffers (two operands, one result) for the vector kernels. */
  final MemorySegment[] fs = new MemorySegment[3];

  /** Two one-vector f32 buffers holding a broadcast (stride-0) operand's value in every lane. */
  final MemorySegment[] bcast = new MemorySegment[2];

  /** A byte buffer for BOOL results and conditions. */
  final MemorySegment bytes;

  final double[][] d = new double[3][CHUNK];
  final long[][] l = new long[3][CHUNK];

  private Scratch() {
    Arena arena = Arena.ofAuto();
    for (int i = 0; i < fs.length; i++) fs[i] = arena.allocate(CHUNK * 4L, 64);
    for (int i = 0; i < bcast.length; i++) bcast[i] = arena.allocate(64 * 4L, 64);
    bytes = arena.allocate(CHUNK, 64);
  }

  static Scratch get() {
    return LOCAL.get();
  }
}
