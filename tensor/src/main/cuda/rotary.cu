// rotary.cu: rotary position embedding (Backend.rotary) and its backward.
//
// x [..., D] is rotated pairwise by angles whose cos/sin have x's shape with the last dim D/2
// (broadcast dims have stride 0). Pairs are (2i, 2i+1) when interleaved, else (i, i + D/2):
//   y0 = x0 cos - x1 sin,  y1 = x0 sin + x1 cos.
// The backward is the rotation by -angle (the transpose): dx0 = dy0 cos + dy1 sin,
// dx1 = dy1 cos - dy0 sin, i.e. the same kernel with backward != 0 (gradients of cos/sin are not
// computed: they are constants of the model).
//
// Index space: the pairs, shape `pairs` = x's shape with the last dim D/2, rank <= 8. Strides are
// per operand in elements, over x's dims: x_st and out_st are x's and out's own strides (the last
// one the element stride along D), cos_st and sin_st those of the broadcast cos/sin views.
// x and out may be the same buffer. cos/sin may have any float dtype; F32/BF16/F16 x compute in
// f32, F64 in f64.
//
// Launch: thread per pair, block 256, grid min(ceil(n_pairs / 256), 32 * SMs) (grid-stride loop).
// No shared memory.

#include "kinema_cuda.h"

template <typename T>
KINEMA_DEV void rotary(const T* x, const void* cos, int cos_dtype, const void* sin, int sin_dtype,
                       T* out, const kinema_shape& pairs, const kinema_strides& x_st,
                       const kinema_strides& cos_st, const kinema_strides& sin_st,
                       const kinema_strides& out_st, i64 n_pairs, int interleaved, int backward) {
  typedef typename kinema_acc<T>::type A;
  int last = (int)pairs.rank - 1;
  // The last dim (pairs along D): its size and each operand's element stride, read through an
  // unrolled loop so the parameters are only ever indexed by constants.
  i64 half = 1, xs = 0, cs = 0, ss = 0, os = 0;
#pragma unroll
  for (int d = 0; d < KINEMA_MAX_RANK; d++) {
    if (d == last) {
      half = pairs.size[d];
      xs = x_st.stride[d];
      cs = cos_st.stride[d];
      ss = sin_st.stride[d];
      os = out_st.stride[d];
    }
  }
  for (i64 t = global_thread(); t < n_pairs; t += global_threads()) {
    i64 i = t % half, rem = t / half;
    i64 xo = 0, co = 0, so = 0, oo = 0;
#pragma unroll
    for (int d = KINEMA_MAX_RANK - 2; d >= 0; d--) {
      if (d < last) {
        i64 c = rem % pairs.size[d];
        rem /= pairs.size[d];
        xo += c * x_st.stride[d];
        co += c * cos_st.stride[d];
        so += c * sin_st.stride[d];
        oo += c * out_st.stride[d];
      }
    }
    i64 p0 = interleaved ? 2 * i : i, p1 = interleaved ? 2 * i + 1 : i + half;
    A c, s;
    if (sizeof(A) == 8) {
      c = (A)load_f64(cos, co + i * cs, cos_dtype);
      s = (A)load_f64(sin, so + i * ss, sin_dtype);
    } else {
      c = (A)load_f32(cos, co + i * cs, cos_dtype);
      s = (A)load_f32(sin, so + i * ss, sin_dtype);
    }
    if (backward) s = -s;
    A a = to_acc(x[xo + p0 * xs]), b = to_acc(x[xo + p1 * xs]);
    A y0 = fma(-b, s, a * c), y1 = fma(a, s, b * c);
    out[oo + p0 * os] = from_acc<T>(y0);
    out[oo + p1 * os] = from_acc<T>(y1);
  }
}

#define KINEMA_ROTARY_KERNEL(SUFFIX, T)                                                         \
  extern "C" __global__ void kinema_rotary_##SUFFIX(                                            \
      const T* x, const void* cos, int cos_dtype, const void* sin, int sin_dtype, T* out,       \
      const __grid_constant__ kinema_shape pairs, const __grid_constant__ kinema_strides x_st,  \
      const __grid_constant__ kinema_strides cos_st,                                            \
      const __grid_constant__ kinema_strides sin_st,                                            \
      const __grid_constant__ kinema_strides out_st, i64 n_pairs, int interleaved,              \
      int backward) {                                                                           \
    rotary<T>(x, cos, cos_dtype, sin, sin_dtype, out, pairs, x_st, cos_st, sin_st, out_st,      \
              n_pairs, interleaved, backward);                                                  \
  }

KINEMA_ROTARY_KERNEL(f32, float)
KINEMA_ROTARY_KERNEL(bf16, kinema_bf16)
KINEMA_ROTARY_KERNEL(f16, kinema_f16)
KINEMA_ROTARY_KERNEL(f64, double)
