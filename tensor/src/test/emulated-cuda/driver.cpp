// driver.cpp: an emulated CUDA driver (libcuda.so.1) for running Kinema's CUDA backend on a
// machine without a GPU. "Device" memory is host memory, kernels are Kinema's own .cu files run by
// the host emulator (tensor/src/test/cuda/emu.h). By default everything asynchronous happens at
// once (a stream is always idle); KINEMA_EMU_DEFERRED=1 queues it instead (see "Deferred mode"
// below). What it checks, to catch backend bugs before a GPU run:
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
#include <deque>
#include <functional>
#include <map>
#include <memory>
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
  NOT_READY = 600,
  ILLEGAL_ADDRESS = 700,
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
  emu_driver::BindFn bind;
  std::string name;
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

// ------------------------------------------------------------------------------ deferred mode
// KINEMA_EMU_DEFERRED=1 makes the emulated GPU lag behind the host, as a real one does: every
// stream-ordered operation — kernel launch, async memset, async copy between device memory and
// device or page-locked host memory — is checked at once (the call's errors are the call's) and
// queued on its stream, a FIFO (the NULL stream has one too). Queued work runs, in order, only where
// the CUDA Driver API guarantees completion:
//   - cuStreamSynchronize (that stream), cuCtxSynchronize (every stream), cuEventSynchronize (the
//     recording stream up to the record), cuStreamWaitEvent (the same: the event's work then
//     precedes anything queued later on the waiting stream), cuStreamDestroy (that stream);
//   - an async copy from or to pageable host memory: CUDA stages it synchronously with respect to
//     the host (the stream's earlier work first, the copy done on return), so it flushes the stream
//     and copies at once;
//   - cuMemFree and cuMemFreeHost, which synchronize the device: every stream;
//   - the legacy NULL stream's implicit synchronization: work queued on it waits for the earlier
//     work of every blocking stream, and work on a blocking stream waits for the NULL stream's; the
//     emulator runs that earlier work first (an early but valid order);
//   - cuEventQuery of an event whose work is still queued returns CUDA_ERROR_NOT_READY, then runs
//     the queue up to the record (so a polling loop ends, having seen NOT_READY once).
// A host reading a device-to-host copy's destination before synchronizing sees what was there
// before; a host writing a pinned buffer that a queued host-to-device copy has not read yet changes
// what the device gets; an event misread lets either through. When queued work runs it checks again
// that its memory is still allocated: a kernel or copy whose buffer was freed while it was queued
// is a use after free, reported on stderr and returned as CUDA_ERROR_ILLEGAL_ADDRESS by the
// synchronizing call (and by every later one: a context is unusable after such a fault).
// The emulated libraries (cuBLAS, cuBLASLt, cuDNN, NCCL) compute at the call: they first run their
// stream's queue (emu_flush_stream), which keeps stream order without queuing library work.
bool deferred() {
  static const bool d = [] {
    const char* s = std::getenv("KINEMA_EMU_DEFERRED");
    return s != nullptr && std::strcmp(s, "1") == 0;
  }();
  return d;
}

// One queued operation: `run` re-checks its memory and does the work, returning its error.
struct Op {
  std::function<CUresult()> run;
};

constexpr unsigned STREAM_NON_BLOCKING = 1;
struct Stream {
  unsigned long long id;
  int device;
  bool blocking;  // synchronizes with the legacy NULL stream
  std::deque<Op> queue;
  unsigned long long enqueued = 0;  // operations ever queued; the first is number 1
  unsigned long long done = 0;      // operations run: those numbered <= done
};
unsigned long long next_stream_id = 1;
std::map<unsigned long long, Stream*>& streams() {  // live streams by id (the NULL stream is 0)
  static std::map<unsigned long long, Stream*> s;
  return s;
}
Stream& null_stream() {
  static Stream* s = [] {
    auto* n = new Stream{0, -1, true, {}};
    streams()[0] = n;
    return n;
  }();
  return *s;
}
Stream* stream_of(void* handle) { return handle == nullptr ? &null_stream() : (Stream*)handle; }

CUresult sticky = OK;  // the first failure of queued work: every later synchronization reports it

// Runs stream s's queued operations numbered up to `upto`. The caller holds mu.
void run_until(Stream& s, unsigned long long upto) {
  while (s.done < upto && !s.queue.empty()) {
    Op op = std::move(s.queue.front());
    s.queue.pop_front();
    s.done++;
    CUresult r = op.run();
    if (r != OK && sticky == OK) sticky = r;
  }
}
void run_all(Stream& s) { run_until(s, s.enqueued); }
void run_every_stream() {
  for (auto& [id, s] : streams()) run_all(*s);
}

// The work that must precede anything queued next on s (legacy NULL stream semantics), run.
void run_implicit_predecessors(Stream& s) {
  if (!s.blocking) return;
  if (s.id == 0) {
    for (auto& [id, other] : streams()) {
      if (other->blocking && id != 0) run_all(*other);
    }
  } else {
    run_all(null_stream());
  }
}

// Queues `op` on stream `handle` (deferred mode), or runs it now. The caller holds mu.
CUresult submit(void* handle, std::function<CUresult()> op) {
  if (!deferred()) return op();
  Stream& s = *stream_of(handle);
  run_implicit_predecessors(s);
  s.queue.push_back(Op{std::move(op)});
  s.enqueued++;
  return OK;
}

// What a synchronizing call returns: the sticky error of queued work, if any.
CUresult after_sync() { return sticky; }

// Everything queued on `handle` before now has run: a stream synchronization (NULL: also every
// blocking stream, whose earlier work the legacy stream waits for).
void drain(void* handle) {
  Stream& s = *stream_of(handle);
  run_implicit_predecessors(s);
  run_all(s);
}

// Page-locked host memory the driver allocated, by address: [address, address + bytes).
std::map<unsigned long long, size_t>& pinned() {
  static std::map<unsigned long long, size_t> p;
  return p;
}
bool is_pinned(const void* p, size_t bytes) {
  auto& m = pinned();
  unsigned long long a = (unsigned long long)p;
  auto it = m.upper_bound(a);
  if (it == m.begin()) return false;
  --it;
  return a >= it->first && a + bytes <= it->first + it->second;
}

// Checks, when queued work runs, that its device range is still allocated.
CUresult still_live(unsigned long long p, size_t bytes, const std::string& what) {
  if (bytes == 0 || find(p, bytes) != nullptr) return OK;
  return fail(ILLEGAL_ADDRESS, "use after free: " + what + ": " + std::to_string(bytes) +
                                   " bytes at " + hex(p) +
                                   " were freed while the operation was queued");
}
}  // namespace

namespace emu_driver {
bool is_device_pointer(const void* p) {
  return p == nullptr || find((unsigned long long)p, 1) != nullptr ||
         find((unsigned long long)p - 1, 1) != nullptr;  // one past the end of a block
}
void register_kernel(const char* name, CheckFn check, CallFn call, BindFn bind) {
  kernels()[name] = Kernel{check, call, bind, name};
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
CUresult cuCtxSynchronize() {
  std::lock_guard<std::mutex> g(mu);
  run_every_stream();
  return after_sync();
}

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
  run_every_stream();  // cuMemFree synchronizes the device
  auto it = allocations().find(p);
  if (it == allocations().end()) return fail(INVALID_VALUE, "cuMemFree_v2: " + hex(p) + " was not allocated");
  munmap(it->second.mapping, it->second.mapped);
  in_use -= it->second.size;
  allocations().erase(it);
  return OK;
}

CUresult cuMemAllocHost_v2(void** p, size_t bytes) {
  std::lock_guard<std::mutex> g(mu);
  *p = std::malloc(bytes == 0 ? 1 : bytes);
  if (*p == nullptr) return OUT_OF_MEMORY;
  pinned()[(unsigned long long)*p] = bytes;
  return OK;
}
CUresult cuMemFreeHost(void* p) {
  std::lock_guard<std::mutex> g(mu);
  auto it = pinned().find((unsigned long long)p);
  if (it == pinned().end()) return fail(INVALID_VALUE, "cuMemFreeHost: " + hex((unsigned long long)p) + " was not allocated by cuMemAllocHost");
  run_every_stream();  // like cuMemFree, it synchronizes the device
  pinned().erase(it);
  std::free(p);
  return OK;
}

// An async copy touching pageable host memory is synchronous with respect to the host: the stream's
// earlier work runs first and the copy is done on return. From or to page-locked memory it is
// queued, and reads (or writes) the host buffer only when it runs.
CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void* src, size_t n, void* stream) {
  std::lock_guard<std::mutex> g(mu);
  if (CUresult r = check_range(dst, n, "cuMemcpyHtoDAsync_v2 destination")) return r;
  auto copy = [=] {
    if (CUresult r = still_live(dst, n, "cuMemcpyHtoDAsync_v2 destination")) return r;
    std::memcpy((void*)dst, src, n);
    return (CUresult)OK;
  };
  if (is_pinned(src, n)) return submit(stream, copy);
  if (deferred()) drain(stream);
  return copy();
}
CUresult cuMemcpyDtoHAsync_v2(void* dst, CUdeviceptr src, size_t n, void* stream) {
  std::lock_guard<std::mutex> g(mu);
  if (CUresult r = check_range(src, n, "cuMemcpyDtoHAsync_v2 source")) return r;
  auto copy = [=] {
    if (CUresult r = still_live(src, n, "cuMemcpyDtoHAsync_v2 source")) return r;
    std::memcpy(dst, (const void*)src, n);
    return (CUresult)OK;
  };
  if (is_pinned(dst, n)) return submit(stream, copy);
  if (deferred()) drain(stream);
  return copy();
}
CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr dst, CUdeviceptr src, size_t n, void* stream) {
  std::lock_guard<std::mutex> g(mu);
  if (CUresult r = check_range(dst, n, "cuMemcpyDtoDAsync_v2 destination")) return r;
  if (CUresult r = check_range(src, n, "cuMemcpyDtoDAsync_v2 source")) return r;
  return submit(stream, [=] {
    if (CUresult r = still_live(dst, n, "cuMemcpyDtoDAsync_v2 destination")) return r;
    if (CUresult r = still_live(src, n, "cuMemcpyDtoDAsync_v2 source")) return r;
    std::memmove((void*)dst, (const void*)src, n);
    return (CUresult)OK;
  });
}
CUresult cuMemsetD8Async(CUdeviceptr dst, unsigned char v, size_t n, void* stream) {
  std::lock_guard<std::mutex> g(mu);
  if (CUresult r = check_range(dst, n, "cuMemsetD8Async")) return r;
  return submit(stream, [=] {
    if (CUresult r = still_live(dst, n, "cuMemsetD8Async")) return r;
    std::memset((void*)dst, v, n);
    return (CUresult)OK;
  });
}
CUresult cuMemsetD32Async(CUdeviceptr dst, unsigned v, size_t n, void* stream) {
  std::lock_guard<std::mutex> g(mu);
  if (dst % 4 != 0) return fail(INVALID_VALUE, "cuMemsetD32Async: unaligned " + hex(dst));
  if (CUresult r = check_range(dst, 4 * n, "cuMemsetD32Async")) return r;
  return submit(stream, [=] {
    if (CUresult r = still_live(dst, 4 * n, "cuMemsetD32Async")) return r;
    for (size_t i = 0; i < n; i++) ((unsigned*)dst)[i] = v;
    return (CUresult)OK;
  });
}

CUresult cuStreamCreate(void** s, unsigned flags) {
  std::lock_guard<std::mutex> g(mu);
  null_stream();  // registered first, so it is flushed like the others
  // A stream belongs to the current context's device.
  auto* stream = new Stream{next_stream_id++, current_device, (flags & STREAM_NON_BLOCKING) == 0, {}};
  streams()[stream->id] = stream;
  *s = stream;
  return OK;
}
CUresult cuStreamDestroy_v2(void* s) {
  std::lock_guard<std::mutex> g(mu);
  if (s == nullptr || !streams().count(((Stream*)s)->id) || streams()[((Stream*)s)->id] != s) {
    return fail(INVALID_HANDLE, "cuStreamDestroy_v2: not a live stream");
  }
  // CUDA lets queued work finish after the call returns; running it now is one valid order.
  run_all(*(Stream*)s);
  streams().erase(((Stream*)s)->id);
  delete (Stream*)s;
  return OK;
}
CUresult cuStreamSynchronize(void* s) {
  std::lock_guard<std::mutex> g(mu);
  drain(s);
  return after_sync();
}

}  // extern "C"

namespace {
// An event: where its last cuEventRecord put it in a stream's queue (stream 0 with position 0:
// never recorded, or recorded on an idle stream: complete), and the host time it was reached.
struct Event {
  unsigned long long stream = 0, position = 0;
  std::shared_ptr<double> reached = std::make_shared<double>(0);
};
// The event's stream, while the record is still queued there (null once it has run).
Stream* pending(Event* e) {
  auto it = streams().find(e->stream);
  if (it == streams().end() || it->second->done >= e->position) return nullptr;
  return it->second;
}
}  // namespace

extern "C" {

CUresult cuStreamWaitEvent(void* s, void* e, unsigned) {
  std::lock_guard<std::mutex> g(mu);
  // Work queued on s from now on must follow the event's work: running that work now ensures it.
  if (Stream* st = pending((Event*)e)) run_until(*st, ((Event*)e)->position);
  (void)s;
  return OK;
}
CUresult cuEventCreate(void** e, unsigned) {
  *e = new Event();
  return OK;
}
CUresult cuEventRecord(void* e, void* s) {
  std::lock_guard<std::mutex> g(mu);
  auto* ev = (Event*)e;
  auto reached = std::make_shared<double>(0);  // a record of its own: the previous may be queued
  ev->reached = reached;
  CUresult r = submit(s, [reached] {
    *reached = now_ms();
    return (CUresult)OK;
  });
  if (deferred()) {
    ev->stream = stream_of(s)->id;
    ev->position = stream_of(s)->enqueued;
  }
  return r;
}
CUresult cuEventQuery(void* e) {
  std::lock_guard<std::mutex> g(mu);
  Stream* st = pending((Event*)e);
  if (st == nullptr) return after_sync();
  // Not done yet; the GPU gets there by the next query.
  run_until(*st, ((Event*)e)->position);
  return NOT_READY;
}
CUresult cuEventSynchronize(void* e) {
  std::lock_guard<std::mutex> g(mu);
  if (Stream* st = pending((Event*)e)) run_until(*st, ((Event*)e)->position);
  return after_sync();
}
CUresult cuEventElapsedTime(float* ms, void* start, void* end) {
  std::lock_guard<std::mutex> g(mu);
  if (pending((Event*)start) || pending((Event*)end)) return NOT_READY;
  *ms = (float)(*((Event*)end)->reached - *((Event*)start)->reached);
  return OK;
}
CUresult cuEventDestroy_v2(void* e) {
  std::lock_guard<std::mutex> g(mu);
  delete (Event*)e;  // a queued record keeps its own time slot
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
                        unsigned bz, unsigned smem, void* stream, void** params, void** extra) {
  std::lock_guard<std::mutex> g(mu);
  Kernel* k = (Kernel*)f;
  auto name = [k] { return k->name; };
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
  if (skip_kernels()) return OK;
  dim3 grid{gx, gy, gz}, block{bx, by, bz};
  if (!deferred()) {
    launch(grid, block, smem, [&] { k->call(params); });
    return OK;
  }
  // The arguments' values are copied now, as cuLaunchKernel does; their memory is checked again
  // when the kernel runs.
  auto args = std::make_shared<emu_driver::BoundArgs>(k->bind(params));
  std::string kernel = k->name;
  return submit(stream, [=] {
    int gone = args->check();
    if (gone >= 0) {
      return fail(ILLEGAL_ADDRESS, "use after free: queued kernel " + kernel + ": argument " +
                                       std::to_string(gone) +
                                       " points into memory freed before the kernel ran");
    }
    launch(grid, block, smem, [&] { args->call(); });
    return (CUresult)OK;
  });
}

CUresult cuGetErrorName(CUresult e, const char** s) {
  switch (e) {
    case OK: *s = "CUDA_SUCCESS"; break;
    case INVALID_VALUE: *s = "CUDA_ERROR_INVALID_VALUE"; break;
    case OUT_OF_MEMORY: *s = "CUDA_ERROR_OUT_OF_MEMORY"; break;
    case INVALID_HANDLE: *s = "CUDA_ERROR_INVALID_HANDLE"; break;
    case NOT_FOUND: *s = "CUDA_ERROR_NOT_FOUND"; break;
    case NOT_READY: *s = "CUDA_ERROR_NOT_READY"; break;
    case ILLEGAL_ADDRESS: *s = "CUDA_ERROR_ILLEGAL_ADDRESS"; break;
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
    case NOT_READY: *s = "device not ready"; break;
    case ILLEGAL_ADDRESS: *s = "an illegal memory access was encountered"; break;
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
int emu_stream_device(void* stream) { return stream != nullptr ? ((Stream*)stream)->device : -1; }

// For the emulated libraries, which compute at the call: runs everything queued on `stream` (and,
// for the legacy NULL stream, on the blocking streams) so the call sees the stream's earlier work.
// Returns false, having reported it, when queued work failed.
bool emu_flush_stream(void* stream) {
  std::lock_guard<std::mutex> g(mu);
  if (!deferred()) return sticky == OK;
  drain(stream);
  return sticky == OK;
}

// For the emulated cuBLAS (cublas.cpp): whether GEMMs are skipped as kernels are.
bool emu_skip_kernels() { return skip_kernels(); }

// For the emulated cuBLAS (cublas.cpp): the allocation holding a byte range, checked.
bool emu_device_range(const void* p, size_t bytes) {
  std::lock_guard<std::mutex> g(mu);
  return bytes == 0 || find((unsigned long long)p, bytes) != nullptr;
}
