// Emulated elementwise kernels: strided/broadcast indexing, every unary and binary op against
// double references, the dense 16-byte paths (aligned and not), casts with Java's rules, fill,
// where and the logical ops.
#include "test_util.h"

#include "elementwise.cu"

static kinema_shape shape_of(std::vector<long long> s) {
  kinema_shape r{};
  for (size_t d = 0; d < s.size(); d++) r.size[d] = s[d];
  r.rank = (long long)s.size();
  return r;
}
static kinema_strides strides_of(std::vector<long long> s) {
  kinema_strides r{};
  for (size_t d = 0; d < s.size(); d++) r.stride[d] = s[d];
  return r;
}
static dim3 grid_for(long long work) { return {(unsigned)std::min<long long>((work + 255) / 256, 7)}; }

static double ref_unary(int op, double x, double p1, double p2) {
  switch (op) {
    case KINEMA_UNARY_NEG: return -x;
    case KINEMA_UNARY_ABS: return std::fabs(x);
    case KINEMA_UNARY_EXP: return std::exp(x);
    case KINEMA_UNARY_LOG: return std::log(x);
    case KINEMA_UNARY_SQRT: return std::sqrt(x);
    case KINEMA_UNARY_RSQRT: return 1 / std::sqrt(x);
    case KINEMA_UNARY_SIN: return std::sin(x);
    case KINEMA_UNARY_COS: return std::cos(x);
    case KINEMA_UNARY_TANH: return std::tanh(x);
    case KINEMA_UNARY_SIGMOID: return 1 / (1 + std::exp(-x));
    case KINEMA_UNARY_RELU: return x > 0 ? x : 0;
    case KINEMA_UNARY_GELU: return 0.5 * x * std::erfc(-x / std::sqrt(2.0));
    case KINEMA_UNARY_GELU_TANH: return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    case KINEMA_UNARY_SILU: return x / (1 + std::exp(-x));
    case KINEMA_UNARY_SQUARE: return x * x;
    case KINEMA_UNARY_RECIPROCAL: return 1 / x;
    case KINEMA_UNARY_ERF: return std::erf(x);
    case KINEMA_UNARY_SIGN: return x > 0 ? 1 : x < 0 ? -1 : x;
    case KINEMA_UNARY_POW: return std::pow(x, p1);
    case KINEMA_UNARY_CLAMP: return std::min(std::max(x, std::isnan(p1) ? -INFINITY : p1), std::isnan(p2) ? INFINITY : p2);
  }
  return NAN;
}

// Unary ops on a permuted (non-contiguous) F32 input [4, 5, 6] stored as [6][4][5], into BF16 and
// F32 outputs; and the F64 kernel.
static void unary_ops(Rng& rng) {
  std::vector<long long> sh = {4, 5, 6};
  kinema_shape shape = shape_of(sh);
  kinema_strides xs = strides_of({5, 1, 20}), os = strides_of({30, 6, 1});
  long long n = 120;
  std::vector<float> x(n);
  std::vector<double> xd(n);
  for (long long i = 0; i < n; i++) x[i] = (float)rng.uniform(0.05, 3), xd[i] = x[i];
  for (int op = 0; op < KINEMA_UNARY_NOT; op++) {
    for (double p1 : {2.0, 0.5, 3.0, 1.7, -1.0}) {
      if (op != KINEMA_UNARY_POW && p1 != 2.0) continue;
      double q1 = op == KINEMA_UNARY_CLAMP ? 0.5 : p1, q2 = op == KINEMA_UNARY_CLAMP ? NAN : 0;
      std::vector<float> out(n);
      std::vector<u16> outb(n);
      std::vector<double> outd(n);
      launch(grid_for(n), {256}, 0, [&] {
        kinema_unary_f32(op, x.data(), KINEMA_F32, xs, out.data(), KINEMA_F32, os, shape, n, (float)q1, (float)q2);
      });
      launch(grid_for(n), {256}, 0, [&] {
        kinema_unary_f32(op, x.data(), KINEMA_F32, xs, outb.data(), KINEMA_BF16, os, shape, n, (float)q1, (float)q2);
      });
      launch(grid_for(n), {256}, 0, [&] {
        kinema_unary_f64(op, xd.data(), xs, outd.data(), os, shape, n, q1, q2);
      });
      std::vector<double> want(n), wantd(n), got(n), gotb(n), gotd(n);
      for (int i = 0; i < 4; i++)
        for (int j = 0; j < 5; j++)
          for (int k = 0; k < 6; k++) {
            long long xi = i * 5 + j + k * 20, oi = i * 30 + j * 6 + k;
            want[oi] = ref_unary(op, (double)x[xi], (double)(float)q1, q2);  // f32 kernels: f32 p1
            wantd[oi] = ref_unary(op, (double)x[xi], q1, q2);
            got[oi] = out[oi], gotb[oi] = from_bf16(outb[oi]), gotd[oi] = outd[oi];
          }
      std::string name = "unary op " + std::to_string(op) + " p1 " + std::to_string(p1);
      check::close(name + " f32", got, want, 1e-6, 4e-6);
      check::close(name + " ->bf16", gotb, want, 1e-6, 8e-3);
      check::close(name + " f64", gotd, wantd, 1e-14, 1e-13);
    }
  }
  // Special values: NaN propagation through relu/clamp, sign of zeros, gelu(-inf).
  float specials[] = {NAN, -0.0f, 0.0f, -INFINITY, INFINITY};
  kinema_shape s5 = shape_of({5});
  kinema_strides one = strides_of({1});
  auto run1 = [&](int op, float p1, float p2, std::vector<float>& out) {
    out.assign(5, 0);
    launch({1}, {256}, 0, [&] { kinema_unary_f32(op, specials, KINEMA_F32, one, out.data(), KINEMA_F32, one, s5, 5, p1, p2); });
  };
  std::vector<float> r;
  run1(KINEMA_UNARY_RELU, 0, 0, r);
  check::close("relu specials", {r[0], r[3], r[4]}, {NAN, 0, INFINITY}, 0, 0);
  run1(KINEMA_UNARY_CLAMP, -1, 1, r);
  check::close("clamp specials", {r[0], r[3], r[4]}, {NAN, -1, 1}, 0, 0);
  run1(KINEMA_UNARY_GELU, 0, 0, r);
  check::close("gelu(-inf) = -0", {r[3], (double)std::signbit(r[3])}, {0, 1}, 0, 0);
  run1(KINEMA_UNARY_SIGN, 0, 0, r);
  check::close("sign specials", {r[0], (double)std::signbit(r[1]), r[3]}, {NAN, 1, -1}, 0, 0);
}

// Dense kernels: aligned and misaligned (one element in) buffers with a ragged tail.
static void dense_paths(Rng& rng) {
  for (int shift : {0, 1}) {
    long long n = 1003;
    std::vector<float> x(n + 8), out(n + 8, 99), b(n + 8);
    std::vector<u16> xb(n + 8), ob(n + 8, 0x7fc0);
    for (long long i = 0; i < n + 8; i++) {
      x[i] = (float)rng.uniform(-2, 2), b[i] = (float)rng.uniform(0.5, 2);
      xb[i] = to_bf16(x[i]);
    }
    dim3 g = grid_for((n + 3) / 4);
    launch(g, {256}, 0, [&] { kinema_unary_contig_f32(KINEMA_UNARY_TANH, x.data() + shift, out.data() + shift, n, 0, 0); });
    launch(g, {256}, 0, [&] { kinema_unary_contig_bf16(KINEMA_UNARY_SILU, (kinema_bf16*)xb.data() + shift, (kinema_bf16*)ob.data() + shift, n, 0, 0); });
    std::vector<double> got, want, gotb, wantb;
    for (long long i = 0; i < n; i++) {
      got.push_back(out[i + shift]), want.push_back(std::tanh((double)x[i + shift]));
      double xv = from_bf16(xb[i + shift]);
      gotb.push_back(from_bf16(ob[i + shift])), wantb.push_back(xv / (1 + std::exp(-xv)));
    }
    check::close("dense tanh shift " + std::to_string(shift), got, want, 1e-6, 4e-6);
    check::close("dense bf16 silu shift " + std::to_string(shift), gotb, wantb, 1e-6, 8e-3);
    check::close("dense untouched past n", {out[shift + n], (double)ob[shift + n]}, {99, 0x7fc0}, 0, 0);
    // Binary: dense b, then a scalar b of another dtype (F32 scalar next to BF16 a).
    launch(g, {256}, 0, [&] { kinema_binary_contig_f32(KINEMA_BINARY_DIV, x.data() + shift, b.data() + shift, KINEMA_F32, 0, out.data() + shift, n); });
    float s = 0.3f;
    launch(g, {256}, 0, [&] { kinema_binary_contig_bf16(KINEMA_BINARY_MUL, (kinema_bf16*)xb.data() + shift, &s, KINEMA_F32, 1, (kinema_bf16*)ob.data() + shift, n); });
    got.clear(), want.clear(), gotb.clear(), wantb.clear();
    for (long long i = 0; i < n; i++) {
      got.push_back(out[i + shift]), want.push_back((double)x[i + shift] / b[i + shift]);
      gotb.push_back(from_bf16(ob[i + shift])), wantb.push_back(from_bf16(xb[i + shift]) * 0.3f);
    }
    check::close("dense div", got, want, 0, 1e-7);
    check::close("dense bf16 * f32 scalar", gotb, wantb, 1e-7, 4e-3);
  }
}

// Broadcast binary ops: a [4, 1, 6] and b [1, 5, 6] (stride-0 views) into [4, 5, 6].
static void binary_ops(Rng& rng) {
  kinema_shape shape = shape_of({4, 5, 6});
  kinema_strides as = strides_of({6, 0, 1}), bs = strides_of({0, 6, 1}), os = strides_of({30, 6, 1});
  std::vector<float> a(24), b(30);
  std::vector<double> ad(24), bd(30);
  std::vector<int> ai(24), bi(30);
  for (int i = 0; i < 24; i++) a[i] = (float)rng.uniform(0.5, 2), ad[i] = a[i], ai[i] = rng.below(21) - 10;
  for (int i = 0; i < 30; i++) b[i] = (float)rng.uniform(0.5, 2), bd[i] = b[i], bi[i] = rng.below(7) - 3;
  b[3] = a[3];  // some equal pairs for the comparisons
  bd[3] = ad[3];
  for (int op = 0; op <= KINEMA_BINARY_GE; op++) {
    bool cmp = op >= KINEMA_BINARY_EQ;
    std::vector<float> out(120);
    std::vector<double> outd(120);
    std::vector<int> outi(120);
    std::vector<u8> outc(120);
    launch(grid_for(120), {256}, 0, [&] {
      kinema_binary_f32(op, a.data(), KINEMA_F32, as, b.data(), KINEMA_F32, bs, cmp ? (void*)outc.data() : (void*)out.data(), cmp ? KINEMA_BOOL : KINEMA_F32, os, shape, 120);
    });
    std::vector<double> got, want, gotd, gotc;
    std::vector<u8> outc2(120);
    launch(grid_for(120), {256}, 0, [&] {
      kinema_binary_f64(op, ad.data(), as, bd.data(), bs, cmp ? (void*)outc2.data() : (void*)outd.data(), os, shape, 120);
    });
    for (int i = 0; i < 4; i++)
      for (int j = 0; j < 5; j++)
        for (int k = 0; k < 6; k++) {
          double x = a[i * 6 + k], y = b[j * 6 + k], w;
          switch (op) {
            case KINEMA_BINARY_ADD: w = x + y; break;
            case KINEMA_BINARY_SUB: w = x - y; break;
            case KINEMA_BINARY_MUL: w = x * y; break;
            case KINEMA_BINARY_DIV: w = x / y; break;
            case KINEMA_BINARY_POW: w = std::pow(x, y); break;
            case KINEMA_BINARY_MAXIMUM: w = std::max(x, y); break;
            case KINEMA_BINARY_MINIMUM: w = std::min(x, y); break;
            case KINEMA_BINARY_EQ: w = x == y; break;
            case KINEMA_BINARY_NE: w = x != y; break;
            case KINEMA_BINARY_LT: w = x < y; break;
            case KINEMA_BINARY_LE: w = x <= y; break;
            case KINEMA_BINARY_GT: w = x > y; break;
            default: w = x >= y; break;
          }
          int o = i * 30 + j * 6 + k;
          want.push_back(w);
          got.push_back(cmp ? outc[o] : out[o]);
          gotd.push_back(cmp ? outc2[o] : outd[o]);
        }
    check::close("binary f32 op " + std::to_string(op), got, want, 0, 4e-7);
    check::close("binary f64 op " + std::to_string(op), gotd, want, 0, 1e-15);
    if (op == KINEMA_BINARY_DIV) continue;  // no integer division
    launch(grid_for(120), {256}, 0, [&] {
      kinema_binary_int(op, ai.data(), KINEMA_I32, as, bi.data(), KINEMA_I32, bs, cmp ? (void*)outc.data() : (void*)outi.data(), cmp ? KINEMA_BOOL : KINEMA_I32, os, shape, 120);
    });
    std::vector<double> goti, wanti;
    for (int i = 0; i < 4; i++)
      for (int j = 0; j < 5; j++)
        for (int k = 0; k < 6; k++) {
          long long x = ai[i * 6 + k], y = bi[j * 6 + k], w;
          switch (op) {
            case KINEMA_BINARY_ADD: w = x + y; break;
            case KINEMA_BINARY_SUB: w = x - y; break;
            case KINEMA_BINARY_MUL: w = x * y; break;
            case KINEMA_BINARY_POW: w = ipow(x, y); break;
            case KINEMA_BINARY_MAXIMUM: w = std::max(x, y); break;
            case KINEMA_BINARY_MINIMUM: w = std::min(x, y); break;
            case KINEMA_BINARY_EQ: w = x == y; break;
            case KINEMA_BINARY_NE: w = x != y; break;
            case KINEMA_BINARY_LT: w = x < y; break;
            case KINEMA_BINARY_LE: w = x <= y; break;
            case KINEMA_BINARY_GT: w = x > y; break;
            default: w = x >= y; break;
          }
          int o = i * 30 + j * 6 + k;
          wanti.push_back((double)(int)w);
          goti.push_back(cmp ? outc[o] : outi[o]);
        }
    check::close("binary int op " + std::to_string(op), goti, wanti, 0, 0);
  }
  check::close("ipow rules", {(double)ipow(2, 10), (double)ipow(-1, -3), (double)ipow(3, -1), (double)ipow(1, -7)},
               {1024, -1, 0, 1}, 0, 0);
}

// Casts with Java's rules, through the strided kernel with a transposed source.
static void casts() {
  float src[6] = {1.9f, -2.9f, NAN, 3e9f, -3e20f, 0.5f};
  kinema_shape shape = shape_of({2, 3});
  kinema_strides ss = strides_of({1, 2}), ds = strides_of({3, 1});  // src stored transposed
  auto cast = [&](int dt, void* dst) {
    launch({1}, {256}, 0, [&] { kinema_copy(src, KINEMA_F32, ss, dst, dt, ds, shape, 6); });
  };
  int i32[6];
  cast(KINEMA_I32, i32);
  // Element (r, c) of the view is src[r + 2c]: view order 1.9, NaN, -3e20, -2.9, 3e9, 0.5.
  // (int)(long) 3e9 wraps; -3e20 saturates to Long.MIN whose low word is 0; NaN is 0.
  check::close("f32->i32", {(double)i32[0], (double)i32[1], (double)i32[2], (double)i32[3], (double)i32[4], (double)i32[5]},
               {1, 0, 0, -2, (double)(int)3000000000LL, 0}, 0, 0);
  u8 b[6];
  cast(KINEMA_BOOL, b);
  check::close("f32->bool", {(double)b[0], (double)b[1], (double)b[5]}, {1, 1, 1}, 0, 0);
  u16 h[6];
  cast(KINEMA_F16, h);
  check::close("f32->f16 overflow", {(double)f16_to_f32(h[2])}, {-INFINITY}, 0, 0);
  long long big[3] = {300, -1, 1LL << 40};
  u8 u[3];
  kinema_shape s3 = shape_of({3});
  kinema_strides one = strides_of({1});
  launch({1}, {256}, 0, [&] { kinema_copy(big, KINEMA_I64, one, u, KINEMA_U8, one, s3, 3); });
  check::close("i64->u8 wraps", {(double)u[0], (double)u[1], (double)u[2]}, {44, 255, 0}, 0, 0);
  double dd[3] = {1.0000001, 65504.0, 1e-8};
  u16 bf[3];
  launch({1}, {256}, 0, [&] { kinema_copy(dd, KINEMA_F64, one, bf, KINEMA_BF16, one, s3, 3); });
  check::close("f64->bf16 via f32", {from_bf16(bf[0]), from_bf16(bf[1])}, {1.0, 65536.0}, 0, 0);
  // Dense converters, both directions, aligned and not.
  for (int shift : {0, 1}) {
    long long n = 1001;
    std::vector<float> f(n + 8), back(n + 8);
    std::vector<u16> hb(n + 8);
    for (long long i = 0; i < n + 8; i++) f[i] = (float)(i * 0.37 - 100);
    launch({2}, {256}, 0, [&] { kinema_copy_contig(f.data() + shift, KINEMA_F32, hb.data() + shift, KINEMA_BF16, n); });
    launch({2}, {256}, 0, [&] { kinema_copy_contig(hb.data() + shift, KINEMA_BF16, back.data() + shift, KINEMA_F32, n); });
    std::vector<double> got, want;
    for (long long i = 0; i < n; i++) got.push_back(back[i + shift]), want.push_back(from_bf16(to_bf16(f[i + shift])));
    check::close("dense f32<->bf16 shift " + std::to_string(shift), got, want, 0, 0);
  }
}

static void fill_where_logical() {
  kinema_shape shape = shape_of({3, 4});
  kinema_strides col = strides_of({1, 3});  // column-major view
  double d[12];
  launch({1}, {256}, 0, [&] { kinema_fill(d, 8, (u64)__double_as_longlong(2.5), shape, col, 12); });
  std::vector<double> got(d, d + 12);
  check::close("fill f64", got, std::vector<double>(12, 2.5), 0, 0);
  u8 cond[4] = {1, 0, 0, 1};
  float a[12], b = -1, out[12];
  for (int i = 0; i < 12; i++) a[i] = (float)i;
  kinema_strides cs = strides_of({0, 1}), as = strides_of({4, 1}), bs = strides_of({0, 0}), os = strides_of({4, 1});
  launch({1}, {256}, 0, [&] { kinema_where(cond, cs, a, as, &b, bs, out, os, shape, 12, 4); });
  std::vector<double> gw(out, out + 12), ww;
  for (int i = 0; i < 12; i++) ww.push_back(cond[i % 4] ? i : -1);
  check::close("where", gw, ww, 0, 0);
  float x[4] = {0.0f, NAN, -0.0f, 2.0f};
  int y[4] = {0, 0, 5, 5};
  u8 r[4];
  kinema_shape s4 = shape_of({4});
  kinema_strides one = strides_of({1});
  launch({1}, {256}, 0, [&] { kinema_logical(KINEMA_BINARY_OR, x, KINEMA_F32, one, y, KINEMA_I32, one, r, one, s4, 4); });
  check::close("or", {(double)r[0], (double)r[1], (double)r[2], (double)r[3]}, {0, 1, 1, 1}, 0, 0);
  launch({1}, {256}, 0, [&] { kinema_logical(KINEMA_BINARY_AND, x, KINEMA_F32, one, y, KINEMA_I32, one, r, one, s4, 4); });
  check::close("and", {(double)r[0], (double)r[1], (double)r[2], (double)r[3]}, {0, 0, 0, 1}, 0, 0);
  launch({1}, {256}, 0, [&] { kinema_logical_not(x, KINEMA_F32, one, r, one, s4, 4); });
  check::close("not", {(double)r[0], (double)r[1], (double)r[2], (double)r[3]}, {1, 0, 1, 0}, 0, 0);
  int xi[4] = {-7, 0, 7, 100};
  int yi[4];
  launch({1}, {256}, 0, [&] { kinema_unary_int(KINEMA_UNARY_CLAMP, xi, KINEMA_I32, one, yi, KINEMA_I32, one, s4, 4, -5, NAN); });
  check::close("int clamp", {(double)yi[0], (double)yi[1], (double)yi[3]}, {-5, 0, 100}, 0, 0);
}

int main() {
  Rng rng(7);
  unary_ops(rng);
  dense_paths(rng);
  binary_ops(rng);
  casts();
  fill_where_logical();
  return check::report("elementwise");
}
