// Emulated flash attention forward and backward against a double-precision reference, for every
// mask kind (key ranges included), both head dims, both 16-bit types, ragged sizes and non-contiguous layouts.
#include "test_util.h"

#include "attention.cu"
#include "attention_backward.cu"

struct Case {
  bool bf16;
  int d, b, h, sq, sk;
  int mask;          // KINEMA_MASK_*
  int block;         // block-causal block size
  bool heads_inner;  // tensors laid out [B, S, H, D] (strided views) instead of [B, H, S, D]
};

// A [B, H, S, D] operand stored either way; strides over (batch, head, seq) in elements.
struct Operand {
  std::vector<u16> data;
  long long st[3];
  int b, h, s, d;
  Operand(int b_, int h_, int s_, int d_, bool heads_inner) : b(b_), h(h_), s(s_), d(d_) {
    data.assign((size_t)b * h * s * d, 0);
    if (heads_inner) {
      st[0] = (long long)s * h * d, st[1] = d, st[2] = (long long)h * d;
    } else {
      st[0] = (long long)h * s * d, st[1] = (long long)s * d, st[2] = d;
    }
  }
  u16& at(int bi, int hi, int si, int di) {
    return data[bi * st[0] + hi * st[1] + si * st[2] + di];
  }
};

static int limit_of(const Case& c, long long i) {
  long long p = i + c.sk - c.sq, lim = c.sk;
  if (c.mask == KINEMA_MASK_CAUSAL) lim = p + 1;
  if (c.mask == KINEMA_MASK_BLOCK_CAUSAL) lim = ((long long)std::floor((double)p / c.block) + 1) * c.block;
  return (int)std::max(0LL, std::min<long long>(lim, c.sk));
}

static void run(const Case& c, Rng& rng) {
  char name[160];
  std::snprintf(name, sizeof name, "%s d%d b%d h%d sq%d sk%d mask%d/%d %s", c.bf16 ? "bf16" : "f16",
                c.d, c.b, c.h, c.sq, c.sk, c.mask, c.block, c.heads_inner ? "[B,S,H,D]" : "[B,H,S,D]");
  Operand q(c.b, c.h, c.sq, c.d, c.heads_inner), k(c.b, c.h, c.sk, c.d, c.heads_inner),
      v(c.b, c.h, c.sk, c.d, c.heads_inner), out(c.b, c.h, c.sq, c.d, c.heads_inner),
      dout(c.b, c.h, c.sq, c.d, c.heads_inner);
  for (auto* o : {&q, &k, &v, &dout})
    for (auto& e : o->data) e = to_half((float)rng.uniform(-1.5, 1.5), c.bf16);
  // Explicit mask [B, 1, Sq, Sk] broadcast over heads; some rows see nothing.
  std::vector<u8> mask((size_t)c.b * c.sq * c.sk, 1);
  if (c.mask == KINEMA_MASK_EXPLICIT) {
    for (auto& m : mask) m = rng.below(4) != 0;
    for (int bi = 0; bi < c.b; bi++)
      if (c.sq > 3)
        for (int j = 0; j < c.sk; j++) mask[((size_t)bi * c.sq + 2) * c.sk + j] = 0;
  }
  // Key ranges [Sq, 4]: a narrow window and a narrower one per row (most key blocks unseen by a
  // tile); every fifth row sees nothing. The kernels read them through the mask pointer.
  std::vector<int> ranges((size_t)c.sq * 4, 0);
  if (c.mask == KINEMA_MASK_KEY_RANGES) {
    for (int i = 0; i < c.sq; i++) {
      if (i % 5 == 3) continue;
      for (int e = 0; e < 4; e += 2) {
        int lo = (int)rng.below(c.sk + 1);
        ranges[i * 4 + e] = lo;
        ranges[i * 4 + e + 1] = std::min(c.sk, lo + (int)rng.below(e == 0 ? 41 : 21));
      }
    }
  }
  const u8* mask_ptr =
      c.mask == KINEMA_MASK_KEY_RANGES ? (const u8*)ranges.data() : (const u8*)mask.data();
  auto allowed = [&](int bi, int i, int j) {
    if (c.mask == KINEMA_MASK_KEY_RANGES) {
      const int* r = &ranges[i * 4];
      return (r[0] <= j && j < r[1]) || (r[2] <= j && j < r[3]);
    }
    if (j >= limit_of(c, i)) return false;
    return c.mask != KINEMA_MASK_EXPLICIT || mask[((size_t)bi * c.sq + i) * c.sk + j] != 0;
  };
  float scale = 1.0f / std::sqrt((float)c.d);
  std::vector<float> lse((size_t)c.b * c.h * c.sq, 12345.0f);

  kinema_attention_args a{};
  a.batch = c.b, a.heads = c.h, a.sq = c.sq, a.sk = c.sk;
  for (int i = 0; i < 3; i++) {
    a.q_stride[i] = q.st[i], a.k_stride[i] = k.st[i], a.v_stride[i] = v.st[i];
    a.o_stride[i] = out.st[i], a.do_stride[i] = dout.st[i];
  }
  a.lse_stride[0] = (long long)c.h * c.sq, a.lse_stride[1] = c.sq, a.lse_stride[2] = 1;
  a.mask_stride[0] = (long long)c.sq * c.sk, a.mask_stride[1] = 0, a.mask_stride[2] = c.sk;
  a.mask_stride[3] = 1;
  a.block_size = c.block, a.scale = scale, a.mask_kind = c.mask;

  // Forward.
  dim3 grid{(unsigned)(c.b * c.h), (unsigned)((c.sq + 63) / 64)}, block{128};
  size_t smem = (c.d <= 128 ? 2 * 64 : 64 + 2 * 32) * (c.d + 8) * 2;  // Q [64] apart at D = 256
  launch(grid, block, smem, [&] {
    if (c.bf16 && c.d == 64) kinema_flash_attention_bf16_d64(q.data.data(), k.data.data(), v.data.data(), out.data.data(), lse.data(), mask_ptr, a);
    if (c.bf16 && c.d == 128) kinema_flash_attention_bf16_d128(q.data.data(), k.data.data(), v.data.data(), out.data.data(), lse.data(), mask_ptr, a);
    if (!c.bf16 && c.d == 64) kinema_flash_attention_f16_d64(q.data.data(), k.data.data(), v.data.data(), out.data.data(), lse.data(), mask_ptr, a);
    if (!c.bf16 && c.d == 128) kinema_flash_attention_f16_d128(q.data.data(), k.data.data(), v.data.data(), out.data.data(), lse.data(), mask_ptr, a);
    if (c.bf16 && c.d == 256) kinema_flash_attention_bf16_d256(q.data.data(), k.data.data(), v.data.data(), out.data.data(), lse.data(), mask_ptr, a);
    if (!c.bf16 && c.d == 256) kinema_flash_attention_f16_d256(q.data.data(), k.data.data(), v.data.data(), out.data.data(), lse.data(), mask_ptr, a);
  });

  // Reference forward and backward in double from the rounded inputs.
  int D = c.d;
  std::vector<double> ro, rl, go, gl, rdq, rdk, rdv, gdq, gdk, gdv;
  std::vector<double> P(c.sk);
  for (int bi = 0; bi < c.b; bi++)
    for (int hi = 0; hi < c.h; hi++) {
      std::vector<double> O((size_t)c.sq * D, 0), dQ((size_t)c.sq * D, 0), dK((size_t)c.sk * D, 0),
          dV((size_t)c.sk * D, 0);
      for (int i = 0; i < c.sq; i++) {
        double m = -INFINITY;
        for (int j = 0; j < c.sk; j++) {
          if (!allowed(bi, i, j)) { P[j] = -INFINITY; continue; }
          double s = 0;
          for (int x = 0; x < D; x++) s += from_half(q.at(bi, hi, i, x), c.bf16) * from_half(k.at(bi, hi, j, x), c.bf16);
          P[j] = s * scale;
          m = std::max(m, P[j]);
        }
        double l = 0;
        for (int j = 0; j < c.sk; j++) l += P[j] == -INFINITY ? 0 : std::exp(P[j] - m);
        double lsev = l == 0 ? -INFINITY : m + std::log(l);
        rl.push_back(lsev);
        gl.push_back(lse[(bi * c.h + hi) * c.sq + i]);
        for (int j = 0; j < c.sk; j++) P[j] = l == 0 || P[j] == -INFINITY ? 0 : std::exp(P[j] - lsev);
        for (int x = 0; x < D; x++) {
          double s = 0;
          for (int j = 0; j < c.sk; j++) s += P[j] * from_half(v.at(bi, hi, j, x), c.bf16);
          O[i * D + x] = s;
          ro.push_back(s);
          go.push_back(from_half(out.at(bi, hi, i, x), c.bf16));
        }
        // Backward of row i: dP = dO V^T, Delta = dO . O, dS = P (dP - Delta).
        double delta = 0;
        for (int x = 0; x < D; x++) delta += from_half(dout.at(bi, hi, i, x), c.bf16) * O[i * D + x];
        for (int j = 0; j < c.sk; j++) {
          if (P[j] == 0) continue;
          double dp = 0;
          for (int x = 0; x < D; x++) dp += from_half(dout.at(bi, hi, i, x), c.bf16) * from_half(v.at(bi, hi, j, x), c.bf16);
          double ds = P[j] * (dp - delta);
          for (int x = 0; x < D; x++) {
            dV[j * D + x] += P[j] * from_half(dout.at(bi, hi, i, x), c.bf16);
            dQ[i * D + x] += scale * ds * from_half(k.at(bi, hi, j, x), c.bf16);
            dK[j * D + x] += scale * ds * from_half(q.at(bi, hi, i, x), c.bf16);
          }
        }
      }
      rdq.insert(rdq.end(), dQ.begin(), dQ.end());
      rdk.insert(rdk.end(), dK.begin(), dK.end());
      rdv.insert(rdv.end(), dV.begin(), dV.end());
    }
  double tol = c.bf16 ? 1.6e-2 : 4e-3;
  check::close(std::string(name) + " out", go, ro, tol, tol);
  check::close(std::string(name) + " lse", gl, rl, 1e-3, 1e-3);

  // Backward: Delta, then dK/dV, then dQ.
  std::vector<float> delta((size_t)c.b * c.h * c.sq, 777.0f);
  std::vector<float> dq((size_t)c.b * c.h * c.sq * D, 555.0f), dk((size_t)c.b * c.h * c.sk * D, 555.0f),
      dv((size_t)c.b * c.h * c.sk * D, 555.0f);
  unsigned rows = c.b * c.h * c.sq;
  launch({(rows + 7) / 8}, {256}, 0, [&] {
    if (c.bf16) kinema_flash_attention_bwd_delta_bf16(out.data.data(), dout.data.data(), delta.data(), a, D);
    else kinema_flash_attention_bwd_delta_f16(out.data.data(), dout.data.data(), delta.data(), a, D);
  });
  int qb = D == 64 ? 64 : 32, kb = D == 64 ? 64 : 32;
  size_t smem_kv = (2 * 64 + 2 * qb) * (D + 8) * 2 + qb * (2 * 4 + 16), smem_q = (2 * 64 + 2 * kb) * (D + 8) * 2;
  unsigned halves = D == 256 ? 2 : 1;  // dK/dV column halves per key block at D = 256
  launch({(unsigned)(c.b * c.h), (unsigned)((c.sk + 63) / 64) * halves}, {128}, smem_kv, [&] {
    auto* p = &q.data[0];
    if (c.bf16 && D == 64) kinema_flash_attention_bwd_dkdv_bf16_d64(p, k.data.data(), v.data.data(), dout.data.data(), lse.data(), delta.data(), dk.data(), dv.data(), mask_ptr, a);
    if (c.bf16 && D == 128) kinema_flash_attention_bwd_dkdv_bf16_d128(p, k.data.data(), v.data.data(), dout.data.data(), lse.data(), delta.data(), dk.data(), dv.data(), mask_ptr, a);
    if (!c.bf16 && D == 64) kinema_flash_attention_bwd_dkdv_f16_d64(p, k.data.data(), v.data.data(), dout.data.data(), lse.data(), delta.data(), dk.data(), dv.data(), mask_ptr, a);
    if (!c.bf16 && D == 128) kinema_flash_attention_bwd_dkdv_f16_d128(p, k.data.data(), v.data.data(), dout.data.data(), lse.data(), delta.data(), dk.data(), dv.data(), mask_ptr, a);
    if (c.bf16 && D == 256) kinema_flash_attention_bwd_dkdv_bf16_d256(p, k.data.data(), v.data.data(), dout.data.data(), lse.data(), delta.data(), dk.data(), dv.data(), mask_ptr, a);
    if (!c.bf16 && D == 256) kinema_flash_attention_bwd_dkdv_f16_d256(p, k.data.data(), v.data.data(), dout.data.data(), lse.data(), delta.data(), dk.data(), dv.data(), mask_ptr, a);
  });
  launch({(unsigned)(c.b * c.h), (unsigned)((c.sq + 63) / 64)}, {128}, smem_q, [&] {
    auto* p = &q.data[0];
    if (c.bf16 && D == 64) kinema_flash_attention_bwd_dq_bf16_d64(p, k.data.data(), v.data.data(), dout.data.data(), lse.data(), delta.data(), dq.data(), mask_ptr, a);
    if (c.bf16 && D == 128) kinema_flash_attention_bwd_dq_bf16_d128(p, k.data.data(), v.data.data(), dout.data.data(), lse.data(), delta.data(), dq.data(), mask_ptr, a);
    if (!c.bf16 && D == 64) kinema_flash_attention_bwd_dq_f16_d64(p, k.data.data(), v.data.data(), dout.data.data(), lse.data(), delta.data(), dq.data(), mask_ptr, a);
    if (!c.bf16 && D == 128) kinema_flash_attention_bwd_dq_f16_d128(p, k.data.data(), v.data.data(), dout.data.data(), lse.data(), delta.data(), dq.data(), mask_ptr, a);
    if (c.bf16 && D == 256) kinema_flash_attention_bwd_dq_bf16_d256(p, k.data.data(), v.data.data(), dout.data.data(), lse.data(), delta.data(), dq.data(), mask_ptr, a);
    if (!c.bf16 && D == 256) kinema_flash_attention_bwd_dq_f16_d256(p, k.data.data(), v.data.data(), dout.data.data(), lse.data(), delta.data(), dq.data(), mask_ptr, a);
  });
  gdq.assign(dq.begin(), dq.end());
  gdk.assign(dk.begin(), dk.end());
  gdv.assign(dv.begin(), dv.end());
  // Gradients are sums of many rounded products: compare against the largest magnitude.
  auto scaled = [](const std::vector<double>& w) {
    double m = 0;
    for (double x : w) m = std::max(m, std::fabs(x));
    return m;
  };
  double gt = c.bf16 ? 2.5e-2 : 6e-3;
  check::close(std::string(name) + " dq", gdq, rdq, gt * scaled(rdq), gt);
  check::close(std::string(name) + " dk", gdk, rdk, gt * scaled(rdk), gt);
  check::close(std::string(name) + " dv", gdv, rdv, gt * scaled(rdv), gt);
}

int main() {
  Rng rng(20240611);
  std::vector<Case> cases = {
      {true, 64, 1, 2, 100, 130, KINEMA_MASK_NONE, 0, false},
      {true, 64, 2, 1, 64, 64, KINEMA_MASK_CAUSAL, 0, false},
      {true, 64, 1, 2, 37, 130, KINEMA_MASK_CAUSAL, 0, true},   // queries after cached keys
      {true, 64, 1, 1, 130, 37, KINEMA_MASK_CAUSAL, 0, false},  // early rows see nothing
      {true, 64, 1, 2, 96, 96, KINEMA_MASK_BLOCK_CAUSAL, 40, true},
      {true, 64, 1, 1, 70, 90, KINEMA_MASK_EXPLICIT, 0, false},
      {true, 128, 1, 2, 80, 100, KINEMA_MASK_NONE, 0, true},
      {true, 128, 1, 1, 100, 100, KINEMA_MASK_CAUSAL, 0, false},
      {true, 128, 1, 1, 65, 65, KINEMA_MASK_BLOCK_CAUSAL, 16, false},
      {true, 128, 1, 1, 50, 70, KINEMA_MASK_EXPLICIT, 0, true},
      {false, 64, 1, 1, 77, 77, KINEMA_MASK_CAUSAL, 0, false},
      {false, 128, 1, 1, 40, 90, KINEMA_MASK_NONE, 0, false},
      {true, 64, 1, 2, 70, 200, KINEMA_MASK_KEY_RANGES, 0, false},
      {false, 128, 1, 1, 100, 150, KINEMA_MASK_KEY_RANGES, 0, true},
      {true, 256, 1, 1, 70, 100, KINEMA_MASK_NONE, 0, false},
      {false, 256, 1, 2, 100, 60, KINEMA_MASK_CAUSAL, 0, true},  // early rows see nothing
      {true, 256, 1, 1, 96, 96, KINEMA_MASK_BLOCK_CAUSAL, 16, false},
      {false, 256, 1, 1, 50, 70, KINEMA_MASK_EXPLICIT, 0, false},
      {true, 256, 1, 1, 70, 200, KINEMA_MASK_KEY_RANGES, 0, true},
      {true, 64, 1, 1, 1, 1, KINEMA_MASK_NONE, 0, false},
      {true, 64, 1, 1, 5, 0, KINEMA_MASK_NONE, 0, false},  // no keys at all
  };
  for (const Case& c : cases) run(c, rng);
  return check::report("attention");
}
