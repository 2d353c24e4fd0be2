package io.kinema.tensor.backend;

/**
 * An allocator's counters, in bytes.
 *
 * @param allocated bytes held by live storages
 * @param cached bytes freed by tensors but kept for reuse
 * @param peakAllocated the largest {@code allocated} seen since the last reset
 */
public record MemoryStats(long allocated, long cached, long peakAllocated) {}
