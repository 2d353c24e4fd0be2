// attention_common.h: what the flash-attention forward and backward share: the argument block,
// mask evaluation, tile loads (cp.async) and fragment loads for the tensor-core products
// (mma.sync m16n8k16 with f32 accumulation; the instructions are in kinema_ptx.h).
//
// Fragment layouts of mma.m16n8k16 (g = lane / 4, t = lane % 4; "pair" = two consecutive
// 16-bit elements in one 32-bit register, the lower index in the low half):
//   A (16 x 16, row major): a0 = A[g][2t..], a1 = A[g+8][2t..], a2 = A[g][2t+8..], a3 = A[g+8][2t+8..]
//   B (16 x 8, k x n):      b0 = (B[2t][g], B[2t+1][g]), b1 = (B[2t+8][g], B[2t+9][g])
//   C (16 x 8, f32):        c0, c1 = C[g][2t], C[g][2t+1];  c2, c3 = C[g+8][2t], C[g+8][2t+1]
// So for S = Q K^T, B = K^T and b0/b1 are pairs of one K row (K[key g][2t..]); the C fragments of
// two neighbouring 8-key blocks of S are exactly the A fragment of P for the next product (the
// FlashAttention-2 register reuse); and for products with a B stored key-major (O += P V: B = V)
// ldmatrix.trans delivers the pairs down a column.
#pragma once

#include "kinema_cuda.h"

// Sizes, strides and mask of one attention call, passed by value (C layout, 8-byte aligned,
// 224 bytes: 27 i64, then the float and the int). Strides are in elements, for (batch, head, sequence); the head dim is contiguous.
struct kinema_attention_args {
  i64 batch, heads, sq, sk;  // q [B, H, Sq, D], k/v [B, H, Sk, D]
  i64 q_stride[3], k_stride[3], v_stride[3];
  i64 o_stride[3];           // out (forward output; backward input)
  i64 do_stride[3];          // gradOut (backward only)
  i64 lse_stride[3];         // lse [B, H, Sq], F32
  i64 mask_stride[4];        // explicit BOOL mask, (batch, head, query, key); 0 for broadcast dims
                             // (unused by KINEMA_MASK_KEY_RANGES: its table is dense)
  i64 block_size;            // KINEMA_MASK_BLOCK_CAUSAL's block
  float scale;               // softmax(scale * q k^T)
  int mask_kind;             // KINEMA_MASK_*
};

// Keys j < key_limit(i) may be attended by query row i (CpuAttention.Plan.keyLimit): query i has
// position p = i + Sk - Sq; causal allows j <= p, block-causal every key of blocks <= p's block.
// Never decreases with i. An explicit mask is applied on top, element by element.
KINEMA_DEV int key_limit(i64 i, const kinema_attention_args& a) {
  i64 p = i + a.sk - a.sq, lim;
  switch (a.mask_kind) {
    case KINEMA_MASK_CAUSAL: lim = p + 1; break;
    case KINEMA_MASK_BLOCK_CAUSAL: {
      i64 q = p >= 0 ? p / a.block_size : -((-p + a.block_size - 1) / a.block_size);  // floor
      lim = (q + 1) * a.block_size;
      break;
    }
    default: lim = a.sk; break;
  }
  return (int)(lim < 0 ? 0 : lim > a.sk ? a.sk : lim);
}

// The first query row whose key limit passes `key` (rows before it cannot see the key): binary
// search, as the limits never decrease with the row.
KINEMA_DEV i64 first_row_seeing(i64 key, const kinema_attention_args& a) {
  i64 lo = 0, hi = a.sq;
  while (lo < hi) {
    i64 mid = (lo + hi) >> 1;
    if (key_limit(mid, a) > key) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

// The keys query row i may see, as two intervals [lo1, hi1) and [lo2, hi2) (empty when lo >= hi).
// KINEMA_MASK_KEY_RANGES reads them from its table: the kernels' `mask` operand is then a dense
// I32 [Sq, 4] of (lo1, hi1, lo2, hi2) per query row. Bounds may be any int: they are only compared
// with key indices, never used to address, so a bound past [0, Sk] reaches past the keys. Every other kind is the one interval
// [0, key_limit(i)), with an explicit mask applied on top. Rows past Sq see nothing.
struct key_ranges {
  int lo1, hi1, lo2, hi2;
};

KINEMA_DEV key_ranges row_ranges(i64 i, const kinema_attention_args& a, const u8* mask) {
  key_ranges r = {0, 0, 0, 0};
  if (i >= a.sq) return r;
  if (a.mask_kind != KINEMA_MASK_KEY_RANGES) {
    r.hi1 = key_limit(i, a);
    return r;
  }
  const int* t = (const int*)mask + i * 4;
  r.lo1 = t[0];
  r.hi1 = t[1];
  r.lo2 = t[2];
  r.hi2 = t[3];
  return r;
}

// Whether key j lies in one of the row's intervals.
KINEMA_DEV bool in_ranges(const key_ranges& r, i64 j) {
  return (r.lo1 <= j && j < r.hi1) || (r.lo2 <= j && j < r.hi2);
}

// Whether the row sees some key of [k0, k1): a tile votes with these (__syncthreads_or) and skips
// the key blocks none of its rows can see.
KINEMA_DEV bool ranges_meet(const key_ranges& r, i64 k0, i64 k1) {
  return (r.lo1 < r.hi1 && r.lo1 < k1 && k0 < r.hi1) ||
         (r.lo2 < r.hi2 && r.lo2 < k1 && k0 < r.hi2);
}

// The explicit mask's element for (b, h, i, j) (only with KINEMA_MASK_EXPLICIT).
KINEMA_DEV bool mask_allows(const u8* mask, const kinema_attention_args& a, i64 b, i64 h, i64 i,
                            i64 j) {
  return mask[b * a.mask_stride[0] + h * a.mask_stride[1] + i * a.mask_stride[2] +
              j * a.mask_stride[3]] != 0;
}

// ------------------------------------------------------------------------------------------------
// Shared-memory tiles and cp.async loads
// ------------------------------------------------------------------------------------------------

// Tiles hold rows of D 16-bit elements with a pitch of D + 8: 16 bytes of padding put the 8 rows
// a fragment load touches in 8 different bank groups (no bank conflicts), and keep rows 16-byte
// aligned for cp.async and ldmatrix.
template <int D>
struct tile_pitch {
  static const int value = D + 8;
};

// Rows [r0, r0 + ROWS) of a [rows, D] 16-bit matrix (row stride `stride` elements, rows >= `limit`
// zero) into a shared tile, by the block's THREADS threads, 16 bytes per copy. Global rows must
// be 16-byte aligned (row stride a multiple of 8 elements, base 16-byte aligned).
template <int ROWS, int D, int THREADS>
KINEMA_DEV void load_tile(u16* tile, const u16* base, i64 stride, i64 r0, i64 limit) {
  const int chunks = D / 8;  // 16-byte chunks per row
  const int P = tile_pitch<D>::value;
#pragma unroll
  for (int c = threadIdx.x; c < ROWS * chunks; c += THREADS) {
    int r = c / chunks, col = (c % chunks) * 8;
    bool in = r0 + r < limit;
    const u16* src = in ? base + (r0 + r) * stride + col : base;
    cp_async16(tile + r * P + col, src, in ? 16 : 0);
  }
}

// ------------------------------------------------------------------------------------------------
// Tensor-core instructions
// ------------------------------------------------------------------------------------------------

// d += a b on one 16x8x16 tile; T selects bf16 or f16 inputs.
template <typename T>
KINEMA_DEV void mma_16816(float (&d)[4], const u32 (&a)[4], u32 b0, u32 b1);
template <>
KINEMA_DEV void mma_16816<kinema_bf16>(float (&d)[4], const u32 (&a)[4], u32 b0, u32 b1) {
  mma_bf16_16816(d, a, b0, b1);
}
template <>
KINEMA_DEV void mma_16816<kinema_f16>(float (&d)[4], const u32 (&a)[4], u32 b0, u32 b1) {
  mma_f16_16816(d, a, b0, b1);
}

// Two floats as the packed 16-bit pair of T (round to nearest even).
template <typename T>
KINEMA_DEV u32 pack2(float lo, float hi);
template <>
KINEMA_DEV u32 pack2<kinema_bf16>(float lo, float hi) {
  return pack_bf16x2(lo, hi);
}
template <>
KINEMA_DEV u32 pack2<kinema_f16>(float lo, float hi) {
  return pack_f16x2(lo, hi);
}

// The 32-bit pair at (row, col) of a shared tile (col even).
template <int D>
KINEMA_DEV u32 tile_pair(const u16* tile, int row, int col) {
  return *(const u32*)(tile + row * tile_pitch<D>::value + col);
}

// The A fragment of rows [r0, r0 + 16), cols [c0, c0 + 16) of a row-major tile.
template <int D>
KINEMA_DEV void load_a_frag(u32 (&a)[4], const u16* tile, int r0, int c0) {
  int g = (threadIdx.x & 31) >> 2, t = threadIdx.x & 3;
  a[0] = tile_pair<D>(tile, r0 + g, c0 + 2 * t);
  a[1] = tile_pair<D>(tile, r0 + g + 8, c0 + 2 * t);
  a[2] = tile_pair<D>(tile, r0 + g, c0 + 2 * t + 8);
  a[3] = tile_pair<D>(tile, r0 + g + 8, c0 + 2 * t + 8);
}

// The B fragment for a product with B = X^T where X is a row-major tile: n = rows [n0, n0 + 8) of
// X, k = cols [k0, k0 + 16). (S = Q K^T: X = K.)
template <int D>
KINEMA_DEV void load_bt_frag(u32& b0, u32& b1, const u16* tile, int n0, int k0) {
  int g = (threadIdx.x & 31) >> 2, t = threadIdx.x & 3;
  b0 = tile_pair<D>(tile, n0 + g, k0 + 2 * t);
  b1 = tile_pair<D>(tile, n0 + g, k0 + 2 * t + 8);
}

// The B fragments for a product with B = X itself (k = rows of X, n = cols): rows [k0, k0 + 16),
// cols [n0, n0 + 16) as two 8-col n-blocks: (b[0], b[1]) for cols n0.., (b[2], b[3]) for n0 + 8..
// One ldmatrix.x4.trans: lane l addresses row k0 + (l / 8 % 2) * 8 + l % 8, col n0 + (l / 16) * 8.
template <int D>
KINEMA_DEV void load_b_frags_trans(u32 (&b)[4], const u16* tile, int k0, int n0) {
  int l = threadIdx.x & 31;
  int row = k0 + ((l >> 3) & 1) * 8 + (l & 7), col = n0 + (l >> 4) * 8;
  ldmatrix_x4_trans(b, tile + row * tile_pitch<D>::value + col);
}

// The A fragments of a warp's 16 rows [r0, r0 + 16) over all D columns of a shared tile, k-step
// by k-step (kk: columns [16 kk, 16 kk + 16)). IN_REGISTERS = true reads them once into 4 D / 16
// registers (D <= 128: the tile's space may then be reused); false re-reads each from shared
// memory when asked (D = 256, where the registers go to the 16 x D f32 accumulator instead).
template <int D, bool IN_REGISTERS>
struct warp_a_frags;

template <int D>
struct warp_a_frags<D, true> {
  u32 f[D / 16][4];
  KINEMA_DEV warp_a_frags(const u16* tile, int r0) {
#pragma unroll
    for (int kk = 0; kk < D / 16; kk++) load_a_frag<D>(f[kk], tile, r0, kk * 16);
  }
  KINEMA_DEV void get(u32 (&a)[4], int kk) const {
#pragma unroll
    for (int i = 0; i < 4; i++) a[i] = f[kk][i];
  }
};

template <int D>
struct warp_a_frags<D, false> {
  const u16* tile;
  int r0;
  KINEMA_DEV warp_a_frags(const u16* tile, int r0) : tile(tile), r0(r0) {}
  KINEMA_DEV void get(u32 (&a)[4], int kk) const { load_a_frag<D>(a, tile, r0, kk * 16); }
};

#define KINEMA_LOG2E 1.4426950408889634f
#define KINEMA_LN2 0.6931471805599453f
