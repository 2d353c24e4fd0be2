/**
 * Dense linear algebra on the host in F64 for model tooling (not tensor ops: no backend, no
 * autograd): {@link io.kinema.nn.linalg.Svd}, exact (one-sided Jacobi) and randomized truncated.
 */
package io.kinema.nn.linalg;
