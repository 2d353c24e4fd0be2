// elements.h: one element of the floating types the emulated libraries compute with (f64, f32,
// f16, bf16), read and written as a double. Each library maps its own type codes onto Elem.
// Stores round to nearest even (bf16 with the CPU's bit rule: a NaN stays a quiet NaN).
#pragma once

#include <cstddef>
#include <cstring>

namespace emu_elements {
enum class Elem { F64, F32, F16, BF16 };

inline size_t bytes(Elem e) { return e == Elem::F64 ? 8 : e == Elem::F32 ? 4 : 2; }

inline double load(const void* p, long long i, Elem e) {
  switch (e) {
    case Elem::F64: return ((const double*)p)[i];
    case Elem::F32: return ((const float*)p)[i];
    case Elem::F16: {
      _Float16 h;
      std::memcpy(&h, (const char*)p + 2 * i, 2);
      return (float)h;
    }
    case Elem::BF16: break;
  }
  unsigned short h;
  std::memcpy(&h, (const char*)p + 2 * i, 2);
  unsigned bits = (unsigned)h << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

inline void store(void* p, long long i, Elem e, double v) {
  switch (e) {
    case Elem::F64: ((double*)p)[i] = v; return;
    case Elem::F32: ((float*)p)[i] = (float)v; return;
    case Elem::F16: {
      _Float16 h = (_Float16)(float)v;
      std::memcpy((char*)p + 2 * i, &h, 2);
      return;
    }
    case Elem::BF16: break;
  }
  float f = (float)v;
  unsigned bits;
  std::memcpy(&bits, &f, 4);
  unsigned short h = (bits & 0x7fffffffu) > 0x7f800000u
                         ? (unsigned short)((bits >> 16) | 0x40)
                         : (unsigned short)((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
  std::memcpy((char*)p + 2 * i, &h, 2);
}
}  // namespace emu_elements
