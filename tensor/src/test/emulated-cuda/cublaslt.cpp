// cublaslt.cpp: an emulated cuBLASLt (libcublasLt.so) for the emulated driver: the descriptor
// API (matmul descriptors, matrix layouts, preferences and their attributes), the heuristic and
// cublasLtMatmul as a column-major loop on the host with cuBLASLt's semantics: transposes, row or
// column order, strided batches, D = epilogue(alpha op(A) op(B) + beta C) with the BIAS, GELU and
// RELU epilogues (GELU is the tanh approximation), bias of D's type along D's rows, and the
// training epilogues: GELU_AUX / GELU_AUX_BIAS also store the GELU's input in the auxiliary
// matrix (column-major, EPILOGUE_AUX_LD, EPILOGUE_AUX_BATCH_STRIDE, D's type); DGELU /
// DGELU_BGRAD multiply the product by the GELU's derivative at the auxiliary matrix's values (and
// write D's row sums, a vector as long as D's rows, to the bias pointer); BGRADA / BGRADB write the
// sums of op(A)'s rows / op(B)'s columns over the GEMM's k (vectors as long as D's rows / columns).
//
// Like cublas.cpp it checks what it is handed and answers misuse with cuBLASLt's status codes:
// objects must be live (created, not destroyed), attribute buffers of the attribute's size, types
// consistent with the compute type, op(A) m x k / op(B) k x n / C and D m x n, leading dimensions
// at least the rows (or columns, for row order) they span, every operand and the bias inside a
// live device allocation, the workspace as large as the call claims. An algorithm from the
// heuristic is tied to the problem it was chosen for: used with another shape, epilogue or type,
// or with pointers less aligned than the preference promised, cublasLtMatmul rejects it. The
// auxiliary matrix must be set for the epilogues that use it (pointer when the heuristic runs, as
// the real one reads its alignment; leading dimension at least D's rows and a multiple of 8, as
// NVIDIA documents), lie in device memory and stay as aligned as it was at the heuristic; the
// epilogues with an auxiliary matrix or a bias gradient take no F64 compute and no row order.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <set>
#include <string>

#include "elements.h"

typedef int cublasStatus_t;

bool emu_device_range(const void* p, size_t bytes);  // driver.cpp
// driver.cpp: runs the work queued on a stream (KINEMA_EMU_DEFERRED=1); false if it failed. A
// matmul computes at the call, after its stream's earlier work: stream order without a queue.
bool emu_flush_stream(void* stream);

namespace {
enum { SUCCESS = 0, NOT_INITIALIZED = 1, INVALID_VALUE = 7, EXECUTION_FAILED = 13, NOT_SUPPORTED = 15 };
enum { R_32F = 0, R_64F = 1, R_16F = 2, R_16BF = 14 };
enum { COMPUTE_32F = 68, COMPUTE_32F_PEDANTIC = 69, COMPUTE_64F = 70, COMPUTE_32F_FAST_TF32 = 77 };
enum {
  EPI_DEFAULT = 1,
  EPI_RELU = 2,
  EPI_BIAS = 4,
  EPI_RELU_BIAS = 6,
  EPI_GELU = 32,
  EPI_GELU_BIAS = 36,
  EPI_GELU_AUX = 160,
  EPI_GELU_AUX_BIAS = 164,
  EPI_DGELU = 192,
  EPI_DGELU_BGRAD = 208,
  EPI_BGRADA = 256,
  EPI_BGRADB = 512
};
enum { ORDER_COL = 0, ORDER_ROW = 1 };

struct MatmulDesc {
  int compute, scale_type;
  int pointer_mode = 0, transa = 0, transb = 0, epilogue = EPI_DEFAULT;
  uint64_t bias = 0;
  int64_t bias_batch_stride = 0;
  int bias_type = -1;
  uint64_t aux = 0;
  int64_t aux_ld = 0, aux_batch_stride = 0;
  int aux_type = -1;
};

struct Layout {
  int type;
  uint64_t rows, cols;
  int64_t ld;
  int order = ORDER_COL;
  int batch = 1;
  int64_t stride = 0;
};

struct Preference {
  uint64_t max_workspace = 0;
  uint32_t align[4] = {256, 256, 256, 256};  // A, B, C, D
};

// cublasLtMatmulHeuristicResult_t: the algorithm is opaque (64 bytes); ours records the problem it
// was chosen for, so a cached algorithm used for another problem is caught.
struct Algo {
  uint64_t magic;
  int32_t m, n, k, batch, epilogue, type;
  int16_t transa, transb;
  uint32_t align[5];   // A, B, C, D, the auxiliary matrix
  uint64_t workspace;  // the bytes the algorithm needs
};
static_assert(sizeof(Algo) == 64, "cublasLtMatmulAlgo_t is 64 bytes");
struct HeuristicResult {
  Algo algo;
  size_t workspace_size;
  cublasStatus_t state;
  float waves;
  int reserved[4];
};
static_assert(sizeof(HeuristicResult) == 96, "cublasLtMatmulHeuristicResult_t is 96 bytes");
constexpr uint64_t ALGO_MAGIC = 0x4b696e656d614c74ull;  // "KinemaLt"
constexpr size_t ALGO_WORKSPACE = 1 << 20;  // what the workspace-using "algorithm" needs

std::mutex mu;
std::set<const void*> handles, descs, layouts, prefs;

cublasStatus_t fail(cublasStatus_t s, const std::string& what) {
  std::fprintf(stderr, "[emulated cuBLASLt] %s\n", what.c_str());
  return s;
}

bool known_type(int t) { return t == R_32F || t == R_64F || t == R_16F || t == R_16BF; }

// The library's type code as an element type (known_type says which codes are accepted).
emu_elements::Elem elem(int t) {
  using emu_elements::Elem;
  return t == R_64F ? Elem::F64 : t == R_32F ? Elem::F32 : t == R_16F ? Elem::F16 : Elem::BF16;
}

size_t type_bytes(int t) { return emu_elements::bytes(elem(t)); }

double load(const void* p, long long i, int t) { return emu_elements::load(p, i, elem(t)); }

void store(void* p, long long i, int t, double v) { emu_elements::store(p, i, elem(t), v); }

// Element (r, c) of a stored matrix, in elements from its start.
long long at(const Layout& l, long long r, long long c) {
  return l.order == ORDER_ROW ? r * l.ld + c : c * l.ld + r;
}

// The stored matrix (all batch entries) lies in device memory.
bool extent_ok(const void* p, const Layout& l) {
  if (l.rows == 0 || l.cols == 0 || l.batch == 0) return true;
  long long last = at(l, (long long)l.rows - 1, (long long)l.cols - 1) +
                   (long long)(l.batch - 1) * l.stride;
  return emu_device_range(p, (size_t)(last + 1) * type_bytes(l.type));
}

std::string dims(const Layout& l) {
  return std::to_string(l.rows) + " x " + std::to_string(l.cols) + " ld " + std::to_string(l.ld);
}

bool has_bias(int e) {
  return e == EPI_BIAS || e == EPI_RELU_BIAS || e == EPI_GELU_BIAS || e == EPI_GELU_AUX_BIAS;
}
bool gelu_out(int e) {
  return e == EPI_GELU || e == EPI_GELU_BIAS || e == EPI_GELU_AUX || e == EPI_GELU_AUX_BIAS;
}
bool writes_aux(int e) { return e == EPI_GELU_AUX || e == EPI_GELU_AUX_BIAS; }
bool reads_aux(int e) { return e == EPI_DGELU || e == EPI_DGELU_BGRAD; }
bool has_aux(int e) { return writes_aux(e) || reads_aux(e); }
// Epilogues writing a bias gradient to the bias pointer.
bool bias_grad(int e) { return e == EPI_DGELU_BGRAD || e == EPI_BGRADA || e == EPI_BGRADB; }
bool known_epilogue(int e) {
  return e == EPI_DEFAULT || e == EPI_BIAS || e == EPI_RELU || e == EPI_RELU_BIAS || gelu_out(e) ||
         reads_aux(e) || e == EPI_BGRADA || e == EPI_BGRADB;
}

// The problem the descriptors describe, checked as cublasLtMatmul and the heuristic check it.
struct Problem {
  int m, n, k, batch;
};

cublasStatus_t validate(const char* call, const MatmulDesc* d, const Layout* a, const Layout* b,
                        const Layout* c, const Layout* dd, Problem* out) {
  std::string w = call;
  if (!descs.count(d)) return fail(INVALID_VALUE, w + ": matmul descriptor not live");
  for (const Layout* l : {a, b, c, dd})
    if (!layouts.count(l)) return fail(INVALID_VALUE, w + ": matrix layout not live");
  int e = d->epilogue;
  if (!known_epilogue(e))
    return fail(NOT_SUPPORTED, w + ": epilogue " + std::to_string(e) + " is not emulated");
  if (d->pointer_mode != 0) return fail(NOT_SUPPORTED, w + ": only host alpha/beta are emulated");
  // Types: one input type for A and B; C and D alike; the compute type decides what may meet.
  if (a->type != b->type || c->type != dd->type)
    return fail(NOT_SUPPORTED, w + ": A/B or C/D types differ");
  bool f64 = d->compute == COMPUTE_64F;
  if (f64 != (a->type == R_64F) || f64 != (dd->type == R_64F))
    return fail(NOT_SUPPORTED, w + ": compute type " + std::to_string(d->compute) + " with types " +
                                   std::to_string(a->type) + "/" + std::to_string(dd->type));
  if (d->compute == COMPUTE_32F_FAST_TF32 && a->type != R_32F)
    return fail(NOT_SUPPORTED, w + ": TF32 compute needs R_32F inputs");
  if (a->type != dd->type && dd->type != R_32F)
    return fail(NOT_SUPPORTED, w + ": D type differs from A/B and is not R_32F");
  if (d->bias_type != -1 && d->bias_type != dd->type)
    return fail(NOT_SUPPORTED, w + ": bias type other than D's is not emulated");
  // Shapes: op(A) m x k, op(B) k x n, C and D m x n.
  long long m = dd->rows, n = dd->cols;
  long long am = d->transa ? a->cols : a->rows, ak = d->transa ? a->rows : a->cols;
  long long bk = d->transb ? b->cols : b->rows, bn = d->transb ? b->rows : b->cols;
  if (am != m || bn != n || ak != bk || c->rows != dd->rows || c->cols != dd->cols)
    return fail(INVALID_VALUE, w + ": op(A) " + std::to_string(am) + " x " + std::to_string(ak) +
                                   ", op(B) " + std::to_string(bk) + " x " + std::to_string(bn) +
                                   ", D " + dims(*dd) + " do not fit");
  for (const Layout* l : {a, b, c, dd}) {
    long long span = l->order == ORDER_ROW ? (long long)l->cols : (long long)l->rows;
    if (l->ld < std::max(1LL, span))
      return fail(INVALID_VALUE, w + ": leading dimension too small: " + dims(*l));
  }
  if (a->batch != dd->batch || b->batch != dd->batch || c->batch != dd->batch)
    return fail(INVALID_VALUE, w + ": batch counts differ");
  if (m > INT32_MAX || n > INT32_MAX || ak > INT32_MAX)
    return fail(NOT_SUPPORTED, w + ": dimension beyond int");
  // The training epilogues: no F64, column order, the auxiliary matrix described.
  if ((has_aux(e) || bias_grad(e)) && (f64 || dd->order != ORDER_COL))
    return fail(NOT_SUPPORTED, w + ": epilogue " + std::to_string(e) +
                                   " needs f32 compute and column-major D");
  if (has_aux(e)) {
    if (!d->aux) return fail(INVALID_VALUE, w + ": auxiliary epilogue without EPILOGUE_AUX_POINTER");
    if (d->aux_ld < std::max(1LL, m) || d->aux_ld % 8 != 0)
      return fail(INVALID_VALUE, w + ": EPILOGUE_AUX_LD " + std::to_string(d->aux_ld) +
                                     " below D's rows (" + std::to_string(m) +
                                     ") or not a multiple of 8");
    if (d->aux_type != -1 && d->aux_type != dd->type)
      return fail(NOT_SUPPORTED, w + ": auxiliary type other than D's is not emulated");
    if (dd->batch > 1 && d->aux_batch_stride < d->aux_ld * n)
      return fail(INVALID_VALUE, w + ": EPILOGUE_AUX_BATCH_STRIDE overlaps the batch entries");
  }
  *out = {(int)m, (int)n, (int)ak, dd->batch};
  return SUCCESS;
}

unsigned alignment_of(const void* p) {
  uintptr_t v = (uintptr_t)p;
  if (v == 0) return 256;
  unsigned a = 1;
  while (a < 256 && (v & a) == 0) a <<= 1;
  return a;
}

float gelu_tanh(float x) {
  const float k = 0.7978845608028654f;  // sqrt(2 / pi)
  return 0.5f * x * (1.0f + std::tanh(k * (x + 0.044715f * x * x * x)));
}

// d/dx of gelu_tanh: 0.5 (1 + t) + 0.5 x (1 - t^2) k (1 + 3 * 0.044715 x^2), t = tanh(k (x + ...)).
float gelu_tanh_grad(float x) {
  const float k = 0.7978845608028654f;
  float t = std::tanh(k * (x + 0.044715f * x * x * x));
  return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * k * (1.0f + 3.0f * 0.044715f * x * x);
}
}  // namespace

extern "C" {

cublasStatus_t cublasLtCreate(void** handle) {
  std::lock_guard<std::mutex> g(mu);
  if (!handle) return fail(INVALID_VALUE, "cublasLtCreate: NULL out pointer");
  *handle = new int(0);
  handles.insert(*handle);
  return SUCCESS;
}

cublasStatus_t cublasLtDestroy(void* handle) {
  std::lock_guard<std::mutex> g(mu);
  if (!handles.erase(handle)) return fail(NOT_INITIALIZED, "cublasLtDestroy: handle not live");
  delete (int*)handle;
  return SUCCESS;
}

size_t cublasLtGetVersion(void) { return 130000; }

cublasStatus_t cublasLtMatmulDescCreate(void** desc, int compute, int scale_type) {
  std::lock_guard<std::mutex> g(mu);
  bool f32 = compute == COMPUTE_32F || compute == COMPUTE_32F_PEDANTIC ||
             compute == COMPUTE_32F_FAST_TF32;
  if (!f32 && compute != COMPUTE_64F)
    return fail(NOT_SUPPORTED, "cublasLtMatmulDescCreate: compute type " + std::to_string(compute));
  if (scale_type != (f32 ? R_32F : R_64F))
    return fail(INVALID_VALUE, "cublasLtMatmulDescCreate: scale type " +
                                   std::to_string(scale_type) + " for compute type " +
                                   std::to_string(compute));
  auto* d = new MatmulDesc{compute, scale_type};
  descs.insert(d);
  *desc = d;
  return SUCCESS;
}

cublasStatus_t cublasLtMatmulDescDestroy(void* desc) {
  std::lock_guard<std::mutex> g(mu);
  if (!descs.erase(desc)) return fail(INVALID_VALUE, "cublasLtMatmulDescDestroy: not live");
  delete (MatmulDesc*)desc;
  return SUCCESS;
}

cublasStatus_t cublasLtMatmulDescSetAttribute(void* desc, int attr, const void* buf,
                                              size_t size) {
  std::lock_guard<std::mutex> g(mu);
  std::string w = "cublasLtMatmulDescSetAttribute(" + std::to_string(attr) + ")";
  if (!descs.count(desc)) return fail(INVALID_VALUE, w + ": descriptor not live");
  if (!buf) return fail(INVALID_VALUE, w + ": NULL buffer");
  auto* d = (MatmulDesc*)desc;
  auto i32 = [&](int* f) -> cublasStatus_t {
    if (size != 4) return fail(INVALID_VALUE, w + ": size " + std::to_string(size) + " != 4");
    std::memcpy(f, buf, 4);
    return SUCCESS;
  };
  auto i64 = [&](void* f) -> cublasStatus_t {
    if (size != 8) return fail(INVALID_VALUE, w + ": size " + std::to_string(size) + " != 8");
    std::memcpy(f, buf, 8);
    return SUCCESS;
  };
  switch (attr) {
    case 2: return i32(&d->pointer_mode);
    case 3: return i32(&d->transa);
    case 4: return i32(&d->transb);
    case 7: return i32(&d->epilogue);
    case 8: return i64(&d->bias);
    case 10: return i64(&d->bias_batch_stride);
    case 11: return i64(&d->aux);
    case 12: return i64(&d->aux_ld);
    case 13: return i64(&d->aux_batch_stride);
    case 22: return i32(&d->aux_type);
    case 26: return i32(&d->bias_type);
    default: return fail(NOT_SUPPORTED, w + ": attribute not emulated");
  }
}

cublasStatus_t cublasLtMatrixLayoutCreate(void** layout, int type, uint64_t rows, uint64_t cols,
                                          int64_t ld) {
  std::lock_guard<std::mutex> g(mu);
  if (!known_type(type))
    return fail(NOT_SUPPORTED, "cublasLtMatrixLayoutCreate: type " + std::to_string(type));
  if (ld < 0) return fail(INVALID_VALUE, "cublasLtMatrixLayoutCreate: negative ld");
  auto* l = new Layout{type, rows, cols, ld};
  layouts.insert(l);
  *layout = l;
  return SUCCESS;
}

cublasStatus_t cublasLtMatrixLayoutDestroy(void* layout) {
  std::lock_guard<std::mutex> g(mu);
  if (!layouts.erase(layout)) return fail(INVALID_VALUE, "cublasLtMatrixLayoutDestroy: not live");
  delete (Layout*)layout;
  return SUCCESS;
}

cublasStatus_t cublasLtMatrixLayoutSetAttribute(void* layout, int attr, const void* buf,
                                                size_t size) {
  std::lock_guard<std::mutex> g(mu);
  std::string w = "cublasLtMatrixLayoutSetAttribute(" + std::to_string(attr) + ")";
  if (!layouts.count(layout)) return fail(INVALID_VALUE, w + ": layout not live");
  if (!buf) return fail(INVALID_VALUE, w + ": NULL buffer");
  auto* l = (Layout*)layout;
  size_t want = attr == 6 ? 8 : 4;
  if (size != want) return fail(INVALID_VALUE, w + ": size " + std::to_string(size));
  switch (attr) {
    case 1:
      std::memcpy(&l->order, buf, 4);
      if (l->order != ORDER_COL && l->order != ORDER_ROW)
        return fail(NOT_SUPPORTED, w + ": order " + std::to_string(l->order));
      return SUCCESS;
    case 5:
      std::memcpy(&l->batch, buf, 4);
      if (l->batch < 1) return fail(INVALID_VALUE, w + ": batch count < 1");
      return SUCCESS;
    case 6: std::memcpy(&l->stride, buf, 8); return SUCCESS;
    default: return fail(NOT_SUPPORTED, w + ": attribute not emulated");
  }
}

cublasStatus_t cublasLtMatmulPreferenceCreate(void** pref) {
  std::lock_guard<std::mutex> g(mu);
  auto* p = new Preference{};
  prefs.insert(p);
  *pref = p;
  return SUCCESS;
}

cublasStatus_t cublasLtMatmulPreferenceDestroy(void* pref) {
  std::lock_guard<std::mutex> g(mu);
  if (!prefs.erase(pref)) return fail(INVALID_VALUE, "cublasLtMatmulPreferenceDestroy: not live");
  delete (Preference*)pref;
  return SUCCESS;
}

cublasStatus_t cublasLtMatmulPreferenceSetAttribute(void* pref, int attr, const void* buf,
                                                    size_t size) {
  std::lock_guard<std::mutex> g(mu);
  std::string w = "cublasLtMatmulPreferenceSetAttribute(" + std::to_string(attr) + ")";
  if (!prefs.count(pref)) return fail(INVALID_VALUE, w + ": preference not live");
  if (!buf) return fail(INVALID_VALUE, w + ": NULL buffer");
  auto* p = (Preference*)pref;
  if (attr == 1) {
    if (size != 8) return fail(INVALID_VALUE, w + ": size != 8");
    std::memcpy(&p->max_workspace, buf, 8);
    return SUCCESS;
  }
  if (attr >= 5 && attr <= 8) {
    if (size != 4) return fail(INVALID_VALUE, w + ": size != 4");
    uint32_t a;
    std::memcpy(&a, buf, 4);
    if (a == 0 || (a & (a - 1)) != 0) return fail(INVALID_VALUE, w + ": alignment not a power of 2");
    p->align[attr - 5] = a;
    return SUCCESS;
  }
  return fail(NOT_SUPPORTED, w + ": attribute not emulated");
}

cublasStatus_t cublasLtMatmulAlgoGetHeuristic(void* handle, void* desc, void* a, void* b, void* c,
                                              void* d, void* pref, int requested,
                                              HeuristicResult* results, int* count) {
  std::lock_guard<std::mutex> g(mu);
  const char* w = "cublasLtMatmulAlgoGetHeuristic";
  if (!handles.count(handle)) return fail(NOT_INITIALIZED, std::string(w) + ": handle not live");
  if (!prefs.count(pref)) return fail(INVALID_VALUE, std::string(w) + ": preference not live");
  if (requested < 1 || !results || !count)
    return fail(INVALID_VALUE, std::string(w) + ": bad result array");
  Problem pr;
  auto* md = (MatmulDesc*)desc;
  cublasStatus_t s =
      validate(w, md, (Layout*)a, (Layout*)b, (Layout*)c, (Layout*)d, &pr);
  if (s != SUCCESS) return s;
  auto* p = (Preference*)pref;
  *count = 0;
  // Our "algorithms": one using a 1 MiB workspace when the preference allows it, else one using
  // none. Every pointer must be aligned at least to its element (the preference says how far).
  size_t ab = type_bytes(((Layout*)a)->type), db = type_bytes(((Layout*)d)->type);
  size_t elem[4] = {ab, ab, db, db};
  for (int i = 0; i < 4; i++)
    if (p->align[i] < elem[i])
      return fail(NOT_SUPPORTED, std::string(w) + ": no algorithm for operand alignment " +
                                     std::to_string(p->align[i]));
  size_t need = p->max_workspace >= ALGO_WORKSPACE ? ALGO_WORKSPACE : 0;
  HeuristicResult& r = results[0];
  std::memset(&r, 0, sizeof r);
  // The auxiliary pointer's alignment is part of the problem, as for the real heuristic.
  uint32_t aux_align = has_aux(md->epilogue) ? alignment_of((const void*)(uintptr_t)md->aux) : 256;
  if (aux_align < db)
    return fail(NOT_SUPPORTED, std::string(w) + ": no algorithm for auxiliary alignment " +
                                   std::to_string(aux_align));
  r.algo = Algo{ALGO_MAGIC,
                pr.m,
                pr.n,
                pr.k,
                pr.batch,
                md->epilogue,
                ((Layout*)d)->type,
                (int16_t)md->transa,
                (int16_t)md->transb,
                {p->align[0], p->align[1], p->align[2], p->align[3], aux_align},
                need};
  r.workspace_size = need;
  r.state = SUCCESS;
  r.waves = 1.0f;
  *count = 1;
  return SUCCESS;
}

cublasStatus_t cublasLtMatmul(void* handle, void* desc, const void* alpha, const void* A, void* ad,
                              const void* B, void* bd, const void* beta, const void* C, void* cd,
                              void* D, void* dd, const Algo* algo, void* workspace,
                              size_t workspace_bytes, void* stream) {
  std::lock_guard<std::mutex> g(mu);
  std::string w = "cublasLtMatmul";
  if (!handles.count(handle)) return fail(NOT_INITIALIZED, w + ": handle not live");
  if (!emu_flush_stream(stream)) return fail(EXECUTION_FAILED, w + ": earlier work on the stream failed");
  auto* md = (MatmulDesc*)desc;
  auto *la = (Layout*)ad, *lb = (Layout*)bd, *lc = (Layout*)cd, *ld = (Layout*)dd;
  Problem pr;
  cublasStatus_t s = validate("cublasLtMatmul", md, la, lb, lc, ld, &pr);
  if (s != SUCCESS) return s;
  if (!alpha || !beta) return fail(INVALID_VALUE, w + ": NULL alpha or beta");
  if (workspace_bytes > 0 && !emu_device_range(workspace, workspace_bytes))
    return fail(INVALID_VALUE, w + ": workspace of " + std::to_string(workspace_bytes) +
                                   " bytes outside device memory");
  if (algo) {
    const Algo& al = *algo;
    if (al.magic != ALGO_MAGIC) return fail(INVALID_VALUE, w + ": algo not from the heuristic");
    if (al.m != pr.m || al.n != pr.n || al.k != pr.k || al.batch != pr.batch ||
        al.epilogue != md->epilogue || al.type != ld->type || al.transa != md->transa ||
        al.transb != md->transb)
      return fail(INVALID_VALUE, w + ": algo was chosen for another problem");
    if (workspace_bytes < al.workspace)
      return fail(INVALID_VALUE, w + ": workspace of " + std::to_string(workspace_bytes) +
                                     " bytes below the algo's " + std::to_string(al.workspace));
    const void* ptrs[4] = {A, B, C, D};
    for (int i = 0; i < 4; i++)
      if (alignment_of(ptrs[i]) < std::min(al.align[i], 256u))
        return fail(INVALID_VALUE, w + ": operand " + std::to_string(i) +
                                       " less aligned than the preference promised");
    if (has_aux(md->epilogue) &&
        alignment_of((const void*)(uintptr_t)md->aux) < std::min(al.align[4], 256u))
      return fail(INVALID_VALUE, w + ": auxiliary matrix less aligned than at the heuristic");
  }
  bool f64 = md->compute == COMPUTE_64F;
  double al = f64 ? *(const double*)alpha : *(const float*)alpha;
  double be = f64 ? *(const double*)beta : *(const float*)beta;
  if (!extent_ok(A, *la)) return fail(INVALID_VALUE, w + ": A outside device memory");
  if (!extent_ok(B, *lb)) return fail(INVALID_VALUE, w + ": B outside device memory");
  if (be != 0 && !extent_ok(C, *lc)) return fail(INVALID_VALUE, w + ": C outside device memory");
  if (!extent_ok(D, *ld)) return fail(INVALID_VALUE, w + ": D outside device memory");
  int e = md->epilogue;
  const void* bias = (const void*)(uintptr_t)md->bias;
  if (has_bias(e) || bias_grad(e)) {
    // Bias and the gradients of DGELU_BGRAD / BGRADA run along D's rows, BGRADB's along its columns.
    long long len = e == EPI_BGRADB ? pr.n : pr.m;
    if (!bias)
      return fail(INVALID_VALUE, w + ": epilogue " + std::to_string(e) + " without a bias pointer");
    size_t bias_bytes =
        ((size_t)len + (size_t)(pr.batch - 1) * (size_t)md->bias_batch_stride) * type_bytes(ld->type);
    if (!emu_device_range(bias, bias_bytes))
      return fail(INVALID_VALUE, w + ": bias vector of " + std::to_string(len) +
                                     " outside device memory");
  }
  if (alignment_of(bias) < type_bytes(ld->type))
    return fail(INVALID_VALUE, w + ": bias not aligned to its element");
  void* aux = (void*)(uintptr_t)md->aux;
  if (has_aux(e)) {
    Layout al{ld->type, ld->rows, ld->cols, md->aux_ld, ORDER_COL, ld->batch, md->aux_batch_stride};
    if (!extent_ok(aux, al))
      return fail(INVALID_VALUE, w + ": auxiliary matrix " + dims(al) + " outside device memory");
    if (alignment_of(aux) < type_bytes(ld->type))
      return fail(INVALID_VALUE, w + ": auxiliary matrix not aligned to its element");
  }
  size_t sa = type_bytes(la->type), sd = type_bytes(ld->type);
  for (int b_ = 0; b_ < pr.batch; b_++) {
    const char* a = (const char*)A + b_ * la->stride * (long long)sa;
    const char* b = (const char*)B + b_ * lb->stride * (long long)sa;
    const char* c = (const char*)C + b_ * lc->stride * (long long)sd;
    char* d = (char*)D + b_ * ld->stride * (long long)sd;
    char* x = (char*)aux + b_ * md->aux_batch_stride * (long long)sd;
    long long bias_off = (long long)b_ * md->bias_batch_stride;
    auto op_a = [&](int i, int l) {
      return load(a, md->transa ? at(*la, l, i) : at(*la, i, l), la->type);
    };
    auto op_b = [&](int l, int j) {
      return load(b, md->transb ? at(*lb, j, l) : at(*lb, l, j), lb->type);
    };
    // The bias gradients of BGRADA / BGRADB: op(A)'s rows, op(B)'s columns summed over k, in f32.
    if (e == EPI_BGRADA || e == EPI_BGRADB) {
      int len = e == EPI_BGRADA ? pr.m : pr.n;
      for (int i = 0; i < len; i++) {
        float sum = 0;
        for (int l = 0; l < pr.k; l++) sum += (float)(e == EPI_BGRADA ? op_a(i, l) : op_b(l, i));
        store((void*)bias, bias_off + i, ld->type, sum);
      }
    }
    for (int i = 0; i < pr.m; i++) {
      float row_sum = 0;  // DGELU_BGRAD: D's row i summed in f32
      for (int j = 0; j < pr.n; j++) {
        double accd = 0;
        float accf = 0;
        for (int l = 0; l < pr.k; l++) {
          double p = op_a(i, l), q = op_b(l, j);
          if (f64) accd += p * q;
          else accf += (float)p * (float)q;
        }
        double v;
        if (f64) {
          v = al * accd;
          if (be != 0) v += be * load(c, at(*lc, i, j), lc->type);
          if (has_bias(e)) v += load(bias, bias_off + i, ld->type);
        } else {  // f32 epilogue arithmetic, each step rounded, as on the GPU
          float f = (float)al * accf;
          if (be != 0) f += (float)be * (float)load(c, at(*lc, i, j), lc->type);
          if (has_bias(e)) f += (float)load(bias, bias_off + i, ld->type);
          v = f;
        }
        long long xi = (long long)j * md->aux_ld + i;  // the auxiliary matrix is column-major
        if (writes_aux(e)) store(x, xi, ld->type, v);
        if (reads_aux(e)) {
          float f = (float)v * gelu_tanh_grad((float)load(x, xi, ld->type));
          row_sum += f;
          v = f;
        }
        if (e == EPI_RELU || e == EPI_RELU_BIAS) v = v > 0 ? v : 0;
        if (gelu_out(e)) {
          v = f64 ? 0.5 * v * (1 + std::tanh(0.7978845608028654 * (v + 0.044715 * v * v * v)))
                  : gelu_tanh((float)v);
        }
        store(d, at(*ld, i, j), ld->type, v);
      }
      if (e == EPI_DGELU_BGRAD) store((void*)bias, bias_off + i, ld->type, row_sum);
    }
  }
  return SUCCESS;
}

const char* cublasLtGetStatusName(cublasStatus_t s) {
  switch (s) {
    case SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    case EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    default: return "CUBLAS_STATUS_UNKNOWN";
  }
}

const char* cublasLtGetStatusString(cublasStatus_t s) {
  return s == SUCCESS ? "success" : "the emulated cuBLASLt rejected the call (see stderr)";
}
}
