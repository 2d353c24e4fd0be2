// attention_backward.cu: gradients of flash attention (Backend.attentionBackward) on BF16/F16 with
// tensor cores, FlashAttention-2 style and deterministic: the structure of the CPU's
// AttentionBackward, where every CTA owns the gradient rows it writes and nothing is reduced
// across CTAs (no atomics), so results do not depend on scheduling.
//
// With P = exp(scale q k^T - lse) (the forward's lse, so P is the softmax; masked entries 0) and
// Delta_i = dO_i . O_i:
//   dV = P^T dO,   dP = dO V^T,   dS = P * (dP - Delta),   dQ = scale dS K,   dK = scale dS^T Q
//
// Three launches, in this order:
//   1. kinema_flash_attention_bwd_delta_<t>: Delta [B, H, Sq] (dense f32 workspace), a warp per row.
//      Block 256 (8 rows), grid ceil(B H Sq / 8). Any even head dim.
//   2. kinema_flash_attention_bwd_dkdv_<t>_d<D>: a CTA per (b h, 64 keys), 4 warps x 16 keys; walks
//      the query blocks that may see its keys (from the first row whose key limit passes the block;
//      with key ranges, those with a row whose intervals meet the block), accumulating dK and dV
//      in registers. Block 128, grid (B H, ceil(Sk / 64) * D / DC): at D = 256 two CTAs share a key
//      block, each accumulating DC = 128 of the columns of dK and dV (both 16 x 256 in f32 would
//      take 256 registers per thread); both compute the whole S^T and dP^T (contracted over D).
//   3. kinema_flash_attention_bwd_dq_<t>_d<D>: a CTA per (b h, 64 query rows), 4 warps x 16 rows;
//      walks the key blocks its rows may see, recomputing P and dP, accumulating dQ. Block 128,
//      grid (B H, ceil(Sq / 64)).
// The second pass recomputes P and dP (as the CPU does): the price of determinism without atomics.
// P and dS are rounded to the input type for the tensor-core products (as FlashAttention); all
// sums are f32. Rows whose lse is -inf (they saw no key) get P = 0, as on the CPU.
//
// Operands: q, k, v, out, dout as in the forward (same requirements: D == Dv == 64, 128 or 256,
// unit stride along D, 16-byte aligned rows); lse [B, H, Sq] F32 with lse_stride; gradients dq,
// dk, dv dense F32 [B, H, S, D], written fully (keys no query sees get 0).
//
// Dynamic shared memory (bytes), with P = D + 8 (padded rows of 16-bit elements):
//   dkdv: K, V [64][P], Q, dO [QB][P], lse/Delta [QB] x 4 bytes, key ranges [QB] x 16 bytes;
//         QB = 64 (D = 64), 32 (128, 256)
//   dq:   Q, dO [64][P], K, V [KB][P];                          KB = 64 (D = 64), 32 (128, 256)
//                 D = 64    D = 128   D = 256
//   dkdv          38400     52992     102144
//   dq            36864     52224     101376
// The D = 128 and 256 kernels need more than the default 48 KiB: the launcher raises the
// function's CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES first (sm_80 allows 163 KiB, sm_90
// 227 KiB).

#include "attention_common.h"

#define BWD_THREADS 128

// lse of row i scaled to base 2 for P = 2^(s scale log2 e - lse log2 e); +inf (P = 0) for rows
// past the end and rows that saw no key.
KINEMA_DEV float lse_base2(const float* lse, const kinema_attention_args& a, i64 b, i64 h, i64 i) {
  if (i >= a.sq) return INFINITY;
  float l = lse[b * a.lse_stride[0] + h * a.lse_stride[1] + i * a.lse_stride[2]];
  return l == -INFINITY ? INFINITY : l * KINEMA_LOG2E;
}

// ------------------------------------------------------------------------------------------------
// 1. Delta = rowsum(dO * O)
// ------------------------------------------------------------------------------------------------

template <typename T>
KINEMA_DEV void attention_delta(const u16* out, const u16* dout, float* delta,
                                const kinema_attention_args& a, int d) {
  i64 row = (i64)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
  int lane = threadIdx.x & 31;
  i64 rows = a.batch * a.heads * a.sq;
  if (row >= rows) return;  // whole warps leave together
  i64 i = row % a.sq, bh = row / a.sq, b = bh / a.heads, h = bh % a.heads;
  const u16* o = out + b * a.o_stride[0] + h * a.o_stride[1] + i * a.o_stride[2];
  const u16* go = dout + b * a.do_stride[0] + h * a.do_stride[1] + i * a.do_stride[2];
  float s = 0.0f;
  for (int c = lane; c < d; c += 32) {
    T ov, gv;
    ov.bits = o[c];
    gv.bits = go[c];
    s += to_f32(ov) * to_f32(gv);
  }
  s = warp_sum(s);
  if (lane == 0) delta[row] = s;
}

// ------------------------------------------------------------------------------------------------
// 2. dK, dV: a CTA per 64 keys (and DC of the D columns)
// ------------------------------------------------------------------------------------------------

template <typename T, int D, int QB, int DC>
KINEMA_DEV void attention_dkdv(const u16* q, const u16* k, const u16* v, const u16* dout,
                               const float* lse, const float* delta, float* dk, float* dv,
                               const u8* mask, const kinema_attention_args& a) {
  KINEMA_DYNAMIC_SMEM(u16, smem);
  const int P = tile_pitch<D>::value;
  u16* ks = smem;                // K [64][P]
  u16* vs = ks + 64 * P;         // V [64][P]
  u16* qs = vs + 64 * P;         // Q [QB][P]
  u16* dos = qs + QB * P;        // dO [QB][P]
  float* lse_s = (float*)(dos + QB * P);  // [QB] base-2 lse of the block's query rows
  float* delta_s = lse_s + QB;            // [QB]
  key_ranges* ranges_s = (key_ranges*)(delta_s + QB);  // [QB] the keys each row may see

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const i64 bh = blockIdx.x, b = bh / a.heads, h = bh % a.heads;
  const i64 k0 = (i64)(blockIdx.y / (D / DC)) * 64;
  const int c0 = blockIdx.y % (D / DC) * DC;  // the gradient columns [c0, c0 + DC) of this CTA
  const u16* qb = q + b * a.q_stride[0] + h * a.q_stride[1];
  const u16* gob = dout + b * a.do_stride[0] + h * a.do_stride[1];
  const float* deltab = delta + bh * a.sq;
  const bool explicit_mask = a.mask_kind == KINEMA_MASK_EXPLICIT;
  const bool ranged = a.mask_kind == KINEMA_MASK_KEY_RANGES;
  const float scale2 = a.scale * KINEMA_LOG2E;

  load_tile<64, D, BWD_THREADS>(ks, k + b * a.k_stride[0] + h * a.k_stride[1], a.k_stride[2], k0,
                                a.sk);
  load_tile<64, D, BWD_THREADS>(vs, v + b * a.v_stride[0] + h * a.v_stride[1], a.v_stride[2], k0,
                                a.sk);
  cp_async_commit();

  float dka[DC / 8][4], dva[DC / 8][4];
#pragma unroll
  for (int i = 0; i < DC / 8; i++) {
    dka[i][0] = dka[i][1] = dka[i][2] = dka[i][3] = 0.0f;
    dva[i][0] = dva[i][1] = dva[i][2] = dva[i][3] = 0.0f;
  }
  const i64 key0 = k0 + warp * 16 + g, key1 = key0 + 8;  // this thread's two key rows

  for (i64 i0 = first_row_seeing(k0, a) / QB * QB; i0 < a.sq; i0 += QB) {
    if (ranged) {  // skip the query blocks none of whose rows sees one of these keys
      bool meets = false;
      for (int r = threadIdx.x; r < QB; r += BWD_THREADS) {
        meets = meets || ranges_meet(row_ranges(i0 + r, a, mask), k0, k0 + 64);
      }
      if (!__syncthreads_or(meets)) continue;
    }
    load_tile<QB, D, BWD_THREADS>(qs, qb, a.q_stride[2], i0, a.sq);
    load_tile<QB, D, BWD_THREADS>(dos, gob, a.do_stride[2], i0, a.sq);
    cp_async_commit();
    for (int r = threadIdx.x; r < QB; r += BWD_THREADS) {
      i64 i = i0 + r;
      lse_s[r] = lse_base2(lse, a, b, h, i);
      delta_s[r] = i < a.sq ? deltab[i] : 0.0f;
      ranges_s[r] = row_ranges(i, a, mask);
    }
    cp_async_wait<0>();
    __syncthreads();

    // S^T = K Q^T and dP^T = V dO^T for this warp's 16 keys x QB queries.
    float st[QB / 8][4], dpt[QB / 8][4];
#pragma unroll
    for (int nb = 0; nb < QB / 8; nb++) {
#pragma unroll
      for (int e = 0; e < 4; e++) st[nb][e] = dpt[nb][e] = 0.0f;
    }
#pragma unroll
    for (int kk = 0; kk < D / 16; kk++) {
      u32 ka[4], va[4];
      load_a_frag<D>(ka, ks, warp * 16, kk * 16);
      load_a_frag<D>(va, vs, warp * 16, kk * 16);
#pragma unroll
      for (int nb = 0; nb < QB / 8; nb++) {
        u32 b0, b1;
        load_bt_frag<D>(b0, b1, qs, nb * 8, kk * 16);
        mma_16816<T>(st[nb], ka, b0, b1);
        load_bt_frag<D>(b0, b1, dos, nb * 8, kk * 16);
        mma_16816<T>(dpt[nb], va, b0, b1);
      }
    }

    // P^T and dS^T = P^T (dP^T - Delta), elementwise; rows = keys, columns = queries.
#pragma unroll
    for (int nb = 0; nb < QB / 8; nb++) {
#pragma unroll
      for (int e = 0; e < 4; e++) {
        int c = nb * 8 + 2 * t + (e & 1);
        i64 key = e >= 2 ? key1 : key0, i = i0 + c;
        bool ok = in_ranges(ranges_s[c], key);
        if (ok && explicit_mask) ok = i < a.sq && mask_allows(mask, a, b, h, i, key);
        float p = ok ? exp2f(st[nb][e] * scale2 - lse_s[c]) : 0.0f;
        st[nb][e] = p;
        dpt[nb][e] = p * (dpt[nb][e] - delta_s[c]);
      }
    }

    // dV += P^T dO and dK += dS^T Q (k = the QB queries, 16 at a time).
#pragma unroll
    for (int kk = 0; kk < QB / 16; kk++) {
      u32 pa[4], da[4];
      pa[0] = pack2<T>(st[2 * kk][0], st[2 * kk][1]);
      pa[1] = pack2<T>(st[2 * kk][2], st[2 * kk][3]);
      pa[2] = pack2<T>(st[2 * kk + 1][0], st[2 * kk + 1][1]);
      pa[3] = pack2<T>(st[2 * kk + 1][2], st[2 * kk + 1][3]);
      da[0] = pack2<T>(dpt[2 * kk][0], dpt[2 * kk][1]);
      da[1] = pack2<T>(dpt[2 * kk][2], dpt[2 * kk][3]);
      da[2] = pack2<T>(dpt[2 * kk + 1][0], dpt[2 * kk + 1][1]);
      da[3] = pack2<T>(dpt[2 * kk + 1][2], dpt[2 * kk + 1][3]);
#pragma unroll
      for (int nb = 0; nb < DC / 8; nb += 2) {
        u32 f[4];
        load_b_frags_trans<D>(f, dos, kk * 16, c0 + nb * 8);
        mma_16816<T>(dva[nb], pa, f[0], f[1]);
        mma_16816<T>(dva[nb + 1], pa, f[2], f[3]);
        load_b_frags_trans<D>(f, qs, kk * 16, c0 + nb * 8);
        mma_16816<T>(dka[nb], da, f[0], f[1]);
        mma_16816<T>(dka[nb + 1], da, f[2], f[3]);
      }
    }
    __syncthreads();  // the next query block overwrites Q, dO and the row arrays
  }
  cp_async_wait<0>();  // K and V were never waited for if no query block sees these keys

  float* dkb = dk + bh * a.sk * D;
  float* dvb = dv + bh * a.sk * D;
#pragma unroll
  for (int i = 0; i < DC / 8; i++) {
    int col = c0 + i * 8 + 2 * t;
    if (key0 < a.sk) {
      *(float2*)(dkb + key0 * D + col) = make_float2(dka[i][0] * a.scale, dka[i][1] * a.scale);
      *(float2*)(dvb + key0 * D + col) = make_float2(dva[i][0], dva[i][1]);
    }
    if (key1 < a.sk) {
      *(float2*)(dkb + key1 * D + col) = make_float2(dka[i][2] * a.scale, dka[i][3] * a.scale);
      *(float2*)(dvb + key1 * D + col) = make_float2(dva[i][2], dva[i][3]);
    }
  }
}

// ------------------------------------------------------------------------------------------------
// 3. dQ: a CTA per 64 query rows
// ------------------------------------------------------------------------------------------------

template <typename T, int D, int KB>
KINEMA_DEV void attention_dq(const u16* q, const u16* k, const u16* v, const u16* dout,
                             const float* lse, const float* delta, float* dq, const u8* mask,
                             const kinema_attention_args& a) {
  KINEMA_DYNAMIC_SMEM(u16, smem);
  const int P = tile_pitch<D>::value;
  u16* qs = smem;           // Q [64][P]
  u16* dos = qs + 64 * P;   // dO [64][P]
  u16* ks = dos + 64 * P;   // K [KB][P]
  u16* vs = ks + KB * P;    // V [KB][P]

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const i64 bh = blockIdx.x, b = bh / a.heads, h = bh % a.heads;
  const i64 q0 = (i64)(gridDim.y - 1 - blockIdx.y) * 64;  // last (costliest) tiles first
  const u16* kb = k + b * a.k_stride[0] + h * a.k_stride[1];
  const u16* vb = v + b * a.v_stride[0] + h * a.v_stride[1];
  const bool explicit_mask = a.mask_kind == KINEMA_MASK_EXPLICIT;
  const bool ranged = a.mask_kind == KINEMA_MASK_KEY_RANGES;
  const float scale2 = a.scale * KINEMA_LOG2E;

  load_tile<64, D, BWD_THREADS>(qs, q + b * a.q_stride[0] + h * a.q_stride[1], a.q_stride[2], q0,
                                a.sq);
  load_tile<64, D, BWD_THREADS>(dos, dout + b * a.do_stride[0] + h * a.do_stride[1],
                                a.do_stride[2], q0, a.sq);
  cp_async_commit();

  // This thread's two rows: the keys they may see, base-2 lse, Delta.
  const i64 row0 = q0 + warp * 16 + g, row1 = row0 + 8;
  const key_ranges rr0 = row_ranges(row0, a, mask), rr1 = row_ranges(row1, a, mask);
  const float lse0 = lse_base2(lse, a, b, h, row0), lse1 = lse_base2(lse, a, b, h, row1);
  const float del0 = row0 < a.sq ? delta[bh * a.sq + row0] : 0.0f;
  const float del1 = row1 < a.sq ? delta[bh * a.sq + row1] : 0.0f;

  float dqa[D / 8][4];
#pragma unroll
  for (int i = 0; i < D / 8; i++) dqa[i][0] = dqa[i][1] = dqa[i][2] = dqa[i][3] = 0.0f;

  i64 last_row = q0 + 63 < a.sq ? q0 + 63 : a.sq - 1;
  const int k_end = key_limit(last_row, a);
  for (int k0 = 0; k0 < k_end; k0 += KB) {
    // Key ranges: skip the blocks no row of the CTA sees (the vote is the same in every thread).
    if (ranged &&
        !__syncthreads_or(ranges_meet(rr0, k0, k0 + KB) || ranges_meet(rr1, k0, k0 + KB))) {
      continue;
    }
    load_tile<KB, D, BWD_THREADS>(ks, kb, a.k_stride[2], k0, a.sk);
    load_tile<KB, D, BWD_THREADS>(vs, vb, a.v_stride[2], k0, a.sk);
    cp_async_commit();
    cp_async_wait<0>();
    __syncthreads();

    // S = Q K^T and dP = dO V^T for this warp's 16 rows x KB keys.
    float s[KB / 8][4], dp[KB / 8][4];
#pragma unroll
    for (int nb = 0; nb < KB / 8; nb++) {
#pragma unroll
      for (int e = 0; e < 4; e++) s[nb][e] = dp[nb][e] = 0.0f;
    }
#pragma unroll
    for (int kk = 0; kk < D / 16; kk++) {
      u32 qa[4], ga[4];
      load_a_frag<D>(qa, qs, warp * 16, kk * 16);
      load_a_frag<D>(ga, dos, warp * 16, kk * 16);
#pragma unroll
      for (int nb = 0; nb < KB / 8; nb++) {
        u32 b0, b1;
        load_bt_frag<D>(b0, b1, ks, nb * 8, kk * 16);
        mma_16816<T>(s[nb], qa, b0, b1);
        load_bt_frag<D>(b0, b1, vs, nb * 8, kk * 16);
        mma_16816<T>(dp[nb], ga, b0, b1);
      }
    }

    // dS = P (dP - Delta), elementwise.
#pragma unroll
    for (int nb = 0; nb < KB / 8; nb++) {
#pragma unroll
      for (int e = 0; e < 4; e++) {
        bool upper = e >= 2;
        int j = k0 + nb * 8 + 2 * t + (e & 1);
        bool ok = in_ranges(upper ? rr1 : rr0, j);
        if (ok && explicit_mask) {
          i64 i = upper ? row1 : row0;
          ok = i < a.sq && mask_allows(mask, a, b, h, i, j);
        }
        float p = ok ? exp2f(s[nb][e] * scale2 - (upper ? lse1 : lse0)) : 0.0f;
        dp[nb][e] = p * (dp[nb][e] - (upper ? del1 : del0));
      }
    }

    // dQ += dS K (k = the KB keys, 16 at a time).
#pragma unroll
    for (int kk = 0; kk < KB / 16; kk++) {
      u32 da[4];
      da[0] = pack2<T>(dp[2 * kk][0], dp[2 * kk][1]);
      da[1] = pack2<T>(dp[2 * kk][2], dp[2 * kk][3]);
      da[2] = pack2<T>(dp[2 * kk + 1][0], dp[2 * kk + 1][1]);
      da[3] = pack2<T>(dp[2 * kk + 1][2], dp[2 * kk + 1][3]);
#pragma unroll
      for (int nb = 0; nb < D / 8; nb += 2) {
        u32 f[4];
        load_b_frags_trans<D>(f, ks, kk * 16, nb * 8);
        mma_16816<T>(dqa[nb], da, f[0], f[1]);
        mma_16816<T>(dqa[nb + 1], da, f[2], f[3]);
      }
    }
    __syncthreads();  // the next key block overwrites K and V
  }
  cp_async_wait<0>();  // Q and dO were never waited for if the rows see no key

  float* dqb = dq + bh * a.sq * D;
#pragma unroll
  for (int i = 0; i < D / 8; i++) {
    int col = i * 8 + 2 * t;
    if (row0 < a.sq) {
      *(float2*)(dqb + row0 * D + col) = make_float2(dqa[i][0] * a.scale, dqa[i][1] * a.scale);
    }
    if (row1 < a.sq) {
      *(float2*)(dqb + row1 * D + col) = make_float2(dqa[i][2] * a.scale, dqa[i][3] * a.scale);
    }
  }
}

// ------------------------------------------------------------------------------------------------
// Entry points
// ------------------------------------------------------------------------------------------------

#define KINEMA_FLASH_BWD(SUFFIX, T)                                                             \
  extern "C" __global__ void kinema_flash_attention_bwd_delta_##SUFFIX(                         \
      const u16* out, const u16* dout, float* delta,                                            \
      const __grid_constant__ kinema_attention_args a, int head_dim) {                          \
    attention_delta<T>(out, dout, delta, a, head_dim);                                          \
  }                                                                                             \
  extern "C" __global__ void __launch_bounds__(BWD_THREADS)                                     \
      kinema_flash_attention_bwd_dkdv_##SUFFIX##_d64(                                           \
          const u16* q, const u16* k, const u16* v, const u16* dout, const float* lse,          \
          const float* delta, float* dk, float* dv, const u8* mask,                             \
          const __grid_constant__ kinema_attention_args a) {                                    \
    attention_dkdv<T, 64, 64, 64>(q, k, v, dout, lse, delta, dk, dv, mask, a);                  \
  }                                                                                             \
  extern "C" __global__ void __launch_bounds__(BWD_THREADS)                                     \
      kinema_flash_attention_bwd_dkdv_##SUFFIX##_d128(                                          \
          const u16* q, const u16* k, const u16* v, const u16* dout, const float* lse,          \
          const float* delta, float* dk, float* dv, const u8* mask,                             \
          const __grid_constant__ kinema_attention_args a) {                                    \
    attention_dkdv<T, 128, 32, 128>(q, k, v, dout, lse, delta, dk, dv, mask, a);                \
  }                                                                                             \
  extern "C" __global__ void __launch_bounds__(BWD_THREADS)                                     \
      kinema_flash_attention_bwd_dq_##SUFFIX##_d64(                                             \
          const u16* q, const u16* k, const u16* v, const u16* dout, const float* lse,          \
          const float* delta, float* dq, const u8* mask,                                        \
          const __grid_constant__ kinema_attention_args a) {                                    \
    attention_dq<T, 64, 64>(q, k, v, dout, lse, delta, dq, mask, a);                            \
  }                                                                                             \
  extern "C" __global__ void __launch_bounds__(BWD_THREADS)                                     \
      kinema_flash_attention_bwd_dq_##SUFFIX##_d128(                                            \
          const u16* q, const u16* k, const u16* v, const u16* dout, const float* lse,          \
          const float* delta, float* dq, const u8* mask,                                        \
          const __grid_constant__ kinema_attention_args a) {                                    \
    attention_dq<T, 128, 32>(q, k, v, dout, lse, delta, dq, mask, a);                           \
  }                                                                                             \
  extern "C" __global__ void __launch_bounds__(BWD_THREADS)                                     \
      kinema_flash_attention_bwd_dkdv_##SUFFIX##_d256(                                          \
          const u16* q, const u16* k, const u16* v, const u16* dout, const float* lse,          \
          const float* delta, float* dk, float* dv, const u8* mask,                             \
          const __grid_constant__ kinema_attention_args a) {                                    \
    attention_dkdv<T, 256, 32, 128>(q, k, v, dout, lse, delta, dk, dv, mask, a);                \
  }                                                                                             \
  extern "C" __global__ void __launch_bounds__(BWD_THREADS)                                     \
      kinema_flash_attention_bwd_dq_##SUFFIX##_d256(                                            \
          const u16* q, const u16* k, const u16* v, const u16* dout, const float* lse,          \
          const float* delta, float* dq, const u8* mask,                                        \
          const __grid_constant__ kinema_attention_args a) {                                    \
    attention_dq<T, 256, 32>(q, k, v, dout, lse, delta, dq, mask, a);                           \
  }

KINEMA_FLASH_BWD(bf16, kinema_bf16)
KINEMA_FLASH_BWD(f16, kinema_f16)
