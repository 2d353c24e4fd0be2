// Emulated row kernels against double references: softmax/log-softmax (forward over the last dim
// and an inner dim, backward), layer norm and RMS norm (forward with saved statistics, backward
// with the deterministic parameter-gradient reduction), rotary embedding (both pair layouts,
// broadcast angles, backward) and the fused AdamW step (bit-identical to the CPU's f32 order).
#include "test_util.h"

#include "adamw.cu"
#include "norm.cu"
#include "rotary.cu"
#include "softmax.cu"

static std::vector<double> as_double(const std::vector<float>& v) { return {v.begin(), v.end()}; }

static void softmax_tests(Rng& rng) {
  int rows = 5, len = 77;
  std::vector<float> x(rows * len), y(rows * len), dy(rows * len), dx(rows * len);
  for (auto& v : x) v = (float)rng.uniform(-4, 4);
  for (auto& v : dy) v = (float)rng.uniform(-1, 1);
  for (int j = 0; j < len; j += 3) x[2 * len + j] = -INFINITY;  // masked entries in row 2
  for (int j = 0; j < len; j++) x[4 * len + j] = -INFINITY;     // row 4: all -inf -> NaN
  for (int log = 0; log < 2; log++) {
    launch({(unsigned)rows}, {64}, 0, [&] { kinema_softmax_f32(x.data(), y.data(), len, log); });
    std::vector<double> want;
    for (int r = 0; r < rows; r++) {
      double m = -INFINITY, s = 0;
      for (int j = 0; j < len; j++) m = std::max(m, (double)x[r * len + j]);
      for (int j = 0; j < len; j++) s += std::exp(x[r * len + j] - m);
      for (int j = 0; j < len; j++) {
        double v = x[r * len + j];
        want.push_back(r == 4 ? NAN : log ? v - m - std::log(s) : std::exp(v - m) / s);
      }
    }
    check::close(log ? "log_softmax" : "softmax", as_double(y), want, 1e-6, 1e-5);
    // Backward from y.
    launch({(unsigned)rows}, {64}, 0, [&] { kinema_softmax_backward_f32(y.data(), dy.data(), dx.data(), len, log); });
    std::vector<double> wdx, gdx;
    for (int r = 0; r < 4; r++) {
      double s = 0;
      for (int j = 0; j < len; j++) s += log ? dy[r * len + j] : (double)dy[r * len + j] * y[r * len + j];
      for (int j = 0; j < len; j++) {
        double yv = y[r * len + j], g = dy[r * len + j];
        wdx.push_back(log ? g - std::exp(yv) * s : yv * (g - s));
        gdx.push_back(dx[r * len + j]);
      }
    }
    check::close(log ? "log_softmax backward" : "softmax backward", gdx, wdx, 1e-6, 1e-5);
  }
  // Over the middle dim of [3, 9, 4] (inner = 4), f64 and bf16.
  std::vector<double> xd(108), yd(108);
  std::vector<u16> xb(108), yb(108);
  for (int i = 0; i < 108; i++) xd[i] = rng.uniform(-3, 3), xb[i] = to_bf16((float)xd[i]);
  launch({1}, {64}, 0, [&] { kinema_softmax_inner_f64(xd.data(), yd.data(), 3, 9, 4, 0); });
  launch({1}, {64}, 0, [&] { kinema_softmax_inner_bf16((kinema_bf16*)xb.data(), (kinema_bf16*)yb.data(), 3, 9, 4, 1); });
  std::vector<double> wd, wb, gb;
  for (int o = 0; o < 3; o++)
    for (int j = 0; j < 9; j++)
      for (int i = 0; i < 4; i++) {
        double m = -INFINITY, s = 0, mb = -INFINITY, sb = 0;
        for (int k = 0; k < 9; k++) m = std::max(m, xd[(o * 9 + k) * 4 + i]), mb = std::max(mb, (double)from_bf16(xb[(o * 9 + k) * 4 + i]));
        for (int k = 0; k < 9; k++) s += std::exp(xd[(o * 9 + k) * 4 + i] - m), sb += std::exp(from_bf16(xb[(o * 9 + k) * 4 + i]) - mb);
        wd.push_back(std::exp(xd[(o * 9 + j) * 4 + i] - m) / s);
        wb.push_back(from_bf16(xb[(o * 9 + j) * 4 + i]) - mb - std::log(sb));
        gb.push_back(from_bf16(yb[(o * 9 + j) * 4 + i]));
      }
  check::close("softmax inner f64", yd, wd, 1e-15, 1e-13);
  check::close("log_softmax inner bf16", gb, wb, 1e-2, 8e-3);
}

static void norm_tests(Rng& rng) {
  int rows = 7, n = 50, rpb = 3, blocks = (rows + rpb - 1) / rpb;
  std::vector<float> x(rows * n), w(n), b(n), y(rows * n), dy(rows * n), dx(rows * n), mean(rows), rstd(rows);
  for (auto& v : x) v = (float)rng.uniform(-2, 3);
  for (auto& v : w) v = (float)rng.uniform(0.5, 1.5);
  for (auto& v : b) v = (float)rng.uniform(-1, 1);
  for (auto& v : dy) v = (float)rng.uniform(-1, 1);
  double eps = 1e-5;
  for (int rms = 0; rms < 2; rms++) {
    launch({(unsigned)rows}, {64}, 0, [&] {
      if (rms) kinema_rms_norm_f32(x.data(), w.data(), y.data(), rstd.data(), n, eps);
      else kinema_layer_norm_f32(x.data(), w.data(), b.data(), y.data(), mean.data(), rstd.data(), n, eps);
    });
    std::vector<float> dwp(blocks * n), dbp(blocks * n), dw(n), db(n);
    launch({(unsigned)blocks}, {64}, 0, [&] {
      if (rms) kinema_rms_norm_backward_f32(dy.data(), x.data(), w.data(), rstd.data(), dx.data(), dwp.data(), rows, n, rpb);
      else kinema_layer_norm_backward_f32(dy.data(), x.data(), w.data(), mean.data(), rstd.data(), dx.data(), dwp.data(), dbp.data(), rows, n, rpb);
    });
    launch({1}, {64}, 0, [&] { kinema_column_sum_f32(dwp.data(), blocks, n, dw.data(), KINEMA_F32); });
    if (!rms) launch({1}, {64}, 0, [&] { kinema_column_sum_f32(dbp.data(), blocks, n, db.data(), KINEMA_F32); });
    std::vector<double> wy, wr, wm, wdx, wdw(n, 0), wdb(n, 0);
    for (int r = 0; r < rows; r++) {
      double mu = 0, var = 0;
      for (int j = 0; j < n; j++) mu += x[r * n + j];
      mu = rms ? 0 : mu / n;
      for (int j = 0; j < n; j++) var += (x[r * n + j] - mu) * (x[r * n + j] - mu);
      double rs = 1 / std::sqrt(var / n + eps);
      wm.push_back(mu), wr.push_back(rs);
      double sg = 0, sgx = 0;
      for (int j = 0; j < n; j++) {
        double xh = (x[r * n + j] - mu) * rs, g = dy[r * n + j] * (double)w[j];
        wy.push_back(rms ? xh * w[j] : xh * w[j] + b[j]);
        sg += g, sgx += g * xh;
        wdw[j] += dy[r * n + j] * xh, wdb[j] += dy[r * n + j];
      }
      for (int j = 0; j < n; j++) {
        double xh = (x[r * n + j] - mu) * rs, g = dy[r * n + j] * (double)w[j];
        wdx.push_back(rs * (rms ? g - xh * sgx / n : g - sg / n - xh * sgx / n));
      }
    }
    std::string name = rms ? "rms_norm" : "layer_norm";
    check::close(name + " y", as_double(y), wy, 1e-5, 1e-5);
    check::close(name + " rstd", as_double(rstd), wr, 1e-6, 1e-6);
    if (!rms) check::close(name + " mean", as_double(mean), wm, 1e-6, 1e-6);
    check::close(name + " dx", as_double(dx), wdx, 1e-5, 1e-4);
    check::close(name + " dweight", as_double(dw), wdw, 1e-5, 1e-5);
    if (!rms) check::close(name + " dbias", as_double(db), wdb, 1e-5, 1e-5);
  }
  // No affine parameters, bf16 rows.
  std::vector<u16> xb(rows * n), yb(rows * n);
  for (int i = 0; i < rows * n; i++) xb[i] = to_bf16(x[i]);
  launch({(unsigned)rows}, {64}, 0, [&] { kinema_layer_norm_bf16((kinema_bf16*)xb.data(), nullptr, nullptr, (kinema_bf16*)yb.data(), nullptr, nullptr, n, eps); });
  std::vector<double> gy, wy;
  for (int r = 0; r < rows; r++) {
    double mu = 0, var = 0;
    for (int j = 0; j < n; j++) mu += from_bf16(xb[r * n + j]);
    mu /= n;
    for (int j = 0; j < n; j++) var += (from_bf16(xb[r * n + j]) - mu) * (from_bf16(xb[r * n + j]) - mu);
    for (int j = 0; j < n; j++) wy.push_back((from_bf16(xb[r * n + j]) - mu) / std::sqrt(var / n + eps)), gy.push_back(from_bf16(yb[r * n + j]));
  }
  check::close("layer_norm bf16 no affine", gy, wy, 1e-2, 8e-3);
}

static void rotary_tests(Rng& rng) {
  // x [2, 3, 8] (D = 8, 4 pairs), cos/sin [3, 4] broadcast over dim 0, F32 angles with BF16 x.
  kinema_shape pairs{};
  pairs.size[0] = 2, pairs.size[1] = 3, pairs.size[2] = 4, pairs.rank = 3;
  kinema_strides xs{}, cs{}, os{};
  xs.stride[0] = 24, xs.stride[1] = 8, xs.stride[2] = 1;
  cs.stride[0] = 0, cs.stride[1] = 4, cs.stride[2] = 1;
  os = xs;
  std::vector<double> xd(48), yd(48), back(48);
  std::vector<float> cf(12), sf(12);
  for (auto& v : xd) v = rng.uniform(-1, 1);
  for (int i = 0; i < 12; i++) {
    double t = rng.uniform(0, 6);
    cf[i] = (float)std::cos(t), sf[i] = (float)std::sin(t);
  }
  for (int inter = 0; inter < 2; inter++) {
    launch({1}, {64}, 0, [&] { kinema_rotary_f64(xd.data(), cf.data(), KINEMA_F32, sf.data(), KINEMA_F32, yd.data(), pairs, xs, cs, cs, os, 24, inter, 0); });
    launch({1}, {64}, 0, [&] { kinema_rotary_f64(yd.data(), cf.data(), KINEMA_F32, sf.data(), KINEMA_F32, back.data(), pairs, xs, cs, cs, os, 24, inter, 1); });
    std::vector<double> want(48);
    for (int bb = 0; bb < 2; bb++)
      for (int s = 0; s < 3; s++)
        for (int i = 0; i < 4; i++) {
          int p0 = inter ? 2 * i : i, p1 = inter ? 2 * i + 1 : i + 4, base = bb * 24 + s * 8;
          double c = cf[s * 4 + i], sn = sf[s * 4 + i], a = xd[base + p0], b = xd[base + p1];
          want[base + p0] = a * c - b * sn;
          want[base + p1] = a * sn + b * c;
        }
    std::string name = inter ? "rotary interleaved" : "rotary halves";
    check::close(name, yd, want, 1e-15, 1e-14);
    check::close(name + " backward inverts", back, xd, 1e-6, 1e-6);  // cos/sin are f32: |c|^2+|s|^2 ~ 1
  }
}

// The CPU's AdamW order in f32 (Adam.step, decoupled), for the bit comparison.
static void cpu_adamw(float& p, float g, float& m, float& v, float decay, float b1, float omb1, float b2,
                      float omb2, float neg_step, float bc2s, float eps) {
  p = p * decay;
  m = m * b1 + g * omb1;
  v = v * b2 + (g * omb2) * g;
  float denom = std::sqrt(v) / bc2s + eps;
  p = p + (m * neg_step) / denom;
}

static void adamw_tests(Rng& rng) {
  int n = 300;
  std::vector<float> p(n), g(n), m(n), v(n);
  for (int i = 0; i < n; i++) {
    p[i] = (float)rng.uniform(-1, 1), g[i] = (float)rng.uniform(-0.1, 0.1);
    m[i] = (float)rng.uniform(-0.01, 0.01), v[i] = (float)rng.uniform(0, 1e-3);
  }
  double lr = 1e-3, wd = 1e-2, b1 = 0.9, b2 = 0.999, eps = 1e-8;
  int t = 3;
  float decay = (float)(1 - lr * wd), fb1 = (float)b1, fomb1 = (float)(1 - b1), fb2 = (float)b2,
        fomb2 = (float)(1 - b2), neg = (float)(-(lr / (1 - std::pow(b1, t)))),
        bc2s = (float)std::sqrt(1 - std::pow(b2, t)), feps = (float)eps;
  std::vector<float> p2 = p, m2 = m, v2 = v, master = p;
  std::vector<u16> pb(n);
  for (int i = 0; i < n; i++) pb[i] = to_bf16(p[i]);
  launch({2}, {64}, 0, [&] {
    kinema_adamw(p2.data(), KINEMA_F32, nullptr, g.data(), KINEMA_F32, m2.data(), v2.data(), KINEMA_F32, n, decay, fb1, fomb1, fb2, fomb2, neg, bc2s, feps, 0);
  });
  std::vector<float> mm = m, vv = v;
  launch({2}, {64}, 0, [&] {
    kinema_adamw(pb.data(), KINEMA_BF16, master.data(), g.data(), KINEMA_F32, mm.data(), vv.data(), KINEMA_F32, n, decay, fb1, fomb1, fb2, fomb2, neg, bc2s, feps, 0);
  });
  int same = 0, master_ok = 0;
  for (int i = 0; i < n; i++) {
    float pc = p[i], mc = m[i], vc = v[i];
    cpu_adamw(pc, g[i], mc, vc, decay, fb1, fomb1, fb2, fomb2, neg, bc2s, feps);
    same += pc == p2[i] && mc == m2[i] && vc == v2[i];
    master_ok += master[i] == pc && pb[i] == to_bf16(pc);
  }
  check::close("adamw f32 bit-identical to the CPU order", {(double)same}, {(double)n}, 0, 0);
  check::close("adamw bf16 param with f32 master", {(double)master_ok}, {(double)n}, 0, 0);
}

int main() {
  Rng rng(5);
  softmax_tests(rng);
  norm_tests(rng);
  rotary_tests(rng);
  adamw_tests(rng);
  return check::report("rows");
}
