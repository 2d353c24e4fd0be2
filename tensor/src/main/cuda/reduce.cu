// reduce.cu: reductions over a set of dims (Backend.reduce) and argmax/argmin (Backend.argReduce).
//
// Geometry, as the CPU's CpuReduce.Geometry computes it on the Java side: x's dims split into
// kept dims (one output each; shape `kept`, x strides `kept_x`, out strides `kept_out`) and reduced
// dims (shape `red`, x strides `red_x`), each group sorted outer to inner and merged where
// contiguous. Output o (row-major over `kept`) reduces the n elements r (row-major over `red`) at
// x + offset(o, kept_x) + offset(r, red_x). Requires n >= 1 (empty reductions are fills).
//
// Floating reductions run in two launches, both deterministic (fixed reduction trees, no atomics):
//   1. a partial pass writes partials[o * splits + s] (f64): split s of output o reduces elements
//      [n s / splits, n (s + 1) / splits). Pick splits > 1 only when there are too few outputs to
//      fill the GPU (e.g. a full reduction: splits = 2 * SMs). One of two plans:
//        kinema_reduce_rows_<t>: a block (or a warp) per (output, split), threads striding over
//          the elements. For a contiguous innermost reduced dim (sum over the last dim).
//        kinema_reduce_cols_<t>: 32 consecutive outputs per block, 8 threads down each; for a
//          contiguous innermost kept dim with the reduced dims outer (sum over dim 0 of [N, D]),
//          so a warp reads 32 neighbouring elements.
//   2. kinema_reduce_finish combines each output's partials in split order (f64), finishes the op
//      (mean, norm's root, var's divisor) and stores to out with Casts' rounding; optionally it also
//      writes the finished values to a dense f64 array (the means for VAR/STD's second pass).
// VAR/STD (two-pass, like the CPU): pass 1 kind SUM finished as MEAN into `values`, then pass 2
// kind SUM_SQDEV reading those means, finished as VAR/STD into out.
// Threads accumulate in f32 for F32/BF16/F16 data and in f64 for F64 data.
//
// Integer reductions (kinema_reduce_int) and argmax/argmin (kinema_argreduce) take one block per
// output and write out directly.

#include "kinema_cuda.h"

// ------------------------------------------------------------------------------------------------
// Reduction kinds: identity, contribution of one element, combination of two partials
// ------------------------------------------------------------------------------------------------

template <typename A>
KINEMA_DEV A kind_identity(int kind) {
  switch (kind) {
    case KINEMA_KIND_PROD: return (A)1;
    case KINEMA_KIND_MAX:
    case KINEMA_KIND_MAX_ABS: return (A)-INFINITY;
    case KINEMA_KIND_MIN:
    case KINEMA_KIND_MIN_ABS: return (A)INFINITY;
    default: return (A)0;
  }
}

template <typename A>
KINEMA_DEV A kind_add(int kind, A acc, A x, A mean, A p) {
  switch (kind) {
    case KINEMA_KIND_SUM: return acc + x;
    case KINEMA_KIND_SUM_ABS: return acc + fabs(x);
    case KINEMA_KIND_SUM_SQ: return acc + x * x;
    case KINEMA_KIND_SUM_SQDEV: {
      A d = x - mean;
      return acc + d * d;
    }
    case KINEMA_KIND_SUM_POW: return acc + pow(fabs(x), p);
    case KINEMA_KIND_COUNT_NZ: return acc + (x != (A)0 ? (A)1 : (A)0);
    case KINEMA_KIND_PROD: return acc * x;
    case KINEMA_KIND_MAX: return java_max(acc, x);
    case KINEMA_KIND_MIN: return java_min(acc, x);
    case KINEMA_KIND_MAX_ABS: return java_max(acc, (A)fabs(x));
    default: return java_min(acc, (A)fabs(x));  // MIN_ABS
  }
}

// Max/min propagate NaN, as PyTorch (and the CPU's Kind.combine).
template <typename A>
KINEMA_DEV A kind_combine(int kind, A a, A b) {
  switch (kind) {
    case KINEMA_KIND_PROD: return a * b;
    case KINEMA_KIND_MAX:
    case KINEMA_KIND_MAX_ABS: return java_max(a, b);
    case KINEMA_KIND_MIN:
    case KINEMA_KIND_MIN_ABS: return java_min(a, b);
    default: return a + b;
  }
}

template <typename A>
KINEMA_DEV A warp_combine(int kind, A v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = kind_combine(kind, v, __shfl_xor_sync(KINEMA_FULL_MASK, v, o));
  return v;
}

// The block's combination of v (blockDim.x a multiple of 32), valid in thread 0.
template <typename A>
KINEMA_DEV A block_combine(int kind, A v, A* scratch) {
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  v = warp_combine(kind, v);
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < warps ? scratch[lane] : kind_identity<A>(kind);
    v = warp_combine(kind, v);
  }
  return v;
}

// The output's value from its combined accumulator over n elements (CpuReduce.finish).
KINEMA_DEV double finish_op(int op, double acc, i64 n, double param) {
  switch (op) {
    case KINEMA_REDUCE_MEAN: return acc / (double)n;
    case KINEMA_REDUCE_NORM:
      if (param == 2.0) return sqrt(acc);
      if (param == 1.0 || param == 0.0 || isinf(param)) return acc;
      return pow(acc, 1.0 / param);
    case KINEMA_REDUCE_VAR: return acc / fmax(0.0, (double)n - param);
    case KINEMA_REDUCE_STD: return sqrt(acc / fmax(0.0, (double)n - param));
    default: return acc;  // SUM, PROD, MAX, MIN
  }
}

// Offset of linear index i of `shape` under `st` (one operand), 64-bit index math.
KINEMA_DEV i64 offset_of(i64 i, const kinema_shape& shape, const kinema_strides& st) {
  const kinema_strides* s[1] = {&st};
  i64 off[1];
  if (shape.rank <= 1) return shape.rank == 0 ? 0 : i * st.stride[0];
  strided_offsets<u64, 1>((u64)i, shape, s, off);
  return off[0];
}

// ------------------------------------------------------------------------------------------------
// Partial passes
// ------------------------------------------------------------------------------------------------

// One (output, split) per block, or per warp when warp_per_output != 0 (for short reductions:
// 8 outputs per 256-thread block). grid = (ceil(num_out / outputs per block), splits).
template <typename T>
KINEMA_DEV void reduce_rows(int kind, const T* x, const kinema_shape& kept,
                            const kinema_strides& kept_x, const kinema_shape& red,
                            const kinema_strides& red_x, i64 n, i64 num_out, int splits,
                            const double* means, double p, double* partials,
                            int warp_per_output) {
  typedef typename kinema_acc<T>::type A;
  __shared__ A scratch[32];
  int lane = threadIdx.x & 31;
  i64 o;
  int first, step;
  if (warp_per_output) {
    o = (i64)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    first = lane;
    step = 32;
  } else {
    o = blockIdx.x;
    first = threadIdx.x;
    step = blockDim.x;
  }
  int s = blockIdx.y;
  bool live = o < num_out;  // (warp mode) the last block may have idle warps
  A acc = kind_identity<A>(kind);
  if (live) {
    const T* base = x + offset_of(o, kept, kept_x);
    A mean = means != nullptr ? (A)means[o] : (A)0;
    i64 r0 = n * s / splits, r1 = n * (s + 1) / splits;
    if (red.rank <= 1) {
      i64 st = red_x.stride[0];
      for (i64 r = r0 + first; r < r1; r += step) acc = kind_add(kind, acc, to_acc(base[r * st]), mean, (A)p);
    } else {
      for (i64 r = r0 + first; r < r1; r += step) {
        acc = kind_add(kind, acc, to_acc(base[offset_of(r, red, red_x)]), mean, (A)p);
      }
    }
  }
  if (warp_per_output) {
    acc = warp_combine(kind, acc);
    if (live && lane == 0) partials[o * splits + s] = (double)acc;
  } else {
    acc = block_combine(kind, acc, scratch);
    if (threadIdx.x == 0) partials[o * splits + s] = (double)acc;
  }
}

// Block (32, 8): x = output within a tile of 32 consecutive outputs, y = one of 8 threads striding
// down the split's elements. grid = (ceil(num_out / 32), splits).
template <typename T>
KINEMA_DEV void reduce_cols(int kind, const T* x, const kinema_shape& kept,
                            const kinema_strides& kept_x, const kinema_shape& red,
                            const kinema_strides& red_x, i64 n, i64 num_out, int splits,
                            const double* means, double p, double* partials) {
  typedef typename kinema_acc<T>::type A;
  __shared__ A tile[8][33];
  i64 o = (i64)blockIdx.x * 32 + threadIdx.x;
  int s = blockIdx.y;
  A acc = kind_identity<A>(kind);
  if (o < num_out) {
    const T* base = x + offset_of(o, kept, kept_x);
    A mean = means != nullptr ? (A)means[o] : (A)0;
    i64 r0 = n * s / splits, r1 = n * (s + 1) / splits;
    for (i64 r = r0 + threadIdx.y; r < r1; r += 8) {
      acc = kind_add(kind, acc, to_acc(base[offset_of(r, red, red_x)]), mean, (A)p);
    }
  }
  tile[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && o < num_out) {
#pragma unroll
    for (int k = 1; k < 8; k++) acc = kind_combine(kind, acc, tile[k][threadIdx.x]);
    partials[o * splits + s] = (double)acc;
  }
}

#define KINEMA_REDUCE_KERNELS(SUFFIX, T)                                                        \
  extern "C" __global__ void kinema_reduce_rows_##SUFFIX(                                       \
      int kind, const T* x, const __grid_constant__ kinema_shape kept,                          \
      const __grid_constant__ kinema_strides kept_x, const __grid_constant__ kinema_shape red,  \
      const __grid_constant__ kinema_strides red_x, i64 n, i64 num_out, int splits,             \
      const double* means, double p, double* partials, int warp_per_output) {                   \
    reduce_rows<T>(kind, x, kept, kept_x, red, red_x, n, num_out, splits, means, p, partials,   \
                   warp_per_output);                                                            \
  }                                                                                             \
  extern "C" __global__ void kinema_reduce_cols_##SUFFIX(                                       \
      int kind, const T* x, const __grid_constant__ kinema_shape kept,                          \
      const __grid_constant__ kinema_strides kept_x, const __grid_constant__ kinema_shape red,  \
      const __grid_constant__ kinema_strides red_x, i64 n, i64 num_out, int splits,             \
      const double* means, double p, double* partials) {                                        \
    reduce_cols<T>(kind, x, kept, kept_x, red, red_x, n, num_out, splits, means, p, partials);  \
  }

KINEMA_REDUCE_KERNELS(f32, float)
KINEMA_REDUCE_KERNELS(bf16, kinema_bf16)
KINEMA_REDUCE_KERNELS(f16, kinema_f16)
KINEMA_REDUCE_KERNELS(f64, double)

// ------------------------------------------------------------------------------------------------
// Finish
// ------------------------------------------------------------------------------------------------

// Thread per output (block 256, grid ceil(num_out / 256)). `out` (nullable) receives the finished
// value at offset(o, kept, kept_out) in out_dtype; `values` (nullable) at values[o] in f64.
extern "C" __global__ void kinema_reduce_finish(int op, int kind, const double* partials,
                                                int splits, i64 num_out, i64 n, double param,
                                                void* out, int out_dtype,
                                                const __grid_constant__ kinema_shape kept,
                                                const __grid_constant__ kinema_strides kept_out,
                                                double* values) {
  i64 o = global_thread();
  if (o >= num_out) return;
  double acc = partials[o * splits];
  for (int s = 1; s < splits; s++) acc = kind_combine(kind, acc, partials[o * splits + s]);
  double v = finish_op(op, acc, n, param);
  if (out != nullptr) store_f64(out, offset_of(o, kept, kept_out), out_dtype, v);
  if (values != nullptr) values[o] = v;
}

// ------------------------------------------------------------------------------------------------
// Integers
// ------------------------------------------------------------------------------------------------

// SUM/PROD (into I64), MAX/MIN of I64/I32/U8/BOOL in 64-bit integers (op: ReduceOp code).
// Block 256 per output, grid num_out; out written at offset(o, kept, kept_out) in out_dtype.
extern "C" __global__ void kinema_reduce_int(int op, const void* x, int x_dtype,
                                             const __grid_constant__ kinema_shape kept,
                                             const __grid_constant__ kinema_strides kept_x,
                                             const __grid_constant__ kinema_shape red,
                                             const __grid_constant__ kinema_strides red_x, i64 n,
                                             void* out, int out_dtype,
                                             const __grid_constant__ kinema_strides kept_out) {
  __shared__ i64 scratch[32];
  i64 o = blockIdx.x;
  i64 base = offset_of(o, kept, kept_x);
  i64 acc = op == KINEMA_REDUCE_PROD  ? 1
            : op == KINEMA_REDUCE_MAX ? (i64)0x8000000000000000ULL
            : op == KINEMA_REDUCE_MIN ? 0x7fffffffffffffffLL
                                      : 0;
  for (i64 r = threadIdx.x; r < n; r += blockDim.x) {
    i64 v = load_i64(x, base + offset_of(r, red, red_x), x_dtype);
    switch (op) {
      case KINEMA_REDUCE_PROD: acc = (i64)((u64)acc * (u64)v); break;
      case KINEMA_REDUCE_MAX: acc = v > acc ? v : acc; break;
      case KINEMA_REDUCE_MIN: acc = v < acc ? v : acc; break;
      default: acc = (i64)((u64)acc + (u64)v); break;
    }
  }
  // Wrapping integer arithmetic is associative: any tree gives the CPU's result.
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
#pragma unroll
  for (int d = 16; d > 0; d >>= 1) {
    i64 v = __shfl_xor_sync(KINEMA_FULL_MASK, acc, d);
    switch (op) {
      case KINEMA_REDUCE_PROD: acc = (i64)((u64)acc * (u64)v); break;
      case KINEMA_REDUCE_MAX: acc = v > acc ? v : acc; break;
      case KINEMA_REDUCE_MIN: acc = v < acc ? v : acc; break;
      default: acc = (i64)((u64)acc + (u64)v); break;
    }
  }
  if (lane == 0) scratch[warp] = acc;
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int w = 1; w < (int)(blockDim.x >> 5); w++) {
      i64 v = scratch[w];
      switch (op) {
        case KINEMA_REDUCE_PROD: acc = (i64)((u64)acc * (u64)v); break;
        case KINEMA_REDUCE_MAX: acc = v > acc ? v : acc; break;
        case KINEMA_REDUCE_MIN: acc = v < acc ? v : acc; break;
        default: acc = (i64)((u64)acc + (u64)v); break;
      }
    }
    store_i64(out, offset_of(o, kept, kept_out), out_dtype, acc);
  }
}

// ------------------------------------------------------------------------------------------------
// argmax / argmin
// ------------------------------------------------------------------------------------------------

// A candidate: value (as f64 for floats, i64 for integers) and its index; index -1 is "none".
struct arg_candidate {
  double v;
  i64 iv;
  i64 i;
};

// True when a beats b: the larger (smaller) value, NaN beating everything, and on ties (NaN or
// equal values, +0 == -0) the smaller index: "first one wins", as the CPU.
KINEMA_DEV bool arg_beats(const arg_candidate& a, const arg_candidate& b, bool is_max, bool ints) {
  if (a.i < 0) return false;
  if (b.i < 0) return true;
  if (ints) {
    if (a.iv == b.iv) return a.i < b.i;
    return is_max ? a.iv > b.iv : a.iv < b.iv;
  }
  bool an = a.v != a.v, bn = b.v != b.v;
  if (an || bn) return an && bn ? a.i < b.i : an;
  if (a.v == b.v) return a.i < b.i;
  return is_max ? a.v > b.v : a.v < b.v;
}

KINEMA_DEV arg_candidate arg_shfl(const arg_candidate& c, int d) {
  arg_candidate r;
  r.v = __shfl_xor_sync(KINEMA_FULL_MASK, c.v, d);
  r.iv = __shfl_xor_sync(KINEMA_FULL_MASK, c.iv, d);
  r.i = __shfl_xor_sync(KINEMA_FULL_MASK, c.i, d);
  return r;
}

// Index (I64) of the max (is_max != 0) or min of each line along the reduced dim. Lines: the other
// dims (shape `lines`, x strides `lines_x`, out strides `lines_out`); each has len elements with x
// stride `stride`. Block 256 per line, grid num_lines.
extern "C" __global__ void kinema_argreduce(int is_max, const void* x, int x_dtype,
                                            const __grid_constant__ kinema_shape lines,
                                            const __grid_constant__ kinema_strides lines_x,
                                            const __grid_constant__ kinema_strides lines_out,
                                            i64 len, i64 stride, i64* out) {
  __shared__ arg_candidate scratch[32];
  bool ints = !(x_dtype == KINEMA_F32 || x_dtype == KINEMA_F64 || x_dtype == KINEMA_BF16 ||
                x_dtype == KINEMA_F16);
  i64 line = blockIdx.x;
  i64 base = offset_of(line, lines, lines_x);
  arg_candidate best;
  best.v = 0;
  best.iv = 0;
  best.i = -1;
  for (i64 j = threadIdx.x; j < len; j += blockDim.x) {
    arg_candidate c;
    c.i = j;
    if (ints) {
      c.iv = load_i64(x, base + j * stride, x_dtype);
      c.v = 0;
    } else {
      c.v = load_f64(x, base + j * stride, x_dtype);
      c.iv = 0;
    }
    if (arg_beats(c, best, is_max, ints)) best = c;
  }
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
#pragma unroll
  for (int d = 16; d > 0; d >>= 1) {
    arg_candidate o = arg_shfl(best, d);
    if (arg_beats(o, best, is_max, ints)) best = o;
  }
  if (lane == 0) scratch[warp] = best;
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int w = 1; w < (int)(blockDim.x >> 5); w++) {
      if (arg_beats(scratch[w], best, is_max, ints)) best = scratch[w];
    }
    out[offset_of(line, lines, lines_out)] = best.i < 0 ? 0 : best.i;
  }
}
