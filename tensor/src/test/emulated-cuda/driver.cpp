// driver.cpp: an emulated CUDA driver (libcuda.so.1) for running Kinema's CUDA backend on a
// machine without a GPU. "Device" memory is host memory, kernels are Kinema's own .cu files run by
// the host emulator (tensor/src/test/cuda/emu.h), and everything asynchronous happens at once (a
// stream is always idle). What it checks, to catch backend bugs before a GPU run:
//   - every copy, memset and kernel pointer argument lies inside a live allocation (device blocks
//     end at a guard page, so a kernel reading past its buffer crashes loudly);
//   - launch shapes: at most 1024 threads per block, grid y <= 65535, dynamic shared memory over
//     48 KiB only after cuFuncSetAttribute raised the kernel's limit;
//   - a kernel is found only if the loaded PTX has an entry of that name.
// Device memory is limited to KINEMA_EMU_MEMORY_BYTES (default 1 GiB), so out-of-memory paths can
// be tested. KINEMA_EMU_SKIP_KERNELS=1 checks launches but runs no kernel (host-overhead
// benchmarks). KINEMA_EMU_DEVICES (default 1, at most 8) devices exist, each with its own primary
// context; allocations and streams remember the device whose context was current on the calling
// thread, so the emulated NCCL (nccl.cpp) can check that a rank's buffers are on its device. Only the functions Kinema's bindings (io.kinema.ffi.cuda.CudaDriver) declare exist.
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>

#include "emu.h"
#include "registry.h"

typedef int CUresult;
typedef unsigned long long CUdeviceptr;

enum {
  OK = 0,
  INVALID_VALUE = 1,
  OUT_OF_MEMORY = 2,
  INVALID_HANDLE = 400,
  NOT_FOUND = 500,
};

namespace {
std::mutex mu;  // one driver call at a time (the emulator's launch state is global)

struct Allocation {
  size_t size;
  void* mapping;
  size_t mapped;
  int device;
};
std::map<unsigned long long, Allocation>& allocations() {
  static std::map<unsigned long long, Allocation> a;
  return a;
}
size_t in_use = 0;

size_t memory_limit() {
  const char* s = std::getenv("KINEMA_EMU_MEMORY_BYTES");
  return s != nullptr ? std::strtoull(s, nullptr, 10) : (1ull << 30);
}

// The allocation holding [p, p + bytes), or null.
const Allocation* find(unsigned long long p, size_t bytes) {
  auto& a = allocations();
  auto it = a.upper_bound(p);
  if (it == a.begin()) return nullptr;
  --it;
  if (p < it->first || p + bytes > it->first + it->second.size) return nullptr;
  return &it->second;
}

CUresult fail(CUresult code, const std::string& what) {
  std::fprintf(stderr, "[emulated CUDA driver] %s\n", what.c_str());
  return code;
}

std::string hex(unsigned long long p) {
  char b[32];
  std::snprintf(b, sizeof b, "0x%llx", p);
  return b;
}

CUresult check_range(unsigned long long p, size_t bytes, const char* call) {
  if (bytes == 0 || find(p, bytes) != nullptr) return OK;
  return fail(INVALID_VALUE, std::string(call) + ": " + std::to_string(bytes) + " bytes at " +
                                 hex(p) + " are not inside one device allocation");
}

struct Kernel {
  emu_driver::CheckFn check;
  emu_driver::CallFn call;
  int max_dynamic_smem = 48 * 1024;
};
std::map<std::string, Kernel>& kernels() {
  static std::map<std::string, Kernel> k;
  return k;
}

struct Module {
  std::string ptx;
};

constexpr int MAX_DEVICES = 8;
int context_tokens[MAX_DEVICES];  // device d's primary context is &context_tokens[d]
thread_local int current_device = 0;

int device_count() {
  const char* s = std::getenv("KINEMA_EMU_DEVICES");
  int n = s != nullptr ? std::atoi(s) : 1;
  return n < 1 ? 1 : n > MAX_DEVICES ? MAX_DEVICES : n;
}
// KINEMA_EMU_SKIP_KERNELS=1: cuLaunchKernel checks everything it checks otherwise (launch shape,
// shared memory, pointer arguments) but does not run the kernel; copies and memsets still work.
// For measuring the host's cost per launch (bench/.../CudaHostOverheadBench): results are garbage.
bool skip_kernels() {
  static const bool skip = [] {
    const char* s = std::getenv("KINEMA_EMU_SKIP_KERNELS");
    return s != nullptr && std::strcmp(s, "1") == 0;
  }();
  return skip;
}
double now_ms() {
  using namespace std::chrono;
  return duration<double, std::milli>(steady_clock::now().time_since_epoch()).count();
}
}  // namespace

namespace emu_driver {
bool is_device_pointer(const void* p) {
  return p == nullptr || find((unsigned long long)p, 1) != nullptr ||
         find((unsigned long long)p - 1, 1) != nullptr;  // one past the end of a block
}
void register_kernel(const char* name, CheckFn check, CallFn call) {
  kernels()[name] = Kernel{check, call};
}
}  // namespace emu_driver

extern "C" {

CUresult cuInit(unsigned) { return OK; }
CUresult cuDriverGetVersion(int* v) {
  *v = 12080;
  return OK;
}
CUresult cuDeviceGetCount(int* n) {
  *n = device_count();
  return OK;
}
CUresult cuDeviceGet(int* d, int ordinal) {
  if (ordinal < 0 || ordinal >= device_count()) {
    return fail(INVALID_VALUE, "cuDeviceGet: no device " + std::to_string(ordinal));
  }
  *d = ordinal;
  return OK;
}
CUresult cuDeviceGetName(char* name, int len, int) {
  std::snprintf(name, len, "Kinema emulated GPU");
  return OK;
}
CUresult cuDeviceGetAttribute(int* v, int attribute, int) {
  switch (attribute) {
    case 1: *v = 1024; break;                 // MAX_THREADS_PER_BLOCK
    case 2: *v = 1024; break;                 // MAX_BLOCK_DIM_X
    case 5: *v = 2147483647; break;           // MAX_GRID_DIM_X
    case 8: *v = 48 * 1024; break;            // MAX_SHARED_MEMORY_PER_BLOCK
    case 10: *v = 32; break;                  // WARP_SIZE
    case 16: *v = 2; break;                   // MULTIPROCESSOR_COUNT: small grids, quick runs
    case 75: *v = 8; break;                   // COMPUTE_CAPABILITY_MAJOR
    case 76: *v = 0; break;                   // COMPUTE_CAPABILITY_MINOR
    case 97: *v = 163 * 1024; break;          // MAX_SHARED_MEMORY_PER_BLOCK_OPTIN (sm_80)
    default: *v = 0; break;
  }
  return OK;
}
CUresult cuDeviceTotalMem_v2(size_t* bytes, int) {
  *bytes = memory_limit();
  return OK;
}
CUresult cuDevicePrimaryCtxRetain(void** ctx, int device) {
  if (device < 0 || device >= device_count()) {
    return fail(INVALID_VALUE, "cuDevicePrimaryCtxRetain: no device " + std::to_string(device));
  }
  *ctx = &context_tokens[device];
  return OK;
}
CUresult cuDevicePrimaryCtxRelease_v2(int) { return OK; }
CUresult cuCtxSetCurrent(void* ctx) {
  if (ctx == nullptr) return OK;
  int d = (int)((int*)ctx - context_tokens);
  if (d < 0 || d >= device_count()) return fail(INVALID_HANDLE, "cuCtxSetCurrent: unknown context");
  current_device = d;
  return OK;
}
CUresult cuCtxGetCurrent(void** ctx) {
  *ctx = &context_tokens[current_device];
  return OK;
}
CUresult cuCtxSynchronize() { return OK; }

CUresult cuMemGetInfo_v2(size_t* free, size_t* total) {
  std::lock_guard<std::mutex> g(mu);
  *total = memory_limit();
  *free = *total - in_use;
  return OK;
}

CUresult cuMemAlloc_v2(CUdeviceptr* p, size_t bytes) {
  std::lock_guard<std::mutex> g(mu);
  if (bytes == 0) return fail(INVALID_VALUE, "cuMemAlloc_v2: 0 bytes");
  if (in_use + bytes > memory_limit()) return OUT_OF_MEMORY;
  // The block ends where an inaccessible page begins, so reading past it faults.
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  size_t body = (bytes + 255) / 256 * 256;
  size_t mapped = (body + page - 1) / page * page + page;
  void* m = mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return OUT_OF_MEMORY;
  char* guard = (char*)m + mapped - page;
  mprotect(guard, page, PROT_NONE);
  unsigned long long addr = (unsigned long long)(guard - body);
  std::memset((void*)addr, 0xA5, body);  // garbage, as fresh device memory is
  allocations()[addr] = Allocation{bytes, m, mapped, current_device};
  in_use += bytes;
  *p = addr;
  return OK;
}

CUresult cuMemFree_v2(CUdeviceptr p) {
  std::lock_guard<std::mutex> g(mu);
  auto it = allocations().find(p);
  if (it == allocations().end()) return fail(INVALID_VALUE, "cuMemFree_v2: " + hex(p) + " was not allocated");
  munmap(it->second.mapping, it->second.mapped);
  in_use -= it->second.size;
  allocations().erase(it);
  return OK;
}

CUresult cuMemAllocHost_v2(void** p, size_t bytes) {
  *p = std::malloc(bytes == 0 ? 1 : bytes);
  return *p != nullptr ? OK : OUT_OF_MEMORY;
}
CUresult cuMemFreeHost(void* p) {
  std::free(p);
  return OK;
}

CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void* src, size_t n, void*) {
  std::lock_guard<std::mutex> g(mu);
  if (CUresult r = check_range(dst, n, "cuMemcpyHtoDAsync_v2 destination")) return r;
  std::memcpy((void*)dst, src, n);
  return OK;
}
CUresult cuMemcpyDtoHAsync_v2(void* dst, CUdeviceptr src, size_t n, void*) {
  std::lock_guard<std::mutex> g(mu);
  if (CUresult r = check_range(src, n, "cuMemcpyDtoHAsync_v2 source")) return r;
  std::memcpy(dst, (const void*)src, n);
  return OK;
}
CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr dst, CUdeviceptr src, size_t n, void*) {
  std::lock_guard<std::mutex> g(mu);
  if (CUresult r = check_range(dst, n, "cuMemcpyDtoDAsync_v2 destination")) return r;
  if (CUresult r = check_range(src, n, "cuMemcpyDtoDAsync_v2 source")) return r;
  std::memmove((void*)dst, (const void*)src, n);
  return OK;
}
CUresult cuMemsetD8Async(CUdeviceptr dst, unsigned char v, size_t n, void*) {
  std::lock_guard<std::mutex> g(mu);
  if (CUresult r = check_range(dst, n, "cuMemsetD8Async")) return r;
  std::memset((void*)dst, v, n);
  return OK;
}
CUresult cuMemsetD32Async(CUdeviceptr dst, unsigned v, size_t n, void*) {
  std::lock_guard<std::mutex> g(mu);
  if (dst % 4 != 0) return fail(INVALID_VALUE, "cuMemsetD32Async: unaligned " + hex(dst));
  if (CUresult r = check_range(dst, 4 * n, "cuMemsetD32Async")) return r;
  for (size_t i = 0; i < n; i++) ((unsigned*)dst)[i] = v;
  return OK;
}

CUresult cuStreamCreate(void** s, unsigned) {
  *s = new int(current_device);  // a stream belongs to the current context's device
  return OK;
}
CUresult cuStreamDestroy_v2(void* s) {
  delete (int*)s;
  return OK;
}
CUresult cuStreamSynchronize(void*) { return OK; }
CUresult cuStreamWaitEvent(void*, void*, unsigned) { return OK; }
CUresult cuEventCreate(void** e, unsigned) {
  *e = new double(0);
  return OK;
}
CUresult cuEventRecord(void* e, void*) {
  *(double*)e = now_ms();
  return OK;
}
CUresult cuEventSynchronize(void*) { return OK; }
CUresult cuEventElapsedTime(float* ms, void* start, void* end) {
  *ms = (float)(*(double*)end - *(double*)start);
  return OK;
}
CUresult cuEventDestroy_v2(void* e) {
  delete (double*)e;
  return OK;
}

CUresult cuModuleLoadData(void** module, const void* image) {
  *module = new Module{std::string((const char*)image)};
  return OK;
}
CUresult cuModuleUnload(void* module) {
  delete (Module*)module;
  return OK;
}
CUresult cuModuleGetFunction(void** f, void* module, const char* name) {
  std::lock_guard<std::mutex> g(mu);
  std::string entry = std::string(".entry ") + name + "(";
  if (((Module*)module)->ptx.find(entry) == std::string::npos) {
    return fail(NOT_FOUND, std::string("cuModuleGetFunction: the PTX has no entry ") + name);
  }
  auto it = kernels().find(name);
  if (it == kernels().end()) {
    return fail(NOT_FOUND, std::string("cuModuleGetFunction: ") + name + " is not in the emulator");
  }
  *f = &it->second;
  return OK;
}
CUresult cuFuncSetAttribute(void* f, int attribute, int value) {
  if (attribute == 8) ((Kernel*)f)->max_dynamic_smem = value;  // MAX_DYNAMIC_SHARED_SIZE_BYTES
  return OK;
}

CUresult cuLaunchKernel(void* f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                        unsigned bz, unsigned smem, void*, void** params, void** extra) {
  std::lock_guard<std::mutex> g(mu);
  Kernel* k = (Kernel*)f;
  auto name = [k] {  // for messages only: a search of the registry
    for (auto& [n, kk] : kernels()) {
      if (&kk == k) return n;
    }
    return std::string("?");
  };
  if (extra != nullptr) return fail(INVALID_VALUE, name() + ": extra is not supported");
  if (bx * by * bz > 1024 || bx * by * bz == 0) {
    return fail(INVALID_VALUE, name() + ": " + std::to_string(bx * by * bz) + " threads per block");
  }
  if (gy > 65535 || gz > 65535 || gx == 0 || gy == 0 || gz == 0) {
    return fail(INVALID_VALUE,
                name() + ": bad grid " + std::to_string(gx) + "x" + std::to_string(gy));
  }
  if ((int)smem > k->max_dynamic_smem) {
    return fail(INVALID_VALUE, name() + ": " + std::to_string(smem) +
                                   " bytes of dynamic shared memory without raising the limit");
  }
  int bad = k->check(params);
  if (bad >= 0) {
    return fail(INVALID_VALUE, name() + ": argument " + std::to_string(bad) +
                                   " is not null and not inside a device allocation");
  }
  if (!skip_kernels()) launch(dim3{gx, gy, gz}, dim3{bx, by, bz}, smem, [&] { k->call(params); });
  return OK;
}

CUresult cuGetErrorName(CUresult e, const char** s) {
  switch (e) {
    case OK: *s = "CUDA_SUCCESS"; break;
    case INVALID_VALUE: *s = "CUDA_ERROR_INVALID_VALUE"; break;
    case OUT_OF_MEMORY: *s = "CUDA_ERROR_OUT_OF_MEMORY"; break;
    case INVALID_HANDLE: *s = "CUDA_ERROR_INVALID_HANDLE"; break;
    case NOT_FOUND: *s = "CUDA_ERROR_NOT_FOUND"; break;
    default: return INVALID_VALUE;
  }
  return OK;
}
CUresult cuGetErrorString(CUresult e, const char** s) {
  switch (e) {
    case OK: *s = "no error"; break;
    case INVALID_VALUE: *s = "invalid argument"; break;
    case OUT_OF_MEMORY: *s = "out of memory"; break;
    case INVALID_HANDLE: *s = "invalid resource handle"; break;
    case NOT_FOUND: *s = "named symbol not found"; break;
    default: return INVALID_VALUE;
  }
  return OK;
}

}  // extern "C"

// For the emulated NCCL (nccl.cpp): the device count, the device of the allocation holding a byte
// range (-1 when none holds it), and the device a stream was created on (-1 for the null stream).
int emu_device_count() { return device_count(); }
int emu_device_of(const void* p, size_t bytes) {
  std::lock_guard<std::mutex> g(mu);
  const Allocation* a = find((unsigned long long)p, bytes == 0 ? 1 : bytes);
  return a != nullptr ? a->device : -1;
}
int emu_stream_device(void* stream) { return stream != nullptr ? *(int*)stream : -1; }

// For the emulated cuBLAS (cublas.cpp): whether GEMMs are skipped as kernels are.
bool emu_skip_kernels() { return skip_kernels(); }

// For the emulated cuBLAS (cublas.cpp): the allocation holding a byte range, checked.
bool emu_device_range(const void* p, size_t bytes) {
  std::lock_guard<std::mutex> g(mu);
  return bytes == 0 || find((unsigned long long)p, bytes) != nullptr;
}
