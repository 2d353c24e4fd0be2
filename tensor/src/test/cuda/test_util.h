// Shared helpers of the emulated kernel tests: random data, 16-bit conversions, error checks.
#pragma once

#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "kinema_cuda.h"

namespace check {
inline int failures = 0;
inline int checks = 0;

// max |a - b| / (atol + rtol |b|) <= 1 over all elements, else one line describing the worst.
inline bool close(const std::string& what, const std::vector<double>& got,
                  const std::vector<double>& want, double atol, double rtol) {
  checks++;
  double worst = 0;
  size_t at = 0;
  for (size_t i = 0; i < want.size(); i++) {
    double g = got[i], w = want[i];
    double err;
    if (std::isnan(w) || std::isnan(g)) err = std::isnan(w) && std::isnan(g) ? 0 : INFINITY;
    else if (std::isinf(w) || std::isinf(g)) err = g == w ? 0 : INFINITY;
    else err = std::fabs(g - w) / (atol + rtol * std::fabs(w));
    if (!(err <= worst)) {
      worst = err;
      at = i;
    }
  }
  if (worst > 1) {
    failures++;
    std::printf("FAIL %s: element %zu got %.9g want %.9g (%.3g x tolerance)\n", what.c_str(), at,
                got[at], want[at], worst);
    return false;
  }
  return true;
}

inline int report(const char* name) {
  if (failures) std::printf("%s: %d of %d checks FAILED\n", name, failures, checks);
  else std::printf("%s: %d checks passed\n", name, checks);
  return failures ? 1 : 0;
}
}  // namespace check

inline u16 to_bf16(float f) { return f32_to_bf16(f); }
inline float from_bf16(u16 h) { return bf16_to_f32(h); }

// Values of a 16-bit type (bf16 when bf16, else f16), rounded from f32.
inline u16 to_half(float f, bool bf16) { return bf16 ? f32_to_bf16(f) : f32_to_f16(f); }
inline float from_half(u16 h, bool bf16) { return bf16 ? bf16_to_f32(h) : f16_to_f32(h); }

struct Rng {
  std::mt19937_64 gen;
  explicit Rng(unsigned long long seed) : gen(seed) {}
  double uniform(double a, double b) { return std::uniform_real_distribution<double>(a, b)(gen); }
  int below(int n) { return (int)(gen() % (unsigned long long)n); }
};
