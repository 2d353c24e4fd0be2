// attention.cu: fused flash attention forward (Backend.attention) on BF16/F16 with tensor cores.
//
// out = softmax(scale q k^T under the mask) v, and lse = log-sum-exp of each row's scaled scores,
// computed FlashAttention-2 style: a CTA owns 64 query rows of one (batch, head) and walks the keys
// in blocks of BN (64; 32 at D = 256) with an online softmax, so no Sq x Sk matrix exists. 4 warps,
// each 16 rows:
//   1. the CTA's Q tile goes to shared memory (cp.async), and for D <= 128 into each warp's
//      registers as mma A fragments (at D = 256 they are re-read from shared memory per k-step),
//      pre-multiplied by nothing (the scale is applied to S in f32);
//   2. per key block: K tile -> S = Q K^T (mma.m16n8k16, f32 accumulators); masked scores to -inf;
//      running max m and the factor alpha = 2^(m_old - m_new) in base 2 (scores times scale *
//      log2 e); P = 2^(s - m) rounded to the input type; V tile -> O = alpha O + P V;
//   3. out = O / l (l: the running sum of P), lse = m ln 2 + ln l, as the CPU's AttentionF32.
// A row that sees no key gets out 0 and lse -inf (the CPU's convention). P is rounded to bf16/f16
// for the P V product (as FlashAttention); l sums the unrounded P. Sums are in f32.
//
// Masks (kinema_attention_args.mask_kind): none, causal and block-causal become per-row key
// limits (see key_limit: aligned to the end of the keys, as the CPU); the CTA stops at the last
// key any of its rows may see. Explicit masks are read per (row, key) from the BOOL tensor
// (broadcast dims stride 0), e.g. key padding [B, 1, 1, Sk]. Key ranges (two intervals per row,
// from the I32 [Sq, 4] table in `mask`) are tested per (row, key), and the CTA skips every key
// block that none of its rows' intervals meet.
//
// Requirements (the Java side copies the inputs otherwise): head dim D == Dv == 64, 128 or 256
// (kernel suffix _d64/_d128/_d256); q, k, v, out have unit stride along D, 16-byte aligned rows
// (base pointers 16-byte aligned, row strides multiples of 8 elements); lse [B, H, Sq] F32
// (nullable).
//
// Tiles (fwd_tiles): D = 64 and 128 walk 64-key blocks and hold the warp's Q fragments in
// registers (the Q staging area becomes the K tile). At D = 256 the 16 x 256 f32 accumulator O
// alone takes 128 registers per thread, so Q stays in shared memory (its fragments re-read per
// k-step) and key blocks are 32 keys (half the S registers).
//
// Launch: block 128 threads; grid (B * H, ceil(Sq / 64)); dynamic shared memory: K and V tiles of
// BN padded rows, and a Q tile of 64 rows if Q stays there, each row (D + 8) * 2 bytes: 18432 for
// D = 64, 34816 for D = 128, 67584 for D = 256 (over 48 KiB: the launcher raises the function's
// limit first).

#include "attention_common.h"

#define FWD_BM 64  // query rows per CTA (4 warps x 16)
#define FWD_THREADS 128

// Per head dim: keys per block, and whether the warps keep their Q fragments in registers.
template <int D>
struct fwd_tiles {
  static const int BN = D <= 128 ? 64 : 32;
  static const bool Q_IN_REGISTERS = D <= 128;
  static_assert(!Q_IN_REGISTERS || BN >= FWD_BM, "Q is staged in the K tile");
};

template <typename T, int D>
__device__ __forceinline__ void flash_forward(const u16* q, const u16* k, const u16* v, u16* out,
                                              float* lse, const u8* mask,
                                              const kinema_attention_args& a) {
  KINEMA_DYNAMIC_SMEM(u16, smem);
  const int P = tile_pitch<D>::value;
  const int BN = fwd_tiles<D>::BN;
  const bool q_in_registers = fwd_tiles<D>::Q_IN_REGISTERS;
  u16* qs = smem;  // Q tile [BM][P]; with Q in registers, only staged there (then the K tile)
  u16* ks = q_in_registers ? smem : smem + FWD_BM * P;  // K tile [BN][P]
  u16* vs = ks + BN * P;                                // V tile [BN][P]

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const i64 bh = blockIdx.x, b = bh / a.heads, h = bh % a.heads;
  const i64 q0 = (i64)(gridDim.y - 1 - blockIdx.y) * FWD_BM;  // last (costliest) tiles first
  const u16* qb = q + b * a.q_stride[0] + h * a.q_stride[1];
  const u16* kb = k + b * a.k_stride[0] + h * a.k_stride[1];
  const u16* vb = v + b * a.v_stride[0] + h * a.v_stride[1];

  // 1. Q tile -> shared memory, and (D <= 128) into registers: the A fragments of this warp's 16
  // rows, all of D.
  load_tile<FWD_BM, D, FWD_THREADS>(qs, qb, a.q_stride[2], q0, a.sq);
  cp_async_commit();
  cp_async_wait<0>();
  __syncthreads();
  const warp_a_frags<D, q_in_registers> qf(qs, warp * 16);
  if (q_in_registers) __syncthreads();  // the staging area becomes the K tile

  // This thread's two rows (g and g + 8 of the warp's 16) and the keys they may see.
  const i64 row0 = q0 + warp * 16 + g, row1 = row0 + 8;
  const key_ranges rr0 = row_ranges(row0, a, mask), rr1 = row_ranges(row1, a, mask);
  const bool explicit_mask = a.mask_kind == KINEMA_MASK_EXPLICIT;
  const bool ranged = a.mask_kind == KINEMA_MASK_KEY_RANGES;
  const float scale2 = a.scale * KINEMA_LOG2E;

  float o[D / 8][4];
#pragma unroll
  for (int i = 0; i < D / 8; i++) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.0f;
  float m0 = -INFINITY, m1 = -INFINITY;  // running max (base-2 scaled scores) of rows 0, 1
  float l0 = 0.0f, l1 = 0.0f;            // this thread's part of the running sums

  // Keys past the limit of the tile's last row are seen by no row of the tile.
  i64 last_row = q0 + FWD_BM - 1 < a.sq ? q0 + FWD_BM - 1 : a.sq - 1;
  const int k_end = key_limit(last_row, a);

  for (int k0 = 0; k0 < k_end; k0 += BN) {
    // Key ranges: skip the blocks no row of the CTA sees (the vote is the same in every thread).
    if (ranged &&
        !__syncthreads_or(ranges_meet(rr0, k0, k0 + BN) || ranges_meet(rr1, k0, k0 + BN))) {
      continue;
    }
    // 2a. K and V tiles in flight; S = Q K^T once K has landed.
    load_tile<BN, D, FWD_THREADS>(ks, kb, a.k_stride[2], k0, a.sk);
    cp_async_commit();
    load_tile<BN, D, FWD_THREADS>(vs, vb, a.v_stride[2], k0, a.sk);
    cp_async_commit();
    cp_async_wait<1>();
    __syncthreads();

    float s[BN / 8][4];
#pragma unroll
    for (int nb = 0; nb < BN / 8; nb++) s[nb][0] = s[nb][1] = s[nb][2] = s[nb][3] = 0.0f;
#pragma unroll
    for (int kk = 0; kk < D / 16; kk++) {
      u32 qa[4];
      qf.get(qa, kk);
#pragma unroll
      for (int nb = 0; nb < BN / 8; nb++) {
        u32 b0, b1;
        load_bt_frag<D>(b0, b1, ks, nb * 8, kk * 16);
        mma_16816<T>(s[nb], qa, b0, b1);
      }
    }

    // 2b. Scale to base 2, mask, row max (over the 4 threads of a row: lanes 4g..4g+3).
    float mx0 = -INFINITY, mx1 = -INFINITY;
#pragma unroll
    for (int nb = 0; nb < BN / 8; nb++) {
#pragma unroll
      for (int e = 0; e < 4; e++) {
        int j = k0 + nb * 8 + 2 * t + (e & 1);
        bool upper = e >= 2;  // c2, c3 belong to row g + 8
        bool ok = in_ranges(upper ? rr1 : rr0, j);
        if (ok && explicit_mask) {
          i64 i = upper ? row1 : row0;
          ok = i < a.sq && mask_allows(mask, a, b, h, i, j);
        }
        float sv = ok ? s[nb][e] * scale2 : -INFINITY;
        s[nb][e] = sv;
        if (upper) mx1 = fmaxf(mx1, sv);
        else mx0 = fmaxf(mx0, sv);
      }
    }
    mx0 = fmaxf(mx0, __shfl_xor_sync(KINEMA_FULL_MASK, mx0, 1));
    mx0 = fmaxf(mx0, __shfl_xor_sync(KINEMA_FULL_MASK, mx0, 2));
    mx1 = fmaxf(mx1, __shfl_xor_sync(KINEMA_FULL_MASK, mx1, 1));
    mx1 = fmaxf(mx1, __shfl_xor_sync(KINEMA_FULL_MASK, mx1, 2));

    // 2c. Online softmax: while a row has seen nothing, m stays -inf and the base is 0, so
    // P = 2^-inf = 0 and alpha = 0 keep O and l at 0 (no inf - inf).
    float n0 = fmaxf(m0, mx0), n1 = fmaxf(m1, mx1);
    float base0 = n0 == -INFINITY ? 0.0f : n0, base1 = n1 == -INFINITY ? 0.0f : n1;
    float alpha0 = exp2f(m0 - base0), alpha1 = exp2f(m1 - base1);
    m0 = n0;
    m1 = n1;
    l0 *= alpha0;
    l1 *= alpha1;
#pragma unroll
    for (int i = 0; i < D / 8; i++) {
      o[i][0] *= alpha0;
      o[i][1] *= alpha0;
      o[i][2] *= alpha1;
      o[i][3] *= alpha1;
    }
#pragma unroll
    for (int nb = 0; nb < BN / 8; nb++) {
      s[nb][0] = exp2f(s[nb][0] - base0);
      s[nb][1] = exp2f(s[nb][1] - base0);
      s[nb][2] = exp2f(s[nb][2] - base1);
      s[nb][3] = exp2f(s[nb][3] - base1);
      l0 += s[nb][0] + s[nb][1];
      l1 += s[nb][2] + s[nb][3];
    }

    // 2d. O += P V: P's A fragments are S's accumulators of two neighbouring 8-key blocks.
    cp_async_wait<0>();
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < BN / 16; kk++) {
      u32 pa[4];
      pa[0] = pack2<T>(s[2 * kk][0], s[2 * kk][1]);
      pa[1] = pack2<T>(s[2 * kk][2], s[2 * kk][3]);
      pa[2] = pack2<T>(s[2 * kk + 1][0], s[2 * kk + 1][1]);
      pa[3] = pack2<T>(s[2 * kk + 1][2], s[2 * kk + 1][3]);
#pragma unroll
      for (int nb = 0; nb < D / 8; nb += 2) {
        u32 vf[4];
        load_b_frags_trans<D>(vf, vs, kk * 16, nb * 8);
        mma_16816<T>(o[nb], pa, vf[0], vf[1]);
        mma_16816<T>(o[nb + 1], pa, vf[2], vf[3]);
      }
    }
    __syncthreads();  // the next block's loads overwrite K and V
  }

  // 3. Normalize and store. The row sums are spread over the row's 4 threads.
  l0 += __shfl_xor_sync(KINEMA_FULL_MASK, l0, 1);
  l0 += __shfl_xor_sync(KINEMA_FULL_MASK, l0, 2);
  l1 += __shfl_xor_sync(KINEMA_FULL_MASK, l1, 1);
  l1 += __shfl_xor_sync(KINEMA_FULL_MASK, l1, 2);
  float inv0 = l0 == 0.0f ? 0.0f : 1.0f / l0, inv1 = l1 == 0.0f ? 0.0f : 1.0f / l1;
  u16* ob = out + b * a.o_stride[0] + h * a.o_stride[1];
#pragma unroll
  for (int i = 0; i < D / 8; i++) {
    int col = i * 8 + 2 * t;
    if (row0 < a.sq) {
      *(u32*)(ob + row0 * a.o_stride[2] + col) = pack2<T>(o[i][0] * inv0, o[i][1] * inv0);
    }
    if (row1 < a.sq) {
      *(u32*)(ob + row1 * a.o_stride[2] + col) = pack2<T>(o[i][2] * inv1, o[i][3] * inv1);
    }
  }
  if (lse != nullptr && t == 0) {
    float* lb = lse + b * a.lse_stride[0] + h * a.lse_stride[1];
    if (row0 < a.sq) lb[row0 * a.lse_stride[2]] = l0 == 0.0f ? -INFINITY : m0 * KINEMA_LN2 + logf(l0);
    if (row1 < a.sq) lb[row1 * a.lse_stride[2]] = l1 == 0.0f ? -INFINITY : m1 * KINEMA_LN2 + logf(l1);
  }
}

#define KINEMA_FLASH_FWD(SUFFIX, T, D)                                                          \
  extern "C" __global__ void __launch_bounds__(FWD_THREADS)                                     \
      kinema_flash_attention_##SUFFIX##_d##D(const u16* q, const u16* k, const u16* v,          \
                                             u16* out, float* lse, const u8* mask,              \
                                             const __grid_constant__ kinema_attention_args a) { \
    flash_forward<T, D>(q, k, v, out, lse, mask, a);                                            \
  }

KINEMA_FLASH_FWD(bf16, kinema_bf16, 64)
KINEMA_FLASH_FWD(bf16, kinema_bf16, 128)
KINEMA_FLASH_FWD(f16, kinema_f16, 64)
KINEMA_FLASH_FWD(f16, kinema_f16, 128)
KINEMA_FLASH_FWD(bf16, kinema_bf16, 256)
KINEMA_FLASH_FWD(f16, kinema_f16, 256)
