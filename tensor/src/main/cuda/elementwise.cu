// elementwise.cu: fill, copy/cast, unary, the tanh GELU's backward, binary, logical ops and where.
//
// The same semantics as the CPU's CpuElementwise and Casts (see Backend.java for the contracts):
//   - F32, BF16 and F16 compute in f32 and store rounded to nearest even; F64 computes in f64;
//     integers and BOOL compute in 64-bit integers and wrap to the output's width;
//   - max/min/clamp/relu propagate NaN (Java's Math.max), comparisons write BOOL (0/1 bytes).
//
// Two shapes of kernel:
//   - strided: any operands of one shape (rank <= 8, broadcast dims have stride 0), one element
//     per thread in a grid-stride loop; the dtype of each operand is a runtime code (a uniform
//     branch per element, cheap next to the memory traffic). The Java side should merge
//     contiguous dims first (as StridedLoop does) so the index arithmetic stays short.
//   - contiguous (`_contig`): every operand dense from its pointer, 16 bytes per thread per step.
//     The 16-byte path is taken when every pointer is 16-byte aligned (checked here, so any
//     pointer is accepted); the tail and unaligned buffers take the element path.
//
// Launch (every kernel here): block 256 threads, any grid (grid-stride loops); a good grid is
// min(ceil(work / 256), 32 * number of SMs), where work is n (strided kernels) or ceil(n / V)
// (contiguous kernels, V elements of 16 bytes per thread). No shared memory.

#include "kinema_cuda.h"

// A group of V elements that loads and stores as 16-byte vectors.
template <typename T, int V>
struct alignas(16) kvec {
  T e[V];
};

KINEMA_DEV bool aligned16(const void* a, const void* b, const void* c) {
  return (((u64)a | (u64)b | (u64)c) & 15) == 0;
}

// ------------------------------------------------------------------------------------------------
// Scalar ops
// ------------------------------------------------------------------------------------------------

// One unary op in f32 (UnaryOp codes). p1/p2: POW's exponent, CLAMP's bounds (NaN: no bound).
KINEMA_DEV float unary_f32(int op, float x, float p1, float p2) {
  switch (op) {
    case KINEMA_UNARY_NEG: return -x;
    case KINEMA_UNARY_ABS: return fabsf(x);
    case KINEMA_UNARY_EXP: return expf(x);
    case KINEMA_UNARY_LOG: return logf(x);
    case KINEMA_UNARY_SQRT: return sqrtf(x);
    case KINEMA_UNARY_RSQRT: return 1.0f / sqrtf(x);  // as the CPU: 1 / sqrt, not rsqrt's 2 ulp
    case KINEMA_UNARY_SIN: return sinf(x);
    case KINEMA_UNARY_COS: return cosf(x);
    case KINEMA_UNARY_TANH: return tanhf(x);
    case KINEMA_UNARY_SIGMOID: return 1.0f / (1.0f + expf(-x));
    case KINEMA_UNARY_RELU: return java_max(x, 0.0f);
    case KINEMA_UNARY_GELU:
      // x * Phi(x) through erfc, accurate in the lower tail; -inf gives -0 as on the CPU.
      return x == -INFINITY ? -0.0f : 0.5f * x * erfcf(-x * 0.70710678118654752f);
    case KINEMA_UNARY_GELU_TANH: {
      const float k = 0.7978845608028654f;  // (float) sqrt(2 / pi)
      float inner = fmaf(x * x, k * 0.044715f, k) * x;
      return x * 0.5f * (tanhf(inner) + 1.0f);
    }
    case KINEMA_UNARY_SILU: return x / (1.0f + expf(-x));
    case KINEMA_UNARY_SQUARE: return x * x;
    case KINEMA_UNARY_RECIPROCAL: return 1.0f / x;
    case KINEMA_UNARY_ERF: return erff(x);
    case KINEMA_UNARY_SIGN: return x > 0.0f ? 1.0f : x < 0.0f ? -1.0f : x;  // zeros, NaN kept
    case KINEMA_UNARY_POW:
      // The common exponents as plain arithmetic, as the CPU (exact, and pow(x, 0) = 1 for NaN).
      if (p1 == 2.0f) return x * x;
      if (p1 == 0.5f) return sqrtf(x);
      if (p1 == -1.0f) return 1.0f / x;
      if (p1 == -0.5f) return 1.0f / sqrtf(x);
      if (p1 == 1.0f) return x;
      if (p1 == 0.0f) return 1.0f;
      if (p1 == 3.0f) return x * x * x;
      return powf(x, p1);
    case KINEMA_UNARY_CLAMP: {
      float lo = p1 != p1 ? -INFINITY : p1, hi = p2 != p2 ? INFINITY : p2;
      return java_min(java_max(x, lo), hi);
    }
    default: return x;  // NOT has its own kernel
  }
}

KINEMA_DEV double unary_f64(int op, double x, double p1, double p2) {
  switch (op) {
    case KINEMA_UNARY_NEG: return -x;
    case KINEMA_UNARY_ABS: return fabs(x);
    case KINEMA_UNARY_EXP: return exp(x);
    case KINEMA_UNARY_LOG: return log(x);
    case KINEMA_UNARY_SQRT: return sqrt(x);
    case KINEMA_UNARY_RSQRT: return 1.0 / sqrt(x);
    case KINEMA_UNARY_SIN: return sin(x);
    case KINEMA_UNARY_COS: return cos(x);
    case KINEMA_UNARY_TANH: return tanh(x);
    case KINEMA_UNARY_SIGMOID: return 1.0 / (1.0 + exp(-x));
    case KINEMA_UNARY_RELU: return java_max(x, 0.0);
    case KINEMA_UNARY_GELU:
      return x == -INFINITY ? -0.0 : 0.5 * x * erfc(-x * 0.70710678118654752);
    case KINEMA_UNARY_GELU_TANH: {
      const double k = 0.79788456080286536;  // sqrt(2 / pi)
      return 0.5 * x * (1.0 + tanh(k * (x + 0.044715 * x * x * x)));
    }
    case KINEMA_UNARY_SILU: return x / (1.0 + exp(-x));
    case KINEMA_UNARY_SQUARE: return x * x;
    case KINEMA_UNARY_RECIPROCAL: return 1.0 / x;
    case KINEMA_UNARY_ERF: return erf(x);
    case KINEMA_UNARY_SIGN: return x > 0.0 ? 1.0 : x < 0.0 ? -1.0 : x;
    case KINEMA_UNARY_POW:
      if (p1 == 2.0) return x * x;
      if (p1 == 0.5) return sqrt(x);
      return pow(x, p1);
    case KINEMA_UNARY_CLAMP: {
      double lo = p1 != p1 ? -INFINITY : p1, hi = p2 != p2 ? INFINITY : p2;
      return java_min(java_max(x, lo), hi);
    }
    default: return x;
  }
}

// Integer power by squaring (wrapping), with PyTorch's rule for negative exponents.
KINEMA_DEV i64 ipow(i64 base, i64 e) {
  if (e < 0) {
    if (base == 1) return 1;
    if (base == -1) return (e & 1) == 0 ? 1 : -1;
    return 0;
  }
  u64 r = 1, b = (u64)base;  // unsigned: wrapping multiplication is defined
  for (u64 k = (u64)e; k != 0; k >>= 1) {
    if (k & 1) r *= b;
    b *= b;
  }
  return (i64)r;
}

// Integer unary ops (the CPU's unaryI64); p1/p2 as Java doubles, truncated like (long) casts.
KINEMA_DEV i64 unary_i64(int op, i64 x, double p1, double p2) {
  switch (op) {
    case KINEMA_UNARY_NEG: return (i64)(0ULL - (u64)x);
    case KINEMA_UNARY_ABS: return x < 0 ? (i64)(0ULL - (u64)x) : x;
    case KINEMA_UNARY_SQUARE: return (i64)((u64)x * (u64)x);
    case KINEMA_UNARY_SIGN: return x > 0 ? 1 : x < 0 ? -1 : 0;
    case KINEMA_UNARY_RELU: return x > 0 ? x : 0;
    case KINEMA_UNARY_CLAMP: {
      i64 lo = p1 != p1 ? (i64)0x8000000000000000ULL : java_f2l(p1);
      i64 hi = p2 != p2 ? 0x7fffffffffffffffLL : java_f2l(p2);
      i64 v = x > lo ? x : lo;
      return v < hi ? v : hi;
    }
    case KINEMA_UNARY_POW: return ipow(x, java_f2l(p1));
    default: return x;  // the front-end sends no other op for integers
  }
}

template <typename F>
KINEMA_DEV F binary_arith(int op, F a, F b) {
  switch (op) {
    case KINEMA_BINARY_ADD: return a + b;
    case KINEMA_BINARY_SUB: return a - b;
    case KINEMA_BINARY_MUL: return a * b;
    case KINEMA_BINARY_DIV: return a / b;
    case KINEMA_BINARY_POW: return pow(a, b);  // powf for float (overload)
    case KINEMA_BINARY_MAXIMUM: return java_max(a, b);
    case KINEMA_BINARY_MINIMUM: return java_min(a, b);
    default: return a;
  }
}

KINEMA_DEV i64 binary_i64(int op, i64 a, i64 b) {
  switch (op) {
    case KINEMA_BINARY_ADD: return (i64)((u64)a + (u64)b);
    case KINEMA_BINARY_SUB: return (i64)((u64)a - (u64)b);
    case KINEMA_BINARY_MUL: return (i64)((u64)a * (u64)b);
    case KINEMA_BINARY_POW: return ipow(a, b);
    case KINEMA_BINARY_MAXIMUM: return a > b ? a : b;
    case KINEMA_BINARY_MINIMUM: return a < b ? a : b;
    default: return a;  // integer DIV is never sent (the front-end promotes to float)
  }
}

template <typename F>
KINEMA_DEV bool compare(int op, F a, F b) {
  switch (op) {
    case KINEMA_BINARY_EQ: return a == b;
    case KINEMA_BINARY_NE: return a != b;
    case KINEMA_BINARY_LT: return a < b;
    case KINEMA_BINARY_LE: return a <= b;
    case KINEMA_BINARY_GT: return a > b;
    default: return a >= b;  // GE
  }
}

// Truth value of element i of any dtype: x != 0, NaN is true.
KINEMA_DEV bool truth(const void* p, i64 i, int dt) {
  switch (dt) {
    case KINEMA_F64: return ((const double*)p)[i] != 0.0;
    case KINEMA_F32:
    case KINEMA_BF16:
    case KINEMA_F16: return load_f32(p, i, dt) != 0.0f;
    default: return load_i64(p, i, dt) != 0;
  }
}

// ------------------------------------------------------------------------------------------------
// Strided driver: runs body(i, offsets) for every element, with 32-bit index math when n fits.
// ------------------------------------------------------------------------------------------------

template <typename I, int N, typename Body>
KINEMA_DEV void strided_loop(i64 n, const kinema_shape& shape, const kinema_strides* const (&st)[N],
                             Body body) {
  for (i64 i = global_thread(); i < n; i += global_threads()) {
    i64 off[N];
    strided_offsets<I, N>((I)i, shape, st, off);
    body(off);
  }
}

template <int N, typename Body>
KINEMA_DEV void for_each_strided(i64 n, const kinema_shape& shape,
                                 const kinema_strides* const (&st)[N], Body body) {
  if (n <= 0x7fffffffLL) {
    strided_loop<u32, N>(n, shape, st, body);
  } else {
    strided_loop<u64, N>(n, shape, st, body);
  }
}

// ------------------------------------------------------------------------------------------------
// fill, copy
// ------------------------------------------------------------------------------------------------

// dst[...] = the element bit pattern `bits` (its low elem_bytes bytes), which the caller computed
// with Casts.bitsOf's rules. Contiguous fills of 1/2/4-byte patterns may use cuMemsetD8/16/32.
extern "C" __global__ void kinema_fill(void* dst, int elem_bytes, u64 bits,
                                       const __grid_constant__ kinema_shape shape,
                                       const __grid_constant__ kinema_strides dst_st, i64 n) {
  const kinema_strides* st[1] = {&dst_st};
  for_each_strided<1>(n, shape, st, [&](const i64(&o)[1]) {
    switch (elem_bytes) {
      case 8: ((u64*)dst)[o[0]] = bits; break;
      case 4: ((u32*)dst)[o[0]] = (u32)bits; break;
      case 2: ((u16*)dst)[o[0]] = (u16)bits; break;
      default: ((u8*)dst)[o[0]] = (u8)bits; break;
    }
  });
}

// Copies with conversion: through f32 for F32/BF16/F16 sources, f64 for F64, i64 for integers
// and BOOL (Casts.convert's rule); the same dtype copies bits.
KINEMA_DEV void convert_one(const void* src, i64 si, int sdt, void* dst, i64 di, int ddt) {
  if (sdt == ddt) {
    switch (dtype_bytes(sdt)) {
      case 8: ((u64*)dst)[di] = ((const u64*)src)[si]; break;
      case 4: ((u32*)dst)[di] = ((const u32*)src)[si]; break;
      case 2: ((u16*)dst)[di] = ((const u16*)src)[si]; break;
      default: ((u8*)dst)[di] = ((const u8*)src)[si]; break;
    }
    return;
  }
  switch (sdt) {
    case KINEMA_F32:
    case KINEMA_BF16:
    case KINEMA_F16: store_f32(dst, di, ddt, load_f32(src, si, sdt)); break;
    case KINEMA_F64: store_f64(dst, di, ddt, ((const double*)src)[si]); break;
    default: store_i64(dst, di, ddt, load_i64(src, si, sdt)); break;
  }
}

extern "C" __global__ void kinema_copy(const void* src, int src_dtype,
                                       const __grid_constant__ kinema_strides src_st, void* dst,
                                       int dst_dtype,
                                       const __grid_constant__ kinema_strides dst_st,
                                       const __grid_constant__ kinema_shape shape, i64 n) {
  const kinema_strides* st[2] = {&src_st, &dst_st};
  for_each_strided<2>(n, shape, st, [&](const i64(&o)[2]) {
    convert_one(src, o[0], src_dtype, dst, o[1], dst_dtype);
  });
}

// Dense src and dst of any dtypes. F32 <-> BF16/F16 move 8 elements per thread step with 16-byte
// accesses; other pairs go element by element (a same-dtype dense copy is cuMemcpyDtoD's job).
template <typename S, typename D>
KINEMA_DEV void convert_dense_vec(const S* src, D* dst, i64 n) {
  const int V = 8;
  bool fast = aligned16(src, dst, dst);
  for (i64 base = global_thread() * V; base < n; base += global_threads() * V) {
    if (fast && base + V <= n) {
      kvec<S, V> in = *(const kvec<S, V>*)(src + base);
      kvec<D, V> out;
#pragma unroll
      for (int k = 0; k < V; k++) out.e[k] = from_f32<D>(to_f32(in.e[k]));
      *(kvec<D, V>*)(dst + base) = out;
    } else {
      for (i64 i = base; i < n && i < base + V; i++) dst[i] = from_f32<D>(to_f32(src[i]));
    }
  }
}

extern "C" __global__ void kinema_copy_contig(const void* src, int src_dtype, void* dst,
                                              int dst_dtype, i64 n) {
  if (src_dtype == KINEMA_F32 && dst_dtype == KINEMA_BF16) {
    convert_dense_vec((const float*)src, (kinema_bf16*)dst, n);
  } else if (src_dtype == KINEMA_F32 && dst_dtype == KINEMA_F16) {
    convert_dense_vec((const float*)src, (kinema_f16*)dst, n);
  } else if (src_dtype == KINEMA_BF16 && dst_dtype == KINEMA_F32) {
    convert_dense_vec((const kinema_bf16*)src, (float*)dst, n);
  } else if (src_dtype == KINEMA_F16 && dst_dtype == KINEMA_F32) {
    convert_dense_vec((const kinema_f16*)src, (float*)dst, n);
  } else {
    for (i64 i = global_thread(); i < n; i += global_threads()) {
      convert_one(src, i, src_dtype, dst, i, dst_dtype);
    }
  }
}

// ------------------------------------------------------------------------------------------------
// unary
// ------------------------------------------------------------------------------------------------

// out = op(x) computed in f32; x and out are F32, BF16 or F16 (each its own runtime code).
extern "C" __global__ void kinema_unary_f32(int op, const void* x, int x_dtype,
                                            const __grid_constant__ kinema_strides x_st, void* out,
                                            int out_dtype,
                                            const __grid_constant__ kinema_strides out_st,
                                            const __grid_constant__ kinema_shape shape, i64 n,
                                            float p1, float p2) {
  const kinema_strides* st[2] = {&x_st, &out_st};
  for_each_strided<2>(n, shape, st, [&](const i64(&o)[2]) {
    store_f32(out, o[1], out_dtype, unary_f32(op, load_f32(x, o[0], x_dtype), p1, p2));
  });
}

// Dense x and out of one type T: 16 bytes (4 f32 or 8 halves) per thread step.
template <typename T>
KINEMA_DEV void unary_dense(int op, const T* x, T* out, i64 n, float p1, float p2) {
  const int V = 16 / sizeof(T);
  bool fast = aligned16(x, out, out);
  for (i64 base = global_thread() * V; base < n; base += global_threads() * V) {
    if (fast && base + V <= n) {
      kvec<T, V> v = *(const kvec<T, V>*)(x + base);
#pragma unroll
      for (int k = 0; k < V; k++) v.e[k] = from_f32<T>(unary_f32(op, to_f32(v.e[k]), p1, p2));
      *(kvec<T, V>*)(out + base) = v;
    } else {
      for (i64 i = base; i < n && i < base + V; i++) {
        out[i] = from_f32<T>(unary_f32(op, to_f32(x[i]), p1, p2));
      }
    }
  }
}

extern "C" __global__ void kinema_unary_contig_f32(int op, const float* x, float* out, i64 n,
                                                   float p1, float p2) {
  unary_dense(op, x, out, n, p1, p2);
}
extern "C" __global__ void kinema_unary_contig_bf16(int op, const kinema_bf16* x,
                                                    kinema_bf16* out, i64 n, float p1, float p2) {
  unary_dense(op, x, out, n, p1, p2);
}
extern "C" __global__ void kinema_unary_contig_f16(int op, const kinema_f16* x, kinema_f16* out,
                                                   i64 n, float p1, float p2) {
  unary_dense(op, x, out, n, p1, p2);
}

extern "C" __global__ void kinema_unary_f64(int op, const double* x,
                                            const __grid_constant__ kinema_strides x_st,
                                            double* out,
                                            const __grid_constant__ kinema_strides out_st,
                                            const __grid_constant__ kinema_shape shape, i64 n,
                                            double p1, double p2) {
  const kinema_strides* st[2] = {&x_st, &out_st};
  for_each_strided<2>(n, shape, st, [&](const i64(&o)[2]) {
    out[o[1]] = unary_f64(op, x[o[0]], p1, p2);
  });
}

// Integer (I64, I32, U8) unary ops in 64-bit arithmetic; the store wraps to out's width.
extern "C" __global__ void kinema_unary_int(int op, const void* x, int x_dtype,
                                            const __grid_constant__ kinema_strides x_st, void* out,
                                            int out_dtype,
                                            const __grid_constant__ kinema_strides out_st,
                                            const __grid_constant__ kinema_shape shape, i64 n,
                                            double p1, double p2) {
  const kinema_strides* st[2] = {&x_st, &out_st};
  for_each_strided<2>(n, shape, st, [&](const i64(&o)[2]) {
    store_i64(out, o[1], out_dtype, unary_i64(op, load_i64(x, o[0], x_dtype), p1, p2));
  });
}

// out (BOOL) = !truth(x), for x of any dtype.
extern "C" __global__ void kinema_logical_not(const void* x, int x_dtype,
                                              const __grid_constant__ kinema_strides x_st,
                                              u8* out,
                                              const __grid_constant__ kinema_strides out_st,
                                              const __grid_constant__ kinema_shape shape, i64 n) {
  const kinema_strides* st[2] = {&x_st, &out_st};
  for_each_strided<2>(n, shape, st, [&](const i64(&o)[2]) {
    out[o[1]] = truth(x, o[0], x_dtype) ? 0 : 1;
  });
}

// ------------------------------------------------------------------------------------------------
// GELU (tanh) backward
// ------------------------------------------------------------------------------------------------

// g * gelu_tanh'(x) = g ((1 + t) / 2 + x / 2 (1 - t^2) c (1 + 3 a x^2)), t = tanh(c (x + a x^3)),
// in the order of the CPU's CpuGeluBackward (nvcc may contract to FMA: close, not the same bits).
template <typename F>
KINEMA_DEV F gelu_tanh_grad(F g, F x) {
  const F a = (F)0.044715, c = (F)0.79788456080286536, a3 = (F)(3 * 0.044715);
  F t = tanh((x + x * x * x * a) * c);  // tanhf for float (overload)
  F inner = (x * x * a3 + (F)1) * c;
  return g * ((t + (F)1) * (F)0.5 + x * (F)0.5 * ((F)1 - t * t) * inner);
}

// grad_x = grad_out * gelu_tanh'(x) in f32; the three share one dtype (F32, BF16 or F16).
extern "C" __global__ void kinema_gelu_tanh_backward_f32(
    const void* g, const __grid_constant__ kinema_strides g_st, const void* x,
    const __grid_constant__ kinema_strides x_st, void* out,
    const __grid_constant__ kinema_strides out_st, int dtype,
    const __grid_constant__ kinema_shape shape, i64 n) {
  const kinema_strides* st[3] = {&g_st, &x_st, &out_st};
  for_each_strided<3>(n, shape, st, [&](const i64(&o)[3]) {
    float v = gelu_tanh_grad(load_f32(g, o[0], dtype), load_f32(x, o[1], dtype));
    store_f32(out, o[2], dtype, v);
  });
}

// As kinema_gelu_tanh_backward_f32, for F64 in f64.
extern "C" __global__ void kinema_gelu_tanh_backward_f64(
    const double* g, const __grid_constant__ kinema_strides g_st, const double* x,
    const __grid_constant__ kinema_strides x_st, double* out,
    const __grid_constant__ kinema_strides out_st, const __grid_constant__ kinema_shape shape,
    i64 n) {
  const kinema_strides* st[3] = {&g_st, &x_st, &out_st};
  for_each_strided<3>(n, shape, st, [&](const i64(&o)[3]) {
    out[o[2]] = gelu_tanh_grad(g[o[0]], x[o[1]]);
  });
}

// ------------------------------------------------------------------------------------------------
// binary
// ------------------------------------------------------------------------------------------------

// out = op(a, b) in f32. a and b are F32/BF16/F16 (b may be F32 next to a 16-bit a: a Java
// scalar kept at f32). Arithmetic ops store to out_dtype (F32/BF16/F16); comparisons write BOOL.
extern "C" __global__ void kinema_binary_f32(int op, const void* a, int a_dtype,
                                             const __grid_constant__ kinema_strides a_st,
                                             const void* b, int b_dtype,
                                             const __grid_constant__ kinema_strides b_st, void* out,
                                             int out_dtype,
                                             const __grid_constant__ kinema_strides out_st,
                                             const __grid_constant__ kinema_shape shape, i64 n) {
  const kinema_strides* st[3] = {&a_st, &b_st, &out_st};
  bool cmp = op >= KINEMA_BINARY_EQ;
  for_each_strided<3>(n, shape, st, [&](const i64(&o)[3]) {
    float x = load_f32(a, o[0], a_dtype), y = load_f32(b, o[1], b_dtype);
    if (cmp) {
      ((u8*)out)[o[2]] = compare(op, x, y) ? 1 : 0;
    } else {
      store_f32(out, o[2], out_dtype, binary_arith(op, x, y));
    }
  });
}

// Dense a and out of type T; b either dense T (b_scalar == 0, b_dtype must be T's code) or one
// element of any float dtype broadcast to all (b_scalar != 0). Arithmetic ops only.
template <typename T>
KINEMA_DEV void binary_dense(int op, const T* a, const void* b, int b_dtype, int b_scalar, T* out,
                             i64 n) {
  const int V = 16 / sizeof(T);
  const T* bt = (const T*)b;
  float s = b_scalar ? load_f32(b, 0, b_dtype) : 0.0f;
  bool fast = aligned16(a, out, b_scalar ? (const void*)out : b);
  for (i64 base = global_thread() * V; base < n; base += global_threads() * V) {
    if (fast && base + V <= n) {
      kvec<T, V> x = *(const kvec<T, V>*)(a + base);
      kvec<T, V> y;
      if (!b_scalar) y = *(const kvec<T, V>*)(bt + base);
#pragma unroll
      for (int k = 0; k < V; k++) {
        float yk = b_scalar ? s : to_f32(y.e[k]);
        x.e[k] = from_f32<T>(binary_arith(op, to_f32(x.e[k]), yk));
      }
      *(kvec<T, V>*)(out + base) = x;
    } else {
      for (i64 i = base; i < n && i < base + V; i++) {
        float yk = b_scalar ? s : to_f32(bt[i]);
        out[i] = from_f32<T>(binary_arith(op, to_f32(a[i]), yk));
      }
    }
  }
}

extern "C" __global__ void kinema_binary_contig_f32(int op, const float* a, const void* b,
                                                    int b_dtype, int b_scalar, float* out, i64 n) {
  binary_dense(op, a, b, b_dtype, b_scalar, out, n);
}
extern "C" __global__ void kinema_binary_contig_bf16(int op, const kinema_bf16* a, const void* b,
                                                     int b_dtype, int b_scalar, kinema_bf16* out,
                                                     i64 n) {
  binary_dense(op, a, b, b_dtype, b_scalar, out, n);
}
extern "C" __global__ void kinema_binary_contig_f16(int op, const kinema_f16* a, const void* b,
                                                    int b_dtype, int b_scalar, kinema_f16* out,
                                                    i64 n) {
  binary_dense(op, a, b, b_dtype, b_scalar, out, n);
}

// F64 operands; out is F64 (arithmetic) or BOOL (comparisons).
extern "C" __global__ void kinema_binary_f64(int op, const double* a,
                                             const __grid_constant__ kinema_strides a_st,
                                             const double* b,
                                             const __grid_constant__ kinema_strides b_st, void* out,
                                             const __grid_constant__ kinema_strides out_st,
                                             const __grid_constant__ kinema_shape shape, i64 n) {
  const kinema_strides* st[3] = {&a_st, &b_st, &out_st};
  bool cmp = op >= KINEMA_BINARY_EQ;
  for_each_strided<3>(n, shape, st, [&](const i64(&o)[3]) {
    double x = a[o[0]], y = b[o[1]];
    if (cmp) {
      ((u8*)out)[o[2]] = compare(op, x, y) ? 1 : 0;
    } else {
      ((double*)out)[o[2]] = binary_arith(op, x, y);
    }
  });
}

// Integer/BOOL operands in 64-bit arithmetic; out wraps to out_dtype, or BOOL for comparisons.
extern "C" __global__ void kinema_binary_int(int op, const void* a, int a_dtype,
                                             const __grid_constant__ kinema_strides a_st,
                                             const void* b, int b_dtype,
                                             const __grid_constant__ kinema_strides b_st, void* out,
                                             int out_dtype,
                                             const __grid_constant__ kinema_strides out_st,
                                             const __grid_constant__ kinema_shape shape, i64 n) {
  const kinema_strides* st[3] = {&a_st, &b_st, &out_st};
  bool cmp = op >= KINEMA_BINARY_EQ;
  for_each_strided<3>(n, shape, st, [&](const i64(&o)[3]) {
    i64 x = load_i64(a, o[0], a_dtype), y = load_i64(b, o[1], b_dtype);
    if (cmp) {
      ((u8*)out)[o[2]] = compare(op, x, y) ? 1 : 0;
    } else {
      store_i64(out, o[2], out_dtype, binary_i64(op, x, y));
    }
  });
}

// out (BOOL) = truth(a) AND/OR truth(b), for a and b of any dtypes (op: BinaryOp AND or OR).
extern "C" __global__ void kinema_logical(int op, const void* a, int a_dtype,
                                          const __grid_constant__ kinema_strides a_st,
                                          const void* b, int b_dtype,
                                          const __grid_constant__ kinema_strides b_st, u8* out,
                                          const __grid_constant__ kinema_strides out_st,
                                          const __grid_constant__ kinema_shape shape, i64 n) {
  const kinema_strides* st[3] = {&a_st, &b_st, &out_st};
  bool is_and = op == KINEMA_BINARY_AND;
  for_each_strided<3>(n, shape, st, [&](const i64(&o)[3]) {
    bool x = truth(a, o[0], a_dtype), y = truth(b, o[1], b_dtype);
    out[o[2]] = (is_and ? (x && y) : (x || y)) ? 1 : 0;
  });
}

// out = cond ? a : b, moving elem_bytes-sized bit patterns (every dtype); cond is BOOL.
extern "C" __global__ void kinema_where(const u8* cond,
                                        const __grid_constant__ kinema_strides cond_st,
                                        const void* a, const __grid_constant__ kinema_strides a_st,
                                        const void* b, const __grid_constant__ kinema_strides b_st,
                                        void* out, const __grid_constant__ kinema_strides out_st,
                                        const __grid_constant__ kinema_shape shape, i64 n,
                                        int elem_bytes) {
  const kinema_strides* st[4] = {&cond_st, &a_st, &b_st, &out_st};
  for_each_strided<4>(n, shape, st, [&](const i64(&o)[4]) {
    bool c = cond[o[0]] != 0;
    switch (elem_bytes) {
      case 8: ((u64*)out)[o[3]] = c ? ((const u64*)a)[o[1]] : ((const u64*)b)[o[2]]; break;
      case 4: ((u32*)out)[o[3]] = c ? ((const u32*)a)[o[1]] : ((const u32*)b)[o[2]]; break;
      case 2: ((u16*)out)[o[3]] = c ? ((const u16*)a)[o[1]] : ((const u16*)b)[o[2]]; break;
      default: ((u8*)out)[o[3]] = c ? ((const u8*)a)[o[1]] : ((const u8*)b)[o[2]]; break;
    }
  });
}
