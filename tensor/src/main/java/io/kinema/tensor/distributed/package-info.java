/**
 * Collectives between replicas driven by one JVM, one thread per replica: {@link
 * io.kinema.tensor.distributed.ProcessGroup} (all-reduce, broadcast, all-gather, reduce-scatter,
 * barrier) and {@link io.kinema.tensor.distributed.ProcessGroups#create}, which makes an in-process
 * group for CPU replicas and an NCCL group for CUDA devices.
 */
package io.kinema.tensor.distributed;
