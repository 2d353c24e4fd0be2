// emu.h: runs Kinema's CUDA kernels on the host, for checking their logic where no GPU exists.
//
// A launch runs its blocks one after another; a block's threads are real threads, so
// __syncthreads is a barrier, warp shuffles and the warp-collective tensor-core instructions
// (see kinema_ptx.h in this folder) exchange values through a per-warp area between two warp
// barriers, and __shared__ variables are statics (shared by the block: one block runs at a
// time). Floating-point math is the host's (libm), compiled without contraction: results match
// the GPU's where the kernels pin the arithmetic (Philox, fdlibm, f32 AdamW, casts), and are
// close elsewhere. Not a simulator of timing, memory spaces or races.
#pragma once

#include <math.h>

#include <atomic>
#include <barrier>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static
#define __constant__ static
#define __grid_constant__
#define __launch_bounds__(...)
#define __align__(n) alignas(n)

struct dim3 {
  unsigned x = 1, y = 1, z = 1;
};
struct uint4 {
  unsigned x, y, z, w;
};
struct float2 {
  float x, y;
};
inline float2 make_float2(float x, float y) { return {x, y}; }

namespace emu {
struct Warp {
  explicit Warp(int lanes) : bar(lanes) {}
  std::barrier<> bar;
  alignas(16) unsigned char slot[32][64];
};
struct Block {
  explicit Block(int threads) : bar(threads) {}
  std::barrier<> bar;
  std::atomic<int> vote{0};  // __syncthreads_or
  std::vector<std::unique_ptr<Warp>> warps;
};
inline thread_local Block* block;
inline thread_local Warp* warp;
inline thread_local int lane;
inline std::vector<unsigned char> dynamic_smem;
}  // namespace emu

inline thread_local dim3 threadIdx, blockIdx;
inline dim3 blockDim, gridDim;

inline void __syncthreads() { emu::block->bar.arrive_and_wait(); }

// A barrier that also returns whether any thread's predicate was non-zero: reset, vote, read, each
// phase between barriers (a thread's next barrier waits until every thread has read).
inline int __syncthreads_or(int predicate) {
  emu::Block* b = emu::block;
  __syncthreads();
  if (threadIdx.x == 0 && threadIdx.y == 0 && threadIdx.z == 0) b->vote.store(0);
  __syncthreads();
  if (predicate) b->vote.store(1);
  __syncthreads();
  return b->vote.load();
}

// All lanes write their value, then each reads its partner's.
template <typename T>
inline T __shfl_xor_sync(unsigned, T v, int d) {
  static_assert(sizeof(T) <= 64);
  std::memcpy(emu::warp->slot[emu::lane], &v, sizeof(T));
  emu::warp->bar.arrive_and_wait();
  T r;
  std::memcpy(&r, emu::warp->slot[emu::lane ^ d], sizeof(T));
  emu::warp->bar.arrive_and_wait();
  return r;
}

// Warp-collective exchange of a per-lane record: every lane's record, then a barrier before reuse.
template <typename R>
inline void warp_gather(const R& mine, R (&all)[32]) {
  static_assert(sizeof(R) <= 64);
  std::memcpy(emu::warp->slot[emu::lane], &mine, sizeof(R));
  emu::warp->bar.arrive_and_wait();
  for (int l = 0; l < 32; l++) std::memcpy(&all[l], emu::warp->slot[l], sizeof(R));
  emu::warp->bar.arrive_and_wait();
}

// ---------------------------------------------------------------- intrinsics

inline unsigned __float_as_uint(float f) {
  unsigned u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float __uint_as_float(unsigned u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline long long __double_as_longlong(double d) {
  long long l;
  std::memcpy(&l, &d, 8);
  return l;
}
inline double __longlong_as_double(long long l) {
  double d;
  std::memcpy(&d, &l, 8);
  return d;
}
inline int __double2hiint(double d) { return (int)(__double_as_longlong(d) >> 32); }
inline int __double2loint(double d) { return (int)__double_as_longlong(d); }
inline double __hiloint2double(int hi, int lo) {
  return __longlong_as_double((long long)(((unsigned long long)(unsigned)hi << 32) | (unsigned)lo));
}
inline unsigned __umulhi(unsigned a, unsigned b) {
  return (unsigned)(((unsigned long long)a * b) >> 32);
}
inline unsigned long long __umul64hi(unsigned long long a, unsigned long long b) {
  return (unsigned long long)(((unsigned __int128)a * b) >> 64);
}
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __fsqrt_rn(float a) { return std::sqrt(a); }

// ---------------------------------------------------------------- launches

// Runs kernel() for every thread of every block of the grid; smem_bytes of dynamic shared
// memory are filled with a pattern (a kernel must not read what it did not write). One OS thread
// per thread of a block runs the blocks in order, all finishing a block before the next starts.
inline void launch(dim3 grid, dim3 block, size_t smem_bytes, const std::function<void()>& kernel) {
  gridDim = grid;
  blockDim = block;
  emu::dynamic_smem.assign(smem_bytes + 16, 0xA5);
  int threads = block.x * block.y * block.z;
  std::vector<std::unique_ptr<emu::Block>> blocks;
  for (unsigned i = 0; i < grid.x * grid.y * grid.z; i++) {
    auto b = std::make_unique<emu::Block>(threads);
    for (int w = 0; w < (threads + 31) / 32; w++) {
      int lanes = threads - 32 * w < 32 ? threads - 32 * w : 32;
      b->warps.push_back(std::make_unique<emu::Warp>(lanes));
    }
    blocks.push_back(std::move(b));
  }
  std::barrier<> next_block(threads);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; t++) {
    pool.emplace_back([&, t] {
      threadIdx = {t % block.x, (t / block.x) % block.y, t / (block.x * block.y)};
      emu::lane = t % 32;
      for (unsigned i = 0; i < blocks.size(); i++) {
        blockIdx = {i % grid.x, (i / grid.x) % grid.y, i / (grid.x * grid.y)};
        emu::block = blocks[i].get();
        emu::warp = blocks[i]->warps[t / 32].get();
        kernel();
        // An exited thread no longer takes part in its block's barriers (as on the GPU).
        emu::warp->bar.arrive_and_drop();
        emu::block->bar.arrive_and_drop();
        next_block.arrive_and_wait();
      }
    });
  }
  for (auto& th : pool) th.join();
}
