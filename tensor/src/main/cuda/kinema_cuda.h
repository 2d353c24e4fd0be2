// kinema_cuda.h: what every Kinema kernel shares.
//
//   1. the codes the Java side passes (dtypes, ops, reduction kinds, masks): each equals the
//      ordinal of the Java enum of the same name, and KernelCatalogTest checks that they agree;
//   2. 16-bit float storage types and their conversions (round to nearest even, as the CPU's
//      io.kinema.tensor.cpu.Half), and loads/stores of any dtype with Casts' conversion rules;
//   3. strided indexing: a shape of up to 8 dims and per-operand element strides, passed by value;
//   4. warp and block reductions (shuffles, fixed order: results never depend on timing).
//
// Only what nvcc includes implicitly for a .cu file (cuda_runtime.h: the math library, vector
// types) is used; the few PTX instructions C++ cannot express are in kinema_ptx.h, which keeps the
// build fast and the exact instructions visible.
#pragma once

#include "kinema_ptx.h"

// ------------------------------------------------------------------------------------------------
// 1. Codes shared with Java
// ------------------------------------------------------------------------------------------------

// io.kinema.tensor.DType ordinals.
enum {
  KINEMA_F64 = 0,
  KINEMA_F32 = 1,
  KINEMA_F16 = 2,
  KINEMA_BF16 = 3,
  KINEMA_I64 = 4,
  KINEMA_I32 = 5,
  KINEMA_U8 = 6,
  KINEMA_BOOL = 7
};

// io.kinema.tensor.backend.UnaryOp ordinals.
enum {
  KINEMA_UNARY_NEG = 0,
  KINEMA_UNARY_ABS = 1,
  KINEMA_UNARY_EXP = 2,
  KINEMA_UNARY_LOG = 3,
  KINEMA_UNARY_SQRT = 4,
  KINEMA_UNARY_RSQRT = 5,
  KINEMA_UNARY_SIN = 6,
  KINEMA_UNARY_COS = 7,
  KINEMA_UNARY_TANH = 8,
  KINEMA_UNARY_SIGMOID = 9,
  KINEMA_UNARY_RELU = 10,
  KINEMA_UNARY_GELU = 11,
  KINEMA_UNARY_GELU_TANH = 12,
  KINEMA_UNARY_SILU = 13,
  KINEMA_UNARY_SQUARE = 14,
  KINEMA_UNARY_RECIPROCAL = 15,
  KINEMA_UNARY_ERF = 16,
  KINEMA_UNARY_SIGN = 17,
  KINEMA_UNARY_POW = 18,
  KINEMA_UNARY_CLAMP = 19,
  KINEMA_UNARY_NOT = 20
};

// io.kinema.tensor.backend.BinaryOp ordinals.
enum {
  KINEMA_BINARY_ADD = 0,
  KINEMA_BINARY_SUB = 1,
  KINEMA_BINARY_MUL = 2,
  KINEMA_BINARY_DIV = 3,
  KINEMA_BINARY_POW = 4,
  KINEMA_BINARY_MAXIMUM = 5,
  KINEMA_BINARY_MINIMUM = 6,
  KINEMA_BINARY_EQ = 7,
  KINEMA_BINARY_NE = 8,
  KINEMA_BINARY_LT = 9,
  KINEMA_BINARY_LE = 10,
  KINEMA_BINARY_GT = 11,
  KINEMA_BINARY_GE = 12,
  KINEMA_BINARY_AND = 13,
  KINEMA_BINARY_OR = 14
};

// io.kinema.tensor.backend.ReduceOp ordinals: how a reduction's result is finished.
enum {
  KINEMA_REDUCE_SUM = 0,
  KINEMA_REDUCE_MEAN = 1,
  KINEMA_REDUCE_MAX = 2,
  KINEMA_REDUCE_MIN = 3,
  KINEMA_REDUCE_PROD = 4,
  KINEMA_REDUCE_NORM = 5,
  KINEMA_REDUCE_VAR = 6,
  KINEMA_REDUCE_STD = 7
};

// What each element contributes to a reduction and how contributions combine: the CPU's
// CpuReduce.Kind ordinals (KernelCatalog.ReduceKind on the Java side).
enum {
  KINEMA_KIND_SUM = 0,
  KINEMA_KIND_SUM_ABS = 1,
  KINEMA_KIND_SUM_SQ = 2,
  KINEMA_KIND_SUM_SQDEV = 3,  // (x - mean)^2, the mean read per output
  KINEMA_KIND_SUM_POW = 4,    // |x|^p
  KINEMA_KIND_COUNT_NZ = 5,
  KINEMA_KIND_PROD = 6,
  KINEMA_KIND_MAX = 7,
  KINEMA_KIND_MIN = 8,
  KINEMA_KIND_MAX_ABS = 9,
  KINEMA_KIND_MIN_ABS = 10
};

// io.kinema.tensor.backend.RandomKind ordinals.
enum { KINEMA_RANDOM_UNIFORM = 0, KINEMA_RANDOM_NORMAL = 1, KINEMA_RANDOM_INTEGERS = 2 };

// Attention masks, as the CPU's CpuAttention.Plan codes them.
enum {
  KINEMA_MASK_NONE = 0,
  KINEMA_MASK_CAUSAL = 1,
  KINEMA_MASK_BLOCK_CAUSAL = 2,
  KINEMA_MASK_EXPLICIT = 3,
  KINEMA_MASK_KEY_RANGES = 4
};

// ------------------------------------------------------------------------------------------------
// 2. Element types and conversions
// ------------------------------------------------------------------------------------------------

typedef long long i64;
typedef unsigned long long u64;
typedef unsigned char u8;

// 16-bit floats are raw bits in a tagged struct, so templates can tell them apart.
struct kinema_bf16 {
  u16 bits;
};
struct kinema_f16 {
  u16 bits;
};

KINEMA_DEV float bf16_to_f32(u16 h) { return __uint_as_float((u32)h << 16); }

// Round to nearest even; NaN stays a quiet NaN of the same sign and top payload bits. The same
// bit operations as io.kinema.tensor.cpu.Half.floatToBf16, so results agree bit for bit.
KINEMA_DEV u16 f32_to_bf16(float f) {
  u32 bits = __float_as_uint(f);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return (u16)((bits >> 16) | 0x0040u);
  u32 rounding = 0x7fffu + ((bits >> 16) & 1u);
  return (u16)((bits + rounding) >> 16);
}

// to_f32 / from_f32 on the 32-bit-computed storage formats (templates dispatch on these).
KINEMA_DEV float to_f32(float v) { return v; }
KINEMA_DEV float to_f32(kinema_bf16 v) { return bf16_to_f32(v.bits); }
KINEMA_DEV float to_f32(kinema_f16 v) { return f16_to_f32(v.bits); }

template <typename T>
KINEMA_DEV T from_f32(float v);
template <>
KINEMA_DEV float from_f32<float>(float v) {
  return v;
}
template <>
KINEMA_DEV kinema_bf16 from_f32<kinema_bf16>(float v) {
  kinema_bf16 r;
  r.bits = f32_to_bf16(v);
  return r;
}
template <>
KINEMA_DEV kinema_f16 from_f32<kinema_f16>(float v) {
  kinema_f16 r;
  r.bits = f32_to_f16(v);
  return r;
}

// The compute ("accumulator") type of a storage type: f32 for F32/BF16/F16, f64 for F64, with
// to_acc / from_acc converting, for the kernels templated over all four.
template <typename T>
struct kinema_acc {
  typedef float type;
};
template <>
struct kinema_acc<double> {
  typedef double type;
};

KINEMA_DEV float to_acc(float v) { return v; }
KINEMA_DEV float to_acc(kinema_bf16 v) { return bf16_to_f32(v.bits); }
KINEMA_DEV float to_acc(kinema_f16 v) { return f16_to_f32(v.bits); }
KINEMA_DEV double to_acc(double v) { return v; }

template <typename T>
KINEMA_DEV T from_acc(typename kinema_acc<T>::type v) {
  return from_f32<T>(v);
}
template <>
KINEMA_DEV double from_acc<double>(double v) {
  return v;
}

// Java's (long) of a float or double: truncate toward zero, NaN -> 0, saturate at the range.
KINEMA_DEV i64 java_f2l(double v) {
  if (v != v) return 0;
  if (v >= 9.2233720368547758e18) return 0x7fffffffffffffffLL;
  if (v <= -9.2233720368547758e18) return (i64)0x8000000000000000ULL;
  return (i64)v;
}

// Element i of a buffer of runtime dtype dt, read as f32 / f64 / i64 (the CPU's three compute
// types). Floats to integers truncate (Java's casts), U8 is unsigned, BOOL reads 0 or 1.
KINEMA_DEV i64 load_integer(const void* p, i64 i, int dt) {  // I64, I32, U8, BOOL only
  switch (dt) {
    case KINEMA_I64: return ((const i64*)p)[i];
    case KINEMA_I32: return ((const int*)p)[i];
    case KINEMA_U8: return ((const u8*)p)[i];
    default: return ((const u8*)p)[i] != 0 ? 1 : 0;  // BOOL
  }
}

KINEMA_DEV float load_f32(const void* p, i64 i, int dt) {
  switch (dt) {
    case KINEMA_F32: return ((const float*)p)[i];
    case KINEMA_BF16: return bf16_to_f32(((const u16*)p)[i]);
    case KINEMA_F16: return f16_to_f32(((const u16*)p)[i]);
    case KINEMA_F64: return (float)((const double*)p)[i];
    default: return (float)load_integer(p, i, dt);
  }
}

KINEMA_DEV double load_f64(const void* p, i64 i, int dt) {
  switch (dt) {
    case KINEMA_F64: return ((const double*)p)[i];
    case KINEMA_F32: return ((const float*)p)[i];
    case KINEMA_BF16: return bf16_to_f32(((const u16*)p)[i]);
    case KINEMA_F16: return f16_to_f32(((const u16*)p)[i]);
    default: return (double)load_integer(p, i, dt);
  }
}

KINEMA_DEV i64 load_i64(const void* p, i64 i, int dt) {
  switch (dt) {
    case KINEMA_F64: return java_f2l(((const double*)p)[i]);
    case KINEMA_F32:
    case KINEMA_BF16:
    case KINEMA_F16: return java_f2l(load_f32(p, i, dt));
    default: return load_integer(p, i, dt);
  }
}

// Stores with Casts' rules: to BF16/F16 round to nearest even (F64 through f32, as PyTorch), to
// integers truncate then wrap to the width, to BOOL is v != 0 (NaN is true).
KINEMA_DEV void store_i64(void* p, i64 i, int dt, i64 v) {
  switch (dt) {
    case KINEMA_I64: ((i64*)p)[i] = v; break;
    case KINEMA_I32: ((int*)p)[i] = (int)v; break;
    case KINEMA_U8: ((u8*)p)[i] = (u8)v; break;
    case KINEMA_BOOL: ((u8*)p)[i] = v != 0 ? 1 : 0; break;
    case KINEMA_F64: ((double*)p)[i] = (double)v; break;
    case KINEMA_F32: ((float*)p)[i] = (float)v; break;
    case KINEMA_BF16: ((u16*)p)[i] = f32_to_bf16((float)v); break;
    case KINEMA_F16: ((u16*)p)[i] = f32_to_f16((float)v); break;
  }
}

KINEMA_DEV void store_f32(void* p, i64 i, int dt, float v) {
  switch (dt) {
    case KINEMA_F32: ((float*)p)[i] = v; break;
    case KINEMA_BF16: ((u16*)p)[i] = f32_to_bf16(v); break;
    case KINEMA_F16: ((u16*)p)[i] = f32_to_f16(v); break;
    case KINEMA_F64: ((double*)p)[i] = v; break;
    case KINEMA_BOOL: ((u8*)p)[i] = v != 0.0f ? 1 : 0; break;
    default: store_i64(p, i, dt, java_f2l(v)); break;
  }
}

KINEMA_DEV void store_f64(void* p, i64 i, int dt, double v) {
  switch (dt) {
    case KINEMA_F64: ((double*)p)[i] = v; break;
    case KINEMA_F32: ((float*)p)[i] = (float)v; break;
    case KINEMA_BF16: ((u16*)p)[i] = f32_to_bf16((float)v); break;
    case KINEMA_F16: ((u16*)p)[i] = f32_to_f16((float)v); break;
    case KINEMA_BOOL: ((u8*)p)[i] = v != 0.0 ? 1 : 0; break;
    default: store_i64(p, i, dt, java_f2l(v)); break;
  }
}

KINEMA_DEV int dtype_bytes(int dt) {
  switch (dt) {
    case KINEMA_F64:
    case KINEMA_I64: return 8;
    case KINEMA_F32:
    case KINEMA_I32: return 4;
    case KINEMA_F16:
    case KINEMA_BF16: return 2;
    default: return 1;
  }
}

// NaN-propagating max/min with -0 < +0, as Java's Math.max/min (and PyTorch's maximum/minimum).
template <typename F>
KINEMA_DEV F java_max(F a, F b) {
  if (a != a) return a;
  if (b != b) return b;
  if (a > b) return a;
  if (b > a) return b;
  return signbit(a) ? b : a;  // equal: +0 wins over -0
}
template <typename F>
KINEMA_DEV F java_min(F a, F b) {
  if (a != a) return a;
  if (b != b) return b;
  if (a < b) return a;
  if (b < a) return b;
  return signbit(a) ? a : b;  // equal: -0 wins over +0
}

// ------------------------------------------------------------------------------------------------
// 3. Strided indexing
// ------------------------------------------------------------------------------------------------

// Up to 8 dims. Kernels take these by value (C layout: 8-byte aligned, no padding): the Java side
// writes `rank` then the sizes/strides of dims 0..rank-1; unused entries are ignored. Strides are
// in elements (0 for broadcast dims); pointers already point at the view's first element.
#define KINEMA_MAX_RANK 8

struct kinema_shape {
  i64 size[KINEMA_MAX_RANK];
  i64 rank;
};  // 72 bytes

struct kinema_strides {
  i64 stride[KINEMA_MAX_RANK];
};  // 64 bytes

// Offsets (in elements) of the row-major linear index `i` of `shape` in up to four operands.
// I is the index type: u32 when the element count fits (cheap divisions), u64 otherwise. The loop
// is unrolled over all 8 dims, so the parameters are only ever read at constant offsets.
template <typename I, int N>
KINEMA_DEV void strided_offsets(I i, const kinema_shape& shape, const kinema_strides* const (&st)[N],
                                i64 (&off)[N]) {
#pragma unroll
  for (int k = 0; k < N; k++) off[k] = 0;
#pragma unroll
  for (int d = KINEMA_MAX_RANK - 1; d >= 0; d--) {
    if (d < shape.rank) {
      I size = (I)shape.size[d];
      I c = i % size;
      i /= size;
#pragma unroll
      for (int k = 0; k < N; k++) off[k] += (i64)c * st[k]->stride[d];
    }
  }
}

// ------------------------------------------------------------------------------------------------
// 4. Warp and block reductions (fixed order: deterministic)
// ------------------------------------------------------------------------------------------------

#define KINEMA_FULL_MASK 0xffffffffu

template <typename F>
KINEMA_DEV F warp_sum(F v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(KINEMA_FULL_MASK, v, o);
  return v;
}

template <typename F>
KINEMA_DEV F warp_max(F v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = java_max(v, __shfl_xor_sync(KINEMA_FULL_MASK, v, o));
  return v;
}

// Sum of v over the whole block (blockDim.x a multiple of 32, at most 1024), returned to every
// thread. `scratch` is 32 values of shared memory; the function syncs before reusing it, so calls
// may follow each other.
template <typename F>
KINEMA_DEV F block_sum(F v, F* scratch) {
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  v = warp_sum(v);
  __syncthreads();  // scratch may still be read by a previous call
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < warps ? scratch[lane] : (F)0;
  return warp_sum(v);
}

template <typename F>
KINEMA_DEV F block_max(F v, F* scratch) {
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  v = warp_max(v);
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < warps ? scratch[lane] : (F)-INFINITY;
  return warp_max(v);
}

// A grid-stride loop over [0, n): for (i64 i = global_thread(); i < n; i += global_threads()).
KINEMA_DEV i64 global_thread() { return (i64)blockIdx.x * blockDim.x + threadIdx.x; }
KINEMA_DEV i64 global_threads() { return (i64)gridDim.x * blockDim.x; }
