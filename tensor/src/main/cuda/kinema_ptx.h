// kinema_ptx.h: every inline-PTX instruction the kernels use, behind small functions, so that
// the rest of the code is plain CUDA C++. All are valid on sm_80 and later (PTX ISA 7.0+).
//
//   - 16-bit float conversions (cvt), round to nearest even;
//   - asynchronous global -> shared copies (cp.async, sm_80);
//   - tensor-core products mma.sync.m16n8k16 with f32 accumulation, and ldmatrix;
//   - the dynamic shared memory declaration.
#pragma once

typedef unsigned int u32;
typedef unsigned short u16;

#define KINEMA_DEV __device__ __forceinline__

// Dynamic shared memory of the launch, as an array `name` of `type` (16-byte aligned).
#define KINEMA_DYNAMIC_SMEM(type, name) extern __shared__ __align__(16) type name[]

// ------------------------------------------------------------------------------------------------
// Conversions
// ------------------------------------------------------------------------------------------------

KINEMA_DEV float f16_to_f32(u16 h) {
  float f;
  asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
  return f;
}

// IEEE round to nearest even with overflow to infinity, like Java's Float.floatToFloat16 (a NaN's
// payload may differ: the hardware returns the canonical NaN).
KINEMA_DEV u16 f32_to_f16(float f) {
  u16 h;
  asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f));
  return h;
}

// Two floats to a packed bf16x2 / f16x2 word (lo in the low half), round to nearest even: the
// operand format of the tensor-core instructions.
KINEMA_DEV u32 pack_bf16x2(float lo, float hi) {
  u32 r;
  asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
  return r;
}
KINEMA_DEV u32 pack_f16x2(float lo, float hi) {
  u32 r;
  asm("cvt.rn.f16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
  return r;
}

// ------------------------------------------------------------------------------------------------
// cp.async
// ------------------------------------------------------------------------------------------------

KINEMA_DEV u32 smem_addr(const void* p) { return (u32)__cvta_generic_to_shared(p); }

// 16 bytes global -> shared, asynchronously (L2 only: .cg); src_bytes = 0 fills zeros.
KINEMA_DEV void cp_async16(void* dst, const void* src, int src_bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr(dst)), "l"(src),
               "r"(src_bytes));
}
KINEMA_DEV void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }

// Waits until at most N of this thread's committed groups are still in flight.
template <int N>
KINEMA_DEV void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

// ------------------------------------------------------------------------------------------------
// Tensor cores (warp-collective: all 32 lanes call them together)
// ------------------------------------------------------------------------------------------------

// d += a b on one 16x8x16 tile, bf16 (or f16) inputs, f32 accumulators.
KINEMA_DEV void mma_bf16_16816(float (&d)[4], const u32 (&a)[4], u32 b0, u32 b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
      "{%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
KINEMA_DEV void mma_f16_16816(float (&d)[4], const u32 (&a)[4], u32 b0, u32 b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
      "{%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Four 8x8 matrices of 16-bit elements from shared memory, transposed: lane l passes the address
// of row l % 8 of matrix l / 8 (16-byte aligned); r[i] receives, from matrix i, the elements
// (row 2t, col g) and (row 2t + 1, col g) (g = lane / 4, t = lane % 4; the first in the low half).
KINEMA_DEV void ldmatrix_x4_trans(u32 (&r)[4], const void* row) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(row)));
}
