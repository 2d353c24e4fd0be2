// attention_f32.cu: fused attention forward and backward for F32 and F64 without tensor cores
// (Backend.attention / attentionBackward of full-precision tensors): the same algorithm, masks and
// argument block as the BF16/F16 flash kernels (attention.cu, attention_backward.cu), in plain
// FFMA (DFMA for F64), so no [B, H, Sq, Sk] matrix exists at any precision.
//
// Tiles: a CTA owns 32 rows (query rows in the forward and dQ, key rows in dK/dV) and walks the
// other sequence in blocks of 32. Each row belongs to TPR = THREADS / 32 neighbouring lanes of one
// warp (a "row group"); lane c of the group computes the scores of the block's columns
// c, c + TPR, c + 2 TPR, .. and owns the accumulator columns c, c + TPR, .. of the head dim.
// Row statistics (max, sum) are reduced over the group with shuffles; the probabilities of a block
// go through shared memory so every lane of the group can read the whole row for the P V product.
//
//   forward  kinema_attention_<t>_d<D>: per key block S = scale Q K^T (masked to -inf), online
//            softmax in base 2 (running max m, sum l, O rescaled by 2^(m_old - m_new)), O += P V;
//            out = O / l, lse = m ln 2 + ln l. A row that sees no key: out 0, lse -inf.
//   backward (P = exp(scale q k^T - lse), masked entries 0; Delta_i = dO_i . O_i):
//            1. kinema_attention_bwd_delta_<t>: Delta, a warp per row;
//            2. kinema_attention_bwd_dkdv_<t>_d<D>: a CTA per 32 keys walks the query blocks that
//               may see them: dV += P^T dO, dK += scale dS^T Q, with dP = dO V^T and
//               dS = P (dP - Delta);
//            3. kinema_attention_bwd_dq_<t>_d<D>: a CTA per 32 query rows walks its key blocks:
//               dQ += scale dS K.
//            Every CTA owns the gradient rows it writes (no atomics: deterministic); the second
//            pass recomputes P and dP, as the BF16 kernels and the CPU do.
// Blocks no row of a tile may see are skipped: key limits (none, causal, block-causal) end the
// walk, key ranges are voted per block (__syncthreads_or), explicit masks are read per element.
//
// Operands: q [B, H, Sq, d], k [B, H, Sk, d], v [B, H, Sk, dv], out / dout [B, H, Sq, dv] of the
// kernel's dtype with unit stride along the head dim and any (batch, head, sequence) strides (in
// kinema_attention_args); no alignment needed. The softmax scale is the `scale` parameter, a double
// (kinema_attention_args.scale is an f32, too coarse for F64). d, dv <= D are parameters: tiles are
// zero-padded past them, so a D kernel serves every head dim up to D (D = 32, 64, 128, 256 for
// F32; 32, 64, 128 for F64). lse [B, H, Sq] of the kernel's dtype with lse_stride (nullable in the
// forward). dq, dk, dv: dense [B, H, S, d or dv] of the kernel's dtype, written fully (keys no
// query sees get 0). delta: dense [B, H, Sq] workspace of the kernel's dtype.
//
// Launch: THREADS = 128 for D <= 64, 256 for D >= 128 (TPR 4 or 8: at most 32 accumulators per
// matrix and thread); grids (B * H, ceil(S / 32)). Dynamic shared memory, E = sizeof(T), P = D + 1
// (the odd pitch puts the rows a warp reads at once in different banks), R = 32 x 33 x E (a block
// of P or dS):
//   forward  3 x 32 P E + R                (Q, K, V, P)
//   dkdv     4 x 32 P E + 2 R + 32 (2 E + 16)  (K, V, Q, dO, P^T, dS^T, lse, Delta, key ranges)
//   dq       4 x 32 P E + R                (Q, dO, K, V, dS)
// From 17 KB (F32 D = 32 forward) to 150 KB (F64 D = 128 dkdv); over 48 KiB the launcher raises
// CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES (sm_80 allows 163 KiB).

#include "attention_common.h"

#define TILE 32  // rows a CTA owns, and rows per block of the walk
#define KINEMA_LOG2E_D 1.4426950408889634  // as doubles: F64 needs all of them
#define KINEMA_LN2_D 0.6931471805599453

// exp2 / log in the kernel's precision.
KINEMA_DEV float exp2_t(float x) { return exp2f(x); }
KINEMA_DEV double exp2_t(double x) { return exp2(x); }
KINEMA_DEV float log_t(float x) { return logf(x); }
KINEMA_DEV double log_t(double x) { return log(x); }

// The sum / max of v over the TPR lanes of a row group (neighbouring lanes of one warp).
template <int TPR, typename T>
KINEMA_DEV T group_sum(T v) {
#pragma unroll
  for (int o = 1; o < TPR; o <<= 1) v += __shfl_xor_sync(KINEMA_FULL_MASK, v, o);
  return v;
}
template <int TPR, typename T>
KINEMA_DEV T group_max(T v) {
#pragma unroll
  for (int o = 1; o < TPR; o <<= 1) v = fmax(v, __shfl_xor_sync(KINEMA_FULL_MASK, v, o));
  return v;
}

// Rows [r0, r0 + TILE) of a [rows, width] matrix (row stride `stride`, unit column stride) into a
// shared tile of pitch D + 1; rows >= `limit` and columns >= `width` are zero.
template <typename T, int D, int THREADS>
KINEMA_DEV void load_rows(T* tile, const T* base, i64 stride, i64 r0, i64 limit, int width) {
  for (int e = threadIdx.x; e < TILE * D; e += THREADS) {
    int r = e / D, c = e % D;
    tile[r * (D + 1) + c] = r0 + r < limit && c < width ? base[(r0 + r) * stride + c] : (T)0;
  }
}

// s[m] = A[row] . B[col + TPR m] over the first `width` columns (the rest are zero anyway), for
// the TILE / TPR block columns of this lane.
template <typename T, int D, int TPR>
KINEMA_DEV void row_dots(T (&s)[TILE / TPR], const T* a, const T* b, int row, int col, int width) {
#pragma unroll
  for (int m = 0; m < TILE / TPR; m++) s[m] = 0;
  const T* ar = a + row * (D + 1);
#pragma unroll 4
  for (int x = 0; x < width; x++) {
    T av = ar[x];
#pragma unroll
    for (int m = 0; m < TILE / TPR; m++) s[m] += av * b[(col + TPR * m) * (D + 1) + x];
  }
}

// acc[n] += sum_j W[row][j] X[j][col + TPR n]: a row of a TILE x TILE block (pitch TILE + 1) times
// a tile, into this lane's accumulator columns.
template <typename T, int D, int TPR>
KINEMA_DEV void row_times_tile(T (&acc)[D / TPR], const T* w, const T* x, int row, int col) {
#pragma unroll 2
  for (int j = 0; j < TILE; j++) {
    T wv = w[row * (TILE + 1) + j];
#pragma unroll
    for (int n = 0; n < D / TPR; n++) acc[n] += wv * x[j * (D + 1) + col + TPR * n];
  }
}

// Whether query i may see key j (i < Sq): its ranges, the keys that exist, the explicit mask.
KINEMA_DEV bool allowed(const key_ranges& r, const u8* mask, const kinema_attention_args& a,
                        i64 b, i64 h, i64 i, i64 j) {
  if (j >= a.sk || !in_ranges(r, j)) return false;
  return a.mask_kind != KINEMA_MASK_EXPLICIT || mask_allows(mask, a, b, h, i, j);
}

// lse of row i in base 2 (P = 2^(s scale log2 e - lse log2 e)); +inf (P = 0) for rows past the
// end and rows that saw no key.
template <typename T>
KINEMA_DEV T lse2_of(const T* lse, const kinema_attention_args& a, i64 b, i64 h, i64 i) {
  if (i >= a.sq) return (T)INFINITY;
  T l = lse[b * a.lse_stride[0] + h * a.lse_stride[1] + i * a.lse_stride[2]];
  return l == (T)-INFINITY ? (T)INFINITY : l * (T)KINEMA_LOG2E_D;
}

// ------------------------------------------------------------------------------------------------
// Forward
// ------------------------------------------------------------------------------------------------

template <typename T, int D, int THREADS>
KINEMA_DEV void attention_forward(const T* q, const T* k, const T* v, T* out, T* lse,
                                  const u8* mask, const kinema_attention_args& a, int d, int dv,
                                  double scale) {
  const int TPR = THREADS / TILE, P = D + 1;
  KINEMA_DYNAMIC_SMEM(u8, smem_raw);
  T* qs = (T*)smem_raw;  // Q [TILE][P]
  T* ks = qs + TILE * P;  // K [TILE][P]
  T* vs = ks + TILE * P;  // V [TILE][P]
  T* ps = vs + TILE * P;  // P [TILE][TILE + 1]

  const int row = threadIdx.x / TPR, col = threadIdx.x % TPR;
  const i64 bh = blockIdx.x, b = bh / a.heads, h = bh % a.heads;
  const i64 q0 = (i64)(gridDim.y - 1 - blockIdx.y) * TILE;  // last (costliest) tiles first
  const i64 i = q0 + row;
  const T* kb = k + b * a.k_stride[0] + h * a.k_stride[1];
  const T* vb = v + b * a.v_stride[0] + h * a.v_stride[1];
  load_rows<T, D, THREADS>(qs, q + b * a.q_stride[0] + h * a.q_stride[1], a.q_stride[2], q0,
                           a.sq, d);

  const key_ranges rr = row_ranges(i, a, mask);
  const bool ranged = a.mask_kind == KINEMA_MASK_KEY_RANGES;
  const T scale2 = (T)(scale * KINEMA_LOG2E_D);
  T o[D / TPR];
#pragma unroll
  for (int n = 0; n < D / TPR; n++) o[n] = 0;
  T m = -INFINITY, l = 0;  // running max (base-2 scores) and this lane's part of the sum

  const i64 last_row = q0 + TILE - 1 < a.sq ? q0 + TILE - 1 : a.sq - 1;
  const int k_end = key_limit(last_row, a);  // no row of the tile sees keys past this
  for (int k0 = 0; k0 < k_end; k0 += TILE) {
    if (ranged && !__syncthreads_or(ranges_meet(rr, k0, k0 + TILE))) continue;
    load_rows<T, D, THREADS>(ks, kb, a.k_stride[2], k0, a.sk, d);
    load_rows<T, D, THREADS>(vs, vb, a.v_stride[2], k0, a.sk, dv);
    __syncthreads();

    // Scores of this lane's keys, base 2, masked; the block max of the row.
    T s[TILE / TPR];
    row_dots<T, D, TPR>(s, qs, ks, row, col, d);
    T mx = -INFINITY;
#pragma unroll
    for (int n = 0; n < TILE / TPR; n++) {
      i64 j = k0 + col + TPR * n;
      s[n] = i < a.sq && allowed(rr, mask, a, b, h, i, j) ? s[n] * scale2 : (T)-INFINITY;
      mx = fmax(mx, s[n]);
    }
    mx = group_max<TPR>(mx);

    // Online softmax. While a row has seen nothing its max is -inf and the base 0, so P = 0 and
    // alpha = 0 keep O and l at 0 (no inf - inf).
    T m_new = fmax(m, mx), base = m_new == (T)-INFINITY ? (T)0 : m_new;
    T alpha = exp2_t(m - base);
    m = m_new;
    l *= alpha;
#pragma unroll
    for (int n = 0; n < TILE / TPR; n++) {
      T p = exp2_t(s[n] - base);
      l += p;
      ps[row * (TILE + 1) + col + TPR * n] = p;
    }
#pragma unroll
    for (int n = 0; n < D / TPR; n++) o[n] *= alpha;
    __syncthreads();  // the row's P is written by the whole row group
    row_times_tile<T, D, TPR>(o, ps, vs, row, col);
    __syncthreads();  // the next block overwrites K, V and P
  }

  l = group_sum<TPR>(l);
  if (i >= a.sq) return;
  T inv = l == (T)0 ? (T)0 : (T)1 / l;
  T* orow = out + b * a.o_stride[0] + h * a.o_stride[1] + i * a.o_stride[2];
#pragma unroll
  for (int n = 0; n < D / TPR; n++) {
    int c = col + TPR * n;
    if (c < dv) orow[c] = o[n] * inv;
  }
  if (lse != nullptr && col == 0) {
    lse[b * a.lse_stride[0] + h * a.lse_stride[1] + i * a.lse_stride[2]] =
        l == (T)0 ? (T)-INFINITY : m * (T)KINEMA_LN2_D + log_t(l);
  }
}

// ------------------------------------------------------------------------------------------------
// Backward 1: Delta = rowsum(dO * O), a warp per row
// ------------------------------------------------------------------------------------------------

template <typename T>
KINEMA_DEV void attention_delta(const T* out, const T* dout, T* delta,
                                const kinema_attention_args& a, int dv) {
  i64 r = (i64)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
  int lane = threadIdx.x & 31;
  if (r >= a.batch * a.heads * a.sq) return;  // whole warps leave together
  i64 i = r % a.sq, bh = r / a.sq, b = bh / a.heads, h = bh % a.heads;
  const T* o = out + b * a.o_stride[0] + h * a.o_stride[1] + i * a.o_stride[2];
  const T* go = dout + b * a.do_stride[0] + h * a.do_stride[1] + i * a.do_stride[2];
  T s = 0;
  for (int c = lane; c < dv; c += 32) s += o[c] * go[c];
  s = warp_sum(s);
  if (lane == 0) delta[r] = s;
}

// ------------------------------------------------------------------------------------------------
// Backward 2: dK, dV, a CTA per 32 keys
// ------------------------------------------------------------------------------------------------

template <typename T, int D, int THREADS>
KINEMA_DEV void attention_dkdv(const T* q, const T* k, const T* v, const T* dout, const T* lse,
                               const T* delta, T* dk, T* dv_out, const u8* mask,
                               const kinema_attention_args& a, int d, int dv, double scale) {
  const int TPR = THREADS / TILE, P = D + 1, R = TILE * (TILE + 1);
  KINEMA_DYNAMIC_SMEM(u8, smem_raw);
  T* ks = (T*)smem_raw;    // K [TILE][P] (this CTA's keys)
  T* vs = ks + TILE * P;   // V [TILE][P]
  T* qs = vs + TILE * P;   // Q [TILE][P] (the current query block)
  T* dos = qs + TILE * P;  // dO [TILE][P]
  T* pt = dos + TILE * P;  // P^T [key][query]
  T* dst = pt + R;         // dS^T [key][query]
  T* lse_s = dst + R;      // [TILE] base-2 lse of the block's queries
  T* delta_s = lse_s + TILE;                                     // [TILE]
  key_ranges* ranges_s = (key_ranges*)(delta_s + TILE);          // [TILE]

  const int row = threadIdx.x / TPR, col = threadIdx.x % TPR;  // row: a key of the CTA
  const i64 bh = blockIdx.x, b = bh / a.heads, h = bh % a.heads;
  const i64 k0 = (i64)blockIdx.y * TILE, key = k0 + row;
  const T* qb = q + b * a.q_stride[0] + h * a.q_stride[1];
  const T* gob = dout + b * a.do_stride[0] + h * a.do_stride[1];
  const T* deltab = delta + bh * a.sq;
  const bool ranged = a.mask_kind == KINEMA_MASK_KEY_RANGES;
  const T scale2 = (T)(scale * KINEMA_LOG2E_D);
  load_rows<T, D, THREADS>(ks, k + b * a.k_stride[0] + h * a.k_stride[1], a.k_stride[2], k0, a.sk,
                           d);
  load_rows<T, D, THREADS>(vs, v + b * a.v_stride[0] + h * a.v_stride[1], a.v_stride[2], k0, a.sk,
                           dv);

  T dka[D / TPR], dva[D / TPR];
#pragma unroll
  for (int n = 0; n < D / TPR; n++) dka[n] = dva[n] = 0;

  for (i64 i0 = first_row_seeing(k0, a) / TILE * TILE; i0 < a.sq; i0 += TILE) {
    if (ranged) {  // skip the query blocks none of whose rows sees one of these keys
      bool meets = false;
      for (int r = threadIdx.x; r < TILE; r += THREADS) {
        meets = meets || ranges_meet(row_ranges(i0 + r, a, mask), k0, k0 + TILE);
      }
      if (!__syncthreads_or(meets)) continue;
    }
    load_rows<T, D, THREADS>(qs, qb, a.q_stride[2], i0, a.sq, d);
    load_rows<T, D, THREADS>(dos, gob, a.do_stride[2], i0, a.sq, dv);
    for (int r = threadIdx.x; r < TILE; r += THREADS) {
      lse_s[r] = lse2_of(lse, a, b, h, i0 + r);
      delta_s[r] = i0 + r < a.sq ? deltab[i0 + r] : (T)0;
      ranges_s[r] = row_ranges(i0 + r, a, mask);
    }
    __syncthreads();

    // S^T and dP^T for this key and the lane's queries; P^T and dS^T = P^T (dP^T - Delta).
    T st[TILE / TPR], dpt[TILE / TPR];
    row_dots<T, D, TPR>(st, ks, qs, row, col, d);
    row_dots<T, D, TPR>(dpt, vs, dos, row, col, dv);
#pragma unroll
    for (int n = 0; n < TILE / TPR; n++) {
      int c = col + TPR * n;
      i64 i = i0 + c;
      bool ok = i < a.sq && allowed(ranges_s[c], mask, a, b, h, i, key);
      T p = ok ? exp2_t(st[n] * scale2 - lse_s[c]) : (T)0;
      pt[row * (TILE + 1) + c] = p;
      dst[row * (TILE + 1) + c] = p * (dpt[n] - delta_s[c]);
    }
    __syncthreads();
    row_times_tile<T, D, TPR>(dva, pt, dos, row, col);  // dV += P^T dO
    row_times_tile<T, D, TPR>(dka, dst, qs, row, col);  // dK += dS^T Q
    __syncthreads();  // the next query block overwrites Q, dO and the row arrays
  }

  if (key >= a.sk) return;
  T* dkr = dk + (bh * a.sk + key) * d;
  T* dvr = dv_out + (bh * a.sk + key) * dv;
#pragma unroll
  for (int n = 0; n < D / TPR; n++) {
    int c = col + TPR * n;
    if (c < d) dkr[c] = dka[n] * (T)scale;
    if (c < dv) dvr[c] = dva[n];
  }
}

// ------------------------------------------------------------------------------------------------
// Backward 3: dQ, a CTA per 32 query rows
// ------------------------------------------------------------------------------------------------

template <typename T, int D, int THREADS>
KINEMA_DEV void attention_dq(const T* q, const T* k, const T* v, const T* dout, const T* lse,
                             const T* delta, T* dq, const u8* mask,
                             const kinema_attention_args& a, int d, int dv, double scale) {
  const int TPR = THREADS / TILE, P = D + 1;
  KINEMA_DYNAMIC_SMEM(u8, smem_raw);
  T* qs = (T*)smem_raw;    // Q [TILE][P] (this CTA's rows)
  T* dos = qs + TILE * P;  // dO [TILE][P]
  T* ks = dos + TILE * P;  // K [TILE][P] (the current key block)
  T* vs = ks + TILE * P;   // V [TILE][P]
  T* dss = vs + TILE * P;  // dS [query][key]

  const int row = threadIdx.x / TPR, col = threadIdx.x % TPR;
  const i64 bh = blockIdx.x, b = bh / a.heads, h = bh % a.heads;
  const i64 q0 = (i64)(gridDim.y - 1 - blockIdx.y) * TILE, i = q0 + row;
  const T* kb = k + b * a.k_stride[0] + h * a.k_stride[1];
  const T* vb = v + b * a.v_stride[0] + h * a.v_stride[1];
  const bool ranged = a.mask_kind == KINEMA_MASK_KEY_RANGES;
  const T scale2 = (T)(scale * KINEMA_LOG2E_D);
  load_rows<T, D, THREADS>(qs, q + b * a.q_stride[0] + h * a.q_stride[1], a.q_stride[2], q0, a.sq,
                           d);
  load_rows<T, D, THREADS>(dos, dout + b * a.do_stride[0] + h * a.do_stride[1], a.do_stride[2], q0,
                           a.sq, dv);

  const key_ranges rr = row_ranges(i, a, mask);
  const T lse2 = lse2_of(lse, a, b, h, i);
  const T del = i < a.sq ? delta[bh * a.sq + i] : (T)0;
  T dqa[D / TPR];
#pragma unroll
  for (int n = 0; n < D / TPR; n++) dqa[n] = 0;

  const i64 last_row = q0 + TILE - 1 < a.sq ? q0 + TILE - 1 : a.sq - 1;
  const int k_end = key_limit(last_row, a);
  for (int k0 = 0; k0 < k_end; k0 += TILE) {
    if (ranged && !__syncthreads_or(ranges_meet(rr, k0, k0 + TILE))) continue;
    load_rows<T, D, THREADS>(ks, kb, a.k_stride[2], k0, a.sk, d);
    load_rows<T, D, THREADS>(vs, vb, a.v_stride[2], k0, a.sk, dv);
    __syncthreads();

    T s[TILE / TPR], dp[TILE / TPR];
    row_dots<T, D, TPR>(s, qs, ks, row, col, d);
    row_dots<T, D, TPR>(dp, dos, vs, row, col, dv);
#pragma unroll
    for (int n = 0; n < TILE / TPR; n++) {
      i64 j = k0 + col + TPR * n;
      bool ok = i < a.sq && allowed(rr, mask, a, b, h, i, j);
      T p = ok ? exp2_t(s[n] * scale2 - lse2) : (T)0;
      dss[row * (TILE + 1) + col + TPR * n] = p * (dp[n] - del);
    }
    __syncthreads();
    row_times_tile<T, D, TPR>(dqa, dss, ks, row, col);  // dQ += dS K
    __syncthreads();  // the next key block overwrites K, V and dS
  }

  if (i >= a.sq) return;
  T* dqr = dq + (bh * a.sq + i) * d;
#pragma unroll
  for (int n = 0; n < D / TPR; n++) {
    int c = col + TPR * n;
    if (c < d) dqr[c] = dqa[n] * (T)scale;
  }
}

// ------------------------------------------------------------------------------------------------
// Entry points
// ------------------------------------------------------------------------------------------------

#define KINEMA_ATTENTION_SIMT(SUFFIX, T, D, THREADS)                                               \
  extern "C" __global__ void __launch_bounds__(THREADS) kinema_attention_##SUFFIX##_d##D(          \
      const T* q, const T* k, const T* v, T* out, T* lse, const u8* mask,                          \
      const __grid_constant__ kinema_attention_args a, int d, int dv, double scale) {              \
    attention_forward<T, D, THREADS>(q, k, v, out, lse, mask, a, d, dv, scale);                    \
  }                                                                                                \
  extern "C" __global__ void __launch_bounds__(THREADS) kinema_attention_bwd_dkdv_##SUFFIX##_d##D( \
      const T* q, const T* k, const T* v, const T* dout, const T* lse, const T* delta, T* dk,      \
      T* dv_out, const u8* mask, const __grid_constant__ kinema_attention_args a, int d,           \
      int dv, double scale) {                                                                      \
    attention_dkdv<T, D, THREADS>(q, k, v, dout, lse, delta, dk, dv_out, mask, a, d, dv, scale);   \
  }                                                                                                \
  extern "C" __global__ void __launch_bounds__(THREADS) kinema_attention_bwd_dq_##SUFFIX##_d##D(   \
      const T* q, const T* k, const T* v, const T* dout, const T* lse, const T* delta, T* dq,      \
      const u8* mask, const __grid_constant__ kinema_attention_args a, int d, int dv,              \
      double scale) {                                                                              \
    attention_dq<T, D, THREADS>(q, k, v, dout, lse, delta, dq, mask, a, d, dv, scale);             \
  }

#define KINEMA_ATTENTION_DELTA(SUFFIX, T)                                                          \
  extern "C" __global__ void kinema_attention_bwd_delta_##SUFFIX(                                  \
      const T* out, const T* dout, T* delta, const __grid_constant__ kinema_attention_args a,      \
      int dv) {                                                                                    \
    attention_delta<T>(out, dout, delta, a, dv);                                                   \
  }

KINEMA_ATTENTION_DELTA(f32, float)
KINEMA_ATTENTION_SIMT(f32, float, 32, 128)
KINEMA_ATTENTION_SIMT(f32, float, 64, 128)
KINEMA_ATTENTION_SIMT(f32, float, 128, 256)
KINEMA_ATTENTION_SIMT(f32, float, 256, 256)
KINEMA_ATTENTION_DELTA(f64, double)
KINEMA_ATTENTION_SIMT(f64, double, 32, 128)
KINEMA_ATTENTION_SIMT(f64, double, 64, 128)
KINEMA_ATTENTION_SIMT(f64, double, 128, 256)
