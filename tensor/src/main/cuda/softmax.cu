// softmax.cu: softmax and log-softmax, forward (Backend.softmax) and backward.
//
// x and y are dense; the Java side makes a strided input dense first. Rows are laid out as
// [outer, len, inner]: element j of row (o, i) is at (o * len + j) * inner + i.
//   - kinema_softmax_<t> (inner == 1, the last dim): one block per row. One pass keeps a running
//     (max, sum of exp(x - max)) per thread, combined across the block in a fixed tree; a second
//     pass writes exp(x - max) / sum, or x - max - log(sum). Block: a multiple of 32 up to 1024
//     (256 suits rows up to a few thousand), grid = rows, no dynamic shared memory.
//   - kinema_softmax_inner_<t> (inner > 1, an earlier dim): one thread per (o, i) walking the row
//     with stride inner, so a warp reads 32 neighbouring columns. Block 256, grid ceil(outer *
//     inner / 256) (grid-stride loop).
//   - kinema_softmax_backward_<t> (inner == 1): dx = y (dy - sum(dy y)) for softmax, dx = dy -
//     exp(y) sum(dy) for log-softmax (y is the forward's output). Launch as kinema_softmax_<t>.
// A row of -inf gives NaN, as PyTorch and the CPU. F32/BF16/F16 compute in f32, F64 in f64.

#include "kinema_cuda.h"

// A running softmax state: max m and sum s of exp(x - m). (-inf, 0) is the empty state.
template <typename A>
struct online_state {
  A m, s;
};

// Adds x to a running state. -inf adds nothing, so a row that is all -inf ends as (-inf, 0) and
// its outputs exp(-inf - -inf) / 0 are NaN, as on the CPU; NaN or two +inf make the sum NaN.
template <typename A>
KINEMA_DEV online_state<A> online_add(online_state<A> st, A x) {
  if (x == (A)-INFINITY) return st;
  if (x > st.m) {
    st.s = st.s * exp(st.m - x) + (A)1;
    st.m = x;
  } else {
    st.s += exp(x - st.m);
  }
  return st;
}

template <typename A>
KINEMA_DEV online_state<A> online_merge(online_state<A> a, online_state<A> b) {
  if (a.m == -INFINITY && a.s == (A)0) return b;  // an empty state is the identity
  if (b.m == -INFINITY && b.s == (A)0) return a;
  A m = java_max(a.m, b.m);
  online_state<A> r;
  r.s = a.s * exp(a.m - m) + b.s * exp(b.m - m);
  r.m = m;
  return r;
}

template <typename A>
KINEMA_DEV online_state<A> warp_merge(online_state<A> st) {
#pragma unroll
  for (int d = 16; d > 0; d >>= 1) {
    online_state<A> o;
    o.m = __shfl_xor_sync(KINEMA_FULL_MASK, st.m, d);
    o.s = __shfl_xor_sync(KINEMA_FULL_MASK, st.s, d);
    st = online_merge(st, o);
  }
  return st;
}

// The block's merged state, returned to every thread.
template <typename A>
KINEMA_DEV online_state<A> block_merge(online_state<A> st) {
  __shared__ A ms[32], ss[32];
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  st = warp_merge(st);
  if (lane == 0) {
    ms[warp] = st.m;
    ss[warp] = st.s;
  }
  __syncthreads();
  online_state<A> r;
  r.m = lane < warps ? ms[lane] : (A)-INFINITY;
  r.s = lane < warps ? ss[lane] : (A)0;
  return warp_merge(r);
}

template <typename T>
KINEMA_DEV void softmax_rows(const T* x, T* y, i64 len, int log_softmax) {
  typedef typename kinema_acc<T>::type A;
  const T* xr = x + (i64)blockIdx.x * len;
  T* yr = y + (i64)blockIdx.x * len;
  online_state<A> st = {(A)-INFINITY, (A)0};
  for (i64 j = threadIdx.x; j < len; j += blockDim.x) st = online_add(st, to_acc(xr[j]));
  st = block_merge(st);
  if (log_softmax) {
    A lse = log(st.s);
    for (i64 j = threadIdx.x; j < len; j += blockDim.x) yr[j] = from_acc<T>(to_acc(xr[j]) - st.m - lse);
  } else {
    A inv = (A)1 / st.s;
    for (i64 j = threadIdx.x; j < len; j += blockDim.x) yr[j] = from_acc<T>(exp(to_acc(xr[j]) - st.m) * inv);
  }
}

template <typename T>
KINEMA_DEV void softmax_inner(const T* x, T* y, i64 outer, i64 len, i64 inner, int log_softmax) {
  typedef typename kinema_acc<T>::type A;
  for (i64 t = global_thread(); t < outer * inner; t += global_threads()) {
    i64 o = t / inner, i = t % inner;
    const T* xr = x + o * len * inner + i;
    T* yr = y + o * len * inner + i;
    online_state<A> st = {(A)-INFINITY, (A)0};
    for (i64 j = 0; j < len; j++) st = online_add(st, to_acc(xr[j * inner]));
    if (log_softmax) {
      A lse = log(st.s);
      for (i64 j = 0; j < len; j++) yr[j * inner] = from_acc<T>(to_acc(xr[j * inner]) - st.m - lse);
    } else {
      A inv = (A)1 / st.s;
      for (i64 j = 0; j < len; j++) yr[j * inner] = from_acc<T>(exp(to_acc(xr[j * inner]) - st.m) * inv);
    }
  }
}

template <typename T>
KINEMA_DEV void softmax_backward_rows(const T* y, const T* dy, T* dx, i64 len, int log_softmax) {
  typedef typename kinema_acc<T>::type A;
  __shared__ A scratch[32];
  i64 row = (i64)blockIdx.x * len;
  A s = 0;
  for (i64 j = threadIdx.x; j < len; j += blockDim.x) {
    A g = to_acc(dy[row + j]);
    s += log_softmax ? g : g * to_acc(y[row + j]);
  }
  s = block_sum(s, scratch);
  for (i64 j = threadIdx.x; j < len; j += blockDim.x) {
    A g = to_acc(dy[row + j]), v = to_acc(y[row + j]);
    dx[row + j] = from_acc<T>(log_softmax ? g - exp(v) * s : v * (g - s));
  }
}

#define KINEMA_SOFTMAX_KERNELS(SUFFIX, T)                                                      \
  extern "C" __global__ void kinema_softmax_##SUFFIX(const T* x, T* y, i64 len,                \
                                                     int log_softmax) {                        \
    softmax_rows<T>(x, y, len, log_softmax);                                                   \
  }                                                                                            \
  extern "C" __global__ void kinema_softmax_inner_##SUFFIX(const T* x, T* y, i64 outer,        \
                                                           i64 len, i64 inner,                 \
                                                           int log_softmax) {                  \
    softmax_inner<T>(x, y, outer, len, inner, log_softmax);                                    \
  }                                                                                            \
  extern "C" __global__ void kinema_softmax_backward_##SUFFIX(const T* y, const T* dy, T* dx,  \
                                                              i64 len, int log_softmax) {      \
    softmax_backward_rows<T>(y, dy, dx, len, log_softmax);                                     \
  }

KINEMA_SOFTMAX_KERNELS(f32, float)
KINEMA_SOFTMAX_KERNELS(bf16, kinema_bf16)
KINEMA_SOFTMAX_KERNELS(f16, kinema_f16)
KINEMA_SOFTMAX_KERNELS(f64, double)
