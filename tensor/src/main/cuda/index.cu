// index.cu: gather (and index_select, a gather whose index varies along `dim` only), the index
// range check, and a deterministic scatter_add.
//
// The same semantics as the CPU's CpuIndex:
//   - gather / index_select move elements as raw bits (input and output share a dtype), so one
//     kernel serves every dtype: out[c] = x[c with c[dim] = index[c]];
//   - scatter_add adds in the destination's dtype with the CPU's rounding (F32/F64 one IEEE add,
//     BF16/F16 through f32 and rounded once per add, integers wrapping, BOOL as OR), each
//     destination receiving its sources in increasing position along dim, as the CPU does: the
//     results are the CPU's bit for bit, every run, with no atomics;
//   - index values are I64 or I32; a value outside [0, size) is an error. The kernels do not
//     read or write through a bad index: they set *bad = 1 (every writer stores the same value)
//     and the host, which reads the flag after the launch, reports the error.
//
// Launch (every kernel here): block 256, any grid (grid-stride loops). No shared memory.

#include "kinema_cuda.h"

// Element `at` of an I64 (index_dtype KINEMA_I64) or I32 index buffer.
KINEMA_DEV i64 load_index(const void* index, i64 at, int index_dtype) {
  return index_dtype == KINEMA_I64 ? ((const i64*)index)[at] : (i64)((const int*)index)[at];
}

// True when idx is a position of a dim of `size` (negative values wrap to huge unsigned ones).
KINEMA_DEV bool in_range(i64 idx, i64 size) { return (u64)idx < (u64)size; }

// Runs body(offsets) for every row-major index of `shape` in a grid-stride loop, with 32-bit
// index arithmetic when n fits.
template <int N, typename Body>
KINEMA_DEV void grid_strided(i64 n, const kinema_shape& shape, const kinema_strides* const (&st)[N],
                             Body body) {
  i64 off[N];
  if (n <= 0x7fffffffLL) {
    for (i64 i = global_thread(); i < n; i += global_threads()) {
      strided_offsets<u32, N>((u32)i, shape, st, off);
      body(off);
    }
  } else {
    for (i64 i = global_thread(); i < n; i += global_threads()) {
      strided_offsets<u64, N>((u64)i, shape, st, off);
      body(off);
    }
  }
}

// ------------------------------------------------------------------------------------------------
// gather / index_select
// ------------------------------------------------------------------------------------------------

// out[c] = x[c with c[dim] = index[c]] over out's index space `shape` (n elements). x_st are x's
// strides with 0 for dim (the index supplies that coordinate: x_dim_stride apart, x_dim_size of
// them); idx_st are the index's strides over out's shape (index_select: 0 except along dim). An
// index outside [0, x_dim_size) sets *bad and leaves its element of out unwritten.
extern "C" __global__ void kinema_gather(const void* x, const __grid_constant__ kinema_strides x_st,
                                         i64 x_dim_stride, i64 x_dim_size, const void* index,
                                         int index_dtype,
                                         const __grid_constant__ kinema_strides idx_st, void* out,
                                         const __grid_constant__ kinema_strides out_st,
                                         const __grid_constant__ kinema_shape shape, i64 n,
                                         int elem_bytes, int* bad) {
  const kinema_strides* st[3] = {&x_st, &idx_st, &out_st};
  grid_strided<3>(n, shape, st, [&](const i64(&o)[3]) {
    i64 idx = load_index(index, o[1], index_dtype);
    if (!in_range(idx, x_dim_size)) {
      *bad = 1;
      return;
    }
    i64 xi = o[0] + idx * x_dim_stride, oi = o[2];
    switch (elem_bytes) {
      case 8: ((u64*)out)[oi] = ((const u64*)x)[xi]; break;
      case 4: ((u32*)out)[oi] = ((const u32*)x)[xi]; break;
      case 2: ((u16*)out)[oi] = ((const u16*)x)[xi]; break;
      default: ((u8*)out)[oi] = ((const u8*)x)[xi]; break;
    }
  });
}

// ------------------------------------------------------------------------------------------------
// scatter_add
// ------------------------------------------------------------------------------------------------

// Sets *bad when any of the n elements of the index (strides idx_st over `shape`) is outside
// [0, size). scatter_add runs it first, so that a bad index leaves self untouched.
extern "C" __global__ void kinema_index_check(const void* index, int index_dtype,
                                              const __grid_constant__ kinema_strides idx_st,
                                              const __grid_constant__ kinema_shape shape, i64 n,
                                              i64 size, int* bad) {
  const kinema_strides* st[1] = {&idx_st};
  grid_strided<1>(n, shape, st, [&](const i64(&o)[1]) {
    if (!in_range(load_index(index, o[0], index_dtype), size)) *bad = 1;
  });
}

// dst[di] += src[si] in the element type, with the CPU's rounding (CpuIndex.addElement).
struct add_f64 {
  KINEMA_DEV static void add(void* d, i64 di, const void* s, i64 si) {
    ((double*)d)[di] = ((double*)d)[di] + ((const double*)s)[si];
  }
};
struct add_f32 {
  KINEMA_DEV static void add(void* d, i64 di, const void* s, i64 si) {
    ((float*)d)[di] = ((float*)d)[di] + ((const float*)s)[si];
  }
};
struct add_bf16 {
  KINEMA_DEV static void add(void* d, i64 di, const void* s, i64 si) {
    u16* dst = (u16*)d;
    dst[di] = f32_to_bf16(bf16_to_f32(dst[di]) + bf16_to_f32(((const u16*)s)[si]));
  }
};
struct add_f16 {
  KINEMA_DEV static void add(void* d, i64 di, const void* s, i64 si) {
    u16* dst = (u16*)d;
    dst[di] = f32_to_f16(f16_to_f32(dst[di]) + f16_to_f32(((const u16*)s)[si]));
  }
};
template <typename I>
struct add_wrapping {  // I64, I32, U8: unsigned arithmetic wraps to the width, as Java's
  KINEMA_DEV static void add(void* d, i64 di, const void* s, i64 si) {
    ((I*)d)[di] = (I)(((I*)d)[di] + ((const I*)s)[si]);
  }
};
struct add_bool {
  KINEMA_DEV static void add(void* d, i64 di, const void* s, i64 si) {
    ((u8*)d)[di] = (((u8*)d)[di] | ((const u8*)s)[si]) != 0 ? 1 : 0;
  }
};

// One line: the `len` positions along dim of one coordinate of the other dims, in order.
template <typename Add>
KINEMA_DEV void scatter_line(void* self, i64 base, i64 self_dim_stride, const void* index,
                             int index_dtype, i64 ib, i64 idx_dim_stride, const void* src, i64 sb,
                             i64 src_dim_stride, i64 len) {
  for (i64 k = 0; k < len; k++) {
    i64 idx = load_index(index, ib + k * idx_dim_stride, index_dtype);
    Add::add(self, base + idx * self_dim_stride, src, sb + k * src_dim_stride);
  }
}

// self[c with c[dim] = index[c]] += src[c] for every coordinate c of the index. Two coordinates
// can only meet in self when they differ in dim alone, so each line along dim (a coordinate of
// `lines`: the index's shape without dim, num_lines of them) belongs to one thread, which walks
// its len positions in increasing order: race-free, and each element of self receives its sum
// in the CPU's order. self_st, idx_st, src_st are the operands' strides over `lines`; the
// *_dim_stride their strides along dim. Does nothing when *bad is set (kinema_index_check ran
// before it in the same stream): indices are then not safe to follow.
extern "C" __global__ void kinema_scatter_add(
    void* self, const __grid_constant__ kinema_strides self_st, i64 self_dim_stride,
    const void* index, int index_dtype, const __grid_constant__ kinema_strides idx_st,
    i64 idx_dim_stride, const void* src, const __grid_constant__ kinema_strides src_st,
    i64 src_dim_stride, const __grid_constant__ kinema_shape lines, i64 num_lines, i64 len,
    int dtype, const int* bad) {
  if (*bad != 0) return;
  const kinema_strides* st[3] = {&self_st, &idx_st, &src_st};
  grid_strided<3>(num_lines, lines, st, [&](const i64(&o)[3]) {
#define KINEMA_SCATTER_LINE(ADD)                                                                 \
  scatter_line<ADD>(self, o[0], self_dim_stride, index, index_dtype, o[1], idx_dim_stride, src, \
                    o[2], src_dim_stride, len)
    switch (dtype) {
      case KINEMA_F64: KINEMA_SCATTER_LINE(add_f64); break;
      case KINEMA_F32: KINEMA_SCATTER_LINE(add_f32); break;
      case KINEMA_BF16: KINEMA_SCATTER_LINE(add_bf16); break;
      case KINEMA_F16: KINEMA_SCATTER_LINE(add_f16); break;
      case KINEMA_I64: KINEMA_SCATTER_LINE(add_wrapping<u64>); break;
      case KINEMA_I32: KINEMA_SCATTER_LINE(add_wrapping<u32>); break;
      case KINEMA_U8: KINEMA_SCATTER_LINE(add_wrapping<u8>); break;
      default: KINEMA_SCATTER_LINE(add_bool); break;
    }
#undef KINEMA_SCATTER_LINE
  });
}
