// kinema_ptx.h for the host emulator (emu.h): the same functions as src/main/cuda/kinema_ptx.h,
// computed on the host. The warp-collective ones gather all lanes' fragments and rebuild the
// matrices with the layouts the PTX ISA defines for mma.m16n8k16 and ldmatrix.
#pragma once

#include "emu.h"

typedef unsigned int u32;
typedef unsigned short u16;

#define KINEMA_DEV inline

#define KINEMA_DYNAMIC_SMEM(type, name) type* name = (type*)emu::aligned_smem()

namespace emu {
inline void* aligned_smem() {
  auto p = (uintptr_t)dynamic_smem.data();
  return (void*)((p + 15) & ~(uintptr_t)15);
}
}  // namespace emu

inline float f16_to_f32(u16 h) {
  _Float16 v;
  std::memcpy(&v, &h, 2);
  return (float)v;
}
inline u16 f32_to_f16(float f) {
  _Float16 v = (_Float16)f;  // round to nearest even
  u16 h;
  std::memcpy(&h, &v, 2);
  return h;
}
inline u16 emu_bf16(float f) {
  unsigned b = __float_as_uint(f);
  if ((b & 0x7fffffffu) > 0x7f800000u) return 0x7fff;  // canonical NaN, as the hardware
  return (u16)((b + 0x7fffu + ((b >> 16) & 1u)) >> 16);
}
inline u32 pack_bf16x2(float lo, float hi) { return emu_bf16(lo) | ((u32)emu_bf16(hi) << 16); }
inline u32 pack_f16x2(float lo, float hi) { return f32_to_f16(lo) | ((u32)f32_to_f16(hi) << 16); }

inline void cp_async16(void* dst, const void* src, int src_bytes) {
  if (src_bytes == 16) std::memcpy(dst, src, 16);
  else std::memset(dst, 0, 16);
}
inline void cp_async_commit() {}
template <int N>
inline void cp_async_wait() {}

namespace emu {
inline float half_value(u16 h, bool bf16) {
  return bf16 ? __uint_as_float((unsigned)h << 16) : f16_to_f32(h);
}

struct MmaFrag {
  u32 a[4], b0, b1;
};

// D[16][8] += A[16][16] B[16][8] from the 32 lanes' fragments; this lane's 4 outputs.
inline void mma(float (&d)[4], const u32 (&a)[4], u32 b0, u32 b1, bool bf16) {
  MmaFrag mine{{a[0], a[1], a[2], a[3]}, b0, b1}, all[32];
  warp_gather(mine, all);
  float A[16][16], B[16][8];
  for (int l = 0; l < 32; l++) {
    int g = l >> 2, t = l & 3;
    const MmaFrag& f = all[l];
    int rows[4] = {g, g + 8, g, g + 8}, cols[4] = {2 * t, 2 * t, 2 * t + 8, 2 * t + 8};
    for (int r = 0; r < 4; r++) {
      A[rows[r]][cols[r]] = half_value((u16)f.a[r], bf16);
      A[rows[r]][cols[r] + 1] = half_value((u16)(f.a[r] >> 16), bf16);
    }
    B[2 * t][g] = half_value((u16)f.b0, bf16);
    B[2 * t + 1][g] = half_value((u16)(f.b0 >> 16), bf16);
    B[2 * t + 8][g] = half_value((u16)f.b1, bf16);
    B[2 * t + 9][g] = half_value((u16)(f.b1 >> 16), bf16);
  }
  int g = lane >> 2, t = lane & 3;
  int rows[4] = {g, g, g + 8, g + 8}, cols[4] = {2 * t, 2 * t + 1, 2 * t, 2 * t + 1};
  for (int e = 0; e < 4; e++) {
    float s = 0;
    for (int k = 0; k < 16; k++) s += A[rows[e]][k] * B[k][cols[e]];
    d[e] += s;
  }
}
}  // namespace emu

inline void mma_bf16_16816(float (&d)[4], const u32 (&a)[4], u32 b0, u32 b1) {
  emu::mma(d, a, b0, b1, true);
}
inline void mma_f16_16816(float (&d)[4], const u32 (&a)[4], u32 b0, u32 b1) {
  emu::mma(d, a, b0, b1, false);
}

// Lane l gives row l % 8 of matrix l / 8; r[i] = (M_i[2t][g], M_i[2t + 1][g]).
inline void ldmatrix_x4_trans(u32 (&r)[4], const void* row) {
  struct Addr {
    const u16* p;
  } mine{(const u16*)row}, all[32];
  warp_gather(mine, all);
  int g = emu::lane >> 2, t = emu::lane & 3;
  for (int i = 0; i < 4; i++) {
    u16 lo = all[8 * i + 2 * t].p[g], hi = all[8 * i + 2 * t + 1].p[g];
    r[i] = lo | ((u32)hi << 16);
  }
}
