// random.cu: uniform, normal and integer fills from the Philox4x32-10 stream, bit for bit the
// CPU's (io.kinema.tensor.cpu.Philox and CpuRandom define the stream; this file follows them).
//
// kinema-nvcc-flags: --fmad=false
//   (the line above is read by build-ptx.sh: no multiply-add contraction in this file, so every
//   a * b + c rounds twice exactly as Java's strict arithmetic does)
//
// The stream, for a draw of n elements from (seed, offset):
//   - key = (seed low 32 bits, seed high 32 bits); block c of the draw has the counter
//     (c' low, c' high, 0, 0) with c' = offset + c (mod 2^64), and yields words w0..w3;
//   - 1-, 2- and 4-byte dtypes take one word per element: element i uses word i % 4 of block i / 4;
//     F64 and I64 take two: element i uses words 2(i % 2) (high) and 2(i % 2) + 1 (low) of block
//     i / 2. So a draw consumes Backend.randomCounters(n, dtype) counters.
//   - UNIFORM [a, b): 32-bit: u = (w >> 8) * 2^-24, v = (float) a + (float) (b - a) * u in f32
//     (two roundings), clamped to the largest f32 below (float) b; 16-bit types round v to nearest
//     even and clamp to the largest half below b. F64: u = ((hi >> 5) * 2^26 + (lo >> 6)) * 2^-53,
//     v = a + (b - a) * u, clamped below b.
//   - NORMAL (mean a, std b), Box-Muller in double: 32-bit: elements 4c + 2p and 4c + 2p + 1 from
//     words (w[2p], w[2p + 1]): u1 = (w[2p] + 1) * 2^-32, u2 = w[2p + 1] * 2^-32, r = sqrt(-2 ln u1),
//     theta = 2 pi u2, a + b r cos(theta) and a + b r sin(theta), rounded to f32 (then to the half
//     type). F64: u1 = unit53(w0, w1) + 2^-53, u2 = unit53(w2, w3), elements 2c (cos) and 2c + 1
//     (sin). ln, sin and cos are fdlibm 5.3's, ported below (Java's StrictMath is fdlibm), and sqrt
//     is correctly rounded on both sides, so the doubles agree bit for bit.
//   - INTEGERS [a, b), r = b - a: 32-bit a + ((w * r) >> 32) in unsigned 64-bit arithmetic;
//     64-bit a + mulhi((hi << 32) | lo, r). Stored with Java's casts (wrap to the width; U8 and
//     BOOL take the low byte as the CPU does).
//
// Launch: one thread per Philox block. kinema_random_32: blocks = ceil(n / 4); kinema_random_64:
// blocks = ceil(n / 2). Block 256 threads, grid ceil(blocks / 256) (no grid-stride loop: the grid
// covers every block, at most 2^31 - 1 thread blocks). No shared memory. `out` is dense.

#include "kinema_cuda.h"

// ------------------------------------------------------------------------------------------------
// Philox4x32-10
// ------------------------------------------------------------------------------------------------

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

// The four words of counter (c lo, c hi, 0, 0) under the key (seed lo, seed hi).
KINEMA_DEV void philox_block(u64 seed, u64 counter, u32 (&w)[4]) {
  u32 c0 = (u32)counter, c1 = (u32)(counter >> 32), c2 = 0, c3 = 0;
  u32 k0 = (u32)seed, k1 = (u32)(seed >> 32);
#pragma unroll
  for (int r = 0; r < 10; r++) {
    u32 lo0 = PHILOX_M0 * c0, hi0 = __umulhi(PHILOX_M0, c0);
    u32 lo1 = PHILOX_M1 * c2, hi1 = __umulhi(PHILOX_M1, c2);
    u32 n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
    c1 = lo1;
    c3 = lo0;
    c0 = n0;
    c2 = n2;
    k0 += PHILOX_W0;
    k1 += PHILOX_W1;
  }
  w[0] = c0;
  w[1] = c1;
  w[2] = c2;
  w[3] = c3;
}

// ------------------------------------------------------------------------------------------------
// fdlibm 5.3 log, sin and cos (what java.lang.StrictMath computes), written from the published
// algorithm with its constants. Every expression keeps fdlibm's order of operations; with
// contraction off (see the top) each operation rounds like Java's.
// ------------------------------------------------------------------------------------------------

KINEMA_DEV int hi_word(double x) { return __double2hiint(x); }
KINEMA_DEV int lo_word(double x) { return __double2loint(x); }
KINEMA_DEV double from_words(int hi, int lo) { return __hiloint2double(hi, lo); }

// Natural logarithm: x = 2^k (1 + f) with sqrt(2)/2 < 1 + f < sqrt(2), then
// log(1 + f) = f - s (f - R(s^2)), s = f / (2 + f), R a degree-14 minimax polynomial.
KINEMA_DEV double fdlibm_log(double x) {
  const double ln2_hi = 0x1.62e42feep-1, ln2_lo = 0x1.a39ef35793c76p-33;
  const double Lg1 = 0x1.5555555555593p-1, Lg2 = 0x1.999999997fa04p-2,
               Lg3 = 0x1.2492494229359p-2, Lg4 = 0x1.c71c51d8e78afp-3,
               Lg5 = 0x1.7466496cb03dep-3, Lg6 = 0x1.39a09d078c69fp-3,
               Lg7 = 0x1.2f112df3e5244p-3;
  int hx = hi_word(x), lx = lo_word(x);
  int k = 0;
  if (hx < 0x00100000) {  // x < 2^-1022
    if (((hx & 0x7fffffff) | lx) == 0) return -INFINITY;
    if (hx < 0) return __longlong_as_double(0x7ff8000000000000LL);  // log(negative) = NaN
    k -= 54;
    x *= 0x1p54;  // subnormal: scale up
    hx = hi_word(x);
  }
  if (hx >= 0x7ff00000) return x + x;
  k += (hx >> 20) - 1023;
  hx &= 0x000fffff;
  int i = (hx + 0x95f64) & 0x100000;
  x = from_words(hx | (i ^ 0x3ff00000), lo_word(x));  // normalize x or x/2
  k += i >> 20;
  double f = x - 1.0;
  if ((0x000fffff & (2 + hx)) < 3) {  // |f| < 2^-20
    if (f == 0.0) {
      if (k == 0) return 0.0;
      double dk = (double)k;
      return dk * ln2_hi + dk * ln2_lo;
    }
    double R = f * f * (0.5 - 0.33333333333333333 * f);
    if (k == 0) return f - R;
    double dk = (double)k;
    return dk * ln2_hi - ((R - dk * ln2_lo) - f);
  }
  double s = f / (2.0 + f);
  double dk = (double)k;
  double z = s * s;
  i = hx - 0x6147a;
  double w = z * z;
  int j = 0x6b851 - hx;
  double t1 = w * (Lg2 + w * (Lg4 + w * Lg6));
  double t2 = z * (Lg1 + w * (Lg3 + w * (Lg5 + w * Lg7)));
  i |= j;
  double R = t2 + t1;
  if (i > 0) {
    double hfsq = 0.5 * f * f;
    if (k == 0) return f - (hfsq - s * (hfsq + R));
    return dk * ln2_hi - ((hfsq - (s * (hfsq + R) + dk * ln2_lo)) - f);
  }
  if (k == 0) return f - s * (f - R);
  return dk * ln2_hi - ((s * (f - R) - dk * ln2_lo) - f);
}

// sin(x + y) on [-pi/4, pi/4], y the tail of x (iy == 0: y is 0).
KINEMA_DEV double fdlibm_kernel_sin(double x, double y, int iy) {
  const double S1 = -0x1.5555555555549p-3, S2 = 0x1.111111110f8a6p-7,
               S3 = -0x1.a01a019c161d5p-13, S4 = 0x1.71de357b1fe7dp-19,
               S5 = -0x1.ae5e68a2b9cebp-26, S6 = 0x1.5d93a5acfd57cp-33;
  int ix = hi_word(x) & 0x7fffffff;
  if (ix < 0x3e400000) return x;  // |x| < 2^-27: (int) x == 0 always holds there
  double z = x * x;
  double v = z * x;
  double r = S2 + z * (S3 + z * (S4 + z * (S5 + z * S6)));
  if (iy == 0) return x + v * (S1 + z * r);
  return x - ((z * (0.5 * y - v * r) - y) - v * S1);
}

// cos(x + y) on [-pi/4, pi/4], y the tail of x.
KINEMA_DEV double fdlibm_kernel_cos(double x, double y) {
  const double C1 = 0x1.555555555554cp-5, C2 = -0x1.6c16c16c15177p-10,
               C3 = 0x1.a01a019cb159p-16, C4 = -0x1.27e4f809c52adp-22,
               C5 = 0x1.1ee9ebdb4b1c4p-29, C6 = -0x1.8fae9be8838d4p-37;
  int ix = hi_word(x) & 0x7fffffff;
  if (ix < 0x3e400000) return 1.0;  // |x| < 2^-27
  double z = x * x;
  double r = z * (C1 + z * (C2 + z * (C3 + z * (C4 + z * (C5 + z * C6)))));
  if (ix < 0x3fd33333) return 1.0 - (0.5 * z - (z * r - x * y));  // |x| < 0.3
  double qx = ix > 0x3fe90000 ? 0.28125 : from_words(ix - 0x00200000, 0);
  double hz = 0.5 * z - qx;
  double a = 1.0 - qx;
  return a - (hz - (z * r - x * y));
}

// High words of n pi/2 for n = 1..32: a quick test that no cancellation can occur.
__constant__ int kinema_npio2_hw[32] = {
    0x3FF921FB, 0x400921FB, 0x4012D97C, 0x401921FB, 0x401F6A7A, 0x4022D97C, 0x4025FDBB,
    0x402921FB, 0x402C463A, 0x402F6A7A, 0x4031475C, 0x4032D97C, 0x40346B9C, 0x4035FDBB,
    0x40378FDB, 0x403921FB, 0x403AB41B, 0x403C463A, 0x403DD85A, 0x403F6A7A, 0x40407E4C,
    0x4041475C, 0x4042106C, 0x4042D97C, 0x4043A28C, 0x40446B9C, 0x404534AC, 0x4045FDBB,
    0x4046C6CB, 0x40478FDB, 0x404858EB, 0x404921FB};

// x - n pi/2 = y0 + y1 with |y0| <= pi/4; returns n. Only |x| <= 2^19 pi/2 is handled (fdlibm's
// small and medium cases): Box-Muller angles lie in [0, 2 pi).
KINEMA_DEV int fdlibm_rem_pio2(double x, double& y0, double& y1) {
  const double invpio2 = 0x1.45f306dc9c883p-1, pio2_1 = 0x1.921fb544p0,
               pio2_1t = 0x1.0b4611a626331p-34, pio2_2 = 0x1.0b4611a6p-34,
               pio2_2t = 0x1.3198a2e037073p-69, pio2_3 = 0x1.3198a2ep-69,
               pio2_3t = 0x1.b839a252049c1p-104;
  int hx = hi_word(x), ix = hx & 0x7fffffff;
  if (ix <= 0x3fe921fb) {  // |x| <= pi/4: no reduction
    y0 = x;
    y1 = 0.0;
    return 0;
  }
  if (ix < 0x4002d97c) {  // |x| < 3 pi/4: n = +-1
    if (hx > 0) {
      double z = x - pio2_1;
      if (ix != 0x3ff921fb) {  // 33 + 53 bits of pi are enough
        y0 = z - pio2_1t;
        y1 = (z - y0) - pio2_1t;
      } else {  // near pi/2: 33 + 33 + 53 bits
        z -= pio2_2;
        y0 = z - pio2_2t;
        y1 = (z - y0) - pio2_2t;
      }
      return 1;
    }
    double z = x + pio2_1;
    if (ix != 0x3ff921fb) {
      y0 = z + pio2_1t;
      y1 = (z - y0) + pio2_1t;
    } else {
      z += pio2_2;
      y0 = z + pio2_2t;
      y1 = (z - y0) + pio2_2t;
    }
    return -1;
  }
  // Medium size (the caller guarantees |x| <= 2^19 pi/2).
  double t = fabs(x);
  int n = (int)(t * invpio2 + 0.5);
  double fn = (double)n;
  double r = t - fn * pio2_1;
  double w = fn * pio2_1t;  // first round, good to 85 bits
  if (n < 32 && ix != kinema_npio2_hw[n - 1]) {
    y0 = r - w;  // quick check: no cancellation
  } else {
    int j = ix >> 20;
    y0 = r - w;
    int i = j - ((hi_word(y0) >> 20) & 0x7ff);
    if (i > 16) {  // second iteration, good to 118 bits
      t = r;
      w = fn * pio2_2;
      r = t - w;
      w = fn * pio2_2t - ((t - r) - w);
      y0 = r - w;
      i = j - ((hi_word(y0) >> 20) & 0x7ff);
      if (i > 49) {  // third iteration, 151 bits
        t = r;
        w = fn * pio2_3;
        r = t - w;
        w = fn * pio2_3t - ((t - r) - w);
        y0 = r - w;
      }
    }
  }
  y1 = (r - y0) - w;
  if (hx < 0) {
    y0 = -y0;
    y1 = -y1;
    return -n;
  }
  return n;
}

// StrictMath.cos(theta) and StrictMath.sin(theta) for 0 <= theta < 2 pi, sharing one reduction.
KINEMA_DEV void fdlibm_cos_sin(double theta, double& c, double& s) {
  if ((hi_word(theta) & 0x7fffffff) <= 0x3fe921fb) {  // |theta| <= pi/4
    c = fdlibm_kernel_cos(theta, 0.0);
    s = fdlibm_kernel_sin(theta, 0.0, 0);
    return;
  }
  double y0, y1;
  int n = fdlibm_rem_pio2(theta, y0, y1);
  double kc = fdlibm_kernel_cos(y0, y1), ks = fdlibm_kernel_sin(y0, y1, 1);
  switch (n & 3) {
    case 0: c = kc; s = ks; break;
    case 1: c = -ks; s = kc; break;
    case 2: c = -kc; s = -ks; break;
    default: c = ks; s = -kc; break;
  }
}

// ------------------------------------------------------------------------------------------------
// Word -> value transforms (CpuRandom's definitions)
// ------------------------------------------------------------------------------------------------

#define TWO_PI 0x1.921fb54442d18p+2  // 2 * Math.PI (6.283185307179586), exactly Java's double

// ((hi >> 5) * 2^26 + (lo >> 6)) * 2^-53: 53 random bits in [0, 1).
KINEMA_DEV double unit53(u32 hi, u32 lo) {
  return (double)(((u64)(hi >> 5) << 26) | (u64)(lo >> 6)) * 0x1p-53;
}

KINEMA_DEV float half_to_f32(u16 h, bool bf16) { return bf16 ? bf16_to_f32(h) : f16_to_f32(h); }
KINEMA_DEV u16 f32_to_half(float v, bool bf16) { return bf16 ? f32_to_bf16(v) : f32_to_f16(v); }

// Math.nextDown for finite or +inf x (the callers pass b > a, so never NaN or -inf): the
// neighbour below in the sign-magnitude order of the bit patterns.
KINEMA_DEV float next_down(float x) {
  u32 bits = __float_as_uint(x);
  if ((bits & 0x7fffffffu) == 0) return -0x1p-149f;  // +-0 -> the negative smallest subnormal
  return __uint_as_float((bits & 0x80000000u) == 0 ? bits - 1 : bits + 1);
}
KINEMA_DEV double next_down(double x) {
  u64 bits = (u64)__double_as_longlong(x);
  if ((bits & 0x7fffffffffffffffULL) == 0) return -0x1p-1074;
  return __longlong_as_double((i64)((bits >> 63) == 0 ? bits - 1 : bits + 1));
}

// The next smaller value of a sign-magnitude 16-bit float.
KINEMA_DEV u16 half_next_down(u16 h) {
  if ((h & 0x7fff) == 0) return 0x8001;  // +-0 -> the negative smallest subnormal
  return (h & 0x8000) == 0 ? (u16)(h - 1) : (u16)(h + 1);
}

// The largest half (BF16 or F16) strictly below x.
KINEMA_DEV u16 half_below(float x, bool bf16) {
  u16 h = f32_to_half(x, bf16);
  while (half_to_f32(h, bf16) >= x) h = half_next_down(h);
  return h;
}

// Stores a value computed in f32 (uniform, normal) into element i of a 4- or 2-byte float dtype.
KINEMA_DEV void store_float32(void* out, i64 i, int dt, float v) {
  if (dt == KINEMA_F32) {
    ((float*)out)[i] = v;
  } else {
    ((u16*)out)[i] = dt == KINEMA_BF16 ? f32_to_bf16(v) : f32_to_f16(v);
  }
}

// Box-Muller of one word pair into two doubles (the CPU's normal32 step, before the mean/std).
KINEMA_DEV void box_muller32(u32 w_a, u32 w_b, double mean, double std, double& x0, double& x1) {
  double u1 = ((double)w_a + 1.0) * 0x1p-32;  // (0, 1]: no log(0)
  double u2 = (double)w_b * 0x1p-32;
  double r = sqrt(-2.0 * fdlibm_log(u1));
  double c, s;
  fdlibm_cos_sin(TWO_PI * u2, c, s);
  x0 = mean + std * (r * c);
  x1 = mean + std * (r * s);
}

// ------------------------------------------------------------------------------------------------
// Kernels
// ------------------------------------------------------------------------------------------------

// 1-, 2- and 4-byte dtypes: UNIFORM and NORMAL into F32/BF16/F16, INTEGERS into F32, BF16, F16,
// I32, U8, BOOL. Thread c fills elements 4c..4c+3 (those below n) from block offset + c.
extern "C" __global__ void kinema_random_32(int kind, u64 seed, u64 offset, double a, double b,
                                            void* out, int dtype, i64 n) {
  i64 c = global_thread();
  i64 e0 = c * 4;
  if (e0 >= n) return;
  u32 w[4];
  philox_block(seed, offset + (u64)c, w);
  int count = n - e0 < 4 ? (int)(n - e0) : 4;

  if (kind == KINEMA_RANDOM_UNIFORM) {
    float lo = (float)a, span = (float)(b - a), hi = (float)b;
    bool clamp = hi > lo;
    float max = clamp ? next_down(hi) : INFINITY;
    bool half = dtype != KINEMA_F32, bf16 = dtype == KINEMA_BF16;
    u16 hmax = half && clamp ? half_below(hi, bf16) : 0;
#pragma unroll
    for (int k = 0; k < 4; k++) {
      if (k >= count) break;
      float u = (float)(w[k] >> 8) * 0x1p-24f;  // exact
      float v = lo + span * u;
      v = v > max ? max : v;  // Math.min (v is never NaN unless the bounds are)
      if (!half) {
        ((float*)out)[e0 + k] = v;
      } else {
        u16 h = f32_to_half(v, bf16);
        if (clamp && half_to_f32(h, bf16) >= hi) h = hmax;
        ((u16*)out)[e0 + k] = h;
      }
    }
  } else if (kind == KINEMA_RANDOM_NORMAL) {
#pragma unroll
    for (int p = 0; p < 4; p += 2) {
      if (p >= count) break;
      double x0, x1;
      box_muller32(w[p], w[p + 1], a, b, x0, x1);
      store_float32(out, e0 + p, dtype, (float)x0);
      if (p + 1 < count) store_float32(out, e0 + p + 1, dtype, (float)x1);
    }
  } else {  // INTEGERS, r = b - a <= 2^32
    i64 lo = java_f2l(a);
    u64 r = (u64)(java_f2l(b) - lo);
#pragma unroll
    for (int k = 0; k < 4; k++) {
      if (k >= count) break;
      i64 v = lo + (i64)(((u64)w[k] * r) >> 32);
      i64 i = e0 + k;
      switch (dtype) {
        case KINEMA_I32: ((int*)out)[i] = (int)v; break;
        case KINEMA_F32: ((float*)out)[i] = (float)v; break;
        case KINEMA_BF16: ((u16*)out)[i] = f32_to_bf16((float)v); break;
        case KINEMA_F16: ((u16*)out)[i] = f32_to_f16((float)v); break;
        default: ((u8*)out)[i] = (u8)v; break;  // U8, BOOL: the low byte, as the CPU
      }
    }
  }
}

// 8-byte dtypes: UNIFORM and NORMAL into F64, INTEGERS into I64 and F64. Thread c fills elements
// 2c and 2c+1 (those below n) from block offset + c.
extern "C" __global__ void kinema_random_64(int kind, u64 seed, u64 offset, double a, double b,
                                            void* out, int dtype, i64 n) {
  i64 c = global_thread();
  i64 e0 = c * 2;
  if (e0 >= n) return;
  u32 w[4];
  philox_block(seed, offset + (u64)c, w);
  int count = n - e0 < 2 ? 1 : 2;

  if (kind == KINEMA_RANDOM_UNIFORM) {
    double span = b - a;
    double max = b > a ? next_down(b) : INFINITY;
#pragma unroll
    for (int k = 0; k < 2; k++) {
      if (k >= count) break;
      double v = a + span * unit53(w[2 * k], w[2 * k + 1]);
      ((double*)out)[e0 + k] = v > max ? max : v;
    }
  } else if (kind == KINEMA_RANDOM_NORMAL) {
    double u1 = unit53(w[0], w[1]) + 0x1p-53;  // (0, 1]
    double u2 = unit53(w[2], w[3]);
    double r = sqrt(-2.0 * fdlibm_log(u1));
    double cs, sn;
    fdlibm_cos_sin(TWO_PI * u2, cs, sn);
    ((double*)out)[e0] = a + b * (r * cs);
    if (count == 2) ((double*)out)[e0 + 1] = a + b * (r * sn);
  } else {  // INTEGERS
    i64 lo = java_f2l(a);
    u64 r = (u64)(java_f2l(b) - lo);  // unsigned: b > a, so the wrapped difference is the range
#pragma unroll
    for (int k = 0; k < 2; k++) {
      if (k >= count) break;
      u64 word = ((u64)w[2 * k] << 32) | (u64)w[2 * k + 1];
      i64 v = lo + (i64)__umul64hi(word, r);
      if (dtype == KINEMA_I64) {
        ((i64*)out)[e0 + k] = v;
      } else {
        ((double*)out)[e0 + k] = (double)v;
      }
    }
  }
}
