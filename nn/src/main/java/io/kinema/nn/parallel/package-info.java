/**
 * Data-parallel training: {@link io.kinema.nn.parallel.GradientSync} starts the replicas from the
 * same weights and averages their gradients over a {@link
 * io.kinema.tensor.distributed.ProcessGroup}.
 */
package io.kinema.nn.parallel;
