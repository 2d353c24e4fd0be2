// cudnn.cpp: an emulated cuDNN 9 (libcudnn.so.9) for the emulated driver: the classic N-d
// convolution API that the CUDA backend calls (io.kinema.tensor.cuda.CudaConv, through the
// bindings of io.kinema.ffi.cuda.Cudnn), with cuDNN's semantics and argument checks:
//   - N-d tensor descriptors with explicit strides, NCHW-packed filter descriptors, convolution
//     descriptors (padding, stride, dilation, cross-correlation or convolution, compute type, math
//     type); handles and descriptors must be live and of the right kind, and set before use;
//   - every call's descriptors consistent with each other (ranks, N, C, K, the output size
//     cuDNN's formula gives, one data type, a compute type the data type allows), else
//     CUDNN_STATUS_BAD_PARAM or CUDNN_STATUS_NOT_SUPPORTED;
//   - the algorithm queries fill cudnnConvolution*AlgoPerf_t as cuDNN does, ranking a
//     non-deterministic algorithm first for the backward passes (as cuDNN's heuristics may), and
//     listing an unsupported one with its status; algorithms that need a workspace check that the
//     workspace given is large enough and in device memory, and scribble over it;
//   - data pointers non-null, element-aligned, and every element a descriptor reaches inside one
//     live device allocation;
//   - y = alpha * op + beta * y, y not read when beta is 0; f32 accumulation for the FLOAT compute
//     type, f64 for DOUBLE.
// A call computes at once on the host, after running the work the emulated driver queued on the
// handle's stream (KINEMA_EMU_DEFERRED=1): stream order without a queue of its own.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "elements.h"

bool emu_device_range(const void* p, size_t bytes);  // driver.cpp
bool emu_flush_stream(void* stream);  // driver.cpp: runs a stream's queued work; false if it failed

typedef int cudnnStatus_t;
enum {
  SUCCESS = 0,
  NOT_INITIALIZED = 1001,
  BAD_PARAM = 2000,
  BAD_PARAM_NULL_POINTER = 2002,
  BAD_PARAM_MISALIGNED_POINTER = 2003,
  NOT_SUPPORTED = 3000,
  NOT_SUPPORTED_DATA_TYPE = 3003,
  INTERNAL_ERROR = 4000,
  EXECUTION_FAILED = 5000,
};
enum { FLOAT = 0, DOUBLE = 1, HALF = 2, BFLOAT16 = 9 };
enum { FORMAT_NCHW = 0 };
enum { MODE_CONVOLUTION = 0, MODE_CROSS_CORRELATION = 1 };
enum { NON_DETERMINISTIC = 0, DETERMINISTIC = 1 };
constexpr int DIM_MAX = 8;

struct AlgoPerf {  // cudnnConvolution{Fwd,BwdData,BwdFilter}AlgoPerf_t
  int algo;
  cudnnStatus_t status;
  float time;
  size_t memory;
  int determinism;
  int mathType;
  int reserved[3];
};
static_assert(sizeof(AlgoPerf) == 48, "cudnnConvolutionFwdAlgoPerf_t is 48 bytes");

namespace {
std::mutex mu;
thread_local std::string last_error;

enum class Kind { HANDLE, TENSOR, FILTER, CONVOLUTION };

struct Object {
  Kind kind;
  bool set = false;
  // tensor / filter
  int type = FLOAT, rank = 0;
  long long dims[DIM_MAX] = {}, strides[DIM_MAX] = {};
  // convolution
  int spatial = 0, mode = MODE_CROSS_CORRELATION, compute = FLOAT, math = 0, groups = 1;
  long long pad[DIM_MAX] = {}, stride[DIM_MAX] = {}, dilation[DIM_MAX] = {};
  // handle
  void* stream = nullptr;
};
std::set<Object*>& live() {
  static std::set<Object*> s;
  return s;
}

cudnnStatus_t fail(cudnnStatus_t s, const std::string& what) {
  last_error = what;
  std::fprintf(stderr, "[emulated cuDNN] %s\n", what.c_str());
  return s;
}

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::HANDLE: return "handle";
    case Kind::TENSOR: return "tensor descriptor";
    case Kind::FILTER: return "filter descriptor";
    default: return "convolution descriptor";
  }
}

// The live object `p` of kind `k` (set, unless `unset_ok`), or null with last_error explaining.
Object* get(void* p, Kind k, const std::string& call, bool unset_ok = false) {
  auto* o = static_cast<Object*>(p);
  if (p == nullptr || live().count(o) == 0) {
    fail(BAD_PARAM, call + ": " + kind_name(k) + " is not a live cuDNN object");
    return nullptr;
  }
  if (o->kind != k) {
    fail(BAD_PARAM, call + ": expected a " + kind_name(k) + ", got a " + kind_name(o->kind));
    return nullptr;
  }
  if (!unset_ok && !o->set) {
    fail(BAD_PARAM, call + ": " + kind_name(k) + " was never set");
    return nullptr;
  }
  return o;
}

cudnnStatus_t create(void** out, Kind k) {
  std::lock_guard<std::mutex> g(mu);
  if (out == nullptr) return fail(BAD_PARAM_NULL_POINTER, "create: null output pointer");
  auto* o = new Object{k};
  if (k == Kind::HANDLE) o->set = true;
  live().insert(o);
  *out = o;
  return SUCCESS;
}

cudnnStatus_t destroy(void* p, Kind k, const char* call) {
  std::lock_guard<std::mutex> g(mu);
  Object* o = get(p, k, call, true);
  if (o == nullptr) return BAD_PARAM;
  live().erase(o);
  delete o;
  return SUCCESS;
}

bool known_type(int t) { return t == FLOAT || t == DOUBLE || t == HALF || t == BFLOAT16; }

std::string dims_str(const long long* d, int n) {
  std::string s = "[";
  for (int i = 0; i < n; i++) s += (i ? ", " : "") + std::to_string(d[i]);
  return s + "]";
}

// The library's type code as an element type (known_type says which codes are accepted).
emu_elements::Elem elem(int t) {
  using emu_elements::Elem;
  return t == DOUBLE ? Elem::F64 : t == FLOAT ? Elem::F32 : t == HALF ? Elem::F16 : Elem::BF16;
}

size_t type_bytes(int t) { return emu_elements::bytes(elem(t)); }

double load(const void* p, long long i, int t) { return emu_elements::load(p, i, elem(t)); }

void store(void* p, long long i, int t, double v) { emu_elements::store(p, i, elem(t), v); }

// Elements a tensor descriptor reaches from its pointer (the last one's index + 1).
long long extent(const Object& t) {
  long long last = 0;
  for (int i = 0; i < t.rank; i++) last += (t.dims[i] - 1) * t.strides[i];
  return last + 1;
}

cudnnStatus_t check_data(const void* p, const Object& t, const std::string& call, const char* name) {
  if (p == nullptr) return fail(BAD_PARAM_NULL_POINTER, call + ": " + name + " is null");
  if ((uintptr_t)p % type_bytes(t.type) != 0)
    return fail(BAD_PARAM_MISALIGNED_POINTER, call + ": " + name + " is not aligned to its elements");
  size_t bytes = (size_t)extent(t) * type_bytes(t.type);
  if (!emu_device_range(p, bytes))
    return fail(BAD_PARAM, call + ": " + name + " " + dims_str(t.dims, t.rank) + " with strides " +
                               dims_str(t.strides, t.rank) + " (" + std::to_string(bytes) +
                               " bytes) is not inside one device allocation");
  return SUCCESS;
}

// The three operands of one convolution: input x, filter w, output y (dy / dx / dw by role).
struct Conv {
  const Object *x, *w, *y, *c;
};

// Checks x, w, conv and y describe one convolution, as cuDNN does before any work.
cudnnStatus_t check_conv(const Conv& v, const std::string& call) {
  const Object &x = *v.x, &w = *v.w, &y = *v.y, &c = *v.c;
  int n = x.rank;
  if (w.rank != n || y.rank != n || c.spatial + 2 != n)
    return fail(BAD_PARAM, call + ": ranks differ: x " + std::to_string(n) + ", w " +
                               std::to_string(w.rank) + ", y " + std::to_string(y.rank) +
                               ", convolution " + std::to_string(c.spatial) + " spatial dims");
  if (x.type != w.type || x.type != y.type)
    return fail(BAD_PARAM, call + ": data types differ: x " + std::to_string(x.type) + ", w " +
                               std::to_string(w.type) + ", y " + std::to_string(y.type));
  bool compute_ok = (x.type == FLOAT && c.compute == FLOAT) ||
                    (x.type == DOUBLE && c.compute == DOUBLE) ||
                    (x.type == HALF && (c.compute == HALF || c.compute == FLOAT)) ||
                    (x.type == BFLOAT16 && c.compute == FLOAT);
  if (!compute_ok)
    return fail(NOT_SUPPORTED_DATA_TYPE, call + ": compute type " + std::to_string(c.compute) +
                                             " with data type " + std::to_string(x.type));
  if (x.dims[1] != w.dims[1] * c.groups)
    return fail(BAD_PARAM, call + ": x has " + std::to_string(x.dims[1]) + " channels, the filter " +
                               std::to_string(w.dims[1]) + " x " + std::to_string(c.groups) + " groups");
  long long want[DIM_MAX] = {x.dims[0], w.dims[0]};
  for (int i = 0; i < c.spatial; i++) {
    long long span = c.dilation[i] * (w.dims[2 + i] - 1) + 1;
    want[2 + i] = (x.dims[2 + i] + 2 * c.pad[i] - span) / c.stride[i] + 1;
    if (want[2 + i] <= 0)
      return fail(BAD_PARAM, call + ": the filter " + dims_str(w.dims, n) +
                                 " is larger than the padded input " + dims_str(x.dims, n));
  }
  for (int i = 0; i < n; i++)
    if (y.dims[i] != want[i])
      return fail(BAD_PARAM, call + ": output " + dims_str(y.dims, n) + " but x " +
                                 dims_str(x.dims, n) + " and filter " + dims_str(w.dims, n) +
                                 " give " + dims_str(want, n));
  return SUCCESS;
}

enum class Op { FORWARD, BACKWARD_DATA, BACKWARD_FILTER };

// What this cuDNN offers per operation, in its heuristics' order: the algorithm, whether it is
// deterministic, and its workspace (bytes per element of x). One algorithm of each list is
// unsupported for every configuration (an FFT variant: reported with CUDNN_STATUS_NOT_SUPPORTED).
struct Offer {
  int algo;
  bool deterministic;
  long long workspace_per_element;
  bool supported;
};
std::vector<Offer> offers(Op op) {
  switch (op) {
    case Op::FORWARD:  // IMPLICIT_PRECOMP_GEMM (index table), IMPLICIT_GEMM, FFT
      return {{1, true, 4, true}, {0, true, 0, true}, {4, true, 0, false}};
    case Op::BACKWARD_DATA:  // ALGO_0 (atomics), ALGO_1, FFT
      return {{0, false, 0, true}, {1, true, 8, true}, {2, true, 0, false}};
    default:  // ALGO_3 and ALGO_0 (atomics), ALGO_1, FFT
      return {{3, false, 2, true}, {0, false, 0, true}, {1, true, 8, true}, {2, true, 0, false}};
  }
}
int algo_count(Op op) { return op == Op::FORWARD ? 8 : op == Op::BACKWARD_DATA ? 6 : 7; }

// The offer for `algo`, or null with the status in *status.
const Offer* find_offer(Op op, int algo, const std::string& call, cudnnStatus_t* status) {
  if (algo < 0 || algo >= algo_count(op)) {
    *status = fail(BAD_PARAM, call + ": no algorithm " + std::to_string(algo));
    return nullptr;
  }
  static thread_local std::vector<Offer> list;
  list = offers(op);
  for (auto& o : list)
    if (o.algo == algo && o.supported) return &o;
  *status = fail(NOT_SUPPORTED, call + ": algorithm " + std::to_string(algo) +
                                    " does not support this configuration");
  return nullptr;
}

size_t workspace_bytes(const Offer& o, const Conv& v) {
  return (size_t)(o.workspace_per_element * extent(*v.x));
}

cudnnStatus_t algorithms(Op op, void* handle, const Conv& v, int requested, int* returned,
                         AlgoPerf* perf, const std::string& call) {
  if (requested < 1) return fail(BAD_PARAM, call + ": requestedAlgoCount < 1");
  if (returned == nullptr || perf == nullptr)
    return fail(BAD_PARAM_NULL_POINTER, call + ": null returnedAlgoCount or perfResults");
  cudnnStatus_t s = check_conv(v, call);
  if (s != SUCCESS) return s;
  auto list = offers(op);
  int n = 0;
  for (auto& o : list) {
    if (n == requested) break;
    AlgoPerf p{};
    p.algo = o.algo;
    p.status = o.supported ? SUCCESS : NOT_SUPPORTED;
    p.time = -1;  // heuristics measure nothing
    p.memory = o.supported ? workspace_bytes(o, v) : 0;
    p.determinism = o.deterministic ? DETERMINISTIC : NON_DETERMINISTIC;
    p.mathType = v.c->math;
    perf[n++] = p;
  }
  *returned = n;
  return SUCCESS;
}

cudnnStatus_t workspace_size(Op op, const Conv& v, int algo, size_t* bytes, const std::string& call) {
  if (bytes == nullptr) return fail(BAD_PARAM_NULL_POINTER, call + ": null sizeInBytes");
  cudnnStatus_t s = check_conv(v, call);
  if (s != SUCCESS) return s;
  const Offer* o = find_offer(op, algo, call, &s);
  if (o == nullptr) return s;
  *bytes = workspace_bytes(*o, v);
  return SUCCESS;
}

// Visits every (x element, w element, y element) product of the convolution.
template <typename F>
void for_each_tap(const Conv& v, F f) {
  const Object &x = *v.x, &w = *v.w, &y = *v.y, &c = *v.c;
  int sp = c.spatial;
  long long wstr[DIM_MAX];
  wstr[w.rank - 1] = 1;
  for (int i = w.rank - 2; i >= 0; i--) wstr[i] = wstr[i + 1] * w.dims[i + 1];
  long long out_count = 1, k_count = 1;
  for (int i = 0; i < sp; i++) out_count *= y.dims[2 + i], k_count *= w.dims[2 + i];
  for (long long b = 0; b < y.dims[0]; b++)
    for (long long k = 0; k < y.dims[1]; k++)
      for (long long o = 0; o < out_count; o++) {
        long long pos[DIM_MAX], rest = o, yi = b * y.strides[0] + k * y.strides[1];
        for (int i = sp - 1; i >= 0; i--) pos[i] = rest % y.dims[2 + i], rest /= y.dims[2 + i];
        for (int i = 0; i < sp; i++) yi += pos[i] * y.strides[2 + i];
        for (long long ch = 0; ch < w.dims[1]; ch++)
          for (long long t = 0; t < k_count; t++) {
            long long tap[DIM_MAX], r2 = t;
            for (int i = sp - 1; i >= 0; i--) tap[i] = r2 % w.dims[2 + i], r2 /= w.dims[2 + i];
            long long xi = b * x.strides[0] + ch * x.strides[1];
            long long wi = k * wstr[0] + ch * wstr[1];
            bool inside = true;
            for (int i = 0; i < sp; i++) {
              long long kt = c.mode == MODE_CONVOLUTION ? w.dims[2 + i] - 1 - tap[i] : tap[i];
              long long at = pos[i] * c.stride[i] - c.pad[i] + tap[i] * c.dilation[i];
              if (at < 0 || at >= x.dims[2 + i]) inside = false;
              xi += at * x.strides[2 + i];
              wi += kt * wstr[2 + i];
            }
            if (inside) f(xi, wi, yi);
          }
      }
}

// One convolution call: checks, then out = alpha * sum + beta * out over the operation's output.
cudnnStatus_t run(Op op, void* handle, const void* alpha, const Conv& v, const void* a,
                  const void* b, int algo, void* workspace, size_t ws_bytes, const void* beta,
                  void* out, const std::string& call) {
  Object* h = get(handle, Kind::HANDLE, call);
  if (h == nullptr) return BAD_PARAM;
  if (!emu_flush_stream(h->stream)) return fail(EXECUTION_FAILED, call + ": earlier work on the stream failed");
  if (alpha == nullptr || beta == nullptr)
    return fail(BAD_PARAM_NULL_POINTER, call + ": null alpha or beta");
  cudnnStatus_t s = check_conv(v, call);
  if (s != SUCCESS) return s;
  const Offer* o = find_offer(op, algo, call, &s);
  if (o == nullptr) return s;
  // The operands by role: forward reads x and w into y, backward data w and dy into dx,
  // backward filter x and dy into dw.
  const Object* in1 = op == Op::BACKWARD_DATA ? v.w : v.x;
  const Object* in2 = op == Op::FORWARD ? v.w : v.y;
  const Object* dst = op == Op::FORWARD ? v.y : op == Op::BACKWARD_DATA ? v.x : v.w;
  if ((s = check_data(a, *in1, call, "first operand")) != SUCCESS) return s;
  if ((s = check_data(b, *in2, call, "second operand")) != SUCCESS) return s;
  if ((s = check_data(out, *dst, call, "output")) != SUCCESS) return s;
  size_t need = workspace_bytes(*o, v);
  if (need > 0) {
    if (workspace == nullptr || ws_bytes < need)
      return fail(BAD_PARAM, call + ": algorithm " + std::to_string(algo) + " needs " +
                                 std::to_string(need) + " workspace bytes, got " +
                                 std::to_string(ws_bytes));
    if (!emu_device_range(workspace, ws_bytes))
      return fail(BAD_PARAM, call + ": the workspace (" + std::to_string(ws_bytes) +
                                 " bytes) is not inside one device allocation");
    std::memset(workspace, 0xff, need);  // scratch use: garbage for whoever shares it
  } else if (ws_bytes > 0 && !emu_device_range(workspace, ws_bytes)) {
    return fail(BAD_PARAM, call + ": the workspace is not inside one device allocation");
  }
  bool f64 = v.c->compute == DOUBLE;
  double al = f64 ? *(const double*)alpha : *(const float*)alpha;
  double be = f64 ? *(const double*)beta : *(const float*)beta;
  int type = v.x->type;
  // Accumulators indexed like the output's elements (its strides may leave gaps).
  long long n = extent(*dst);
  std::vector<double> accd(f64 ? n : 0);
  std::vector<float> accf(f64 ? 0 : n);
  const void *xp = op == Op::BACKWARD_DATA ? nullptr : a, *wp = op == Op::BACKWARD_DATA ? a : b;
  const void* yp = op == Op::FORWARD ? nullptr : b;
  auto add = [&](long long xi, long long wi, long long yi) {
    double p, q;
    long long target;
    switch (op) {
      case Op::FORWARD: p = load(xp, xi, type), q = load(wp, wi, type), target = yi; break;
      case Op::BACKWARD_DATA: p = load(yp, yi, type), q = load(wp, wi, type), target = xi; break;
      default: p = load(yp, yi, type), q = load(xp, xi, type), target = wi; break;
    }
    if (f64) accd[target] += p * q;
    else accf[target] += (float)p * (float)q;
  };
  if (o->deterministic) {
    for_each_tap(v, add);
  } else {
    // Atomic adds land in whatever order the hardware schedules them: another order each call.
    std::vector<std::array<long long, 3>> taps;
    for_each_tap(v, [&](long long xi, long long wi, long long yi) { taps.push_back({xi, wi, yi}); });
    static std::mt19937_64 scheduler(1);
    std::shuffle(taps.begin(), taps.end(), scheduler);
    for (auto& t : taps) add(t[0], t[1], t[2]);
  }
  // Every element of the output descriptor is written, including those no tap reaches (0).
  const Object& d = *dst;
  long long count = 1;
  for (int i = 0; i < d.rank; i++) count *= d.dims[i];
  for (long long e = 0; e < count; e++) {
    long long rest = e, idx = 0;
    for (int i = d.rank - 1; i >= 0; i--) idx += (rest % d.dims[i]) * d.strides[i], rest /= d.dims[i];
    double acc = f64 ? accd[idx] : accf[idx];
    double value = al * acc + (be == 0 ? 0 : be * load(out, idx, type));
    store(out, idx, type, value);
  }
  return SUCCESS;
}

Conv conv_of(void* x, void* w, void* c, void* y, const std::string& call, Kind w_kind, bool* ok) {
  Conv v{};
  v.x = get(x, Kind::TENSOR, call);
  v.w = v.x ? get(w, w_kind, call) : nullptr;
  v.c = v.w ? get(c, Kind::CONVOLUTION, call) : nullptr;
  v.y = v.c ? get(y, Kind::TENSOR, call) : nullptr;
  *ok = v.y != nullptr;
  return v;
}
}  // namespace

extern "C" {

// The emulated library follows cuDNN 9's API (9.1.0 encodes as 9 * 10000 + 1 * 100 + 0).
size_t cudnnGetVersion(void) { return 90100; }

const char* cudnnGetErrorString(cudnnStatus_t s) {
  switch (s) {
    case SUCCESS: return "CUDNN_STATUS_SUCCESS";
    case NOT_INITIALIZED: return "CUDNN_STATUS_NOT_INITIALIZED";
    case BAD_PARAM: return "CUDNN_STATUS_BAD_PARAM";
    case BAD_PARAM_NULL_POINTER: return "CUDNN_STATUS_BAD_PARAM_NULL_POINTER";
    case BAD_PARAM_MISALIGNED_POINTER: return "CUDNN_STATUS_BAD_PARAM_MISALIGNED_POINTER";
    case NOT_SUPPORTED: return "CUDNN_STATUS_NOT_SUPPORTED";
    case NOT_SUPPORTED_DATA_TYPE: return "CUDNN_STATUS_NOT_SUPPORTED_DATA_TYPE";
    case INTERNAL_ERROR: return "CUDNN_STATUS_INTERNAL_ERROR";
    case EXECUTION_FAILED: return "CUDNN_STATUS_EXECUTION_FAILED";
    default: return "CUDNN_STATUS_UNKNOWN";
  }
}

void cudnnGetLastErrorString(char* message, size_t max_size) {
  if (message == nullptr || max_size == 0) return;
  std::snprintf(message, max_size, "%s", last_error.c_str());
  last_error.clear();
}

cudnnStatus_t cudnnCreate(void** handle) { return create(handle, Kind::HANDLE); }
cudnnStatus_t cudnnDestroy(void* handle) { return destroy(handle, Kind::HANDLE, "cudnnDestroy"); }

cudnnStatus_t cudnnSetStream(void* handle, void* stream) {
  std::lock_guard<std::mutex> g(mu);
  Object* h = get(handle, Kind::HANDLE, "cudnnSetStream");
  if (h == nullptr) return BAD_PARAM;
  h->stream = stream;
  return SUCCESS;
}

cudnnStatus_t cudnnCreateTensorDescriptor(void** d) { return create(d, Kind::TENSOR); }
cudnnStatus_t cudnnDestroyTensorDescriptor(void* d) {
  return destroy(d, Kind::TENSOR, "cudnnDestroyTensorDescriptor");
}
cudnnStatus_t cudnnCreateFilterDescriptor(void** d) { return create(d, Kind::FILTER); }
cudnnStatus_t cudnnDestroyFilterDescriptor(void* d) {
  return destroy(d, Kind::FILTER, "cudnnDestroyFilterDescriptor");
}
cudnnStatus_t cudnnCreateConvolutionDescriptor(void** d) { return create(d, Kind::CONVOLUTION); }
cudnnStatus_t cudnnDestroyConvolutionDescriptor(void* d) {
  return destroy(d, Kind::CONVOLUTION, "cudnnDestroyConvolutionDescriptor");
}

cudnnStatus_t cudnnSetTensorNdDescriptor(void* desc, int type, int nb, const int* dims,
                                         const int* strides) {
  std::lock_guard<std::mutex> g(mu);
  std::string call = "cudnnSetTensorNdDescriptor";
  Object* t = get(desc, Kind::TENSOR, call, true);
  if (t == nullptr) return BAD_PARAM;
  if (dims == nullptr || strides == nullptr) return fail(BAD_PARAM_NULL_POINTER, call + ": null dims or strides");
  if (!known_type(type)) return fail(BAD_PARAM, call + ": data type " + std::to_string(type));
  if (nb < 3 || nb > DIM_MAX) return fail(NOT_SUPPORTED, call + ": nbDims " + std::to_string(nb));
  long long count = 1;
  for (int i = 0; i < nb; i++) {
    if (dims[i] <= 0 || strides[i] <= 0)
      return fail(BAD_PARAM, call + ": dims and strides must be positive");
    count *= dims[i];
  }
  if (count > 0x7fffffffLL) return fail(NOT_SUPPORTED, call + ": more than 2^31-1 elements");
  t->type = type;
  t->rank = nb;
  for (int i = 0; i < nb; i++) t->dims[i] = dims[i], t->strides[i] = strides[i];
  t->set = true;
  return SUCCESS;
}

cudnnStatus_t cudnnSetFilterNdDescriptor(void* desc, int type, int format, int nb,
                                         const int* dims) {
  std::lock_guard<std::mutex> g(mu);
  std::string call = "cudnnSetFilterNdDescriptor";
  Object* f = get(desc, Kind::FILTER, call, true);
  if (f == nullptr) return BAD_PARAM;
  if (dims == nullptr) return fail(BAD_PARAM_NULL_POINTER, call + ": null dims");
  if (!known_type(type)) return fail(BAD_PARAM, call + ": data type " + std::to_string(type));
  if (format != FORMAT_NCHW)
    return fail(NOT_SUPPORTED, call + ": the emulator packs filters NCHW only (format " +
                                   std::to_string(format) + ")");
  if (nb < 3 || nb > DIM_MAX) return fail(NOT_SUPPORTED, call + ": nbDims " + std::to_string(nb));
  for (int i = 0; i < nb; i++)
    if (dims[i] <= 0) return fail(BAD_PARAM, call + ": dims must be positive");
  f->type = type;
  f->rank = nb;
  f->strides[nb - 1] = 1;
  for (int i = 0; i < nb; i++) f->dims[i] = dims[i];
  for (int i = nb - 2; i >= 0; i--) f->strides[i] = f->strides[i + 1] * f->dims[i + 1];
  f->set = true;
  return SUCCESS;
}

cudnnStatus_t cudnnSetConvolutionNdDescriptor(void* desc, int n, const int* pad, const int* stride,
                                              const int* dilation, int mode, int compute) {
  std::lock_guard<std::mutex> g(mu);
  std::string call = "cudnnSetConvolutionNdDescriptor";
  Object* c = get(desc, Kind::CONVOLUTION, call, true);
  if (c == nullptr) return BAD_PARAM;
  if (pad == nullptr || stride == nullptr || dilation == nullptr)
    return fail(BAD_PARAM_NULL_POINTER, call + ": null pad, stride or dilation");
  if (n < 1 || n > DIM_MAX - 2) return fail(BAD_PARAM, call + ": arrayLength " + std::to_string(n));
  if (mode != MODE_CONVOLUTION && mode != MODE_CROSS_CORRELATION)
    return fail(BAD_PARAM, call + ": mode " + std::to_string(mode));
  if (!known_type(compute)) return fail(BAD_PARAM, call + ": compute type " + std::to_string(compute));
  for (int i = 0; i < n; i++)
    if (pad[i] < 0 || stride[i] <= 0 || dilation[i] <= 0)
      return fail(BAD_PARAM, call + ": padding must be >= 0, strides and dilations > 0");
  c->spatial = n;
  c->mode = mode;
  c->compute = compute;
  for (int i = 0; i < n; i++) c->pad[i] = pad[i], c->stride[i] = stride[i], c->dilation[i] = dilation[i];
  c->set = true;
  return SUCCESS;
}

cudnnStatus_t cudnnSetConvolutionMathType(void* desc, int math) {
  std::lock_guard<std::mutex> g(mu);
  std::string call = "cudnnSetConvolutionMathType";
  Object* c = get(desc, Kind::CONVOLUTION, call, true);
  if (c == nullptr) return BAD_PARAM;
  if (math < 0 || math > 3) return fail(BAD_PARAM, call + ": math type " + std::to_string(math));
  c->math = math;
  return SUCCESS;
}

#define KINEMA_CUDNN_CONV(call_name, w_kind, x, w, c, y)                \
  std::lock_guard<std::mutex> g(mu);                                     \
  std::string call = call_name;                                          \
  if (get(handle, Kind::HANDLE, call) == nullptr) return BAD_PARAM;      \
  bool ok;                                                               \
  Conv v = conv_of(x, w, c, y, call, w_kind, &ok);                       \
  if (!ok) return BAD_PARAM;

cudnnStatus_t cudnnGetConvolutionForwardAlgorithm_v7(void* handle, void* x, void* w, void* c,
                                                     void* y, int requested, int* returned,
                                                     AlgoPerf* perf) {
  KINEMA_CUDNN_CONV("cudnnGetConvolutionForwardAlgorithm_v7", Kind::FILTER, x, w, c, y)
  return algorithms(Op::FORWARD, handle, v, requested, returned, perf, call);
}

cudnnStatus_t cudnnGetConvolutionForwardWorkspaceSize(void* handle, void* x, void* w, void* c,
                                                      void* y, int algo, size_t* bytes) {
  KINEMA_CUDNN_CONV("cudnnGetConvolutionForwardWorkspaceSize", Kind::FILTER, x, w, c, y)
  return workspace_size(Op::FORWARD, v, algo, bytes, call);
}

cudnnStatus_t cudnnConvolutionForward(void* handle, const void* alpha, void* xd, const void* x,
                                      void* wd, const void* w, void* c, int algo, void* ws,
                                      size_t ws_bytes, const void* beta, void* yd, void* y) {
  KINEMA_CUDNN_CONV("cudnnConvolutionForward", Kind::FILTER, xd, wd, c, yd)
  return run(Op::FORWARD, handle, alpha, v, x, w, algo, ws, ws_bytes, beta, y, call);
}

cudnnStatus_t cudnnGetConvolutionBackwardDataAlgorithm_v7(void* handle, void* w, void* dy,
                                                          void* c, void* dx, int requested,
                                                          int* returned, AlgoPerf* perf) {
  KINEMA_CUDNN_CONV("cudnnGetConvolutionBackwardDataAlgorithm_v7", Kind::FILTER, dx, w, c, dy)
  return algorithms(Op::BACKWARD_DATA, handle, v, requested, returned, perf, call);
}

cudnnStatus_t cudnnGetConvolutionBackwardDataWorkspaceSize(void* handle, void* w, void* dy,
                                                           void* c, void* dx, int algo,
                                                           size_t* bytes) {
  KINEMA_CUDNN_CONV("cudnnGetConvolutionBackwardDataWorkspaceSize", Kind::FILTER, dx, w, c, dy)
  return workspace_size(Op::BACKWARD_DATA, v, algo, bytes, call);
}

cudnnStatus_t cudnnConvolutionBackwardData(void* handle, const void* alpha, void* wd, const void* w,
                                           void* dyd, const void* dy, void* c, int algo, void* ws,
                                           size_t ws_bytes, const void* beta, void* dxd, void* dx) {
  KINEMA_CUDNN_CONV("cudnnConvolutionBackwardData", Kind::FILTER, dxd, wd, c, dyd)
  return run(Op::BACKWARD_DATA, handle, alpha, v, w, dy, algo, ws, ws_bytes, beta, dx, call);
}

cudnnStatus_t cudnnGetConvolutionBackwardFilterAlgorithm_v7(void* handle, void* x, void* dy,
                                                            void* c, void* dw, int requested,
                                                            int* returned, AlgoPerf* perf) {
  KINEMA_CUDNN_CONV("cudnnGetConvolutionBackwardFilterAlgorithm_v7", Kind::FILTER, x, dw, c, dy)
  return algorithms(Op::BACKWARD_FILTER, handle, v, requested, returned, perf, call);
}

cudnnStatus_t cudnnGetConvolutionBackwardFilterWorkspaceSize(void* handle, void* x, void* dy,
                                                             void* c, void* dw, int algo,
                                                             size_t* bytes) {
  KINEMA_CUDNN_CONV("cudnnGetConvolutionBackwardFilterWorkspaceSize", Kind::FILTER, x, dw, c, dy)
  return workspace_size(Op::BACKWARD_FILTER, v, algo, bytes, call);
}

cudnnStatus_t cudnnConvolutionBackwardFilter(void* handle, const void* alpha, void* xd,
                                             const void* x, void* dyd, const void* dy, void* c,
                                             int algo, void* ws, size_t ws_bytes, const void* beta,
                                             void* dwd, void* dw) {
  KINEMA_CUDNN_CONV("cudnnConvolutionBackwardFilter", Kind::FILTER, xd, dwd, c, dyd)
  return run(Op::BACKWARD_FILTER, handle, alpha, v, x, dy, algo, ws, ws_bytes, beta, dw, call);
}
}
