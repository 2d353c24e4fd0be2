// cublas.cpp: an emulated cuBLAS (libcublas.so) for the emulated driver: cublasGemmEx and
// cublasGemmStridedBatchedEx as plain column-major loops on the host, with cuBLAS's argument
// rules (leading dimensions at least the rows they span) and every operand's extent checked
// against the device allocations. f32 accumulation for the 32F compute types, f64 for 64F.
// With KINEMA_EMU_SKIP_KERNELS=1 a GEMM is checked but not computed, like the driver's kernels.
// A GEMM first runs the work queued on its handle's stream (driver.cpp's deferred mode), then
// computes at once.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>

#include "elements.h"

typedef int cublasStatus_t;
enum { SUCCESS = 0, NOT_INITIALIZED = 1, INVALID_VALUE = 7, EXECUTION_FAILED = 13, NOT_SUPPORTED = 15 };
enum { R_32F = 0, R_64F = 1, R_16F = 2, R_16BF = 14 };
enum { COMPUTE_32F = 68, COMPUTE_32F_PEDANTIC = 69, COMPUTE_64F = 70, COMPUTE_32F_FAST_TF32 = 77 };

bool emu_device_range(const void* p, size_t bytes);  // driver.cpp
bool emu_skip_kernels();  // driver.cpp: KINEMA_EMU_SKIP_KERNELS=1 (checks only, no arithmetic)
// driver.cpp: runs the work queued on a stream (KINEMA_EMU_DEFERRED=1); false if it failed. Each
// GEMM computes at the call, after its stream's earlier work: stream order without a queue.
bool emu_flush_stream(void* stream);

namespace {
cublasStatus_t fail(cublasStatus_t s, const std::string& what) {
  std::fprintf(stderr, "[emulated cuBLAS] %s\n", what.c_str());
  return s;
}


// The library's type code as an element type (known_type says which codes are accepted).
emu_elements::Elem elem(int t) {
  using emu_elements::Elem;
  return t == R_64F ? Elem::F64 : t == R_32F ? Elem::F32 : t == R_16F ? Elem::F16 : Elem::BF16;
}

size_t type_bytes(int t) { return emu_elements::bytes(elem(t)); }

double load(const void* p, long long i, int t) { return emu_elements::load(p, i, elem(t)); }

void store(void* p, long long i, int t, double v) { emu_elements::store(p, i, elem(t), v); }

// Checks a stored column-major matrix of rows x cols with leading dimension ld, batch entries
// `stride` apart, lies in device memory.
bool extent_ok(const void* p, int type, long long rows, long long cols, long long ld,
               long long stride, int batch) {
  if (rows == 0 || cols == 0 || batch == 0) return true;
  long long last = (cols - 1) * ld + rows - 1 + (long long)(batch - 1) * stride;
  return emu_device_range(p, (size_t)(last + 1) * type_bytes(type));
}

cublasStatus_t gemm(const char* call, int transa, int transb, int m, int n, int k,
                    const void* alpha, const void* A, int at, int lda, long long sa,
                    const void* B, int bt, int ldb, long long sb, const void* beta, void* C, int ct,
                    int ldc, long long sc, int batch, int compute) {
  std::string c = call;
  if (m < 0 || n < 0 || k < 0 || batch < 0) return fail(INVALID_VALUE, c + ": negative size");
  long long a_rows = transa ? k : m, a_cols = transa ? m : k;
  long long b_rows = transb ? n : k, b_cols = transb ? k : n;
  if (lda < std::max<long long>(1, a_rows)) return fail(INVALID_VALUE, c + ": lda " + std::to_string(lda) + " < rows " + std::to_string(a_rows));
  if (ldb < std::max<long long>(1, b_rows)) return fail(INVALID_VALUE, c + ": ldb " + std::to_string(ldb) + " < rows " + std::to_string(b_rows));
  if (ldc < std::max(1, m)) return fail(INVALID_VALUE, c + ": ldc " + std::to_string(ldc) + " < m " + std::to_string(m));
  if (at != bt || at != ct) return fail(NOT_SUPPORTED, c + ": mixed operand types");
  bool f64 = compute == COMPUTE_64F;
  if (f64 != (at == R_64F)) return fail(NOT_SUPPORTED, c + ": compute type " + std::to_string(compute) + " with type " + std::to_string(at));
  if (!extent_ok(A, at, a_rows, a_cols, lda, sa, batch)) return fail(INVALID_VALUE, c + ": A outside device memory");
  if (!extent_ok(B, bt, b_rows, b_cols, ldb, sb, batch)) return fail(INVALID_VALUE, c + ": B outside device memory");
  if (!extent_ok(C, ct, m, n, ldc, sc, batch)) return fail(INVALID_VALUE, c + ": C outside device memory");
  if (emu_skip_kernels()) return SUCCESS;
  double al = f64 ? *(const double*)alpha : *(const float*)alpha;
  double be = f64 ? *(const double*)beta : *(const float*)beta;
  for (int e = 0; e < batch; e++) {
    const char* a = (const char*)A + e * sa * (long long)type_bytes(at);
    const char* b = (const char*)B + e * sb * (long long)type_bytes(bt);
    char* cc = (char*)C + e * sc * (long long)type_bytes(ct);
    for (int j = 0; j < n; j++) {
      for (int i = 0; i < m; i++) {
        double accd = 0;
        float accf = 0;
        for (int l = 0; l < k; l++) {
          double x = load(a, transa ? (long long)i * lda + l : (long long)l * lda + i, at);
          double y = load(b, transb ? (long long)l * ldb + j : (long long)j * ldb + l, bt);
          if (f64) accd += x * y;
          else accf += (float)x * (float)y;
        }
        double acc = f64 ? accd : accf;
        long long ci = (long long)j * ldc + i;
        double v = al * acc + (be == 0 ? 0 : be * load(cc, ci, ct));
        store(cc, ci, ct, v);
      }
    }
  }
  return SUCCESS;
}

// A handle: the stream its calls work in (cublasSetStream; the NULL stream until then).
struct Handle {
  void* stream = nullptr;
};
}  // namespace

extern "C" {

cublasStatus_t cublasCreate_v2(void** h) {
  *h = new Handle();
  return SUCCESS;
}
cublasStatus_t cublasDestroy_v2(void* h) {
  delete (Handle*)h;
  return SUCCESS;
}
cublasStatus_t cublasGetProperty(int type, int* value) {
  *value = type == 0 ? 12 : type == 1 ? 8 : 0;
  return SUCCESS;
}
cublasStatus_t cublasSetStream_v2(void* h, void* stream) {
  ((Handle*)h)->stream = stream;
  return SUCCESS;
}
cublasStatus_t cublasSetMathMode(void*, int) { return SUCCESS; }
cublasStatus_t cublasSetWorkspace_v2(void*, void* w, size_t bytes) {
  if (!emu_device_range(w, bytes)) return fail(INVALID_VALUE, "cublasSetWorkspace_v2: not device memory");
  return SUCCESS;
}

cublasStatus_t cublasGemmEx(void* h, int transa, int transb, int m, int n, int k, const void* alpha,
                            const void* A, int at, int lda, const void* B, int bt, int ldb,
                            const void* beta, void* C, int ct, int ldc, int compute, int) {
  if (!emu_flush_stream(((Handle*)h)->stream)) return fail(EXECUTION_FAILED, "cublasGemmEx: earlier work on the stream failed");
  return gemm("cublasGemmEx", transa, transb, m, n, k, alpha, A, at, lda, 0, B, bt, ldb, 0, beta,
              C, ct, ldc, 0, 1, compute);
}

cublasStatus_t cublasGemmStridedBatchedEx(void* h, int transa, int transb, int m, int n, int k,
                                          const void* alpha, const void* A, int at, int lda,
                                          long long sa, const void* B, int bt, int ldb,
                                          long long sb, const void* beta, void* C, int ct, int ldc,
                                          long long sc, int batch, int compute, int) {
  if (!emu_flush_stream(((Handle*)h)->stream)) return fail(EXECUTION_FAILED, "cublasGemmStridedBatchedEx: earlier work on the stream failed");
  return gemm("cublasGemmStridedBatchedEx", transa, transb, m, n, k, alpha, A, at, lda, sa, B, bt,
              ldb, sb, beta, C, ct, ldc, sc, batch, compute);
}

const char* cublasGetStatusName(cublasStatus_t s) {
  switch (s) {
    case SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    case EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    default: return "CUBLAS_STATUS_UNKNOWN";
  }
}
const char* cublasGetStatusString(cublasStatus_t s) {
  return s == SUCCESS ? "success" : "the emulated cuBLAS rejected the call (see stderr)";
}
}
