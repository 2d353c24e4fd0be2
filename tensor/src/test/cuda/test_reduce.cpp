// Emulated reductions: both partial plans (rows, cols, warp-per-output), splits, every kind and
// finishing op including two-pass VAR/STD, multi-dim reduced groups, 16-bit and f64 inputs,
// integer reductions and argmax/argmin (ties, NaN).
#include "test_util.h"

#include "reduce.cu"

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

// A reduction geometry as the Java side computes it (kept/reduced dims, sorted and merged).
struct Geometry {
  std::vector<long long> kept, kept_x, red, red_x;
  long long n() const { long long c = 1; for (auto s : red) c *= s; return c; }
  long long outs() const { long long c = 1; for (auto s : kept) c *= s; return c; }
};

enum Plan { ROWS, ROWS_WARP, COLS };

// Runs op (with its kinds and passes) on x of type T and returns the outputs in kept order (f64).
template <typename T>
static std::vector<double> reduce(int op, double param, const T* x, const Geometry& g, int splits, Plan plan) {
  long long n = g.n(), num = g.outs();
  kinema_shape kept = shape_of(g.kept), red = shape_of(g.red);
  kinema_strides kx = strides_of(g.kept_x), rx = strides_of(g.red_x);
  std::vector<long long> dense(g.kept.size());
  long long s = 1;
  for (int d = (int)g.kept.size() - 1; d >= 0; d--) dense[d] = s, s *= g.kept[d];
  kinema_strides ko = strides_of(dense);
  std::vector<double> partials(num * splits), out(num), means(num);
  auto pass = [&](int kind, const double* m) {
    if (plan == COLS) {
      launch({(unsigned)((num + 31) / 32), (unsigned)splits}, {32, 8}, 0, [&] {
        if constexpr (std::is_same_v<T, float>) kinema_reduce_cols_f32(kind, x, kept, kx, red, rx, n, num, splits, m, param, partials.data());
        if constexpr (std::is_same_v<T, kinema_bf16>) kinema_reduce_cols_bf16(kind, x, kept, kx, red, rx, n, num, splits, m, param, partials.data());
        if constexpr (std::is_same_v<T, double>) kinema_reduce_cols_f64(kind, x, kept, kx, red, rx, n, num, splits, m, param, partials.data());
      });
    } else {
      // 64 threads (any multiple of 32 works; fewer keep the emulation fast).
      int warp = plan == ROWS_WARP;
      unsigned blocks = warp ? (unsigned)((num + 1) / 2) : (unsigned)num;
      launch({blocks, (unsigned)splits}, {64}, 0, [&] {
        if constexpr (std::is_same_v<T, float>) kinema_reduce_rows_f32(kind, x, kept, kx, red, rx, n, num, splits, m, param, partials.data(), warp);
        if constexpr (std::is_same_v<T, kinema_bf16>) kinema_reduce_rows_bf16(kind, x, kept, kx, red, rx, n, num, splits, m, param, partials.data(), warp);
        if constexpr (std::is_same_v<T, double>) kinema_reduce_rows_f64(kind, x, kept, kx, red, rx, n, num, splits, m, param, partials.data(), warp);
      });
    }
  };
  auto finish = [&](int fop, int kind, double* o, double* values) {
    launch({(unsigned)((num + 63) / 64)}, {64}, 0, [&] {
      kinema_reduce_finish(fop, kind, partials.data(), splits, num, n, param, o, KINEMA_F64, kept, ko, values);
    });
  };
  int kind;
  switch (op) {
    case KINEMA_REDUCE_PROD: kind = KINEMA_KIND_PROD; break;
    case KINEMA_REDUCE_MAX: kind = KINEMA_KIND_MAX; break;
    case KINEMA_REDUCE_MIN: kind = KINEMA_KIND_MIN; break;
    case KINEMA_REDUCE_NORM:
      kind = param == 2 ? KINEMA_KIND_SUM_SQ : param == 1 ? KINEMA_KIND_SUM_ABS
             : param == INFINITY ? KINEMA_KIND_MAX_ABS : param == -INFINITY ? KINEMA_KIND_MIN_ABS
             : param == 0 ? KINEMA_KIND_COUNT_NZ : KINEMA_KIND_SUM_POW;
      break;
    default: kind = KINEMA_KIND_SUM; break;
  }
  pass(kind, nullptr);
  if (op == KINEMA_REDUCE_VAR || op == KINEMA_REDUCE_STD) {
    finish(KINEMA_REDUCE_MEAN, kind, nullptr, means.data());
    pass(KINEMA_KIND_SUM_SQDEV, means.data());
    finish(op, KINEMA_KIND_SUM_SQDEV, out.data(), nullptr);
  } else {
    finish(op, kind, out.data(), nullptr);
  }
  return out;
}

static double ref(int op, double param, const std::vector<double>& v) {
  double n = (double)v.size(), s = 0, m = -INFINITY, mn = INFINITY, p = 1;
  for (double x : v) s += x, m = std::max(m, x), mn = std::min(mn, x), p *= x;
  switch (op) {
    case KINEMA_REDUCE_SUM: return s;
    case KINEMA_REDUCE_MEAN: return s / n;
    case KINEMA_REDUCE_MAX: return m;
    case KINEMA_REDUCE_MIN: return mn;
    case KINEMA_REDUCE_PROD: return p;
    case KINEMA_REDUCE_NORM: {
      if (param == INFINITY) { double r = 0; for (double x : v) r = std::max(r, std::fabs(x)); return r; }
      if (param == -INFINITY) { double r = INFINITY; for (double x : v) r = std::min(r, std::fabs(x)); return r; }
      if (param == 0) { double r = 0; for (double x : v) r += x != 0; return r; }
      double r = 0;
      for (double x : v) r += std::pow(std::fabs(x), param);
      return std::pow(r, 1 / param);
    }
    default: {
      double mean = s / n, m2 = 0;
      for (double x : v) m2 += (x - mean) * (x - mean);
      double var = m2 / std::max(0.0, n - param);
      return op == KINEMA_REDUCE_VAR ? var : std::sqrt(var);
    }
  }
}

int main() {
  Rng rng(11);
  // x [6, 7, 8] contiguous.
  std::vector<float> x(336);
  std::vector<double> xd(336);
  std::vector<u16> xb(336);
  for (int i = 0; i < 336; i++) {
    x[i] = (float)rng.uniform(0.5, 1.5) * (rng.below(2) ? 1 : -1);
    if (i % 50 == 7) x[i] = 0;  // zeros for COUNT_NZ
    xd[i] = x[i];
    xb[i] = to_bf16(x[i]);
    x[i] = from_bf16(xb[i]);  // same values in every dtype
    xd[i] = x[i];
  }
  struct Named { const char* name; Geometry g; std::vector<std::vector<int>> members; };
  // Members of each output (flat x indices), for the reference.
  auto members = [](std::vector<int> kept_dims) {
    std::vector<std::vector<int>> m;
    int sizes[3] = {6, 7, 8};
    std::vector<int> kd = kept_dims;
    std::vector<int> rd;
    for (int d = 0; d < 3; d++) if (std::find(kd.begin(), kd.end(), d) == kd.end()) rd.push_back(d);
    int nk = 1, nr = 1;
    for (int d : kd) nk *= sizes[d];
    for (int d : rd) nr *= sizes[d];
    for (int o = 0; o < nk; o++) {
      std::vector<int> out;
      for (int r = 0; r < nr; r++) {
        int idx[3], oo = o, rr = r;
        for (int k = (int)kd.size() - 1; k >= 0; k--) idx[kd[k]] = oo % sizes[kd[k]], oo /= sizes[kd[k]];
        for (int k = (int)rd.size() - 1; k >= 0; k--) idx[rd[k]] = rr % sizes[rd[k]], rr /= sizes[rd[k]];
        out.push_back(idx[0] * 56 + idx[1] * 8 + idx[2]);
      }
      m.push_back(out);
    }
    return m;
  };
  std::vector<Named> geos = {
      {"dim1", {{6, 8}, {56, 1}, {7}, {8}}, members({0, 2})},
      {"dims0,2", {{7}, {8}, {6, 8}, {56, 1}}, members({1})},
      {"last", {{6, 7}, {56, 8}, {8}, {1}}, members({0, 1})},
      {"all", {{}, {}, {336}, {1}}, members({})},
  };
  struct OpCase { int op; double param; };
  std::vector<OpCase> ops = {{KINEMA_REDUCE_SUM, 0}, {KINEMA_REDUCE_MEAN, 0}, {KINEMA_REDUCE_MAX, 0},
                             {KINEMA_REDUCE_MIN, 0}, {KINEMA_REDUCE_PROD, 0}, {KINEMA_REDUCE_NORM, 2},
                             {KINEMA_REDUCE_NORM, 1}, {KINEMA_REDUCE_NORM, 3}, {KINEMA_REDUCE_NORM, INFINITY},
                             {KINEMA_REDUCE_NORM, -INFINITY}, {KINEMA_REDUCE_NORM, 0},
                             {KINEMA_REDUCE_VAR, 1}, {KINEMA_REDUCE_STD, 0}};
  for (auto& g : geos) {
    for (auto oc : ops) {
      std::vector<double> want;
      for (auto& mem : g.members) {
        std::vector<double> v;
        for (int i : mem) v.push_back(xd[i]);
        want.push_back(ref(oc.op, oc.param, v));
      }
      std::string name = std::string(g.name) + " op " + std::to_string(oc.op) + " p " + std::to_string(oc.param);
      check::close(name + " rows f32", reduce(oc.op, oc.param, x.data(), g.g, 1, ROWS), want, 1e-6, 2e-5);
      check::close(name + " rows f32 3 splits", reduce(oc.op, oc.param, x.data(), g.g, 3, ROWS), want, 1e-6, 2e-5);
      check::close(name + " warp f32 2 splits", reduce(oc.op, oc.param, x.data(), g.g, 2, ROWS_WARP), want, 1e-6, 2e-5);
      check::close(name + " f64", reduce(oc.op, oc.param, xd.data(), g.g, 1, ROWS), want, 1e-13, 1e-12);
      check::close(name + " bf16 2 splits", reduce(oc.op, oc.param, (const kinema_bf16*)xb.data(), g.g, 2, ROWS), want, 1e-6, 2e-5);
      if (g.g.kept.size() && g.g.kept_x.back() == 1 && g.g.red_x.back() != 1) {
        check::close(name + " cols f32 3 splits", reduce(oc.op, oc.param, x.data(), g.g, 3, COLS), want, 1e-6, 2e-5);
        check::close(name + " cols f64", reduce(oc.op, oc.param, xd.data(), g.g, 1, COLS), want, 1e-13, 1e-12);
      }
    }
  }
  // NaN propagates through max (and sums).
  std::vector<float> xn = x;
  xn[5] = NAN;
  auto rn = reduce(KINEMA_REDUCE_MAX, 0, xn.data(), geos[3].g, 2, ROWS);
  check::close("max with NaN", rn, {NAN}, 0, 0);

  // Integers: I32 [6, 7, 8] summed over dim 1 into I64, max into I32.
  std::vector<int> xi(336);
  for (int i = 0; i < 336; i++) xi[i] = rng.below(2001) - 1000;
  Geometry& g = geos[0].g;
  std::vector<long long> sum(48);
  std::vector<int> mx(48);
  kinema_shape kept = shape_of(g.kept), red = shape_of(g.red);
  launch({48}, {64}, 0, [&] { kinema_reduce_int(KINEMA_REDUCE_SUM, xi.data(), KINEMA_I32, kept, strides_of(g.kept_x), red, strides_of(g.red_x), 7, sum.data(), KINEMA_I64, strides_of({8, 1})); });
  launch({48}, {64}, 0, [&] { kinema_reduce_int(KINEMA_REDUCE_MAX, xi.data(), KINEMA_I32, kept, strides_of(g.kept_x), red, strides_of(g.red_x), 7, mx.data(), KINEMA_I32, strides_of({8, 1})); });
  std::vector<double> gs, ws, gm, wm;
  for (int o = 0; o < 48; o++) {
    long long s = 0;
    int m = -2147483647 - 1;
    for (int i : geos[0].members[o]) s += xi[i], m = std::max(m, xi[i]);
    gs.push_back((double)sum[o]), ws.push_back((double)s), gm.push_back(mx[o]), wm.push_back(m);
  }
  check::close("int sum", gs, ws, 0, 0);
  check::close("int max", gm, wm, 0, 0);

  // argmax/argmin along dim 2 of [6, 7, 8] (lines [6, 7]), with ties and a NaN.
  std::vector<float> xa = x;
  xa[3 * 8 + 2] = xa[3 * 8 + 6] = 5;  // line 3: tie at 2 and 6 -> 2
  xa[9 * 8 + 4] = NAN;                // line 9: NaN at 4 wins
  xa[9 * 8 + 1] = 9;
  std::vector<long long> am(42), an(42);
  launch({42}, {64}, 0, [&] { kinema_argreduce(1, xa.data(), KINEMA_F32, shape_of({6, 7}), strides_of({56, 8}), strides_of({7, 1}), 8, 1, am.data()); });
  launch({42}, {64}, 0, [&] { kinema_argreduce(0, xa.data(), KINEMA_F32, shape_of({6, 7}), strides_of({56, 8}), strides_of({7, 1}), 8, 1, an.data()); });
  std::vector<double> ga, wa, gn, wn;
  for (int l = 0; l < 42; l++) {
    int best = 0, worst = 0;
    for (int j = 1; j < 8; j++) {
      float v = xa[l * 8 + j], b = xa[l * 8 + best], w = xa[l * 8 + worst];
      if (std::isnan(b)) break;
      if (std::isnan(v)) { best = j; break; }
      if (v > b) best = j;
    }
    for (int j = 1; j < 8; j++) {
      float v = xa[l * 8 + j], w = xa[l * 8 + worst];
      if (std::isnan(w)) break;
      if (std::isnan(v)) { worst = j; break; }
      if (v < w) worst = j;
    }
    ga.push_back((double)am[l]), wa.push_back(best), gn.push_back((double)an[l]), wn.push_back(worst);
  }
  check::close("argmax", ga, wa, 0, 0);
  check::close("argmin", gn, wn, 0, 0);
  check::close("argmax tie and NaN", {(double)am[3], (double)am[9]}, {2, 4}, 0, 0);
  return check::report("reduce");
}
