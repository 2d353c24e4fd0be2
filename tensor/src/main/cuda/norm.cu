// norm.cu: layer_norm and rms_norm over the trailing dims, forward (Backend.layerNorm/rmsNorm)
// and backward.
//
// Every tensor is dense: x, y, dy, dx are [rows, n] (n = the product of the normalized dims);
// weight and bias are [n] of x's dtype, or null. The statistics mean and rstd are [rows] in the
// compute type: f32 for F32/BF16/F16 data, f64 for F64 (the Java side converts if the caller
// asked for another dtype).
//
// Forward (kinema_layer_norm_<t>, kinema_rms_norm_<t>): one block per row, block 256 (a multiple
// of 32 up to 1024), grid = rows, no dynamic shared memory. Two passes over the row as the CPU:
// mean, then the mean of squared deviations (no E[x^2] - E[x]^2 cancellation), biased variance,
// rstd = 1 / sqrt(var + eps); y = (x - mean) rstd w + b. RMS norm: rstd = 1 / sqrt(mean(x^2) + eps),
// y = x rstd w. The f32 kernels round mean, var and rstd to f32 at the points the CPU does.
//
// Backward (kinema_layer_norm_backward_<t>, kinema_rms_norm_backward_<t>), with xhat the
// normalized x and g = dy w:
//   layer norm  dx = rstd (g - mean(g) - xhat mean(g xhat)),  dw = sum_rows dy xhat,  db = sum_rows dy
//   rms norm    dx = rstd (g - xhat mean(g xhat)),             dw = sum_rows dy xhat
// Block b handles rows [b R, b R + R) (R = rows_per_block): first dx row by row, then each thread
// owns columns and sums them over the block's rows into dw_partial[b][n] / db_partial[b][n]
// (compute type; null to skip). kinema_column_sum_<a> then adds the partials of all blocks in
// block order into dweight / dbias: deterministic, no atomics. Launch: block 256, grid
// ceil(rows / R); R trades parallelism against partial traffic (R = ceil(rows / (2 * SMs))).

#include "kinema_cuda.h"

// ------------------------------------------------------------------------------------------------
// Forward
// ------------------------------------------------------------------------------------------------

template <typename T>
KINEMA_DEV void layer_norm_row(const T* x, const T* w, const T* b, T* y,
                               typename kinema_acc<T>::type* mean_out,
                               typename kinema_acc<T>::type* rstd_out, i64 n, double eps) {
  typedef typename kinema_acc<T>::type A;
  __shared__ A scratch[32];
  i64 row = blockIdx.x;
  const T* xr = x + row * n;
  T* yr = y + row * n;
  A sum = 0;
  for (i64 j = threadIdx.x; j < n; j += blockDim.x) sum += to_acc(xr[j]);
  sum = block_sum(sum, scratch);
  A mean = (A)((double)sum / (double)n);
  A m2 = 0;
  for (i64 j = threadIdx.x; j < n; j += blockDim.x) {
    A d = to_acc(xr[j]) - mean;
    m2 += d * d;
  }
  m2 = block_sum(m2, scratch);
  A var = (A)((double)m2 / (double)n);
  A rstd = (A)(1.0 / sqrt((double)(var + (A)eps)));
  bool affine = w != nullptr || b != nullptr;
  for (i64 j = threadIdx.x; j < n; j += blockDim.x) {
    A v = (to_acc(xr[j]) - mean) * rstd;
    if (affine) {
      A wj = w != nullptr ? to_acc(w[j]) : (A)1, bj = b != nullptr ? to_acc(b[j]) : (A)0;
      v = fma(v, wj, bj);
    }
    yr[j] = from_acc<T>(v);
  }
  if (threadIdx.x == 0) {
    if (mean_out != nullptr) mean_out[row] = mean;
    if (rstd_out != nullptr) rstd_out[row] = rstd;
  }
}

template <typename T>
KINEMA_DEV void rms_norm_row(const T* x, const T* w, T* y, typename kinema_acc<T>::type* rstd_out,
                             i64 n, double eps) {
  typedef typename kinema_acc<T>::type A;
  __shared__ A scratch[32];
  i64 row = blockIdx.x;
  const T* xr = x + row * n;
  T* yr = y + row * n;
  A ss = 0;
  for (i64 j = threadIdx.x; j < n; j += blockDim.x) {
    A v = to_acc(xr[j]);
    ss += v * v;
  }
  ss = block_sum(ss, scratch);
  A ms = (A)((double)ss / (double)n);
  A rstd = (A)(1.0 / sqrt((double)(ms + (A)eps)));
  for (i64 j = threadIdx.x; j < n; j += blockDim.x) {
    A v = to_acc(xr[j]) * rstd;
    if (w != nullptr) v = v * to_acc(w[j]);
    yr[j] = from_acc<T>(v);
  }
  if (threadIdx.x == 0 && rstd_out != nullptr) rstd_out[row] = rstd;
}

// ------------------------------------------------------------------------------------------------
// Backward
// ------------------------------------------------------------------------------------------------

// rms == false: layer norm (mean used, db computed); rms == true: mean is 0 and there is no bias.
template <typename T, bool rms>
KINEMA_DEV void norm_backward_block(const T* dy, const T* x, const T* w,
                                    const typename kinema_acc<T>::type* mean,
                                    const typename kinema_acc<T>::type* rstd, T* dx,
                                    typename kinema_acc<T>::type* dw_partial,
                                    typename kinema_acc<T>::type* db_partial, i64 rows, i64 n,
                                    i64 rows_per_block) {
  typedef typename kinema_acc<T>::type A;
  __shared__ A scratch[32];
  i64 r0 = (i64)blockIdx.x * rows_per_block;
  i64 r1 = r0 + rows_per_block < rows ? r0 + rows_per_block : rows;
  A inv_n = (A)(1.0 / (double)n);
  for (i64 r = r0; r < r1; r++) {
    const T* xr = x + r * n;
    const T* dyr = dy + r * n;
    A mu = rms ? (A)0 : mean[r], rs = rstd[r];
    A sum_g = 0, sum_gx = 0;
    for (i64 j = threadIdx.x; j < n; j += blockDim.x) {
      A xhat = (to_acc(xr[j]) - mu) * rs;
      A g = to_acc(dyr[j]) * (w != nullptr ? to_acc(w[j]) : (A)1);
      sum_g += g;
      sum_gx += g * xhat;
    }
    if (!rms) sum_g = block_sum(sum_g, scratch);
    sum_gx = block_sum(sum_gx, scratch);
    A mean_g = sum_g * inv_n, mean_gx = sum_gx * inv_n;
    for (i64 j = threadIdx.x; j < n; j += blockDim.x) {
      A xhat = (to_acc(xr[j]) - mu) * rs;
      A g = to_acc(dyr[j]) * (w != nullptr ? to_acc(w[j]) : (A)1);
      A d = rms ? g - xhat * mean_gx : g - mean_g - xhat * mean_gx;
      dx[r * n + j] = from_acc<T>(rs * d);
    }
  }
  if (dw_partial == nullptr && db_partial == nullptr) return;
  // Parameter gradients: each thread owns columns j and sums them over the block's rows in order.
  for (i64 j = threadIdx.x; j < n; j += blockDim.x) {
    A dw = 0, db = 0;
    for (i64 r = r0; r < r1; r++) {
      A g = to_acc(dy[r * n + j]);
      A xhat = (to_acc(x[r * n + j]) - (rms ? (A)0 : mean[r])) * rstd[r];
      dw += g * xhat;
      db += g;
    }
    if (dw_partial != nullptr) dw_partial[(i64)blockIdx.x * n + j] = dw;
    if (db_partial != nullptr) db_partial[(i64)blockIdx.x * n + j] = db;
  }
}

#define KINEMA_NORM_KERNELS(SUFFIX, T, A)                                                        \
  extern "C" __global__ void kinema_layer_norm_##SUFFIX(const T* x, const T* w, const T* b,      \
                                                        T* y, A* mean_out, A* rstd_out, i64 n,   \
                                                        double eps) {                            \
    layer_norm_row<T>(x, w, b, y, mean_out, rstd_out, n, eps);                                   \
  }                                                                                              \
  extern "C" __global__ void kinema_rms_norm_##SUFFIX(const T* x, const T* w, T* y, A* rstd_out, \
                                                      i64 n, double eps) {                       \
    rms_norm_row<T>(x, w, y, rstd_out, n, eps);                                                  \
  }                                                                                              \
  extern "C" __global__ void kinema_layer_norm_backward_##SUFFIX(                                \
      const T* dy, const T* x, const T* w, const A* mean, const A* rstd, T* dx, A* dw_partial,   \
      A* db_partial, i64 rows, i64 n, i64 rows_per_block) {                                      \
    norm_backward_block<T, false>(dy, x, w, mean, rstd, dx, dw_partial, db_partial, rows, n,     \
                                  rows_per_block);                                               \
  }                                                                                              \
  extern "C" __global__ void kinema_rms_norm_backward_##SUFFIX(                                  \
      const T* dy, const T* x, const T* w, const A* rstd, T* dx, A* dw_partial, i64 rows, i64 n, \
      i64 rows_per_block) {                                                                      \
    norm_backward_block<T, true>(dy, x, w, nullptr, rstd, dx, dw_partial, nullptr, rows, n,      \
                                 rows_per_block);                                                \
  }

KINEMA_NORM_KERNELS(f32, float, float)
KINEMA_NORM_KERNELS(bf16, kinema_bf16, float)
KINEMA_NORM_KERNELS(f16, kinema_f16, float)
KINEMA_NORM_KERNELS(f64, double, double)

// out[j] = sum over b of partials[b][j] (b = 0, 1, ... in order, accumulated in f64), stored in
// out_dtype. Thread per column: block 256, grid ceil(n / 256).
template <typename A>
KINEMA_DEV void column_sum(const A* partials, i64 blocks, i64 n, void* out, int out_dtype) {
  i64 j = global_thread();
  if (j >= n) return;
  double s = 0;
  for (i64 b = 0; b < blocks; b++) s += (double)partials[b * n + j];
  store_f64(out, j, out_dtype, s);
}

extern "C" __global__ void kinema_column_sum_f32(const float* partials, i64 blocks, i64 n,
                                                 void* out, int out_dtype) {
  column_sum(partials, blocks, n, out, out_dtype);
}
extern "C" __global__ void kinema_column_sum_f64(const double* partials, i64 blocks, i64 n,
                                                 void* out, int out_dtype) {
  column_sum(partials, blocks, n, out, out_dtype);
}
